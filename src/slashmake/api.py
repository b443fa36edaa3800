"""The operations every front end calls: list, lint, explain, compile, run, results, graph.

Each returns data (frozen dataclasses, rows as dicts), never text for a terminal: the CLI
(:mod:`slashmake.interfaces.cli`) and the MCP server (:mod:`slashmake.interfaces.mcp`) format it.
A user's mistake is a :class:`~slashmake.errors.FlowError`, raised for the front end to render.

May import: every stage (``execution``, ``compiler`` and below); never ``interfaces``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slashmake.agents import install
from slashmake.cache.ops import CacheInfo, cache_info, cache_prune, cache_settings
from slashmake.compiler import layout
from slashmake.compiler.lint import lint_project, list_lines
from slashmake.compiler.project import Project
from slashmake.compiler.resolve import Resolved
from slashmake.compiler.steps import CommandStep, Step
from slashmake.errors import FlowError, RunError
from slashmake.execution import answers, runner
from slashmake.execution import pods as runpod_pods
from slashmake.execution.plan import (
    Prepared,
    StepPlan,
    StepResult,
    decision,
    explain,
    plan,
    prepare,
    results_text,
    step_results,
)
from slashmake.execution.run import RunOptions, RunResult
from slashmake.execution.run import run as run_flow
from slashmake.experiments.data import as_data, to_json

if TYPE_CHECKING:  # pandas and matplotlib load only when a comparison is asked for, not on every run
    from slashmake.experiments import compare as experiments

EXECUTORS = runner.EXECUTORS
__all__ = [  # re-exported for the front ends
    "EXECUTORS", "FlowError", "as_data", "to_json", "Prepared", "Project", "Resolved", "RunError", "RunOptions", "RunResult", "StepPlan",
    "StepResult", "decision", "explain", "plan", "prepare", "results_text", "run", "step_results",
    "CacheInfo", "cache_info", "cache_prune", "cache_settings",  # the shared cache (docs/cache.md)
]


@dataclass(frozen=True)
class LintReport:
    """What ``lint`` found: its report (lines), its errors and warnings (``messages``), and their counts."""

    lines: tuple[str, ...]
    messages: tuple[str, ...]
    problems: int
    warnings: int

    def failed(self, strict: bool = False) -> bool:
        return self.problems > 0 or (strict and self.warnings > 0)


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


def lint(project: Project) -> LintReport:
    """Check every command, droid and macro; every bad file is reported at once."""
    lines: list[str] = []
    messages: list[str] = []
    problems = lint_project(project, lambda text="", err=False: (messages if err else lines).append(str(text)))
    return LintReport(tuple(lines), tuple(messages), problems, len(project.defs.warnings))


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
Warn = Callable[[str], None] | None


def front_page(root: Path, resolved: Resolved, run_id: str) -> tuple[Path, Path, Path]:
    """Write a run's report front page (:mod:`slashmake.experiments.front`); its page, metadata and stylesheet."""
    from slashmake.experiments import front

    return front.write(root, resolved, run_id)


def run(root: Path, chain: str, source: str = "<chain>", opts: RunOptions | None = None,
        warn: Warn = None) -> RunResult:
    """Run a chain or macro, record it in the ledger (its id is ``run_id``); ``--report`` opens on its answer."""
    return run_flow(root, chain, source, opts, warn, front=front_page)


def ledger_rows(root: Path, step: str | None = None, metric: str | None = None,
                ledger: Path = LEDGER, warn: Warn = None) -> list[dict[str, Any]]:
    """The experiment ledger's results, metrics flattened, filtered by step name and metric key.

    A malformed line is skipped and reported through ``warn`` with its line number.
    """
    from slashmake.experiments import ledger as ledger_file

    rows = []
    for row in ledger_file.flat_rows(root, ledger, warn):
        if step and step.lstrip("/") not in str(row.get("step", "")):
            continue
        if metric and metric not in row:
            continue
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Comparison:
    """``compare``: the table, the pictures drawn of it, and the ledger's warnings."""

    table: experiments.Table
    plots: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class RunComparison:
    """``compare A B``: the difference, the overlaid curves, and the ledger's warnings."""

    diff: experiments.RunDiff
    plots: tuple[str, ...]
    warnings: tuple[str, ...]


def runs(root: Path, chain: str | None = None, limit: int | None = None, ledger: Path = LEDGER,
         warn: Warn = None) -> list[experiments.RunRow]:
    """``runs``: the recorded runs (id, time, chain, status, headline metric, cost), oldest first."""
    from slashmake.experiments import compare as experiments
    from slashmake.experiments import ledger_cache

    return experiments.runs(ledger_cache.load(root, ledger, warn), chain, limit)


def compare(root: Path, step: str | None = None, where: tuple[str, ...] = (), group_by: tuple[str, ...] | None = None,
            metrics: tuple[str, ...] = (), each: bool = False, draw: bool = True, ledger: Path = LEDGER,
            warn: Warn = None) -> Comparison:
    """``compare``: results grouped (default: by every parameter but seed) with n, mean ± sd and 95% intervals."""
    from slashmake.experiments import compare as experiments
    from slashmake.experiments import ledger_cache, plots

    book = ledger_cache.load(root, ledger, warn, step=step)
    table = experiments.compare(book, step, tuple(where), group_by, tuple(metrics), each)
    drawn = plots.draw(table, root, step) if draw and table.groups else []
    return Comparison(table, tuple(p.relative_to(root).as_posix() for p in drawn), book.warnings)


def compare_runs(root: Path, a: str, b: str, metrics: tuple[str, ...] = (), draw: bool = True,
                 ledger: Path = LEDGER, warn: Warn = None) -> RunComparison:
    """``compare A B``: parameter differences and metric differences, paired where predictions were saved."""
    from slashmake.experiments import compare as experiments
    from slashmake.experiments import ledger_cache, plots

    book = ledger_cache.load(root, ledger, warn)
    diff = experiments.compare_runs(root, book, a, b, tuple(metrics))
    drawn = plots.curves(diff.curves, root, f"{diff.a[:15]}-vs-{diff.b[:15]}") if draw else []
    return RunComparison(diff, tuple(p.relative_to(root).as_posix() for p in drawn), book.warnings)


def step_of(resolved: Resolved, key: str) -> Step | None:
    """The step with this key or label, if any."""
    for s in resolved.steps:
        if key in (s.key, s.label, s.label.lstrip("/")):
            return s
    return None


def init(root: Path, example: str | None = None) -> layout.InitReport:
    """Lay slashmake's files (and an example's) out in ``root`` (:mod:`slashmake.compiler.layout`); never overwrites."""
    return layout.init_project(root, example)


def show(root: Path, step: str) -> answers.StepOutcome:
    """A step's newest stored result (``/plan-feature`` or a step key): its answer, metrics and log path."""
    return answers.find_step(root.resolve(), step)


def install_agents(project: Project, check: bool = False) -> install.Report:
    """Write (or, with ``check``, only compare) the Droid and Claude Code entry points and MCP configs."""
    return install.install(project.root, project.defs, check=check)


def uninstall_agents(project: Project) -> install.Report:
    """Remove the entry points and MCP entries ``install_agents`` wrote, and nothing else."""
    return install.uninstall(project.root)


def is_command(step: Step) -> bool:
    """Whether a step runs a command (a program or an agent), as opposed to a gate, join or index."""
    return isinstance(step, CommandStep)


@dataclass(frozen=True)
class PodsReport:
    """``pods``: the ledger's pods, and what was reaped or refreshed on the way."""

    pods: tuple[runpod_pods.PodRow, ...]
    notes: tuple[str, ...]


def pods(root: Path, refresh: bool = True) -> PodsReport:
    """The pod ledger (``.slashmake/pods.json``): reap orphans' pods, ask the API for states, list."""
    notes: list[str] = []
    try:  # without the API (no key, no network) the ledger is still listed
        notes += [f"reaped {line}" for line in runpod_pods.reap(root)]
        if refresh:
            notes += [f"now {line}" for line in runpod_pods.refresh(root)]
    except RunError as e:
        notes.append(f"states from the ledger only: {e.message}")
    return PodsReport(tuple(runpod_pods.rows(root)), tuple(notes))


def pods_act(root: Path, action: str, ids: list[str], every: bool) -> list[str]:
    """``pods stop|terminate``: one line per pod acted on."""
    return runpod_pods.act(root, action, ids, every)
