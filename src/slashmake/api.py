"""The operations every front end calls: list, lint, explain, compile, run, results, graph.

Each returns data (frozen dataclasses, rows as dicts), never text for a terminal: the CLI
(:mod:`slashmake.interfaces.cli`) and the MCP server (:mod:`slashmake.interfaces.mcp`) format it.
A user's mistake is a :class:`~slashmake.errors.FlowError`, raised for the front end to render.

May import: every stage (``execution``, ``compiler`` and below); never ``interfaces``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from slashmake.agents import install
from slashmake.cache import flow as cache_flow
from slashmake.cache.session import CacheEvent, Target
from slashmake.cache.settings import CacheRequest, CacheSettings, from_config
from slashmake.cache.store import Entry, Store
from slashmake.compiler.lint import lint_project, list_lines
from slashmake.compiler.project import Project, target_name
from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import AgentStep, CommandStep, GateStep, Step, variants_of
from slashmake.errors import FlowError, RunError
from slashmake.execution import noop, outcomes, runner
from slashmake.execution import options as run_options

EXECUTORS = runner.EXECUTORS
__all__ = ["EXECUTORS", "FlowError", "Project", "Resolved", "RunError"]  # re-exported for the front ends


@dataclass(frozen=True)
class Prepared:
    """A chain or macro compiled for Snakemake: its target rule, chain file (None for a macro) and steps."""

    target: str
    chain_file: str | None
    resolved: Resolved
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LintReport:
    """What ``lint`` found: its printed lines, the number of errors and of warnings."""

    lines: tuple[str, ...]
    problems: int
    warnings: int

    def failed(self, strict: bool = False) -> bool:
        return self.problems > 0 or (strict and self.warnings > 0)


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


@dataclass(frozen=True)
class RunResult:
    """What a ``run`` did: nothing (answered by the no-op stamp), a dry run, or a run and its results."""

    target: str
    nothing_to_do: bool
    dry_run: bool
    results: tuple[StepResult, ...] = ()
    summary: str = ""
    report: str | None = None
    resolved: Resolved | None = None
    cache: tuple[str, ...] = ()  # what the shared cache did: restored, stored, corrupted entries


def open_project(root: Path) -> Project:
    """The project at ``root`` (its definitions, config and compiled flows)."""
    return Project.open(root)


def parse_overrides(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--set name=value`` pairs as a mapping; a pair without ``=`` is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FlowError(f"{pair!r}: write --set name=value", exit_code=2)
        out[key.strip().lstrip("$")] = value
    return out


def prepare(project: Project, chain: str, source: str = "<chain>",
            overrides: dict[str, str] | None = None) -> Prepared:
    """Compile what a chain names: a macro's own compiled flow, or an ad-hoc chain file."""
    overrides = overrides or {}
    name = chain.strip().lstrip("/").replace(":", "/")
    if chain.strip().startswith("/") and name in project.macros() and not overrides:
        project.compile_macros()
        return Prepared(target_name(name), None, project.resolve_chain(chain, name, source))
    target, path, resolved = project.compile_chain(chain, overrides, source)
    return Prepared(target, path.relative_to(project.root).as_posix(), resolved, tuple(resolved.warnings))


def lint(project: Project) -> LintReport:
    """Check every command, droid and macro; every bad file is reported at once."""
    lines: list[str] = []
    problems = lint_project(project, lambda text="", err=False: lines.append(str(text)))
    return LintReport(tuple(lines), problems, len(project.defs.warnings))


def catalogue_lines(project: Project) -> list[str]:
    """``list``: one line per command, macro and droid (origin, name, hint, description)."""
    return list_lines(project.defs)


def catalogue(project: Project) -> dict[str, list[dict[str, Any]] | list[str]]:
    """``list`` as data: macros, commands, agent commands and droids, and the unreadable files."""
    defs = project.defs
    kinds = {"flow": "macros", "shell": "commands", "agent": "agent_commands"}
    out: dict[str, Any] = {v: [] for v in kinds.values()}
    for c in sorted(defs.commands.values(), key=lambda c: c.name):
        rel = c.path.relative_to(project.root).as_posix() if c.path.is_relative_to(project.root) else str(c.path)
        out[kinds[c.kind]].append({"name": c.display, "description": c.description,
                                   "argument_hint": c.argument_hint, "file": rel})
    out["droids"] = [{"name": d.name, "description": d.description}
                     for d in sorted(defs.droids.values(), key=lambda d: d.name)]
    out["unreadable"] = [e.one_line() for e in defs.errors]
    return out


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
    """For each step, in chain order: will it run, is it up to date, or does it wait on a gate, and why."""
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
        hits = {e.rule: e for e in cache_flow.planned(project.root, resolved, _target(prep, inv.flows, forced),
                                                        settings, asked) if e.state == "hit"}
        rules = {s.key: s.rule for s in resolved.steps}
        steps = [replace(p, state="from cache", why=f"entry {hits[rules[p.key]].key[:12]} in the cache at "
                         f"{hits[rules[p.key]].location}") if p.state == "will run" and rules[p.key] in hits else p
                 for p in steps]
    return steps


def cache_settings(root: Path, request: CacheRequest | None = None) -> CacheSettings:
    """The shared cache's settings: config's ``cache:`` section under the command line's request."""
    from slashmake.definitions.config import load_config

    return from_config(root, load_config(root), request)


@dataclass(frozen=True)
class CacheInfo:
    """``slashmake cache``: where the shared cache is, its entries (oldest first) and stored bytes."""

    location: str
    entries: tuple[Entry, ...]
    size: int
    objects: int


def _store(root: Path, request: CacheRequest | None) -> Store:
    settings = cache_settings(root.resolve(), request)
    if settings.location is None:
        raise FlowError("no shared cache: set cache.location in config/config.yaml, SLASHMAKE_CACHE, "
                        "or pass --cache-location")
    return Store(settings.location, settings.remote)


def cache_info(root: Path, request: CacheRequest | None = None) -> CacheInfo:
    """The shared cache's entries and size."""
    store = _store(root, request)
    objects = store.objects()
    return CacheInfo(store.location, tuple(store.entries()), sum(objects.values()), len(objects))


def cache_prune(root: Path, request: CacheRequest | None, older_than: float | None,
                max_size: int | None) -> tuple[list[Entry], int]:
    """Drop entries older than ``older_than`` seconds, then the oldest past ``max_size`` bytes; (dropped, freed)."""
    return _store(root, request).prune(older_than, max_size)


def _target(prep: Prepared, flows: tuple[str, ...] | None, forced: tuple[str, ...] = ()) -> Target:
    config: dict[str, Any] = {"slashmake_chain": prep.chain_file} if prep.chain_file else {}
    if flows is not None:
        config["slashmake_flows"] = list(flows)
    return Target(prep.target, config, forced)


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


@dataclass(frozen=True)
class RunOptions:
    """How to run: the options of ``slashmake run`` (and of the MCP ``run`` tool)."""

    dry_run: bool = False
    cores: int = 2
    executor: str = "local"
    profile: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    force: tuple[str, ...] = ()
    until: tuple[str, ...] = ()
    set_threads: tuple[str, ...] = ()
    set_resources: tuple[str, ...] = ()
    report: str | None = None
    cache: CacheRequest = field(default_factory=CacheRequest)


def run(root: Path, chain: str, source: str = "<chain>", opts: RunOptions | None = None,
        warn: Any = None) -> RunResult:
    """Run a chain or macro; rerun only what changed.

    When nothing Snakemake's rerun decision reads changed since the last successful plain run of the
    same chain, answer from the stamp without starting Snakemake (:mod:`slashmake.execution.noop`).
    ``warn`` is called with each warning line (unreadable definitions, unused ``--set``).
    """
    opts = opts or RunOptions()
    if opts.cores < 1:
        raise FlowError(f"--cores must be at least 1, not {opts.cores}", exit_code=2)
    root = root.resolve()
    key = {"chain": chain, "set": opts.overrides, "executor": opts.executor, "profile": opts.profile,
           "env_profile": os.environ.get("SNAKEMAKE_PROFILE")}
    plain = not (opts.force or opts.until or opts.report)  # only a plain run vouches for, or is answered by, a stamp
    stamp = noop.fresh(root, key) if plain and not os.environ.get("SLASHMAKE_NO_FASTPATH") else None
    if stamp is not None:
        return RunResult(stamp["target"], True, opts.dry_run, summary=stamp.get("summary") or "")
    project = open_project(root)
    say = warn or (lambda _line: None)
    for e in project.defs.errors:
        say(f"{e.one_line()} (skipped; `slashmake lint` shows why)")
    prep = prepare(project, chain, source, opts.overrides)
    for w in prep.warnings:
        say(w)
    resolved = prep.resolved
    agent = project.agent_config()
    if any(isinstance(s, AgentStep) for s in resolved.steps) and not (agent.get("program") or agent.get("preset")):
        raise RunError("this flow has agent steps but no agent program is configured: set agent.preset "
                       "(droid or claude) or agent.program in config/config.yaml")
    asked = run_options.rule_list(resolved, opts.force, "--forcerun")
    settings = cache_settings(project.root, opts.cache) if not opts.dry_run else CacheSettings()
    flows = project.flows_needed(prep.target, prep.chain_file)
    events: list[CacheEvent] = []
    if settings.enabled:  # on the controller, before Snakemake submits anything (slashmake.cache.session)
        events = cache_flow.before_run(project.root, resolved, _target(prep, flows, asked), settings, asked)
    forced = asked + outcomes.force_files(project.root, resolved)
    inv = runner.Invocation(prep.target, opts.cores, opts.dry_run, opts.executor, opts.profile, forced,
                            prep.chain_file, quiet=opts.dry_run,
                            until=run_options.rule_list(resolved, opts.until, "--until"),
                            set_threads=run_options.per_rule(resolved, opts.set_threads, "--set-threads", "="),
                            set_resources=run_options.per_rule(resolved, opts.set_resources, "--set-resources", ":"),
                            flows=flows,
                            group_components=tuple(f"sweep_{s.rule}={len(v)}" for s in resolved.steps
                                                   if (v := variants_of(s)) is not None))
    before = noop.project_state(project.root) if not opts.dry_run else {}
    if not opts.dry_run:
        noop.forget(project.root, key)
    started = time.time()
    try:
        runner.run(inv, project.root)
    except RunError as e:
        why = outcomes.failure_lines(project.root, resolved, started - 1)
        raise RunError("\n".join([*why, e.message]) if why else e.message) from None
    finally:
        if settings.enabled:  # what finished goes into the cache, also when a later step failed
            events += cache_flow.after_run(project.root, resolved, _target(prep, flows), settings, started - 1, events)
    if opts.dry_run:
        return RunResult(prep.target, False, True, resolved=resolved)
    if opts.report:
        runner.run(runner.Invocation(prep.target, opts.cores, chain_file=prep.chain_file, report=opts.report,
                                     flows=inv.flows), project.root)
    rows = tuple(step_results(project.root, resolved))
    notes = tuple(cache_flow.lines(resolved, events))
    summary = "\n".join([results_text(rows), *notes]).strip()
    if plain and not outcomes.stale(project.root, resolved):  # else the next run forces those again
        compiled = [project.root / "rules/compiled" / f"{f}.smk" for f in inv.flows or ()]
        noop.record(project.root, key, prep.target, before, results_text(rows),
                    [*compiled, *([project.root / prep.chain_file] if prep.chain_file else [])])
    return RunResult(prep.target, False, False, rows, summary, opts.report, resolved, notes)


def compile_all(project: Project) -> list[Path]:
    """Compile every macro into ``rules/compiled/``; the files that changed."""
    return list(project.compile_macros(force=True))


def stale_flows(project: Project) -> list[str]:
    """The compiled flows (by file stem) that are missing, orphaned or out of date with their sources."""
    return project.stale_flows()


def compile_chain(project: Project, chain: str, source: str = "<chain>",
                  overrides: dict[str, str] | None = None) -> Path:
    """Compile one chain into ``.slashmake/chains/``; the file written."""
    _, path, _ = project.compile_chain(chain, overrides or {}, source)
    return path


def inside(root: Path, path: Path, what: str) -> Path:
    """``path`` (relative to ``root`` or absolute) resolved, after symlinks; outside ``root`` is an error."""
    root = root.resolve()
    full = (root / path).resolve()
    if not full.is_relative_to(root):
        raise FlowError(f"{what}: {str(path)!r} is outside the project folder {root}")
    return full


def graph(project: Project, chain: str, output: Path, source: str = "<chain>",
          overrides: dict[str, str] | None = None, rulegraph: bool = False) -> Path:
    """Draw the flow (or Snakemake's rule graph) to ``output`` (.svg, .png, .pdf or .dot); the path."""
    out = inside(project.root, output, "graph")
    prep = prepare(project, chain, source, overrides)
    if rulegraph:
        dot = runner.dag_dot(runner.Invocation(prep.target, chain_file=prep.chain_file), project.root, "--rulegraph")
    else:
        from slashmake.compiler.dot import flow_dot

        proc = runner.run(runner.Invocation(prep.target, dry_run=True, chain_file=prep.chain_file), project.root,
                          capture=True)
        planned = {job.rule for job in runner.parse_dry_run(proc.stdout + proc.stderr)}
        dot = flow_dot(prep.resolved, project.root, planned)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".dot":
        out.write_text(dot)
    else:
        runner.render_dot(dot, out)
    return out


LEDGER = Path("results/ledger.jsonl")


def ledger_rows(root: Path, step: str | None = None, metric: str | None = None,
                ledger: Path = LEDGER) -> list[dict[str, Any]]:
    """The experiment ledger's rows, metrics flattened, filtered by step name and metric key."""
    path = root / ledger
    if not path.exists():
        raise RunError(f"no experiment ledger at {ledger} yet: run a flow that evaluates a model")
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        nested = row.pop("metrics", None)  # rows keep their metrics flat or under "metrics"
        row = {**(nested if isinstance(nested, dict) else {}), **row}
        if step and step.lstrip("/") not in str(row.get("step", "")):
            continue
        if metric and metric not in row:
            continue
        rows.append(row)
    return rows


def step_of(resolved: Resolved, key: str) -> Step | None:
    """The step with this key or label, if any."""
    for s in resolved.steps:
        if key in (s.key, s.label, s.label.lstrip("/")):
            return s
    return None


def install_agents(project: Project, check: bool = False) -> install.Report:
    """Write (or, with ``check``, only compare) the Droid and Claude Code entry points and MCP configs."""
    return install.install(project.root, project.defs, check=check)


def uninstall_agents(project: Project) -> install.Report:
    """Remove the entry points and MCP entries ``install_agents`` wrote, and nothing else."""
    return install.uninstall(project.root)


def is_command(step: Step) -> bool:
    """Whether a step runs a command (a program or an agent), as opposed to a gate, join or index."""
    return isinstance(step, CommandStep)
