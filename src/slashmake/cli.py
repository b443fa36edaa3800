"""The ``slashmake`` command line: run, compile, lint, list, graph, explain, init, results."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from . import noop, outcomes, run_options, runner
from .errors import FlowError, RunError
from .project import Project, target_name
from .resolve import Resolved
from .steps import AgentStep, CommandStep, GateStep, variants_of


class _Main(click.Group):
    """The command group, and the one place a FlowError becomes ``Error: ...`` and an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FlowError as e:
            if ctx.params.get("debug"):
                traceback.print_exc()
            e.show()
            ctx.exit(e.exit_code)


@click.group(cls=_Main)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("-C", "--directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              help="The project folder (holding the Snakefile).")
@click.version_option(package_name="slashmake")
@click.pass_context
def main(ctx: click.Context, debug: bool, directory: Path) -> None:
    """Compile slash-command chains into Snakemake workflows and run them."""
    ctx.obj = directory


def _project(warn: bool = False) -> Project:
    """The project; with ``warn``, one warning line per definition file that could not be read."""
    project = Project.open(click.get_current_context().obj)
    if warn:
        for e in project.defs.errors:
            click.echo(f"warning: {e.one_line()} (skipped; `slashmake lint` shows why)", err=True)
    return project


def _chain_text(chain: str | None, file: Path | None) -> tuple[str, str]:
    if file is not None:
        return file.read_text(encoding="utf-8").strip(), str(file)
    if chain is None or chain == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("give a chain, -f FILE, or the chain on standard input")
        return sys.stdin.read().strip(), "<stdin>"
    return chain, "<chain>"


def _overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: write --set name=value", param_hint="--set")
        out[key.strip().lstrip("$")] = value
    return out


def _prepare(project: Project, chain: str, source: str, overrides: dict[str, str]) -> tuple[str, str | None, Resolved]:
    """Compile what a command names: (target rule, chain file or None, resolved flow)."""
    name = chain.strip().lstrip("/").replace(":", "/")
    if chain.strip().startswith("/") and name in project.macros() and not overrides:
        project.compile_macros()
        resolved = project.resolve_chain(chain, name, source)
        return target_name(name), None, resolved
    target, path, resolved = project.compile_chain(chain, overrides, source)
    for w in resolved.warnings:
        click.echo(f"warning: {w}", err=True)
    return target, path.relative_to(project.root).as_posix(), resolved


def _force_rules(resolved: Resolved, steps: tuple[str, ...]) -> tuple[str, ...]:
    return run_options.rule_list(resolved, steps, "--forcerun")


@main.command()
@click.argument("chain", required=False)
@click.option("-f", "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Read the chain from a file.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would run.")
@click.option("-c", "--cores", type=int, default=2, show_default=True)
@click.option("--executor", type=click.Choice(runner.EXECUTORS), default="local", show_default=True)
@click.option("--profile", help="A Snakemake profile folder.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind or override a $variable.")
@click.option("--forcerun", "--force", "force", multiple=True, metavar="STEP",
              help="Rerun a step (a command name such as /ml-train, a step key or a rule name).")
@click.option("--until", multiple=True, metavar="STEP", help="Run only up to this step (a command name or rule).")
@click.option("--set-threads", multiple=True, metavar="STEP=N", help="Threads for a step, e.g. ml-train=4.")
@click.option("--set-resources", multiple=True, metavar="STEP:NAME=VALUE",
              help="A resource for a step, e.g. /ml-train:mem_mb=1000.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write Snakemake's HTML report here after the run.")
def run(chain: str | None, file: Path | None, dry_run: bool, cores: int, executor: str, profile: str | None,
        sets: tuple[str, ...], force: tuple[str, ...], until: tuple[str, ...], set_threads: tuple[str, ...],
        set_resources: tuple[str, ...], report: str | None) -> None:
    """Run a chain, a macro (/ml-pipeline-full), a file of a chain, or a chain on stdin.

    When nothing Snakemake's rerun decision reads changed since the last successful plain run of
    the same chain, it says "nothing to do" without starting Snakemake (see slashmake.noop).
    """
    root = Path(click.get_current_context().obj).resolve()
    text, source = _chain_text(chain, file)
    overrides = _overrides(sets)
    key = {"chain": text, "set": overrides, "executor": executor, "profile": profile,
           "env_profile": os.environ.get("SNAKEMAKE_PROFILE")}
    plain = not (force or until or report)  # only a plain run vouches for, or is answered by, a stamp
    stamp = noop.fresh(root, key) if plain and not os.environ.get("SLASHMAKE_NO_FASTPATH") else None
    if stamp is not None:
        # Snakemake's own words first: what a no-op says does not depend on who answered it.
        click.echo(f"Nothing to be done (all requested files are present and up to date): nothing to do for "
                   f"{stamp['target']}; nothing Snakemake reads changed since its last successful run, so it "
                   "was not started")
        if stamp.get("summary"):
            click.echo(stamp["summary"])
        return
    project = _project(warn=True)
    target, chain_file, resolved = _prepare(project, text, source, overrides)
    agent = project.agent_config()
    if any(isinstance(s, AgentStep) for s in resolved.steps) and not (agent.get("program") or agent.get("preset")):
        raise RunError("this flow has agent steps but no agent program is configured: set agent.preset "
                       "(droid or claude) or agent.program in config/config.yaml")
    forced = _force_rules(resolved, force) + outcomes.force_files(project.root, resolved)
    inv = runner.Invocation(target, cores, dry_run, executor, profile, forced, chain_file,
                            quiet=dry_run, until=run_options.rule_list(resolved, until, "--until"),
                            set_threads=run_options.per_rule(resolved, set_threads, "--set-threads", "="),
                            set_resources=run_options.per_rule(resolved, set_resources, "--set-resources", ":"),
                            flows=project.flows_needed(target, chain_file),
                            group_components=tuple(f"sweep_{s.rule}={len(v)}" for s in resolved.steps
                                                   if (v := variants_of(s)) is not None))
    before = noop.project_state(project.root) if not dry_run else {}
    if not dry_run:
        noop.forget(project.root, key)
    started = time.time()
    try:
        runner.run(inv, project.root)
    except RunError as e:
        why = outcomes.failure_lines(project.root, resolved, started - 1)
        raise RunError("\n".join([*why, e.message]) if why else e.message) from None
    if report and not dry_run:
        runner.run(runner.Invocation(target, cores, chain_file=chain_file, report=report, flows=inv.flows),
                   project.root)
        click.echo(f"report: {report}")
    if not dry_run:
        summary = results_table(project.root, resolved)
        click.echo(summary)
        if plain and not outcomes.stale(project.root, resolved):  # else the next run forces those again
            compiled = [project.root / "rules/compiled" / f"{f}.smk" for f in inv.flows or ()]
            noop.record(project.root, key, target, before, summary,
                        [*compiled, *([project.root / chain_file] if chain_file else [])])


def results_table(root: Path, resolved: Resolved) -> str:
    """A table of each step's metrics and each gate's decision, from the step folders."""
    rows: list[tuple[str, str]] = []
    for step in resolved.steps:
        folder = root / step.folder
        decision = _decision(folder)
        if decision:
            rows.append((step.label, f"branch {decision}"))
        metrics = folder / "metrics.json"
        variants = variants_of(step)
        if variants is not None:
            for v in variants:
                m = folder / v / "metrics.json"
                if m.exists():
                    rows.append((f"{step.label} [{v}]", _fmt_metrics(m)))
        elif isinstance(step, CommandStep) and metrics.exists():
            rows.append((step.label, _fmt_metrics(metrics)))
        elif isinstance(step, CommandStep) and step.cmd.metrics and folder.is_dir() and not step.is_try:
            rows.append((step.label, f"(metrics missing: {step.folder}/{step.cmd.metrics.file})"))
    if not rows:
        return ""
    width = max(len(r[0]) for r in rows)
    return "\n".join(["results:", *(f"  {a.ljust(width)}  {b}" for a, b in rows)])


def _fmt_metrics(path: Path) -> str:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return "(unreadable metrics)"
    parts = []
    for k, v in data.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, (int, bool, str)):
            parts.append(f"{k}={v}")
    return " ".join(parts[:8])


@main.command("compile")
@click.argument("chain", required=False)
@click.option("-f", "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
def compile_cmd(chain: str | None, file: Path | None, sets: tuple[str, ...]) -> None:
    """Compile every macro into rules/compiled/ (and a chain, when given, printing its rules)."""
    project = _project()
    changed = project.compile_macros(force=True)
    for path in changed:
        click.echo(f"wrote {path.relative_to(project.root)}", err=True)
    if chain or file:
        text, source = _chain_text(chain, file)
        _, path, _ = project.compile_chain(text, _overrides(sets), source)
        click.echo(path.read_text())


@main.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors (for CI).")
def lint(strict: bool) -> None:
    """Check every command, droid and macro: every bad file at once; print the droid table."""
    from .lint import lint_project

    project = _project()
    problems = lint_project(project, click.echo)
    warnings = len(project.defs.warnings)
    if problems or (strict and warnings):
        what = f"{problems} error{'s' * (problems != 1)}" + (f", {warnings} warnings (--strict)" if strict else "")
        click.echo(f"lint failed: {what}", err=True)
        sys.exit(1)


@main.command("list")
def list_cmd() -> None:
    """List commands, macros and droids: origin, name, argument hint, description."""
    from .lint import list_lines

    for line in list_lines(_project(warn=True).defs):
        click.echo(line)


@main.command()
@click.argument("chain", required=False)
@click.option("-f", "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("dag.svg"),
              show_default=True, help="Picture file: .svg, .png or .pdf (.dot: the Graphviz text).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
@click.option("--rulegraph", is_flag=True, help="Draw Snakemake's own rule graph instead.")
def graph(chain: str | None, file: Path | None, output: Path, sets: tuple[str, ...], rulegraph: bool) -> None:
    """Draw the flow as written: steps and their state, gates with both branches, the branch taken."""
    project = _project()
    text, source = _chain_text(chain, file)
    target, chain_file, resolved = _prepare(project, text, source, _overrides(sets))
    if rulegraph:
        dot = runner.dag_dot(runner.Invocation(target, chain_file=chain_file), project.root, "--rulegraph")
    else:
        from .flowdot import flow_dot

        proc = runner.run(runner.Invocation(target, dry_run=True, chain_file=chain_file), project.root, capture=True)
        planned = {job.rule for job in runner.parse_dry_run(proc.stdout + proc.stderr)}
        dot = flow_dot(resolved, project.root, planned)
    if output.suffix == ".dot":
        output.write_text(dot)
    else:
        runner.render_dot(dot, output)
    click.echo(f"wrote {output}")


@main.command()
@click.argument("chain", required=False)
@click.option("-f", "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
@click.option("--forcerun", "--force", "force", multiple=True, metavar="STEP", help="As if this step were forced.")
def explain(chain: str | None, file: Path | None, sets: tuple[str, ...], force: tuple[str, ...]) -> None:
    """For each step: will it run or is it up to date, and why."""
    project = _project(warn=True)
    text, source = _chain_text(chain, file)
    target, chain_file, resolved = _prepare(project, text, source, _overrides(sets))
    stale = outcomes.stale(project.root, resolved)
    asked = _force_rules(resolved, force)
    forced = asked + tuple(dict.fromkeys(s.path for s in stale))
    inv = runner.Invocation(target, dry_run=True, forcerun=forced, chain_file=chain_file,
                            flows=project.flows_needed(target, chain_file))
    proc = runner.run(inv, project.root, capture=True)
    jobs = runner.parse_dry_run(proc.stdout + proc.stderr)
    whys = {s.step.rule: s.why for s in stale if s.step.rule not in asked}  # why slashmake forces it
    jobs = [replace(j, reason=whys[j.rule]) if j.rule in whys else j for j in jobs]
    for line in explain_lines(project.root, resolved, jobs):
        click.echo(line)


def explain_lines(root: Path, resolved: Resolved, jobs: list[runner.PlannedJob]) -> list[str]:
    """One line per step, in chain order: what will happen to it and why."""
    planned: dict[str, list[runner.PlannedJob]] = {}
    for job in jobs:
        planned.setdefault(job.rule, []).append(job)
    lines = []
    for step in resolved.steps:
        origin = f" [{step.origin}]" if step.origin else ""
        label = f"{step.label} ({step.key}){origin}"
        decision = _decision(root / step.folder)
        if step.rule in planned:
            n = len(planned[step.rule])
            why = planned[step.rule][0].reason or "requested"
            count = f" ({n} variants)" if variants_of(step) is not None else ""
            lines.append(f"will run    {label}{count}: {why}")
        elif (root / step.folder).exists() and (not isinstance(step, GateStep) or decision):
            extra = f"; took the {decision} branch" if decision else ""
            lines.append(f"up to date  {label}{extra}")
        else:
            lines.append(f"waits       {label}: runs only if the branch it is on is taken (decided at run time)")
    return lines


def _decision(folder: Path) -> str:
    """The branch a gate or try in ``folder`` took, and why, or ``''`` before it decided."""
    for name in ("decision.json", "status.json"):
        if (folder / name).exists():
            d = json.loads((folder / name).read_text())
            if "value" in d:
                return f"{d.get('branch')} ({d.get('metric')}={d.get('value')} {d.get('op')} {d.get('threshold')})"
            return f"{d.get('branch')} (success={d.get('success')})"
    return ""


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--agents/--no-agents", default=None,
              help="Install the Droid and Claude Code entry points (asked when not given, on a terminal).")
def init(directory: Path, agents: bool | None) -> None:
    """Lay slashmake's layout out in your own repository (existing files are kept)."""
    skeleton = Path(__file__).parent / "skeleton"
    written = []
    for src in sorted(p for p in skeleton.rglob("*") if p.is_file()):
        rel = src.relative_to(skeleton)
        dest = directory / rel
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(rel.as_posix())
    for folder in ("workflow/commands", "droids", "scripts", "rules/compiled"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    link = directory / "profiles"
    if not link.exists() and not link.is_symlink():
        os.symlink("config/profiles", link)
        written.append("profiles -> config/profiles")
    for w in written:
        click.echo(f"created {w}")
    if agents or (agents is None and sys.stdin.isatty() and click.confirm(
            "Install entry points so /commands typed in Droid and Claude Code run the build?", default=True)):
        from .cli_agents import install_into

        install_into(directory)
    click.echo("next: add a command in workflow/commands/, then `slashmake run \"/your-command\"`")


@main.command()
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/ledger.jsonl"),
              show_default=True)
def results(ledger: Path) -> None:
    """Print the experiment ledger (every evaluation of every run) as a table."""
    path = click.get_current_context().obj / ledger
    if not path.exists():
        raise RunError(f"no experiment ledger at {ledger} yet: run a flow that evaluates a model")
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            nested = row.pop("metrics", None)  # rows keep their metrics flat or under "metrics"
            rows.append({**(nested if isinstance(nested, dict) else {}), **row})
    keys = ["time", "step", "accuracy", "f1_macro", "ece", "brier", "log_loss", "sigma", "seed",
            "turns", "duration_s", "cost_usd", "model"]  # the last four: what an agent step cost
    keys = [k for k in keys if any(k in r for r in rows)]
    widths = {k: max(len(k), *(len(_cell(r.get(k))) for r in rows)) for k in keys}
    click.echo("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        click.echo("  ".join(_cell(r.get(k)).ljust(widths[k]) for k in keys))


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


from .cli_agents import register  # noqa: E402  (it adds commands to main, defined above)

register(main)

if __name__ == "__main__":
    main()
