"""Helpers shared by the thin CLIs in scripts/ (no heavy imports here)."""

from __future__ import annotations

import argparse
import platform
import sys
import traceback
from collections.abc import Callable

from slashmake_ml.fileio import parse_bool


def boolean(s: str) -> bool:
    """argparse type for true/false flags as templates render them (True, false, 1...)."""
    try:
        return parse_bool(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def main_guard(fn: Callable[[], int | None]) -> None:
    """Run a script's main; any exception becomes a one-line error on stderr and exit 1."""
    try:
        rc = fn()
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # a step must fail loudly but readably in the log
        traceback.print_exc(file=sys.stderr)
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    sys.exit(rc or 0)


def env_snapshot() -> dict[str, object]:
    """Versions of the interpreter and key libraries (what a rerun needs to reproduce)."""
    import importlib.metadata as md

    pkgs: dict[str, str | None] = {}
    for name in ("torch", "numpy", "pandas", "pandera", "pyarrow", "scipy", "matplotlib", "dvc", "snakemake"):
        try:
            pkgs[name] = md.version(name)
        except md.PackageNotFoundError:
            pkgs[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": pkgs,
    }
