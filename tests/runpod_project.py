"""A hand-written 16-variant sweep project, shared by tests/test_runpod.py and the bench."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "config" / "profiles" / "runpod"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
VARIANTS = [f"v{i:02d}" for i in range(16)]
#: The runpod profile turns on grouping only for slashmake-compiled sweeps (``config:
#: slashmake_group_sweeps=1``, read by ``sweep_group`` in the compiled rules); this hand-written
#: Snakefile names its group ``sweep`` itself, so its runs ask for the grouping explicitly.
GROUPING = ["--group-components", "sweep=64"]

SNAKEFILE = """
VARIANTS = [f"v{i:02d}" for i in range(16)]
localrules: all

rule all:
    input: "results/summary.json"

rule step:
    output: "results/sweep/{v}.json"
    log: "logs/step/{v}.log"
    group: "sweep"
    shell: "python scripts/step.py {wildcards.v} {output} 2> {log}"

rule aggregate:
    input: expand("results/sweep/{v}.json", v=VARIANTS)
    output: "results/summary.json"
    shell: "python scripts/aggregate.py {output} {input}"
"""

STEP = """
import getpass, json, os, sys
variant, out = sys.argv[1], sys.argv[2]
token = os.environ.get("SLASHMAKE_TEST_TOKEN", "")
doc = {"variant": variant, "whoami": getpass.getuser(), "pwd": os.getcwd(),
       "token_len": len(token), "pad": "x" * 2000}
tmp = out + ".tmp"
with open(tmp, "w") as fh:
    json.dump(doc, fh)
os.replace(tmp, out)
print("step", variant, "done", file=sys.stderr)
"""

AGGREGATE = """
import json, sys
out, ins = sys.argv[1], sys.argv[2:]
docs = [json.load(open(p)) for p in ins]
with open(out + ".tmp", "w") as fh:
    json.dump({"n": len(docs), "users": sorted({d["whoami"] for d in docs}),
               "dirs": sorted({d["pwd"] for d in docs})}, fh)
import os; os.replace(out + ".tmp", out)
"""


def write_project(root: Path, snakefile: str = SNAKEFILE) -> Path:
    """Lay the sweep project out in root (Snakefile, scripts/, .rsyncignore)."""
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    (root / "Snakefile").write_text(snakefile)
    (root / "scripts" / "step.py").write_text(STEP)
    (root / "scripts" / "aggregate.py").write_text(AGGREGATE)
    (root / ".rsyncignore").write_text("results/\nlogs/\n")
    return root


def snakemake(
    root: Path, args: list[str], timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real snakemake CLI in root with a hard timeout."""
    full_env = {**os.environ, **(env or {})}
    full_env["PATH"] = f"{Path(sys.executable).parent}:{full_env.get('PATH', '')}"
    return subprocess.run(
        [*SNAKEMAKE, *args], cwd=root, capture_output=True, text=True, timeout=timeout,
        env=full_env, check=False,
    )
