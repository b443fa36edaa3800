# ruff: noqa: S603  (benchmarks run this repo's own scripts with fixed argv)
"""Benchmark: a 4-variant sigma sweep of pre-training, sequential (1 job, 1 thread) vs 2
concurrent jobs x 1 thread each. Prints parallel efficiency = (T_seq / T_par) / 2 (goal >= 0.85).

    python bench/bench_sweep.py [--steps 100] [--n-unlabelled 1500]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIGMAS = ["0.10", "0.12", "0.15", "0.20"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    """Run the benchmark and print the efficiency."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--n-unlabelled", type=int, default=1500)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(
            [
                py,
                "-m", "slashmake_ml.scripts.init",
                f"--data={d}/d.parquet",
                f"--test={d}/t.parquet",
                f"--unlabelled={d}/u.parquet",
                "--n-labelled",
                "10",
                "--n-test",
                "10",
                "--n-unlabelled",
                str(a.n_unlabelled),
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )

        def job(tag: str, sigma: str) -> None:
            cmd = [
                py,
                "-m", "slashmake_ml.scripts.pretrain",
                f"--data={d}/u.parquet",
                f"--encoder={d}/{tag}-{sigma}.pt",
                f"--metrics={d}/{tag}-{sigma}.json",
                "--sigma",
                sigma,
                "--steps",
                str(a.steps),
                "--threads",
                "1",
                "--device",
                "cpu",
            ]
            subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)

        load0 = os.getloadavg()[0]
        c0 = _cpu()
        t0 = time.perf_counter()
        for s in SIGMAS:
            job("seq", s)
        t_seq = time.perf_counter() - t0
        c1 = _cpu()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(a.jobs) as ex:
            list(ex.map(lambda s: job("par", s), SIGMAS))
        t_par = time.perf_counter() - t0
        c2 = _cpu()
    speedup = t_seq / t_par
    print(
        f"load average before: {load0:.2f} (on {os.cpu_count()} cores); other work on the machine lowers the wall-clock figure"
    )
    print(
        f"CPU seconds: sequential {c1 - c0:.2f}, concurrent {c2 - c1:.2f} (work inflation {(c2 - c1) / (c1 - c0):.3f}); CPU/wall of one sequential job {(c1 - c0) / t_seq:.2f} (1.0 = one thread)"
    )
    print(f"sequential (baseline), 4 variants x 1 thread: {t_seq:.2f} s")
    print(f"{a.jobs} concurrent jobs x 1 thread            : {t_par:.2f} s")
    print(f"speedup {speedup:.2f}x; parallel efficiency = {speedup / a.jobs:.3f}  (goal >= 0.85)")
    through_slashmake(a.steps, a.n_unlabelled)


SWEEP = "/init → /pretrain-bilstm parallel[sigma-0.10 | sigma-0.12 | sigma-0.15 | sigma-0.20]"


def through_slashmake(steps: int, n_unlabelled: int) -> None:
    """The same sweep as a slashmake flow: `--cores 1` (baseline) against `--cores 2`."""
    import yaml
    from bench_pipeline import copy_project

    times = {}
    for cores in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            copy_project(root)
            cfg = yaml.safe_load((root / "config/config.yaml").read_text())
            cfg["params"] = {"n_unlabelled": n_unlabelled, "n_labelled": 200, "n_test": 50,
                             "pretrain-bilstm.steps": steps, "device": "cpu"}
            (root / "config/config.yaml").write_text(yaml.safe_dump(cfg))
            cli = [sys.executable, "-m", "slashmake.interfaces.cli", "run"]
            subprocess.run([*cli, "/init"], cwd=root, check=True, capture_output=True)
            t0 = time.perf_counter()
            subprocess.run([*cli, SWEEP, "--cores", str(cores)], cwd=root, check=True, capture_output=True)
            times[cores] = time.perf_counter() - t0
    speedup = times[1] / times[2]
    print(f"through slashmake ({SWEEP}): --cores 1 (baseline) {times[1]:.2f} s, --cores 2 {times[2]:.2f} s "
          f"(torch threads 1 x 2 jobs = 2 cores); speedup {speedup:.2f}x; parallel efficiency {speedup / 2:.3f}")


if __name__ == "__main__":
    main()
