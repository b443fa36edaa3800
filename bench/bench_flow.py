"""Compile + dry-run cost of slashmake against hand-written Snakefiles (not run by CI).

    .venv/bin/python bench/bench_flow.py [--repeats 5]

Shapes: a 200-stage linear chain and a 2,000-variant sweep gathered by one step. The baseline
Snakefiles come from ../shared/baselines/make_baseline.py; slashmake compiles the same shapes from
chains of toy commands that write the same files. Runs alternate (baseline, slashmake, ...) and the
medians are compared: `slashmake run --dry-run "<chain>"` (parse, resolve, compile when the cache is
stale, then `snakemake -n`) against `snakemake -n` on the baseline. Goals: ≤ 1.10 and ≤ 1.20.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import REPO, STEP, project_skeleton, write_command

# ../shared beside the checkout; SLASHMAKE_BASELINES names the folder elsewhere (a git worktree).
BASELINE = Path(os.environ.get("SLASHMAKE_BASELINES", REPO.parent / "shared" / "baselines")) / "make_baseline.py"
PY = sys.executable


def project(root: Path) -> None:
    """A slashmake project with the real Snakefile and three toy commands."""
    project_skeleton(root)
    specs: dict[str, dict[str, object]] = {"s": {"params": {}}, "train": {"params": {"sigma": 0.1}},
                                           "agg": {"input": ["out"]}}
    for name, spec in specs.items():
        write_command(root, name, {**spec, "output": {"out": "out.json"}, "shell": STEP})


def timed(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)  # noqa: S603
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start


def compare(name: str, kind: str, n: int, chain: str, repeats: int, goal: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base, ours = Path(tmp, "baseline"), Path(tmp, "slashmake")
        subprocess.run([PY, str(BASELINE), kind, str(n), str(base)], check=True)  # noqa: S603
        ours.mkdir()
        project(ours)
        chain_file = ours / "chain.flow"
        chain_file.write_text(chain)
        snake = [PY, "-m", "snakemake", "-n", "-c2", "--quiet", "rules", "all"]
        run = [PY, "-m", "slashmake.interfaces.cli", "run", "--dry-run", "-f", str(chain_file)]
        cold = timed(run, ours)  # first run: compiles into the cache
        b_times, s_times = [], []
        for _ in range(repeats):
            b_times.append(timed(snake, base))
            s_times.append(timed(run, ours))
        b, s = statistics.median(b_times), statistics.median(s_times)
        print(
            f"{name:28} baseline (hand-written Snakefile, snakemake -n) {b:6.2f} s   "
            f"slashmake run --dry-run {s:6.2f} s (first, compiling: {cold:.2f} s)   "
            f"ratio {s / b:.2f} (goal ≤ {goal:.2f})"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    chain = " → ".join(["/s"] * 200)
    compare("200-stage chain", "chain", 200, chain, args.repeats, 1.10)
    sigmas = ",".join(f"{0.001 * (i + 1):.3f}" for i in range(2000))
    compare(
        "2,000-variant sweep", "sweep", 2000, f"/train --parameters sigma:{sigmas} → /agg", args.repeats, 1.20
    )


if __name__ == "__main__":
    main()
