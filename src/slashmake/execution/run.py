"""``run``: compile a chain, answer from the no-op stamp or run Snakemake, and read the results back."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slashmake.cache import flow as cache_flow
from slashmake.cache import session as cache_session
from slashmake.cache.ops import cache_settings
from slashmake.cache.session import CacheEvent
from slashmake.cache.settings import CacheRequest, CacheSettings
from slashmake.compiler.project import Project
from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import AgentStep, CommandStep, variants_of
from slashmake.errors import FlowError, RunError
from slashmake.execution import noop, outcomes, pods, record, runner, slurm_plugin
from slashmake.execution import options as run_options
from slashmake.execution.plan import StepResult, prepare, results_text, step_results


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
    run_id: str = ""  # its rows in results/ledger.jsonl ("" for a dry run)


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
    # --runpod-* flags given to `slashmake run` (over the runpod: section of config/config.yaml)
    runpod_args: tuple[str, ...] = ()
    verbose: bool = False  # Snakemake's whole output, live; else progress and errors (its log keeps the rest)


def agent_limits_unenforced(agent: dict[str, Any]) -> list[str]:
    """Warnings for agent limits the configured program cannot keep: droid exec reports no cost."""
    out = []
    if agent.get("preset") == "droid" and agent.get("max_cost_usd") is not None:
        out.append(f"agent.max_cost_usd ({agent['max_cost_usd']}) is not enforced: droid exec reports no cost, so "
                   "the run cannot add it up (set agent.max_turns: slashmake stops a droid step past it)")
    if not agent.get("preset") and agent.get("max_cost_usd") is not None and agent.get("output", "text") == "text":
        out.append("agent.max_cost_usd is not enforced: a program with text output reports no cost")
    return out


# Writes a report's front page for a finished run: (root, its steps, its id) -> (page, landing metadata,
# stylesheet).
FrontPage = Callable[[Path, Resolved, str], tuple[Path, Path, Path]]


def run(root: Path, chain: str, source: str = "<chain>", opts: RunOptions | None = None,
        warn: Callable[[str], None] | None = None, front: FrontPage | None = None) -> RunResult:
    """Run a chain or macro; rerun only what changed.

    When nothing Snakemake's rerun decision reads changed since the last successful plain run of the
    same chain, answer from the stamp without starting Snakemake (:mod:`slashmake.execution.noop`).
    ``warn`` is called with each warning line (unreadable definitions, unused ``--set``). With
    ``opts.report``, ``front`` (when given) writes the report's front page from the recorded run.
    """
    opts = opts or RunOptions()
    if opts.cores < 1:
        raise FlowError(f"--cores must be at least 1, not {opts.cores}", exit_code=2)
    root = root.resolve()
    key = {"chain": chain, "set": opts.overrides, "executor": opts.executor, "profile": opts.profile,
           "env_profile": os.environ.get("SNAKEMAKE_PROFILE")}
    plain = not (opts.force or opts.until or opts.report)  # only a plain run vouches for, or is answered by, a stamp
    stamp = noop.fresh(root, key) if plain and not os.environ.get("SLASHMAKE_NO_FASTPATH") else None
    run_id = runner.new_run_id()
    if stamp is not None:
        if not opts.dry_run:
            record.record(root, None, record.RunInfo(run_id, chain, stamp["target"], opts.executor, time.time()),
                          "up to date")
        return RunResult(stamp["target"], True, opts.dry_run, summary=stamp.get("summary") or "",
                         run_id="" if opts.dry_run else run_id)
    project = Project.open(root)
    say: Callable[[str], None] = warn or (lambda _line: None)
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
    if any(isinstance(s, AgentStep) for s in resolved.steps):
        for line in agent_limits_unenforced(agent):
            say(line)
    asked = run_options.rule_list(resolved, opts.force, "--forcerun")
    settings = cache_settings(project.root, opts.cache) if not opts.dry_run else CacheSettings()
    flows = project.flows_needed(prep.target, prep.chain_file)
    until = run_options.rule_list(resolved, opts.until, "--until")
    where = cache_session.target(prep.target, prep.chain_file, flows, asked)
    events: list[CacheEvent] = []
    if settings.enabled and not until:  # on the controller, before Snakemake submits anything
        slurm_plugin.lighten()  # the cache reads Snakemake's job graph in this process
        # (slashmake.cache.session); a run cut short with --until restores nothing, it stores what it ran
        events = restore_through_gates(project.root, resolved, where, settings, asked, opts.cores)
    forced = asked + outcomes.force_files(project.root, resolved)
    executor_args: list[str] = []
    if opts.executor == "runpod" and not opts.dry_run:
        try:  # pods of runs that are gone (a SIGKILLed controller)
            for line in pods.reap(project.root):
                say(f"runpod: reaped pod {line}")
        except RunError as e:
            say(f"runpod: could not reap the pods of earlier runs: {e.message}")
    if opts.executor == "runpod":
        executor_args = [*pods.runpod_flags(project.config.get("runpod")), *opts.runpod_args]
    inv = runner.Invocation(prep.target, opts.cores, opts.dry_run, opts.executor, opts.profile, forced,
                            prep.chain_file, quiet=opts.dry_run,
                            until=until,
                            set_threads=run_options.per_rule(resolved, opts.set_threads, "--set-threads", "="),
                            set_resources=run_options.per_rule(resolved, opts.set_resources, "--set-resources", ":"),
                            flows=flows,
                            group_components=tuple(f"sweep_{s.rule}={pods.sweep_group_size(len(v), executor_args)}"
                                                   for s in resolved.steps if (v := variants_of(s)) is not None),
                            extra=tuple(executor_args), run_id=run_id,
                            brief=not (opts.verbose or opts.dry_run))
    extra = noop_paths(project, resolved)
    before = noop.project_state(project.root, extra) if not opts.dry_run else {}
    if not opts.dry_run:
        noop.forget(project.root, key)
    started = time.time()
    info = record.RunInfo(run_id, chain, prep.target, opts.executor, started,
                          float((project.config.get("cost") or {}).get("pod_usd_per_hour") or 0.0),
                          pods_ledger=pods.flag_value(executor_args, "ledger"))
    try:
        runner.run(inv, project.root)
    except RunError as e:
        if not opts.dry_run and e.message.startswith("snakemake exited"):  # it ran, and failed
            record.record(project.root, resolved, info, "failed")
        why = outcomes.failure_lines(project.root, resolved, started - 1)
        if opts.executor == "runpod" and (cost := pods.cost_line(project.root, _run_id(), project.config, executor_args)):
            why.append(cost)
        raise RunError("\n".join([*why, e.message]) if why else e.message) from None
    finally:
        if settings.enabled:  # what finished goes into the cache, also when a later step failed
            events += cache_flow.after_run(project.root, resolved, where, settings, started - 1, events)
    if opts.dry_run:
        return RunResult(prep.target, False, True, resolved=resolved)
    record.record(project.root, resolved, info, "ok")
    if opts.report:
        page, landing, style = front(project.root, resolved, run_id) if front else (None, None, None)
        runner.run(runner.Invocation(prep.target, opts.cores, chain_file=prep.chain_file, report=opts.report,
                                     flows=inv.flows, run_id=run_id, brief=inv.brief,
                                     report_front=page.relative_to(project.root).as_posix() if page else None,
                                     report_metadata=str(landing) if landing else None,
                                     report_stylesheet=str(style) if style else None), project.root)
    rows = tuple(step_results(project.root, resolved))
    notes = tuple(cache_flow.lines(resolved, events))
    summary = "\n".join([results_text(rows), *notes]).strip()
    if plain and not outcomes.stale(project.root, resolved):  # else the next run forces those again
        compiled = [project.root / "rules/compiled" / f"{f}.smk" for f in inv.flows or ()]
        noop.record(project.root, key, prep.target, before, results_text(rows),
                    [*compiled, *([project.root / prep.chain_file] if prep.chain_file else [])], extra)
    # The pods' cost is this run's, so it is shown but not replayed by a later no-op answer.
    if opts.executor == "runpod" and (cost := pods.cost_line(project.root, _run_id(), project.config, executor_args)):
        summary = f"{summary}\n{cost}" if summary else cost
    return RunResult(prep.target, False, False, rows, summary, opts.report, resolved, notes, run_id)


def noop_paths(project: Project, resolved: Resolved) -> list[str]:
    """Project paths beyond ``noop.PROJECT_FILES`` that the flow depends on: plugin folders (the
    loader reads them) and the files ``script:`` commands run."""
    plugins = project.config.get("plugins")
    plugins = plugins if isinstance(plugins, list) else []
    scripts = {s.command.script for s in resolved.steps
               if isinstance(s, CommandStep) and s.command is not None and s.command.script}
    return [*(str(p) for p in plugins), *sorted(str(s) for s in scripts)]


def _run_id() -> str:
    return os.environ.get("SLASHMAKE_RUN_ID", "")


def restore_through_gates(root: Path, resolved: Resolved, where: cache_session.Target, settings: CacheSettings,
                          asked: tuple[str, ...], cores: int) -> list[CacheEvent]:
    """Restore what the cache holds; when a gate's inputs are all restored, decide the gate (a local
    job, through Snakemake) and restore what its branch needs, until no gate is left to decide."""
    events = cache_flow.before_run(root, resolved, where, settings, asked)
    for _ in resolved.steps:  # at most one round per step: a bound, each round decides a gate
        gates = [e for e in events if e.state == "ready-gate"]
        events = [e for e in events if e.state != "ready-gate"]
        if not gates or not any(e.state == "restored" for e in events):
            break
        flows = tuple(where.config["slashmake_flows"]) if "slashmake_flows" in where.config else None
        for gate in gates:
            runner.run(runner.Invocation(gate.detail, cores, chain_file=where.config.get("slashmake_chain"),
                                         flows=flows), root)
        events += cache_flow.before_run(root, resolved, where, settings, asked)
    return [e for e in events if e.state != "ready-gate"]
