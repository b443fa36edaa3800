"""Per-job overhead of the runpod executor against local execution (the baseline).

A 16-variant sweep of a trivial step plus its aggregate (17 jobs) runs with the real
``snakemake`` CLI, locally (``--cores 2``) and through ``--executor runpod`` against a private
sshd on 127.0.0.1 (the test fixture's pod: needs root, sshd, rsync). The pod's venv is built
in an untimed warm-up run; every timed run is a fresh ``--forceall`` run (one SSH login, one
code sync, one remote snakemake start for the grouped variants and one for the aggregate).

    sudo .venv/bin/python bench/bench_executors_runpod.py [--reps 3]

Prints seconds per job for each executor, their ratio and difference (runpod minus local).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from runpod_project import GROUPING, PROFILE, snakemake, write_project  # noqa: E402
from services import start_pod, stop_pod  # noqa: E402

JOBS = 17  # 16 variants + aggregate


def timed(project: Path, args: list[str]) -> float:
    """Wall seconds of one snakemake run; fails loudly if the run fails."""
    start = time.perf_counter()
    res = snakemake(project, args, timeout=600)
    elapsed = time.perf_counter() - start
    if res.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args[:4])}… failed:\n{res.stderr[-3000:]}")
    return elapsed


def main() -> None:
    """Run the benchmark and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-runpod-"))
    work.chmod(0o700)
    pod, proc = start_pod(work / "sshd")
    try:
        local_dir = write_project(work / "local")
        pod_dir = write_project(work / "pod")
        remote = pod.new_dir("bench")
        runpod = ["--profile", str(PROFILE), *GROUPING, *pod.executor_args(remote)]
        local = ["--cores", "2", *GROUPING]
        cold = timed(pod_dir, runpod)  # builds the pod's venv (untimed below)
        timed(local_dir, local)
        local_t = [timed(local_dir, [*local, "--forceall"]) for _ in range(opts.reps)]
        pod_t = [timed(pod_dir, [*runpod, "--forceall"]) for _ in range(opts.reps)]
    finally:
        stop_pod(pod, proc)
    lo, rp = statistics.median(local_t), statistics.median(pod_t)
    print(f"jobs per run: {JOBS} (16-variant sweep as one job group + aggregate); reps: {opts.reps}")
    print(f"local  (baseline): {lo:6.2f} s/run  {lo / JOBS:6.3f} s/job   runs: {_fmt(local_t)}")
    print(f"runpod (ssh+rsync): {rp:6.2f} s/run  {rp / JOBS:6.3f} s/job   runs: {_fmt(pod_t)}")
    print(f"runpod first run incl. pod setup: {cold:.2f} s")
    print(f"ratio runpod/local: {rp / lo:.2f}x; overhead: {(rp - lo) / JOBS:+.3f} s/job")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
