"""What earlier runs left in the step folders, read before and after a run.

Snakemake decides from files and times, which misses two things a user expects:

- a step whose outputs were deleted by hand is rebuilt, even when the steps after it are up to date
  (Snakemake leaves a missing intermediate file alone then);
- a failed ``/try:`` is tried again on the next run: its ``status.json`` records a failure, which is
  not an up-to-date result. A successful one is reused.

Both become ``--forcerun`` files (Snakemake forces only the jobs of the DAG that make them, so a
step on a branch not taken stays untouched). After a failed run, :func:`failure_lines` turns the
``slashmake: error:`` lines that runtime programs left in this run's logs into the lines
``slashmake run`` prints.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import Step, is_try, variants_of
from slashmake.runtime import FAILURE

_STEP_PATH = re.compile(r"results/steps/([^/\s]+)/")


@dataclass(frozen=True)
class Stale:
    """An output file to make again, and why."""

    step: Step
    path: str  # relative to the project root
    why: str


def outputs(step: Step) -> dict[str, list[str]]:
    """The files a step's rule writes, by variant ('' for a step without variants), relative to the root."""
    names = ["status.json"] if is_try(step) else list(step.outputs.values())
    variants = variants_of(step)
    if variants is None:
        return {"": [f"{step.folder}/{n}" for n in names]}
    return {v: [f"{step.folder}/{v}/{n}" for n in names] for v in variants}


def log_path(step: Step, variant: str) -> str:
    """The log file of a step's job (one per variant for a sweep)."""
    return f"logs/steps/{step.key}/{variant}.log" if variant else f"logs/steps/{step.key}.log"


def stale(root: Path, resolved: Resolved) -> list[Stale]:
    """Outputs of steps that ran before and are missing now, and failed tries: what the run must redo."""
    found: list[Stale] = []
    for step in resolved.steps:
        for variant, files in outputs(step).items():
            folder = root / step.folder / variant if variant else root / step.folder
            ran = folder.is_dir() or (root / log_path(step, variant)).exists()
            missing = [f for f in files if not (root / f).exists()]
            if ran and missing:
                found.append(Stale(step, missing[0], f"its output {missing[0]} is missing"))
            elif is_try(step) and not missing and _failed_try(root / files[0]):
                found.append(Stale(step, files[0], "it failed last time (a /try: is retried on the next run)"))
    return found


def _failed_try(status: Path) -> bool:
    try:
        data = json.loads(status.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # an unreadable status is not a result to reuse
    return not (isinstance(data, dict) and data.get("success") is True)


def force_files(root: Path, resolved: Resolved) -> tuple[str, ...]:
    """The files to hand Snakemake's ``--forcerun``: every stale output, once."""
    return tuple(dict.fromkeys(s.path for s in stale(root, resolved)))


CONTINUATION = 15  # lines of a multi-line error message shown after its first


def failure_lines(root: Path, resolved: Resolved, since: float) -> list[str]:
    """Why steps failed in a run that started at ``since``: the runtime's error lines, naming each step."""
    labels = {s.key: s.label for s in resolved.steps}
    lines: list[str] = []
    for step in resolved.steps:
        for variant in outputs(step):
            log = root / log_path(step, variant)
            try:
                if log.stat().st_mtime < since:
                    continue
                text = log.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            log_lines = text.splitlines()
            for i, line in enumerate(log_lines):
                if line.startswith(FAILURE):
                    where = f" [{variant}]" if variant else ""
                    lines.append(f"{step.label}{where} failed: {_name_steps(line[len(FAILURE):], labels)}")
                    # a message goes on over the next lines (the end of an agent program's stderr)
                    more = []
                    for follow in log_lines[i + 1:i + 1 + CONTINUATION]:
                        if follow.startswith(("slashmake:", "[", "Traceback")):
                            break
                        more.append(f"    {follow}")
                    lines += [m for m in more if m.strip()]
                    lines.append(f"  (log: {log.relative_to(root).as_posix()})")
    return lines


def _name_steps(message: str, labels: dict[str, str]) -> str:
    """Add the step that wrote each step-folder file a message mentions: `... (written by /train)`."""
    keys = [k for k in dict.fromkeys(_STEP_PATH.findall(message)) if k in labels]
    return message + "".join(f" (written by {labels[k]}, step {k})" for k in keys)
