"""Helpers shared by the thin CLIs in scripts/ (no heavy imports here)."""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from slashmake_ml.fileio import parse_bool

C = TypeVar("C")


def boolean(s: str) -> bool:
    """argparse type for true/false flags as templates render them (True, false, 1...)."""
    try:
        return parse_bool(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def add_config_args(
    ap: argparse.ArgumentParser, cls: type[Any], prefix: str = "", skip: tuple[str, ...] = ()
) -> None:
    """One ``--[prefix-]name`` flag per scalar field of the dataclass ``cls``, defaulting to the field's default.

    The dataclass is the one place a default lives; a command file's ``params`` only pass
    values through (tests/test_ml_train.py checks that they agree).
    """
    for f in dataclasses.fields(cls):
        if f.name in skip or f.default is dataclasses.MISSING:
            continue
        kind = type(f.default)
        flag = "--" + (prefix + f.name).replace("_", "-")
        ap.add_argument(flag, dest=prefix.replace("-", "_") + f.name, type=boolean if kind is bool else kind,
                        default=f.default, help=f"(default {f.default})")


def config_from_args(cls: type[C], a: argparse.Namespace, prefix: str = "", **extra: Any) -> C:
    """The ``cls`` instance that the flags of :func:`add_config_args` describe (``extra`` wins)."""
    p = prefix.replace("-", "_")
    vals = {f.name: getattr(a, p + f.name) for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.default is not dataclasses.MISSING and hasattr(a, p + f.name)}
    return cls(**{**vals, **extra})


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


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The argument parser of a script, described by its module docstring."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def load_labelled(path: str) -> tuple[Any, Any]:
    """Features and labels (X (N, T, F), y (N,)) of a labelled file; a one-line error when it has no labels."""
    from slashmake_ml.features import load_features

    X, y = load_features(path)
    if y is None:
        raise SystemExit(f"error: {path} has no labels; this step needs labelled windows")
    return X, y
