"""What a chain is and where it stands: compiled for Snakemake, each step's plan, each step's results.

:func:`prepare` compiles a chain or macro; :func:`explain` asks Snakemake's dry run what would run
and says why per step; :func:`step_results` reads metrics and gate decisions back from the step
folders. The API (:mod:`slashmake.api`) re-exports these for the front ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from slashmake.cache import flow as cache_flow
from slashmake.cache import session as cache_session
from slashmake.cache.ops import cache_settings
from slashmake.cache.settings import CacheRequest
from slashmake.compiler.project import Project, target_name
from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import AgentStep, CommandStep, GateStep, variants_of
from slashmake.errors import FlowError
from slashmake.execution import answers, outcomes, runner, slurm_plugin
from slashmake.execution import options as run_options


@dataclass(frozen=True)
class Prepared:
    """A chain or macro compiled for Snakemake: its target rule, chain file (None for a macro) and steps."""

    target: str
    chain_file: str | None
    resolved: Resolved
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepPlan:
    """One step of ``explain``: ``will run``, ``up to date`` or ``waits``, and why."""

    label: str
    key: str
    origin: str
    state: str
    why: str = ""
    variants: int | None = None
    decision: str = ""

    def line(self) -> str:
        label = f"{self.label} ({self.key})" + (f" [{self.origin}]" if self.origin else "")
        if self.state == "will run":
            count = f" ({self.variants} variants)" if self.variants is not None else ""
            return f"will run    {label}{count}: {self.why}"
        if self.state == "from cache":
            return f"from cache  {label}: {self.why}"
        if self.state == "up to date":
            return f"up to date  {label}" + (f"; took the {self.decision} branch" if self.decision else "")
        return f"waits       {label}: runs only if the branch it is on is taken (decided at run time)"


@dataclass(frozen=True)
class StepResult:
    """A row of the results summary: a step (or one variant of it) and its metrics or decision."""

    label: str
    text: str
    metrics: dict[str, Any] = field(default_factory=dict)


def prepare(project: Project, chain: str, source: str = "<chain>",
            overrides: dict[str, str] | None = None) -> Prepared:
    """Compile what a chain names: a macro's own compiled flow, or an ad-hoc chain file."""
    overrides = overrides or {}
    for key, value in overrides.items():
        if "\0" in key or "\0" in str(value):
            raise FlowError(f"--set {key.replace(chr(0), '?')}: a NUL byte cannot be part of a value "
                            "(no program argument can carry it)")
    name = chain.strip().lstrip("/").replace(":", "/")
    if chain.strip().startswith("/") and name in project.macros() and not overrides:
        project.compile_macros()
        return Prepared(target_name(name), None, project.resolve_chain(chain, name, source))
    target, path, resolved = project.compile_chain(chain, overrides, source)
    return Prepared(target, path.relative_to(project.root).as_posix(), resolved, tuple(resolved.warnings))


def decision(folder: Path) -> str:
    """The branch a gate or try in ``folder`` took, and why, or ``''`` before it decided."""
    for name in ("decision.json", "status.json"):
        if (folder / name).exists():
            d = json.loads((folder / name).read_text())
            if "value" in d:
                return f"{d.get('branch')} ({d.get('metric')}={d.get('value')} {d.get('op')} {d.get('threshold')})"
            return f"{d.get('branch')} (success={d.get('success')})"
    return ""


def explain(project: Project, chain: str, source: str = "<chain>", overrides: dict[str, str] | None = None,
            force: tuple[str, ...] = (), cache: CacheRequest | None = None) -> list[StepPlan]:
    """For each step, in chain order: will it run, come from the shared cache, is it up to date, or
    does it wait on a gate, and why."""
    prep = prepare(project, chain, source, overrides)
    resolved = prep.resolved
    stale = outcomes.stale(project.root, resolved)
    asked = run_options.rule_list(resolved, force, "--forcerun")
    forced = asked + tuple(dict.fromkeys(s.path for s in stale))
    inv = runner.Invocation(prep.target, dry_run=True, forcerun=forced, chain_file=prep.chain_file,
                            flows=project.flows_needed(prep.target, prep.chain_file))
    proc = runner.run(inv, project.root, capture=True)
    jobs = runner.parse_dry_run(proc.stdout + proc.stderr)
    whys = {s.step.rule: s.why for s in stale if s.step.rule not in asked}  # why slashmake forces it
    jobs = [replace(j, reason=whys[j.rule]) if j.rule in whys else j for j in jobs]
    steps = plan(project.root, resolved, jobs)
    settings = cache_settings(project.root, cache)
    if settings.enabled:  # which of the steps that would run the shared cache answers
        slurm_plugin.lighten()  # the cache reads Snakemake's job graph in this process
        where = cache_session.target(prep.target, prep.chain_file, inv.flows, forced)
        hits: dict[str, list[cache_session.CacheEvent]] = {}
        for e in cache_flow.planned(project.root, resolved, where, settings, asked):
            if e.state == "hit":
                hits.setdefault(e.rule, []).append(e)
        rules = {s.key: s.rule for s in resolved.steps}
        steps = [cached(p, hits.get(rules[p.key], [])) if p.state == "will run" else p for p in steps]
    return steps


def cached(step: StepPlan, hits: list[cache_session.CacheEvent]) -> StepPlan:
    """A step that would run, seen with the cache's hits for its jobs (a sweep: some variants may miss)."""
    if not hits:
        return step
    where = f"in the cache at {hits[0].location}"
    if step.variants is not None and len(hits) < step.variants:
        return replace(step, why=f"{step.why}; {len(hits)} of its {step.variants} variants are {where}")
    return replace(step, state="from cache", why=f"entry {hits[0].key[:12]} {where}" if len(hits) == 1
                   else f"{len(hits)} entries {where}")


def plan(root: Path, resolved: Resolved, jobs: list[runner.PlannedJob]) -> list[StepPlan]:
    """Match Snakemake's planned jobs to the flow's steps."""
    planned: dict[str, list[runner.PlannedJob]] = {}
    for job in jobs:
        planned.setdefault(job.rule, []).append(job)
    out = []
    for step in resolved.steps:
        dec = decision(root / step.folder)
        variants = variants_of(step)
        base = StepPlan(step.label, step.key, step.origin or "", "waits")
        if step.rule in planned:
            out.append(replace(base, state="will run", why=planned[step.rule][0].reason or "requested",
                               variants=len(planned[step.rule]) if variants is not None else None))
        elif (root / step.folder).exists() and (not isinstance(step, GateStep) or dec):
            out.append(replace(base, state="up to date", decision=dec))
        else:
            out.append(base)
    return out


def step_results(root: Path, resolved: Resolved) -> list[StepResult]:
    """Each step's metrics and each gate's decision, read from the step folders."""
    rows: list[StepResult] = []
    for step in resolved.steps:
        folder = root / step.folder
        dec = decision(folder)
        if dec:
            rows.append(StepResult(step.label, f"branch {dec}"))
        variants = variants_of(step)
        if variants is not None:
            for v in variants:
                m = folder / v / "metrics.json"
                if m.exists():
                    rows.append(_metrics_row(f"{step.label} [{v}]", m))
        elif isinstance(step, CommandStep) and (folder / "metrics.json").exists():
            rows.append(_metrics_row(step.label, folder / "metrics.json"))
        elif isinstance(step, CommandStep) and step.cmd.metrics and folder.is_dir() and not step.is_try:
            rows.append(StepResult(step.label, f"(metrics missing: {step.folder}/{step.cmd.metrics.file})"))
        if isinstance(step, AgentStep) and (said := answers.preview(root, step.folder)):
            rows.append(StepResult(step.label, said))  # what the agent answered, and where the rest is
    return rows


def results_text(rows: list[StepResult] | tuple[StepResult, ...]) -> str:
    """The results summary as the terminal shows it (also what the no-op stamp replays)."""
    if not rows:
        return ""
    width = max(len(r.label) for r in rows)
    return "\n".join(["results:", *(f"  {r.label.ljust(width)}  {r.text}" for r in rows)])


def _metrics_row(label: str, path: Path) -> StepResult:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return StepResult(label, "(unreadable metrics)")
    if not isinstance(data, dict):
        return StepResult(label, "(unreadable metrics)")
    parts = []
    for k, v in data.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, (int, bool, str)):
            parts.append(f"{k}={v}")
    return StepResult(label, " ".join(parts[:8]), data)


