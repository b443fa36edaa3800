"""Rule names: from a step's label (``ml_train``, ``gate_accuracy``), stable from one compile to the next.

A step's rule is named after what the chain wrote: ``/ml-train`` is ``ml_train``, the gate
``/if:accuracy>0.9`` is ``gate_accuracy`` and the join after it ``join_accuracy``. Where two
*different* steps (different keys) would get the same name, the later one takes a number
(``ml_train_2``).

Stable means: adding a flow never renames a rule that exists. ``slashmake compile`` keeps the
table of names it gave in ``rules/compiled/rule-names.json`` (name → step key, committed with the
compiled flows). At each compile, a step whose key is in the table keeps its name; names of keys
no flow reaches any more are freed first, so editing a command (a new key) keeps its rule's name;
a new step takes its label's name if free, else the next free number (steps a chain writes
choose before steps pulled in by a command's ``needs``). Ad-hoc chains read the table
and never write it.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable
from pathlib import Path

from slashmake.compiler.steps import Step
from slashmake.definitions import slug

REGISTRY = Path("rules/compiled/rule-names.json")


def base_name(label: str) -> str:
    """The rule name a label asks for: ``/results:aggregate`` → ``results_aggregate``."""
    name = re.sub(r"\W", "_", slug(label.lstrip("/")).replace(":", "-")).strip("_") or "step"
    if name[0].isdigit() or keyword.iskeyword(name):
        name = f"step_{name}"
    return name


class RuleNames:
    """Step key → rule name, for every step of a project's compiled flows."""

    def __init__(self, by_name: dict[str, str] | None = None, reserved: Iterable[str] = ()) -> None:
        self.by_key: dict[str, str] = {key: name for name, key in (by_name or {}).items()}
        self.reserved = set(reserved)  # flow target names: no step may take one
        self.changed = False

    @classmethod
    def load(cls, root: Path, reserved: Iterable[str] = ()) -> RuleNames:
        """The project's table, or an empty one (a missing or unreadable file names afresh)."""
        try:
            data = json.loads((root / REGISTRY).read_text())
        except (OSError, ValueError):
            data = {}
        table = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return cls(table, reserved)

    def save(self, root: Path) -> None:
        """Write the table (sorted by name, one entry a line) when it changed."""
        path = root / REGISTRY
        text = json.dumps(dict(sorted((n, k) for k, n in self.by_key.items())), indent=1) + "\n"
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def keep_only(self, keys: set[str]) -> None:
        """Free the names of steps no flow has any more."""
        for key in [k for k in self.by_key if k not in keys]:
            del self.by_key[key]
            self.changed = True

    def name(self, steps: Iterable[Step]) -> None:
        """Give each step its rule name (``step.rule``), taking new names in the order given."""
        taken = set(self.by_key.values()) | self.reserved
        tried: dict[str, int] = {}  # base -> the next number to try (a 2,000-stage chain of /s stays linear)
        for step in steps:
            name = self.by_key.get(step.key)
            if name is None or name in self.reserved:
                base = name = base_name(step.label)
                n = tried.get(base, 2)
                while name in taken:
                    name, n = f"{base}_{n}", n + 1
                tried[base] = n
                self.by_key[step.key] = name
                taken.add(name)
                self.changed = True
            step.rule = name
