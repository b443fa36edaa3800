"""Loading a project's definition files: libyaml against pure-Python YAML (not run by CI).

    .venv/bin/python bench/bench_definitions.py [--repeats 7] [--root .]

Every `slashmake` start loads every command and droid (and checks them). The loader parses with
libyaml's CSafeLoader when PyYAML has it; the baseline is the same loader on PyYAML's pure-Python
SafeLoader, measured in the same run, alternating. Prints each median and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import yaml

from slashmake.definitions import files as deffile
from slashmake.definitions import load

REPO = Path(__file__).resolve().parent.parent


def _once(root: Path, loader: type[yaml.SafeLoader], n: int) -> float:
    deffile._LOADER = loader  # the one switch: which YAML parser the definition reader uses
    start = time.perf_counter()
    for _ in range(n):
        load(root)
    return (time.perf_counter() - start) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--root", type=Path, default=REPO)
    args = ap.parse_args()
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None:
        raise SystemExit("PyYAML has no libyaml here: nothing to compare")
    base: list[float] = []
    ours: list[float] = []
    defs = load(args.root)
    for _ in range(args.repeats):
        base.append(_once(args.root, yaml.SafeLoader, 5))
        ours.append(_once(args.root, fast, 5))
    b, o = statistics.median(base), statistics.median(ours)
    files = len(defs.files())
    print(f"{files} definition files under {args.root}")
    print(f"pure-Python YAML: {b * 1000:.1f} ms   libyaml: {o * 1000:.1f} ms   ratio {o / b:.2f}")


if __name__ == "__main__":
    main()
