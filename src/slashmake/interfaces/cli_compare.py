"""``slashmake runs`` and ``slashmake compare``: the API's comparisons as tables, JSON or CSV."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from slashmake import api

if TYPE_CHECKING:
    from slashmake.experiments.compare import RunDiff, Table


def _warn(line: str) -> None:
    click.echo(f"warning: {line}", err=True)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4f}"  # 32, not 32.0000
    return str(v)


def _emit(header: list[str], rows: list[list[Any]], fmt: str) -> None:
    """A table as aligned text or CSV."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows([["" if c is None else c for c in r] for r in rows])
        click.echo(buf.getvalue(), nl=False)
        return
    cells = [[_cell(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--csv", "fmt", flag_value="csv", help="Print CSV.")(fn)
    fn = click.option("--json", "fmt", flag_value="json", help="Print JSON.")(fn)
    return click.option("--text", "fmt", flag_value="text", default=True, hidden=True)(fn)


def table_rows(table: Table, fmt: str) -> tuple[list[str], list[list[Any]]]:
    """A compare table's header and rows: the varying parameters, n, and each metric's summary."""
    header = [*table.varying, "n", "runs"]
    for m in table.metrics:
        header += [m] if fmt == "text" else [f"{m}_mean", f"{m}_sd", f"{m}_lo", f"{m}_hi"]
    rows = []
    for g in table.groups:
        row: list[Any] = [g.params.get(v) for v in table.varying]
        row += [max((s.n for s in g.metrics.values()), default=0), len(g.runs)]
        for m in table.metrics:
            s = g.metrics[m]
            row += [s.text()] if fmt == "text" else [s.mean, s.sd, s.lo, s.hi]
        rows.append(row)
    return header, rows


def print_diff(diff: RunDiff, plots: tuple[str, ...]) -> None:
    """``compare A B`` as text: the parameters that differ, then each step's metric differences."""
    click.echo(f"A: {diff.a}  ({diff.chain[0]}, commit {(diff.commit[0] or '-')[:10]})")
    click.echo(f"B: {diff.b}  ({diff.chain[1]}, commit {(diff.commit[1] or '-')[:10]})")
    if diff.params:
        click.echo("parameters that differ:")
        _emit(["parameter", "A", "B"], [[k, a, b] for k, (a, b) in sorted(diff.params.items())], "text")
    else:
        click.echo("no parameter differs")
    for s in diff.steps:
        changed = [m for m in s.metrics if m.diff or m.paired or m.note]
        if not changed:
            continue
        click.echo(f"{s.step}:" + (" (the same result in both runs)" if s.same_result else ""))
        rows: list[list[Any]] = []
        for m in changed:
            paired = (f"B-A {m.paired.diff:+.4f}, 95% CI [{m.paired.lo:+.4f}, {m.paired.hi:+.4f}], p={m.paired.p:.3g}"
                      f" (paired bootstrap, n={m.paired.n})" if m.paired else m.note)
            rows.append(["  " + m.metric, m.a, m.b, f"{m.diff:+.4f}" if m.diff is not None else None, paired])
        _emit(["  metric", "A", "B", "B-A", "paired interval"], rows, "text")
    for name, rows_of in (("only in A", diff.only_a), ("only in B", diff.only_b)):
        if rows_of:
            click.echo(f"{name}: {', '.join(rows_of)}")
    for p in plots:
        click.echo(f"plot: {p}")


def register(main: click.Group) -> None:
    """Add ``runs`` and ``compare`` to the ``slashmake`` command."""

    def root() -> Path:
        """The project folder (`slashmake -C`)."""
        return Path(click.get_current_context().obj)

    @main.command()
    @click.option("--chain", help="Only the runs of this chain (e.g. /ml-pipeline-full).")
    @click.option("-n", "--last", "limit", type=click.IntRange(min=1), help="Only the last N runs.")
    @click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=api.LEDGER, show_default=True)
    @_format_option
    def runs(chain: str | None, limit: int | None, ledger: Path, fmt: str) -> None:
        """List the recorded runs: id, time, chain, status, headline metric, cost."""
        rows = api.runs(root(), chain, limit, ledger, warn=_warn)
        if fmt == "json":
            click.echo(api.to_json(rows))
            return
        header = ["run", "time", "chain", "status", "metric", "value", "duration_s", "cost_usd", "commit"]
        _emit(header, [[r.run, r.time, r.chain, r.status, r.metric, r.value, r.duration_s, r.cost_usd,
                        (r.commit or "-")[:10] + ("+" if r.dirty else "")] for r in rows], fmt)

    @main.command()
    @click.argument("run_ids", nargs=-1, metavar="[RUN_A RUN_B]")
    @click.option("--step", help="Only this step's results (a command name such as train, or a rule).")
    @click.option("--where", "where", multiple=True, metavar="NAME OP VALUE",
                  help="Keep results where a parameter, metric or field compares so (e.g. 'sigma>0').")
    @click.option("--group-by", "group_by", help="Comma-separated parameters (default: every one but seed).")
    @click.option("--metric", "metrics", multiple=True, help="A metric to summarise (default: the primary ones).")
    @click.option("--each", is_flag=True, help="One row per result instead of groups.")
    @click.option("--no-plots", is_flag=True, help="Draw nothing in results/compare/.")
    @click.option("--ledger", type=click.Path(dir_okay=False, path_type=Path), default=api.LEDGER, show_default=True)
    @_format_option
    def compare(run_ids: tuple[str, ...], step: str | None, where: tuple[str, ...], group_by: str | None,
                metrics: tuple[str, ...], each: bool, no_plots: bool, ledger: Path, fmt: str) -> None:
        """Compare results over seeds (n, mean ± sd, 95% interval per group), or two runs (RUN_A RUN_B).

        A run is named by a unique prefix of its id, `latest` or `latest~N`.
        """
        if run_ids:
            if len(run_ids) != 2:
                raise click.UsageError("give two runs to compare (or none, to compare results)")
            rc = api.compare_runs(root(), run_ids[0], run_ids[1], metrics, not no_plots, ledger, warn=_warn)
            if fmt == "json":
                click.echo(api.to_json({"diff": rc.diff, "plots": rc.plots}))
            elif fmt == "csv":
                _emit(["step", "metric", "a", "b", "diff", "lo", "hi", "p", "note"],
                      [[s.step, m.metric, m.a, m.b, m.diff, *(
                          (m.paired.lo, m.paired.hi, m.paired.p) if m.paired else (None, None, None)), m.note]
                       for s in rc.diff.steps for m in s.metrics], "csv")
            else:
                print_diff(rc.diff, rc.plots)
            return
        names = tuple(n.strip() for n in group_by.split(",") if n.strip()) if group_by is not None else None
        cmp = api.compare(root(), step, where, names, metrics, each, not no_plots, ledger, warn=_warn)
        if fmt == "json":
            click.echo(api.to_json({"table": cmp.table, "plots": cmp.plots}))
            return
        header, rows = table_rows(cmp.table, fmt)
        if fmt == "text":
            const = ", ".join(f"{k}={_cell(v)}" for k, v in cmp.table.constant.items())
            click.echo(f"{cmp.table.n_results} results in {len(cmp.table.groups)} groups"
                       + (f"; the same in all: {const}" if const and len(const) < 400 else ""))
        _emit(header, rows, fmt)
        if fmt == "text":
            for p in cmp.plots:
                click.echo(f"plot: {p}")
