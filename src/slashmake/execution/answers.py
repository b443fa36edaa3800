"""What an agent step answered, for the run summary and ``slashmake show``: the answer, its metrics, its log.

An agent step's folder holds ``response.md`` (the answer) and ``metrics.json``; its log is
``logs/steps/<key>.log``. The summary shows the first lines of the answer and where the rest is;
``show`` finds a step's newest folder by its command name and returns all of it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slashmake.definitions import slug
from slashmake.errors import FlowError

PREVIEW_LINES = 3


@dataclass(frozen=True)
class StepOutcome:
    """One step's stored result: where it is, its answer (agent steps), metrics and log."""

    name: str
    folder: str
    answer: str | None
    answer_file: str | None
    metrics: dict[str, Any] = field(default_factory=dict)
    log: str | None = None
    files: tuple[str, ...] = ()


def preview(root: Path, folder: str, lines: int = PREVIEW_LINES) -> str:
    """The first non-empty lines of a step's ``response.md`` and its path, or ``''`` when there is none."""
    path = root / folder / "response.md"
    if not path.is_file():
        return ""
    text = [line.rstrip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    shown = [line if len(line) <= 160 else line[:157] + "..." for line in text[:lines]]
    more = f" (+{len(text) - lines} lines)" if len(text) > lines else ""
    return "\n".join([f"answer ({folder}/response.md){more}:", *(f"    {line}" for line in shown)])


def find_step(root: Path, name: str) -> StepOutcome:
    """The newest stored result of the step a command name (``/plan-feature``) or a step key names."""
    steps = root / "results/steps"
    wanted = name.strip().lstrip("/")
    key = re.compile(rf"{re.escape(slug(wanted))}-[0-9a-f]{{6,}}")
    folders = [p for p in steps.iterdir() if p.is_dir() and (p.name == wanted or key.fullmatch(p.name))] \
        if steps.is_dir() else []
    if not folders:
        raise FlowError(f"no results for {name!r} yet in results/steps/: run a chain with it first "
                        "(`slashmake results` lists what ran)")
    folder = max(folders, key=lambda p: p.stat().st_mtime_ns)
    rel = folder.relative_to(root).as_posix()
    response = folder / "response.md"
    metrics: dict[str, Any] = {}
    try:
        data = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        metrics = data if isinstance(data, dict) else {}
    except (OSError, json.JSONDecodeError):
        pass
    log = root / "logs/steps" / f"{folder.name}.log"
    return StepOutcome(
        name=folder.name if key.fullmatch(wanted) else "/" + wanted, folder=rel,
        answer=response.read_text(encoding="utf-8", errors="replace") if response.is_file() else None,
        answer_file=f"{rel}/response.md" if response.is_file() else None, metrics=metrics,
        log=log.relative_to(root).as_posix() if log.is_file() else None,
        files=tuple(sorted(p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_file())))
