"""What every script in scripts/ shares: ``slashmake_ml`` importable from a bare checkout (no
``pip install -e .``), then its CLI helpers. Scripts run as ``python scripts/x.py``, so this
folder is on sys.path and ``from _ml import ...`` finds this module."""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import slashmake_ml  # noqa: F401
except ModuleNotFoundError:  # a checkout without `pip install -e .`: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from slashmake_ml.cli import (  # noqa: E402
    add_config_args,
    boolean,
    config_from_args,
    env_snapshot,
    load_labelled,
    main_guard,
    parser,
)

__all__ = ["add_config_args", "boolean", "config_from_args", "env_snapshot", "load_labelled", "main_guard", "parser"]
