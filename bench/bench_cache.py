"""The shared cache (not run by CI): two clones of the project share one cache folder.

    .venv/bin/python bench/bench_cache.py [--steps 10] [--repeats 3] [--only overhead|pipeline]

1. Clone A runs /ml-pipeline-full cold and stores its steps; clone B, a fresh copy, runs it with the
   same cache: B's wall time against A's (goal ≤ 0.15), and B's model and metrics files byte for
   byte against A's. Then a changed parameter in B (params.ml-train.steps) reruns the steps it
   shapes: which steps ran, and the time.
2. Per-step overhead of a cache hit: a chain of N toy steps restored from the cache in a fresh
   clone, against the baseline of a plain local rerun of nothing in the same number of steps
   (Snakemake started, all N up to date: SLASHMAKE_NO_FASTPATH=1), measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import copy_project
from benchlib import STEP, project_skeleton, write_command

PY = sys.executable


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)  # noqa: S603
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout + proc.stderr


def ran_rules(out: str) -> list[str]:
    """The rules Snakemake ran, from its job blocks."""
    return re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", out, re.M)


def files(root: Path, suffixes: tuple[str, ...]) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "results/steps").rglob("*"))
            if p.is_file() and p.suffix in suffixes}


def pipeline(tmp: Path) -> None:
    cache = tmp / "cache"
    run = [PY, "-m", "slashmake.interfaces.cli", "run", "/ml-pipeline-full", "--cores", "2",
           "--cache-location", str(cache)]
    a, b = tmp / "clone-a", tmp / "clone-b"
    for root in (a, b):
        root.mkdir()
        copy_project(root)
    t_a, out_a = timed(run, a)
    t_b, out_b = timed(run, b)
    print(f"/ml-pipeline-full cold, clone A:               {t_a:7.2f} s  (stored {out_a.count('stored in the cache')} steps)")
    print(f"/ml-pipeline-full first run, clone B (cached):  {t_b:7.2f} s  "
          f"(from the cache: {out_b.count('came from the cache')} steps; ran {', '.join(ran_rules(out_b)) or 'nothing'})")
    print(f"  ratio B/A: {t_b / t_a:.3f}  (goal <= 0.15)")
    fa, fb = files(a, (".pt", ".json")), files(b, (".pt", ".json"))
    wanted = [p for p in fa if p.endswith((".pt", "metrics.json"))]
    differ = [p for p in wanted if fa[p] != fb.get(p)]
    print(f"  B's {len(wanted)} model and metrics files byte-identical to A's: {not differ}"
          + (f" (differ: {', '.join(differ)})" if differ else ""))
    (b / "config/config.yaml").write_text((b / "config/config.yaml").read_text().replace(
        "params: {}", "params: {ml-train.steps: 300}"))
    t_c, out_c = timed(run, b)
    print(f"  then params.ml-train.steps=300 in B:           {t_c:7.2f} s; ran {', '.join(ran_rules(out_c))}; "
          f"from the cache: {out_c.count('came from the cache')} steps")


def overhead(tmp: Path, steps: int, repeats: int) -> None:
    chain = " → ".join(f"/s{i}" for i in range(steps))
    cache = tmp / "toy-cache"
    env = {**os.environ, "SLASHMAKE_NO_FASTPATH": "1"}

    def clone(name: str) -> Path:
        root = tmp / name
        root.mkdir()
        project_skeleton(root)
        for i in range(steps):
            spec: dict[str, object] = {"output": {"out": "out.json"}, "shell": STEP}
            if i:
                spec["input"] = ["out"]
            write_command(root, f"s{i}", spec)
        return root

    run = [PY, "-m", "slashmake.interfaces.cli", "run", chain, "--cache-location", str(cache)]
    seed = clone("seed")
    timed(run, seed, env)
    nothing, hits = [], []
    for r in range(repeats):
        nothing.append(timed([*run, "--no-cache"], seed, env)[0])  # Snakemake started, every step up to date
        fresh = clone(f"fresh-{r}")
        t, out = timed(run, fresh, env)
        assert out.count("came from the cache") == steps, out[-2000:]
        hits.append(t)
    base, hit = statistics.median(nothing), statistics.median(hits)
    print(f"{steps}-step chain, every step from the cache (fresh clone): {hit:.2f} s; "
          f"plain local rerun of nothing: {base:.2f} s (medians of {repeats})")
    print(f"  ratio {hit / base:.2f}; overhead of a cache hit {(hit - base) / steps * 1000:.0f} ms a step")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=["overhead", "pipeline"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "pipeline":
            overhead(Path(tmp), args.steps, args.repeats)
        if args.only != "overhead":
            pipeline(Path(tmp))


if __name__ == "__main__":
    main()
