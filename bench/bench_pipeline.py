"""/ml-pipeline-full cold and warm wall time on the embedded data (not run by CI), and the cold
time of /lstm-pretraining-full (pre-training on the default 4,000 unlabelled windows).

    .venv/bin/python bench/bench_pipeline.py [--repeats 3]

Cold: a fresh copy of the project, nothing computed (goal ≤ 90 s on 2 cores for /ml-pipeline-full).
Warm: the same command again with nothing to do (goal ≤ 3 s), against the named baseline of plain
`snakemake -c2 ml_pipeline_full` doing nothing in the same folder (Snakemake's own floor).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
COPY = ["Snakefile", "rules/common.smk", "config", "workflow", "droids", "scripts"]


def copy_project(dest: Path) -> None:
    for rel in COPY:
        src, dst = REPO / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copy(src, dst)
    os.symlink("config/profiles", dest / "profiles")


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)  # noqa: S603
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    run = [PY, "-m", "slashmake.interfaces.cli", "run", "/ml-pipeline-full", "--cores", "2"]
    plain = [PY, "-m", "snakemake", "-c2", "ml_pipeline_full"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_project(root)
        cold = timed(run, root)
        warm, floor = [], []
        for _ in range(args.repeats):
            warm.append(timed(run, root))
            floor.append(timed(plain, root))
        w, f = statistics.median(warm), statistics.median(floor)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        copy_project(root)
        cold_pre = timed([PY, "-m", "slashmake.interfaces.cli", "run", "/lstm-pretraining-full", "--cores", "2"], root)
    print(f"load average now: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other work slows the cold runs)")
    print(f"/ml-pipeline-full cold: {cold:6.1f} s (goal ≤ 90 s)")
    print(f"/ml-pipeline-full warm: {w:6.2f} s (goal ≤ 3 s); baseline plain `snakemake -c2 ml_pipeline_full` "
          f"with nothing to do: {f:.2f} s; ratio {w / f:.2f}")
    print(f"/lstm-pretraining-full cold: {cold_pre:6.1f} s")


if __name__ == "__main__":
    main()
