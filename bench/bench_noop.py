"""A no-op rerun: slashmake against `dvc repro`, and a project of 60 flows against one of none (not run by CI).

    .venv/bin/python bench/bench_noop.py [--repeats 7]

1. A 10-stage chain, run once, then rerun with nothing changed: `slashmake run /chain10` (the
   no-op fast path: Snakemake is not started) against `dvc repro` on the equivalent 10-stage
   dvc.yaml, alternating. Goal ≤ 0.5. For context it also times the same no-op through Snakemake
   (SLASHMAKE_NO_FASTPATH=1) and plain `snakemake -c1 chain10`.
2. The same no-op in a project that also holds 60 unrelated compiled flows, against the project
   with none, both through the fast path and through Snakemake (a run parses only the flows its
   target needs). Goal ≤ 1.15.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from benchlib import STEP, project_skeleton, write_command

PY = sys.executable
BIN = Path(PY).parent
STAGES = 10


def slashmake_project(root: Path, extra_flows: int) -> None:
    """The real Snakefile, a 10-stage macro /chain10, and ``extra_flows`` unrelated macros."""
    project_skeleton(root)
    for i in range(STAGES):
        write_command(root, f"s{i}", {"params": {}, "output": {"out": "out.json"}, "shell": STEP})
    write_command(root, "chain10", {"flow": " → ".join(f"/s{i}" for i in range(STAGES))})
    for f in range(extra_flows):
        write_command(root, f"x{f}", {"params": {"k": f}, "output": {"out": "out.json"}, "shell": STEP})
        write_command(root, f"flow{f:02d}", {"flow": " → ".join([f"/x{f}"] + [f"/s{i}" for i in range(STAGES - 1)])})


def dvc_project(root: Path) -> None:
    """The same 10 stages as a dvc.yaml, each writing the same small JSON file."""
    stages = {}
    for i in range(STAGES):
        stage: dict[str, object] = {"cmd": f"printf '{{\"value\": 1}}\\n' > out{i}.json", "outs": [f"out{i}.json"]}
        if i:
            stage["deps"] = [f"out{i - 1}.json"]
        stages[f"s{i}"] = stage
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    run([str(BIN / "dvc"), "init", "--no-scm", "-q"], root)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = str(BIN) + os.pathsep + e.get("PATH", "")
    return e


def run(argv: list[str], cwd: Path, extra: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**env(), **(extra or {})})  # noqa: S603
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:5])} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
    return proc.stdout + proc.stderr


def timed(argv: list[str], cwd: Path, extra: dict[str, str] | None = None, expect: str = "") -> float:
    start = time.perf_counter()
    out = run(argv, cwd, extra)
    took = time.perf_counter() - start
    if expect and expect not in out:
        raise SystemExit(f"{' '.join(argv[:5])}: expected {expect!r} in its output:\n{out[-1500:]}")
    return took


def alternate(repeats: int, cases: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median seconds of each case, the cases run in turn ``repeats`` times."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            times[name].append(case())
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    slash = [PY, "-m", "slashmake.interfaces.cli", "run", "/chain10"]
    snake = [PY, "-m", "snakemake", "-c1", "chain10"]
    slow = {"SLASHMAKE_NO_FASTPATH": "1"}
    noop, nothing = "nothing to do", "Nothing to be done"
    with tempfile.TemporaryDirectory() as tmp:
        ours, many, dvc = Path(tmp, "slashmake"), Path(tmp, "slashmake-60"), Path(tmp, "dvc")
        for folder in (ours, many, dvc):
            folder.mkdir()
        slashmake_project(ours, 0)
        slashmake_project(many, 60)
        dvc_project(dvc)
        for project in (ours, many):
            run(slash, project)  # the real run; the next one is a no-op
        run([str(BIN / "dvc"), "repro", "-q"], dvc)
        m = alternate(args.repeats, {
            "dvc repro": lambda: timed([str(BIN / "dvc"), "repro"], dvc),
            "slashmake run (fast no-op)": lambda: timed(slash, ours, expect=noop),
            "slashmake run (through Snakemake)": lambda: timed(slash, ours, slow, expect=nothing),
            "snakemake -c1 chain10": lambda: timed(snake, ours, expect=nothing),
            "60 flows: slashmake run (fast no-op)": lambda: timed(slash, many, expect=noop),
            "60 flows: slashmake run (through Snakemake)": lambda: timed(slash, many, slow, expect=nothing),
            "60 flows: snakemake -c1 chain10 (parses all)": lambda: timed(snake, many, expect=nothing),
        })
    for name, t in m.items():
        print(f"  {name:46} {t:6.3f} s")
    base = m["dvc repro"]
    print(f"no-op of a 10-stage chain: slashmake {m['slashmake run (fast no-op)']:.3f} s vs dvc repro {base:.3f} s: "
          f"ratio {m['slashmake run (fast no-op)'] / base:.2f} (goal ≤ 0.50)")
    for kind in ("fast no-op", "through Snakemake"):
        a, b = m[f"60 flows: slashmake run ({kind})"], m[f"slashmake run ({kind})"]
        print(f"60 flows against none, {kind}: {a:.3f} s vs {b:.3f} s: ratio {a / b:.2f} (goal ≤ 1.15)")


if __name__ == "__main__":
    main()
