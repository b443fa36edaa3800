"""What an agent step leaves behind: metrics from its answer, atomic files, the ledger, the budget.

Every agent step appends one row to the experiment ledger (``results/ledger.jsonl``, read by
``slashmake results``): its turns, duration, session id, cost and model, and the answer's metrics,
tagged with the run it belongs to (``SLASHMAKE_RUN_ID``, set by ``slashmake run`` and, for a plain
``snakemake``, by the Snakefile). ``agent.max_cost_usd`` is checked against the run's summed cost
before an agent program starts.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slashmake.agents.errors import AgentError
from slashmake.runtime.ledger import append, read

_FENCE_RE = re.compile(r"^[ \t]*```[ \t]*json[ \t]*\r?\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
RUN_ID_ENV = "SLASHMAKE_RUN_ID"


def extract_metrics(answer: str) -> dict[str, Any]:
    """The last fenced ```json block as a flat object; ``{"answered": true}`` without one.

    A value that is not a number, boolean, string or null is an error: metrics feed gates."""
    blocks = _FENCE_RE.findall(answer)
    if not blocks:
        return {"answered": True}
    raw = blocks[-1]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AgentError(f"the last ```json block of the answer is not valid JSON ({exc}):\n{raw.strip()[:500]}") from None
    if not isinstance(data, dict):
        raise AgentError(
            f"the last ```json block of the answer must be a JSON object of metrics, got {type(data).__name__}"
        )
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise AgentError(f"the ```json block's metric {key!r} is {value}: metrics must be finite numbers")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise AgentError(f"the ```json block's metric {key!r} is a {type(value).__name__}: metrics must be "
                             "a flat object of numbers, booleans and strings")
    return {str(k): v for k, v in data.items()}


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half a file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        remove(tmp)
        raise


def remove(path: str | None) -> None:
    """Delete a file if it is there."""
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------- ledger and budget


def run_id() -> str:
    """The current run's id ('' outside slashmake run / the Snakefile)."""
    return os.environ.get(RUN_ID_ENV, "")


def _rows(ledger: Path) -> list[dict[str, Any]]:
    # a torn line from a killed writer is not a cost; the budget check stays quiet about it
    return read(ledger, warn=None)


def run_cost(ledger: Path, run: str) -> float:
    """The summed agent cost of the ledger's rows of run ``run``."""
    total = 0.0
    for row in _rows(ledger):
        metrics = row.get("metrics")
        cost = metrics.get("cost_usd") if isinstance(metrics, dict) else None
        if row.get("run") == run and row.get("kind") == "agent" and isinstance(cost, (int, float)):
            total += float(cost)
    return total


def check_budget(ledger: Path, max_cost_usd: float | None, label: str) -> None:
    """Refuse to start an agent step once the run's summed cost has passed the budget."""
    if max_cost_usd is None:
        return
    run = run_id()
    spent = run_cost(ledger, run)
    if spent >= max_cost_usd:
        raise AgentError(
            f"agent budget spent: this run's agent steps cost ${spent:.4f}, more than agent.max_cost_usd "
            f"(${max_cost_usd:g}); {label} was not started, and no further agent step will start "
            f"(raise agent.max_cost_usd in config/config.yaml to go on)")


def append_row(ledger: Path, step: str, metrics: Mapping[str, Any], **extra: Any) -> None:
    """Append the agent step's row, tagged with its kind and this run's id (for the budget)."""
    append(ledger, step, metrics, kind="agent", run=run_id(), **extra)


def note_budget(ledger: Path, max_cost_usd: float | None) -> None:
    """After a step: say so on stderr when the run's cost has now passed the budget."""
    if max_cost_usd is None:
        return
    spent = run_cost(ledger, run_id())
    if spent >= max_cost_usd:
        print(f"slashmake.agents.step: warning: this run's agent steps have cost ${spent:.4f}, past agent.max_cost_usd "
              f"(${max_cost_usd:g}): no further agent step will start", file=sys.stderr)
