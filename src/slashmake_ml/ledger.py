"""The experiment ledger: one JSON line per evaluation, appended atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slashmake.runtime.ledger import append  # the one writer of the ledger format

__all__ = ["append", "read"]


def read(ledger: str | Path) -> list[dict[str, Any]]:
    """All rows of a ledger (empty if it does not exist)."""
    p = Path(ledger)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
