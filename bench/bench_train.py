# ruff: noqa: S603  (benchmarks run this repo's own scripts with fixed argv)
"""Benchmark: slashmake_ml.scripts.train vs a plain PyTorch loop (same model, data, optimiser steps, 1 thread).

Both run as fresh processes (imports included), alternating A/B to cancel drift in machine
load; prints the median wall times and the ratio baseline/slashmake (goal >= 0.95).

    python bench/bench_train.py [--steps 300] [--repeats 3] [--n-labelled 1000]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The baseline: what one would write by hand: no validation, no early stopping, no plots.
PLAIN = r"""
import sys, numpy as np, torch
from slashmake_ml.config import ModelConfig
from slashmake_ml.model import SimpleLSTM
torch.set_num_threads(1); torch.manual_seed(17)
z = np.load(sys.argv[1]); X, y = z["X"], z["y"]
idx = np.random.default_rng(17).permutation(len(X)); cut = int(0.85 * len(X))
Xt, yt = torch.from_numpy(X[idx[:cut]]), torch.from_numpy(y[idx[:cut]]).long()
model = SimpleLSTM(ModelConfig()); opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
model.train()
for step in range(int(sys.argv[3])):
    b = torch.randint(0, len(Xt), (32,))
    loss = torch.nn.functional.cross_entropy(model(Xt[b]), yt[b])
    opt.zero_grad(); loss.backward(); opt.step()
torch.save(model.state_dict(), sys.argv[2])
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time is steadier on a shared machine."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t0, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)


def main() -> None:
    """Run the benchmark and print the ratio."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-labelled", type=int, default=1000)
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(
            [
                py,
                "-m", "slashmake_ml.scripts.init",
                f"--data={d}/data.parquet",
                f"--test={d}/t.parquet",
                f"--unlabelled={d}/u.parquet",
                "--n-labelled",
                str(a.n_labelled),
                "--n-test",
                "10",
                "--n-unlabelled",
                "10",
            ],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [py, "-m", "slashmake_ml.scripts.features", f"--data={d}/data.parquet", f"--out={d}/f.npz"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        (Path(d) / "plain.py").write_text(PLAIN)
        ours = [
            py,
            "-m", "slashmake_ml.scripts.train",
            f"--features={d}/f.npz",
            f"--model={d}/m.pt",
            f"--metrics={d}/m.json",
            "--steps",
            str(a.steps),
            "--patience",
            str(a.steps),
            "--threads",
            "1",
            "--device",
            "cpu",
        ]
        plain = [py, f"{d}/plain.py", f"{d}/f.npz", f"{d}/p.pt", str(a.steps)]
        t_ours: list[tuple[float, float]] = []
        t_plain: list[tuple[float, float]] = []
        for _ in range(a.repeats):
            t_plain.append(timed(plain))
            t_ours.append(timed(ours))
    for i, what in ((0, "wall"), (1, "cpu")):
        mo, mp = statistics.median(t[i] for t in t_ours), statistics.median(t[i] for t in t_plain)
        print(
            f"[{what}] plain PyTorch loop (baseline): median {mp:.2f} s  runs {[round(t[i], 2) for t in t_plain]}"
        )
        print(
            f"[{what}] slashmake_ml.scripts.train             : median {mo:.2f} s  runs {[round(t[i], 2) for t in t_ours]}"
        )
        print(
            f"[{what}] ratio baseline/train.py = {mp / mo:.3f}  (goal >= 0.95; {a.steps} steps, {a.n_labelled} windows, 1 thread)"
        )


if __name__ == "__main__":
    main()
