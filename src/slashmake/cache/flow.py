"""The cache seen from a resolved flow: which of its steps are cached, and what a run says about them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slashmake.cache.session import CacheEvent, Target, probe, restore, store
from slashmake.cache.settings import CacheSettings
from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import CommandStep, cacheable, variants_of
from slashmake.errors import FlowError


def _guarded(settings: CacheSettings, action: Callable[[], list[CacheEvent]]) -> list[CacheEvent]:
    """Run a cache action; a location that cannot be reached or read is reported, and the run goes
    on without the cache (the cache never makes a run fail)."""
    try:
        return action()
    except FlowError:
        raise
    except Exception as e:  # a remote's client raises its own kinds (asyncssh, botocore...)
        return [CacheEvent("", "", "unusable", settings.location or "", f"{e.__class__.__name__}: {e}")]


def selected(resolved: Resolved, settings: CacheSettings) -> dict[str, str]:
    """Rule -> step label of the flow's steps the config caches."""
    return {s.rule: s.label for s in resolved.steps
            if isinstance(s, CommandStep) and cacheable(s) and settings.selects(s.cmd.name)}


def before_run(root: Path, resolved: Resolved, target: Target, settings: CacheSettings,
               forced: tuple[str, ...]) -> list[CacheEvent]:
    """Restore the cached steps this run would run (``forced``: rules the user asked to rerun)."""
    rules = selected(resolved, settings)
    return _guarded(settings, lambda: restore(root, target, settings, set(rules), forced)) if rules else []


def after_run(root: Path, resolved: Resolved, target: Target, settings: CacheSettings, started: float,
              restored: list[CacheEvent]) -> list[CacheEvent]:
    """Store the cached steps that ran; Snakemake's graph is read only when one of their files is new."""
    rules = selected(resolved, settings)
    back = {(e.rule, e.variant) for e in restored if e.state == "restored"}
    fresh = False
    for step in resolved.steps:
        if step.rule not in rules:
            continue
        variants = variants_of(step)
        for variant in (list(variants) if variants is not None else [""]):
            folder = root / step.folder / variant if variant else root / step.folder
            if (step.rule, variant) not in back and any(
                    (folder / f).exists() and (folder / f).stat().st_mtime >= started for f in step.outputs.values()):
                fresh = True
    if not fresh:
        return []
    return _guarded(settings, lambda: store(root, target, settings, rules, started,
                                            frozenset(e.key for e in restored if e.state == "restored")))


def planned(root: Path, resolved: Resolved, target: Target, settings: CacheSettings,
            forced: tuple[str, ...]) -> list[CacheEvent]:
    """``explain``: the jobs the cache would answer."""
    rules = selected(resolved, settings)
    return _guarded(settings, lambda: probe(root, target, settings, set(rules), forced)) if rules else []


def lines(resolved: Resolved, events: list[CacheEvent]) -> list[str]:
    """What a run says about the cache, one line per step (a sweep's variants on one line)."""
    labels = {s.rule: (s.label, s.key) for s in resolved.steps}
    grouped: dict[tuple[str, str], list[CacheEvent]] = {}
    for e in events:
        grouped.setdefault((e.rule, e.state), []).append(e)
    out = []
    for (rule, state), es in grouped.items():
        if state == "unusable":
            out += [f"cache: the cache at {e.location} could not be used ({e.detail}); the run went on without it"
                    for e in es]
            continue
        label, key = labels.get(rule, (rule, ""))
        what = f"{label} ({key})" + (f" [{', '.join(sorted(e.variant for e in es))}]" if es[0].variant else "")
        where = es[0].location
        if state == "restored":
            out.append(f"cache: {what} came from the cache at {where}")
        elif state == "stored":
            out.append(f"cache: {what} stored in the cache at {where}")
        elif state == "corrupt":
            for e in es:
                out.append(f"cache: {what} had a corrupted entry at {where} ({e.detail}); it was dropped and "
                           "the step recomputed")
    return out
