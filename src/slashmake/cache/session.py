"""What a run does with the shared cache, on the controller, around Snakemake's run.

Before Snakemake schedules anything, :func:`restore` walks its job graph: each job that would run,
whose step is cached (:func:`slashmake.compiler.steps.cacheable`, and the config), and whose entry is in the cache,
gets its files from the cache (checked against their checksums), a log line saying so, and
Snakemake's own metadata record. Snakemake then finds those outputs up to date and submits
nothing for them, whatever the executor (local, ``slurm``, ``runpod``): a hit costs no queue wait
and no pod, and no executor has any cache code. After the run, :func:`store` puts every cached
step that finished in this run into the cache. :func:`probe` answers ``explain`` without touching
anything.

A job is restored only when every job before it that would run is restored too: Snakemake would
run it again anyway after a recomputed input. A gate (a local checkpoint) whose inputs are all
restored or up to date is reported as ``ready-gate``: the caller runs it, then restores again, so
the steps on the branch it takes can come from the cache too.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slashmake.cache.keys import GraphJob, job_graph, record
from slashmake.cache.settings import CacheSettings
from slashmake.cache.store import Corrupted, Store
from slashmake.errors import RunError


@dataclass(frozen=True)
class CacheEvent:
    """What the cache did for one job: ``restored``, ``hit`` (explain), ``corrupt``, ``stored``."""

    rule: str
    key: str
    state: str
    location: str
    detail: str = ""
    variant: str = ""


@dataclass(frozen=True)
class Target:
    """What Snakemake is asked for: the target rule, ``--config`` values, forced rules/files."""

    rule: str
    config: dict[str, Any]
    forcerun: tuple[str, ...] = ()


def target(rule: str, chain_file: str | None, flows: tuple[str, ...] | None, forcerun: tuple[str, ...] = ()) -> Target:
    """The Target of a run: the ``--config`` values ``slashmake run`` passes to Snakemake."""
    config: dict[str, Any] = {"slashmake_chain": chain_file} if chain_file else {}
    if flows is not None:
        config["slashmake_flows"] = list(flows)
    return Target(rule, config, forcerun)


def _variant(job: GraphJob) -> str:
    return str(job.job.wildcards.get("variant", "")) if hasattr(job.job, "wildcards") else ""


def _wanted(job: GraphJob, rules: set[str], forced: set[str]) -> bool:
    return job.rule in rules and job.rule not in forced


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the project's run lock (the one ``slashmake run`` holds around Snakemake) while files are
    restored: never while another run's Snakemake works in the same folder."""
    (root / ".slashmake").mkdir(exist_ok=True)
    with open(root / ".slashmake" / "run.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError("another `slashmake run` is running in this project") from None
        yield


def restore(root: Path, target: Target, settings: CacheSettings, rules: set[str],
            forced: tuple[str, ...] = ()) -> list[CacheEvent]:
    """Fetch the cached outputs of the jobs this run would run; one event per hit or bad entry.

    ``rules`` are the rules whose steps the config selects; ``forced`` the rules the user asked to
    run again (never served from the cache).
    """
    assert settings.location is not None
    store = Store(settings.location, settings.remote)
    events: list[CacheEvent] = []
    with run_lock(root), job_graph(root, target.rule, target.config, target.forcerun,
                                   settings.mode == "omit-software") as (jobs, pers):
        done: set[int] = set()  # ids of jobs that need not run any more
        for job in jobs:
            if not job.needrun:
                done.add(id(job))
                continue
            if any(id(d) not in done for d in job.deps):
                continue
            if job.job.is_checkpoint and job.job.is_local and job.rule not in forced:
                # a gate whose inputs are all here: decided now (by the caller), what follows it can
                # be looked up too instead of running after the gate in the main run
                events.append(CacheEvent(job.rule, job.key, "ready-gate", store.location,
                                         str(next(iter(job.outputs.values()))), _variant(job)))
                continue
            if not _wanted(job, rules, set(forced)):
                continue
            try:
                entry = store.lookup(job.key)
                if entry is None:
                    continue
                store.fetch(entry, {n: root / p for n, p in job.outputs.items()})
            except Corrupted as e:
                events.append(CacheEvent(job.rule, job.key, "corrupt", store.location, str(e), _variant(job)))
                continue
            for log in job.logs:
                (root / log).parent.mkdir(parents=True, exist_ok=True)
                (root / log).write_text(f"slashmake: restored from the cache at {store.location} "
                                        f"(entry {job.key[:12]}); not run\n")
            job.job.dag.workflow.async_run(record(pers, job.job))
            done.add(id(job))
            events.append(CacheEvent(job.rule, job.key, "restored", store.location, variant=_variant(job)))
    return events


def probe(root: Path, target: Target, settings: CacheSettings, rules: set[str],
          forced: tuple[str, ...] = ()) -> list[CacheEvent]:
    """``explain``: which jobs that would run the cache would answer (nothing is fetched)."""
    assert settings.location is not None
    store = Store(settings.location, settings.remote)
    events: list[CacheEvent] = []
    with job_graph(root, target.rule, target.config, target.forcerun, settings.mode == "omit-software") as (jobs, _):
        for job in jobs:
            if job.needrun and _wanted(job, rules, set(forced)):
                try:
                    hit = store.lookup(job.key) is not None
                except Corrupted as e:
                    events.append(CacheEvent(job.rule, job.key, "corrupt", store.location, str(e), _variant(job)))
                    continue
                if hit:
                    events.append(CacheEvent(job.rule, job.key, "hit", store.location, variant=_variant(job)))
    return events


def store(root: Path, target: Target, settings: CacheSettings, rules: dict[str, str], since: float,
          skip: frozenset[str] = frozenset()) -> list[CacheEvent]:
    """Put the outputs of every selected job that finished since ``since`` (and is up to date) into
    the cache. ``rules``: rule -> step label of the selected steps; ``skip``: keys restored in this run."""
    assert settings.location is not None
    events: list[CacheEvent] = []
    cache = Store(settings.location, settings.remote)
    with job_graph(root, target.rule, target.config, (), settings.mode == "omit-software") as (jobs, pers):
        for job in jobs:
            if job.needrun or job.rule not in rules or job.key in skip or not job.outputs:
                continue
            files = {n: root / p for n, p in job.outputs.items()}
            if not all(f.is_file() for f in files.values()) or job.job.dag.workflow.async_run(pers.incomplete(job.job)):
                continue
            if max(f.stat().st_mtime for f in files.values()) < since:
                continue  # made by an earlier run: stored then (or before the cache was configured)
            if cache.fs.exists(cache.entry_path(job.key)):
                continue
            variant = _variant(job)
            cache.put(job.key, files, step=rules[job.rule] + (f" [{variant}]" if variant else ""), rule=job.rule)
            events.append(CacheEvent(job.rule, job.key, "stored", cache.location, variant=variant))
    return events

