"""The experiment ledger (results/ledger.jsonl): one JSON line per row, appended atomically.

Rows of schema 2 (``schema: 2``) are the run record that ``slashmake run`` writes after each run
(:mod:`slashmake.execution.record`): a ``kind: step`` row per step that reports metrics and a
``kind: run`` row per run. Agent steps append their own ``kind: agent`` rows (their cost, for the
budget). Rows without ``schema`` were written before it existed and are still read.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SCHEMA = 2


def append(ledger: str | Path, step: str, metrics: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Append {time, step, metrics, ...} to ``ledger`` (JSONL).

    One os.write of one line under an exclusive lock, so concurrent sweep variants never
    interleave rows.
    """
    row = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "unix_time": time.time(),
        "step": step,
        "metrics": dict(metrics),
        **extra,
    }
    p = Path(ledger)
    p.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(row, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)
    return row


def warn_stderr(message: str) -> None:
    """Print a ledger warning on stderr (the default for :func:`read`)."""
    print(f"slashmake: warning: {message}", file=sys.stderr)


def read(ledger: str | Path, warn: Callable[[str], None] | None = warn_stderr) -> list[dict[str, Any]]:
    """Every row of a ledger (empty if it does not exist); a line that is not a JSON object is skipped.

    Each skipped line is reported through ``warn`` with its line number: a truncated append (a
    writer killed mid-line) or a hand edit costs that row, never the whole ledger.
    """
    p = Path(ledger)
    if not p.exists():
        return []
    rows: list[dict[str, Any]] = []
    with open(p, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                row, why = None, f"not JSON ({e.msg})"
            else:
                why = "not a JSON object"
            if not isinstance(row, dict):
                if warn is not None:
                    warn(f"{p}:{number}: skipped a malformed ledger line: {why}")
                continue
            rows.append(row)
    return rows
