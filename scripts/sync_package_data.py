"""Copy this repository's files that the wheel ships into the packages (``--check``: compare only).

``slashmake init`` lays out ``slashmake/skeleton/`` and ``slashmake init --example moola`` lays out
``slashmake_ml/example/``. They are real files in the wheel (never links into a checkout), copied
from the files this repository itself runs: run this after editing them (tests/test_user_repo.py
fails until the copies match).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKELETON = REPO / "src/slashmake/skeleton"
EXAMPLE = REPO / "src/slashmake_ml/example"
SKELETON_FILES = ("Snakefile", "rules/common.smk", "config/config.yaml", "config/schema.yaml",
                  "config/profiles/default/config.yaml")
EXAMPLE_FOLDERS = ("workflow/commands", "droids")


def pairs() -> dict[Path, Path]:
    """Each packaged copy and the repository file it copies."""
    out = {SKELETON / rel: REPO / rel for rel in SKELETON_FILES}
    for folder in EXAMPLE_FOLDERS:
        for src in sorted((REPO / folder).rglob("*")):
            if src.is_file():
                out[EXAMPLE / src.relative_to(REPO)] = src
    return out


def differences() -> list[str]:
    """Packaged copies that are missing, different, or no longer in the repository."""
    want = pairs()
    diff = [f"{dest.relative_to(REPO)} differs from {src.relative_to(REPO)}" for dest, src in want.items()
            if not dest.is_file() or dest.read_bytes() != src.read_bytes()]
    extra = [p for p in EXAMPLE.rglob("*") if p.is_file() and p not in want] if EXAMPLE.exists() else []
    return diff + [f"{p.relative_to(REPO)} is not in the repository any more" for p in extra]


def main() -> int:
    """Copy (or with --check compare) the packaged files; exit 1 on --check when any differs."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when a copy is stale")
    check = ap.parse_args().check
    stale = differences()
    if check:
        for line in stale:
            print(line)
        if stale:
            print("run `python scripts/sync_package_data.py` and commit the copies", file=sys.stderr)
        return 1 if stale else 0
    want = pairs()
    for dest, src in want.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    for p in sorted(EXAMPLE.rglob("*"), reverse=True):
        if p.is_file() and p not in want:
            p.unlink()
    print(f"{len(stale)} packaged files updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
