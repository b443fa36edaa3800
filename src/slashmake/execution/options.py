"""Snakemake's per-rule run options, by command name: `--forcerun ml-train`, `--set-threads /ml-train=4`.

A user names a step the way the chain does (``/ml-train``, ``ml-train``, ``droid:command``) or by
its step key or rule name; these functions turn that into the flow's rule names for Snakemake.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slashmake.compiler.steps import CommandStep
from slashmake.errors import RunError

if TYPE_CHECKING:
    from slashmake.compiler.resolve import Resolved


def rules_for(resolved: Resolved, want: str, option: str) -> list[str]:
    """The rule(s) of the steps ``want`` names; RunError listing the flow's steps when none does."""
    name = want.strip().lstrip("/").replace(":", "/")
    hits: list[str] = []
    for s in resolved.steps:
        command = isinstance(s, CommandStep) and (
            s.cmd.name == name or (s.droid is not None and name == f"{s.droid.name}/{s.cmd.name}"))
        if (want in (s.key, s.rule) or command) and s.rule not in hits:
            hits.append(s.rule)
    if not hits:
        labels = sorted({s.label for s in resolved.steps if isinstance(s, CommandStep)})
        raise RunError(f"{option} {want}: no such step in this flow (steps: {', '.join(labels)})")
    return hits


def rule_list(resolved: Resolved, wants: tuple[str, ...], option: str) -> tuple[str, ...]:
    """``rules_for`` over several names, in order, without repeats."""
    out: list[str] = []
    for want in wants:
        out += [r for r in rules_for(resolved, want, option) if r not in out]
    return tuple(out)


def per_rule(resolved: Resolved, pairs: tuple[str, ...], option: str, sep: str) -> tuple[str, ...]:
    """``STEP=N`` (``sep`` '=') or ``STEP:NAME=VALUE`` (``sep`` ':') with STEP turned into rule names.

    The step is everything before the last ``sep`` ahead of the '=', so ``droid:cmd:mem_mb=1000``
    names the step ``droid:cmd``.
    """
    out: list[str] = []
    for pair in pairs:
        head, eq, value = pair.partition("=")
        step, found, rest = head.rpartition(sep) if sep != "=" else (head, eq, "")
        if not eq or not found or not step.strip() or (sep != "=" and not rest.strip()):
            shape = "STEP=N" if sep == "=" else "STEP:NAME=VALUE"
            raise RunError(f"{option} {pair!r}: write {shape}")
        tail = f"={value}" if sep == "=" else f":{rest}={value}"
        out += [f"{rule}{tail}" for rule in rules_for(resolved, step, option)]
    return tuple(out)
