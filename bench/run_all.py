"""Run every benchmark in turn (not part of CI): `make bench` or `.venv/bin/python bench/run_all.py`.

Each prints its figures and ratios against the baseline it measures in the same run. The
executor benchmarks need root (they start sshd and a one-node SLURM cluster).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_flow.py", "bench_noop.py", "bench_train.py", "bench_sweep.py", "bench_pipeline.py", "bench_cache.py",
           "bench_compare.py",
           "bench_executors_runpod.py", "bench_executors_slurm.py"]


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n=== {name}", flush=True)
        if subprocess.run([sys.executable, str(HERE / name)], cwd=HERE.parent).returncode != 0:  # noqa: S603
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
