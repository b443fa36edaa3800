"""Per-job overhead of running a sweep on SLURM vs on this machine (not run in CI).

A 16-variant sweep of a trivial step (it writes one small JSON file) runs three ways, in the
same invocation:

  local        snakemake --cores C                          (baseline)
  slurm        snakemake --profile config/profiles/slurm    (one sbatch per variant)
  slurm-array  the same, with --slurm-array-jobs=all        (one sbatch array for the sweep)

For each, the wall time of a fresh run minus the wall time of a no-op run of the same
workflow (Snakemake's own start-up and DAG building), divided by the number of jobs, is the
per-job overhead in seconds. The step itself takes ~0 s, so this is what the executor costs.
For SLURM runs the job-completion log also gives each job's queue wait (start - submit) and
time on the node (end - start: mostly the `python -m snakemake` job step starting up).

Needs a running cluster (.ci/slurm-up.sh) with a jobcomp/filetxt log. Usage:

    .venv/bin/python bench/bench_executors_slurm.py [--variants 16] [--cores 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "config" / "profiles" / "slurm"
RUN_TIMEOUT = 600  # seconds; the SLURM plugin can hang when its status command fails

SNAKEFILE = """\
N = {n}
PY = {python!r}

rule all:
    input: expand("out/v{{i}}.json", i=range(N))

rule step:
    output: "out/v{{i}}.json"
    threads: 1
    resources: mem_mb=200, runtime=2
    shell: "{{PY:q}} -c 'import json,os,sys; json.dump(dict(job=os.environ.get(\\"SLURM_JOB_ID\\")), open(sys.argv[1], \\"w\\"))' {{output:q}}"
"""


@dataclass
class Result:
    """Timings of one executor mode over the repetitions."""

    mode: str
    fresh_s: list[float] = field(default_factory=list)
    noop_s: list[float] = field(default_factory=list)
    queue_wait_s: list[float] = field(default_factory=list)
    on_node_s: list[float] = field(default_factory=list)

    def per_job(self, n: int) -> float:
        """Median over repetitions of (fresh - no-op) / n."""
        return statistics.median((f - z) / n for f, z in zip(self.fresh_s, self.noop_s, strict=True))


def snakemake_cmd() -> list[str]:
    """The project's snakemake CLI."""
    beside = Path(sys.executable).with_name("snakemake")
    return [str(beside)] if beside.exists() else [shutil.which("snakemake") or "snakemake"]


def run(workdir: Path, args: list[str]) -> float:
    """Run snakemake in *workdir* with *args*, bounded; return the wall time in seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNAKEMAKE_", "SLURM_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell; args are ours
        [*snakemake_cmd(), *args],
        cwd=workdir,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SystemExit(f"snakemake {' '.join(args)} hung for {RUN_TIMEOUT}s in {workdir}") from None
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed (rc={proc.returncode}):\n{out[-3000:]}")
    return elapsed


def jobcomp_location() -> Path:
    """JobCompLoc from `scontrol show config` (must be a jobcomp/filetxt log)."""
    conf = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=20, check=True
    ).stdout
    settings = {k.strip(): v.strip() for k, sep, v in (ln.partition("=") for ln in conf.splitlines()) if sep}
    if settings.get("JobCompType") != "jobcomp/filetxt":
        raise SystemExit("the cluster has no jobcomp/filetxt log; run .ci/slurm-up.sh")
    return Path(settings["JobCompLoc"])


def jobcomp_times(log: Path, workdir: Path) -> tuple[list[float], list[float]]:
    """(queue waits, times on node) in seconds of the jobs whose WorkDir is *workdir*."""
    waits: list[float] = []
    on_node: list[float] = []
    for line in log.read_text(errors="replace").splitlines():
        rec = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if Path(rec.get("WorkDir", "")) != workdir:
            continue
        sub, start, end = (datetime.fromisoformat(rec[k]) for k in ("SubmitTime", "StartTime", "EndTime"))
        waits.append((start - sub).total_seconds())
        on_node.append((end - start).total_seconds())
    return waits, on_node


def bench_mode(mode: str, args: list[str], n: int, repeat: int, jobcomp: Path | None) -> Result:
    """Fresh run then no-op run, *repeat* times, each in a new folder."""
    res = Result(mode)
    for _ in range(repeat):
        wd = Path(tempfile.mkdtemp(prefix=f"bench-slurm-{mode}-")).resolve()
        try:
            (wd / "Snakefile").write_text(SNAKEFILE.format(n=n, python=sys.executable))
            res.fresh_s.append(run(wd, args))
            res.noop_s.append(run(wd, args))
            if jobcomp is not None:
                time.sleep(1.0)
                waits, on_node = jobcomp_times(jobcomp, wd)
                if len(waits) != n:
                    raise SystemExit(f"{mode}: jobcomp log shows {len(waits)} jobs, expected {n}")
                res.queue_wait_s += waits
                res.on_node_s += on_node
        finally:
            shutil.rmtree(wd, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", type=int, default=16)
    ap.add_argument("--cores", type=int, default=2, help="local cores (match the SLURM node's CPUs)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-array", action="store_true", help="skip the --slurm-array-jobs run")
    a = ap.parse_args()
    n = a.variants
    jobcomp = jobcomp_location()
    modes: list[tuple[str, list[str], Path | None]] = [
        ("local", ["--cores", str(a.cores)], None),
        ("slurm", ["--profile", str(PROFILE)], jobcomp),
    ]
    if not a.no_array:
        modes.append(("slurm-array", ["--profile", str(PROFILE), "--slurm-array-jobs=all"], jobcomp))

    results = [bench_mode(m, args, n, a.repeat, jc) for m, args, jc in modes]
    base = results[0].per_job(n)
    print(f"\n{n}-variant sweep of a trivial step, {a.repeat} repetition(s), local --cores {a.cores}")
    print(
        f"{'mode':<12} {'fresh s':>8} {'no-op s':>8} {'s/job':>7} {'vs local':>9} "
        f"{'queue wait s':>13} {'on node s':>10}"
    )
    for r in results:
        pj = r.per_job(n)
        wait = f"{statistics.median(r.queue_wait_s):.1f}" if r.queue_wait_s else "-"
        node = f"{statistics.median(r.on_node_s):.1f}" if r.on_node_s else "-"
        print(
            f"{r.mode:<12} {statistics.median(r.fresh_s):>8.2f} {statistics.median(r.noop_s):>8.2f} "
            f"{pj:>7.3f} {pj / base:>8.1f}x {wait:>13} {node:>10}"
        )
    print(
        "s/job = (fresh - no-op) / jobs; queue wait and on-node are medians from SLURM's jobcomp log"
        " (1 s resolution). Baseline: local."
    )


if __name__ == "__main__":
    main()
