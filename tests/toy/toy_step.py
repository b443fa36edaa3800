"""A toy step for end-to-end tests: records that it ran, writes its outputs and a metrics JSON.

    python toy_step.py NAME --out FILE... --metrics FILE [--set key=value ...] [--fail-if FILE] [--argv FILE]
                       [--counter FILE --fail-times N] [--inputs FILE...] [--where FILE] [-- ARGS...]

--fail-if FILE fails (exit 3) while FILE exists; --counter FILE --fail-times N counts calls in FILE and
fails the first N of them (a flaky step that succeeds on attempt N+1). --where FILE records where the
step ran (user, working folder, host, SLURM job id) as JSON: the executor tests read it.
"""

import argparse
import getpass
import json
import os
import socket
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("name")
    p.add_argument("--out", nargs="*", default=[])
    p.add_argument("--metrics")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--fail-if", default="")
    p.add_argument("--argv")
    p.add_argument("--inputs", nargs="*", default=[])
    p.add_argument("--counter", default="")
    p.add_argument("--fail-times", type=int, default=0)
    p.add_argument("--where")
    p.add_argument("rest", nargs="*")
    argv = sys.argv[1:]
    rest: list[str] = []
    if "--" in argv:  # everything after `--` is the step's positional arguments, verbatim
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    a = p.parse_args(argv)
    a.rest = a.rest + rest
    trace = os.environ.get("TOY_TRACE")
    if trace:
        with open(trace, "a") as fh:
            fh.write(json.dumps({"step": a.name, "t": time.time(), "args": a.rest, "inputs": a.inputs}) + "\n")
    if a.argv:
        Path(a.argv).write_text(json.dumps(sys.argv[1:]))
    if a.fail_if and Path(a.fail_if).exists():
        print(f"toy step {a.name}: failing on purpose", file=sys.stderr)
        return 3
    if a.counter:
        count = int(Path(a.counter).read_text() or 0) + 1 if Path(a.counter).exists() else 1
        Path(a.counter).write_text(str(count))
        if count <= a.fail_times:
            print(f"toy step {a.name}: flaky failure {count}/{a.fail_times}", file=sys.stderr)
            return 4
    for out in a.out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps({"step": a.name, "args": a.rest, "inputs": a.inputs}))
    if a.where:
        where = {"step": a.name, "args": a.rest, "whoami": getpass.getuser(), "pwd": os.getcwd(),
                 "host": socket.gethostname(), "slurm_job_id": os.environ.get("SLURM_JOB_ID")}
        Path(a.where).parent.mkdir(parents=True, exist_ok=True)
        Path(a.where).write_text(json.dumps(where))
    if a.metrics:
        metrics = {}
        for kv in a.set:
            k, _, v = kv.partition("=")
            metrics[k] = json.loads(v)
        metrics["n_inputs"] = len(a.inputs)
        tmp = a.metrics + ".tmp"
        Path(tmp).write_text(json.dumps(metrics))
        os.replace(tmp, a.metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
