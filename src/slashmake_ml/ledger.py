"""The experiment ledger: one JSON line per evaluation, appended atomically."""

from __future__ import annotations

from slashmake.runtime.ledger import append, read  # the one writer and reader of the ledger format

__all__ = ["append", "read"]
