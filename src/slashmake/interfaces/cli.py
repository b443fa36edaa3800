"""The ``slashmake`` command line: run, compile, lint, list, graph, explain, init, results, runs, compare."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import click

from slashmake import api
from slashmake.api import Project
from slashmake.errors import FlowError
from slashmake.interfaces import cli_cache, cli_compare
from slashmake.interfaces.cli_agents import install_into, register
from slashmake.interfaces.cli_pods import register_pods, runpod_flags


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
    project = api.open_project(_root())
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
    try:
        return api.parse_overrides(pairs)
    except FlowError as e:
        raise click.BadParameter(e.message, param_hint="--set") from None


def _warn(line: str) -> None:
    click.echo(f"warning: {line}", err=True)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("chain", required=False)
@click.option("-f", "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Read the chain from a file.")
@click.option("-n", "--dry-run", is_flag=True, help="Show what would run.")
@click.option("-c", "--cores", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--executor", type=click.Choice(api.EXECUTORS), default="local", show_default=True)
@click.option("--profile", help="A Snakemake profile folder.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind or override a $variable.")
@click.option("--forcerun", "--force", "force", multiple=True, metavar="STEP",
              help="Rerun a step (a command name such as /ml-train, a step key or a rule name).")
@click.option("--until", multiple=True, metavar="STEP", help="Run only up to this step (a command name or rule).")
@click.option("--set-threads", multiple=True, metavar="STEP=N", help="Threads for a step, e.g. ml-train=4.")
@click.option("--set-resources", multiple=True, metavar="STEP:NAME=VALUE",
              help="A resource for a step, e.g. /ml-train:mem_mb=1000.")
@click.option("--report", type=click.Path(dir_okay=False), help="Write Snakemake's HTML report here after the run.")
@click.option("-v", "--verbose", is_flag=True, help="Show Snakemake's whole output as it runs (by default: progress "
              "and errors; the full log is in .snakemake/log/).")
@cli_cache.cache_options
def run(chain: str | None, file: Path | None, dry_run: bool, cores: int, executor: str, profile: str | None,
        sets: tuple[str, ...], force: tuple[str, ...], until: tuple[str, ...], set_threads: tuple[str, ...],
        set_resources: tuple[str, ...], report: str | None, verbose: bool, **cache: Any) -> None:
    """Run a chain, a macro (/ml-pipeline-full), a file of a chain, or a chain on stdin.

    When nothing Snakemake's rerun decision reads changed since the last successful plain run of
    the same chain, it says "nothing to do" without starting Snakemake (see slashmake.execution.noop).
    With --executor runpod, --runpod-* flags (snakemake --help lists them) override the runpod:
    section of config/config.yaml.
    """
    chain, runpod_args = runpod_flags(chain)
    text, source = _chain_text(chain, file)
    opts = api.RunOptions(dry_run, cores, executor, profile, _overrides(sets), force, until, set_threads,
                          set_resources, report, runpod_args=tuple(runpod_args), cache=cli_cache.request(**cache),
                          verbose=verbose)
    result = api.run(_root(), text, source, opts, warn=_warn)
    if result.nothing_to_do:
        # Snakemake's own words first: what a no-op says does not depend on who answered it.
        click.echo(f"Nothing to be done (all requested files are present and up to date): nothing to do for "
                   f"{result.target}; nothing Snakemake reads changed since its last successful run, so it "
                   "was not started")
    if result.run_id:
        click.echo(f"run: {result.run_id} (recorded in results/ledger.jsonl; `slashmake compare` compares runs)")
    if result.report:
        click.echo(f"report: {result.report}")
    if result.summary:
        click.echo(result.summary)


def _root() -> Path:
    return Path(click.get_current_context().obj)


@main.command("compile")
@click.argument("chain", required=False)
@click.option("-f", "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when a compiled flow is stale (for CI).")
def compile_cmd(chain: str | None, file: Path | None, sets: tuple[str, ...], check: bool) -> None:
    """Compile every macro into rules/compiled/ (and a chain, when given, printing its rules)."""
    project = _project()
    if check:
        stale = api.stale_flows(project)
        for name in stale:
            click.echo(f"stale: rules/compiled/{name}.smk")
        if stale:
            click.echo("run `slashmake compile` and commit rules/compiled/", err=True)
            sys.exit(1)
        click.echo("compiled flows are up to date")
        return
    for path in api.compile_all(project):
        click.echo(f"wrote {path.relative_to(project.root)}", err=True)
    if chain or file:
        text, source = _chain_text(chain, file)
        click.echo(api.compile_chain(project, text, source, _overrides(sets)).read_text())


@main.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors (for CI).")
def lint(strict: bool) -> None:
    """Check every command, droid and macro: every bad file at once; print the droid table."""
    report = api.lint(_project())
    for line in report.messages:
        click.echo(line, err=True)
    for line in report.lines:
        click.echo(line)
    if report.failed(strict):
        problems = report.problems
        what = f"{problems} error{'s' * (problems != 1)}" + (f", {report.warnings} warnings (--strict)" if strict else "")
        click.echo(f"lint failed: {what}", err=True)
        sys.exit(1)


@main.command("list")
def list_cmd() -> None:
    """List commands, macros and droids: origin, name, argument hint, description."""
    for line in api.catalogue_lines(_project(warn=True)):
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
    api.graph(project, text, output, source, _overrides(sets), rulegraph)  # relative: to the project folder
    click.echo(f"wrote {output}")


@main.command()
@click.argument("chain", required=False)
@click.option("-f", "--file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE")
@click.option("--forcerun", "--force", "force", multiple=True, metavar="STEP", help="As if this step were forced.")
@cli_cache.cache_options
def explain(chain: str | None, file: Path | None, sets: tuple[str, ...], force: tuple[str, ...], **cache: Any) -> None:
    """For each step: will it run, come from the shared cache, or is it up to date, and why."""
    project = _project(warn=True)
    text, source = _chain_text(chain, file)
    for step in api.explain(project, text, source, _overrides(sets), force, cli_cache.request(**cache)):
        click.echo(step.line())


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--agents/--no-agents", default=None,
              help="Install the Droid and Claude Code entry points (asked when not given, on a terminal).")
@click.option("--example", type=click.Choice(["moola"]), help="Also lay out an example's commands and droids "
              "(moola: the ML demo, /ml-pipeline-full; its steps need pip install 'slashmake[ml]').")
def init(directory: Path, agents: bool | None, example: str | None) -> None:
    """Lay slashmake's layout out in your own repository (existing files are kept)."""
    report = api.init(directory, example)
    for rel in report.created:
        click.echo(f"created {rel}")
    for rel in report.changed:
        click.echo(f"changed {rel}")
    for note in report.notes:
        click.echo(f"note: {note}")
    if not report.created and not report.changed:
        click.echo(f"nothing to do: {directory} already has slashmake's files")
    if agents or (agents is None and sys.stdin.isatty() and click.confirm(
            "Install entry points so /commands typed in Droid and Claude Code run the build?", default=True)):
        install_into(directory)
    where = "" if directory.resolve() == Path.cwd().resolve() else f"-C {directory} "
    click.echo(f"next: `slashmake {where}lint`, then add a command in workflow/commands/ (or use your "
               f".claude/commands/) and `slashmake {where}run \"/your-command\"`")


@main.command()
@click.argument("step")
def show(step: str) -> None:
    """Print a step's answer (agent steps), metrics and log path: `slashmake show /plan-feature`."""
    found = api.show(_root(), step)
    click.echo(f"{found.name}: {found.folder}")
    if found.answer is not None:
        click.echo(f"answer ({found.answer_file}):\n{found.answer.rstrip()}")
    if found.metrics:
        click.echo("metrics: " + " ".join(f"{k}={v}" for k, v in found.metrics.items()))
    click.echo(f"log: {found.log or '(none)'}")


@main.command()
@click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=api.LEDGER, show_default=True)
def results(ledger: Path) -> None:
    """Print the experiment ledger (every evaluation of every run) as a table."""
    rows = api.ledger_rows(_root(), ledger=ledger, warn=_warn)
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


register(main)
cli_compare.register(main)
register_pods(main)
cli_cache.register(main)

if __name__ == "__main__":
    main()
