"""`slashmake compare` over a ledger of 100,000 rows (not run by CI). Goal: it answers in ≤ 2 s.

    .venv/bin/python bench/bench_compare.py [--rows 100000] [--repeats 3]

The ledger is synthetic but shaped like the run record: sweep rows of a `train` step over
sigma × lr × seed with upstream parameters and a dozen metrics, evaluation rows, run rows, and a
few malformed lines. The command keeps the ledger's frames in ``.slashmake/ledger/``
(:mod:`slashmake.experiments.ledger_cache`), so its three cases are timed apart. Timed,
alternating, median of the repeats:

- ``slashmake compare --step train --json --no-plots``, the whole command (a new interpreter, the
  imports, the tolerant read, the grouping):
  - **cold**: ``.slashmake/ledger/`` removed first, so all 100,000 lines are parsed (and kept);
  - **warm**: the ledger as the last command left it (the kept frames, nothing parsed);
  - **appended**: one more run (50 lines) appended first, untimed, as ``slashmake run`` does (the
    kept bytes checked, the 50 lines parsed, the kept frames rewritten); the ledger so grows by 50
    lines a repeat;
- ``api.compare`` in this process (warm: the kept frames and the grouping, imports paid);
- the baseline: ``pandas.read_json(lines=True)`` on the same 100,000 rows without the malformed
  lines, then ``json_normalize`` and a ``groupby`` of the same metric by the same parameters: the
  least a pandas reader must do, every time. The ratios are ours / baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

PY = sys.executable
ROOT = Path(__file__).resolve().parent.parent


def ledger_lines(rng: random.Random, first: int, count: int) -> Iterator[str]:
    """Lines ``first`` to ``first + count - 1`` of the ledger: a run row after every 49 step rows."""
    sigmas, lrs = [0.0, 0.05, 0.1, 0.15, 0.2], [1e-3, 3e-3, 1e-2]
    for i in range(first, first + count):
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
        yield json.dumps(row) + "\n"


def write_ledger(path: Path, rows: int) -> Path:
    """``rows`` lines of ledger (and the same without the malformed ones, for the baseline)."""
    rng = random.Random(0)
    clean = path.with_name("clean.jsonl")
    with open(path, "w") as out, open(clean, "w") as good:
        for i, line in enumerate(ledger_lines(rng, 0, rows)):
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
    from slashmake.experiments import ledger_cache

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "results").mkdir()
        clean = write_ledger(root / "results/ledger.jsonl", a.rows)
        size = (root / "results/ledger.jsonl").stat().st_size / 1e6

        # This checkout's code in the command too (a relative PYTHONPATH=src would not reach it from tmp).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "src"),
                                                                       os.environ.get("PYTHONPATH")) if p)}

        def cli() -> None:
            subprocess.run([PY, "-m", "slashmake.interfaces.cli", "compare", "--step", "train", "--json",  # noqa: S603
                            "--no-plots"], cwd=root, check=True, capture_output=True, env=env)

        def cold() -> None:
            shutil.rmtree(root / ledger_cache.FOLDER, ignore_errors=True)
            cli()

        more = random.Random(1)

        def append_run() -> None:  # untimed: what `slashmake run` appends for one more run
            nonlocal rows
            with open(root / "results/ledger.jsonl", "a") as fh:
                fh.writelines(ledger_lines(more, rows, 50))
            rows += 50

        def inproc() -> None:
            api.compare(root, "train", draw=False, warn=lambda _w: None)

        def baseline() -> None:
            frame = pd.json_normalize(pd.read_json(clean, lines=True).to_dict("records"))
            frame = frame[frame["kind"] == "step"]
            keys = [c for c in frame.columns if c.startswith(("params.", "upstream.")) and not c.endswith("seed")]
            frame.groupby(keys, dropna=False)["metrics.val_accuracy"].agg(["count", "mean", "std"])

        rows = a.rows
        table = api.compare(root, "train", draw=False, warn=lambda _w: None).table
        print(f"ledger: {a.rows:,} rows, {size:.1f} MB; compare --step train: {table.n_results:,} results in "
              f"{len(table.groups)} groups (varying: {', '.join(table.varying)})")
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in ("cold", "warm", "appended", "api", "baseline")}
        for _ in range(a.repeats):
            times["cold"].append(timed(cold))
            times["baseline"].append(timed(baseline))
            times["warm"].append(timed(cli))
            append_run()
            times["appended"].append(timed(cli))
            times["api"].append(timed(inproc))
        kept = sum(f.stat().st_size for f in (root / ledger_cache.FOLDER).iterdir()) / 1e6
        wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
        base = wall["baseline"], cpu["baseline"]
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median of {a.repeats}: wall s (CPU s); "
              f"kept frames {kept:.0f} MB")
        for key, label in (("cold", "slashmake compare, cold (all parsed):"),
                           ("warm", "slashmake compare, warm (kept frames):"),
                           ("appended", "slashmake compare, 50 lines appended:"),
                           ("api", "api.compare in process (warm):")):
            goal = "  (goal ≤ 2 s)" if key != "api" else ""
            print(f"{label:40s}{wall[key]:6.2f} ({cpu[key]:.2f}){goal}  ratio to baseline "
                  f"{wall[key] / base[0]:.2f} wall, {cpu[key] / base[1]:.2f} CPU")
        print(f"{'baseline read_json + json_normalize + groupby:':40s}{base[0]:6.2f} ({base[1]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
