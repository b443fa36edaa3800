"""`slashmake compare` over a ledger of 100,000 rows (not run by CI). Goal: it answers in ≤ 2 s.

    .venv/bin/python bench/bench_compare.py [--rows 100000] [--repeats 3]

The ledger is synthetic but shaped like the run record: sweep rows of a `train` step over
sigma × lr × seed with upstream parameters and a dozen metrics, evaluation rows, run rows, and a
few malformed lines. Timed, alternating, median of the repeats:

- ``slashmake compare --step train --json --no-plots``: the whole command (a new interpreter,
  the imports, the tolerant read, the grouping);
- ``api.compare`` in this process (the read and the grouping, imports paid);
- the baseline: ``pandas.read_json(lines=True)`` on the same rows without the malformed lines, then
  ``json_normalize`` and a ``groupby`` of the same metric by the same parameters: the least a
  pandas reader must do. The ratio is ours / baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent


def write_ledger(path: Path, rows: int) -> Path:
    """``rows`` lines of ledger (and the same without the malformed ones, for the baseline)."""
    rng = random.Random(0)
    clean = path.with_name("clean.jsonl")
    sigmas, lrs = [0.0, 0.05, 0.1, 0.15, 0.2], [1e-3, 3e-3, 1e-2]
    with open(path, "w") as out, open(clean, "w") as good:
        for i in range(rows):
            run = f"20261203T{i // 50:06d}-1-{i}"
            if i % 50 == 49:
                row = {"schema": 2, "kind": "run", "run": run, "chain": "/hpo", "status": "ok", "time": "t",
                       "unix_time": float(i), "git": {"commit": "abc", "dirty": False},
                       "cost": {"agent_usd": 0.0, "pod_usd": 0.01}, "headline": {"metric": "val_accuracy", "value": 0.8}}
            else:
                sigma, lr, seed = rng.choice(sigmas), rng.choice(lrs), rng.randint(1, 5)
                metrics = {"val_accuracy": rng.gauss(0.8 + sigma / 4, 0.02), "best_val_loss": rng.random(),
                           **{f"m{k}": rng.random() for k in range(10)}}
                row = {"schema": 2, "kind": "step", "run": run, "chain": "/hpo", "step": "train", "rule": "train",
                       "key": f"train-{i % 97:08x}", "variant": f"sigma-{sigma}_lr-{lr}_seed-{seed}",
                       "params": {"sigma": sigma, "lr": lr, "seed": seed, "steps": 400, "batch_size": 32},
                       "upstream": {"init.n_labelled": 200, "init.seed": 17, "feature-engineer.window": 105},
                       "metrics": metrics, "primary": "val_accuracy", "git": {"commit": "abc", "dirty": False},
                       "data_digest": "sha256:0", "duration_s": rng.random() * 10, "reused": False,
                       "cost": {"agent_usd": 0.0, "pod_usd": 0.0}, "executor": "local", "host": "h",
                       "time": "t", "unix_time": float(i)}
            line = json.dumps(row) + "\n"
            out.write(line)
            good.write(line)
            if i % 20_000 == 0:
                out.write('{"truncated": \n')  # a torn append: skipped with a warning
    return clean


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process and its children (what an idle machine's wall time
    would be for single-threaded work: on a shared machine the wall time also counts waiting for a core)."""
    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    t, c = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - t, cpu() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import pandas as pd

    from slashmake import api

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "results").mkdir()
        clean = write_ledger(root / "results/ledger.jsonl", a.rows)
        size = (root / "results/ledger.jsonl").stat().st_size / 1e6

        def cli() -> None:
            subprocess.run([PY, "-m", "slashmake.interfaces.cli", "compare", "--step", "train", "--json",  # noqa: S603
                            "--no-plots"], cwd=root, check=True, capture_output=True)

        def inproc() -> None:
            api.compare(root, "train", draw=False, warn=lambda _w: None)

        def baseline() -> None:
            frame = pd.json_normalize(pd.read_json(clean, lines=True).to_dict("records"))
            frame = frame[frame["kind"] == "step"]
            keys = [c for c in frame.columns if c.startswith(("params.", "upstream.")) and not c.endswith("seed")]
            frame.groupby(keys, dropna=False)["metrics.val_accuracy"].agg(["count", "mean", "std"])

        table = api.compare(root, "train", draw=False, warn=lambda _w: None).table
        print(f"ledger: {a.rows:,} rows, {size:.1f} MB; compare --step train: {table.n_results:,} results in "
              f"{len(table.groups)} groups (varying: {', '.join(table.varying)})")
        times: dict[str, list[tuple[float, float]]] = {"cli": [], "api": [], "baseline": []}
        for _ in range(a.repeats):
            times["cli"].append(timed(cli))
            times["api"].append(timed(inproc))
            times["baseline"].append(timed(baseline))
        wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median of {a.repeats}: wall s (CPU s)")
        print(f"slashmake compare (whole command): {wall['cli']:.2f} ({cpu['cli']:.2f})  (goal ≤ 2 s)")
        print(f"api.compare in process:            {wall['api']:.2f} ({cpu['api']:.2f})")
        print(f"baseline read_json + json_normalize + groupby: {wall['baseline']:.2f} ({cpu['baseline']:.2f})")
        print(f"ratio api / baseline: {wall['api'] / wall['baseline']:.2f} wall, {cpu['api'] / cpu['baseline']:.2f} CPU; "
              f"whole command / baseline: {wall['cli'] / wall['baseline']:.2f} wall, "
              f"{cpu['cli'] / cpu['baseline']:.2f} CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
