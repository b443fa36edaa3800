"""The experiment ledger (results/ledger.jsonl): one JSON line per evaluated step, appended atomically.

Steps of the ML pipeline and agent steps write it; ``slashmake results`` reads it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
