"""What the flow benches share: a project folder with the real Snakefile, and toy commands.

Imported by the bench scripts (run as ``python bench/<name>.py``, so this folder is on sys.path).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# A toy step: writes a small metrics JSON (braces doubled for Snakemake's formatting).
STEP = "printf '{{\"value\": 1}}\\n' > {output.out}"


def project_skeleton(root: Path) -> None:
    """The real Snakefile, rules/common.smk and config (default profile) copied into ``root``."""
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    (root / "rules").mkdir()
    shutil.copy(REPO / "rules/common.smk", root / "rules/common.smk")
    (root / "config/profiles/default").mkdir(parents=True)
    for rel in ("config/config.yaml", "config/schema.yaml", "config/profiles/default/config.yaml"):
        shutil.copy(REPO / rel, root / rel)
    os.symlink("config/profiles", root / "profiles")


def write_command(root: Path, name: str, spec: dict[str, object]) -> None:
    """``workflow/commands/<name>.md`` with ``spec`` as its ``slashmake:`` key."""
    front = yaml.safe_dump({"description": "bench step", "slashmake": spec}, sort_keys=False)
    path = root / "workflow/commands" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{front}---\n")
