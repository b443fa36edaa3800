"""`slashmake pods` (list, stop, terminate) and the `--runpod-*` flags of `slashmake run`."""

from __future__ import annotations

import json

import click

from slashmake import api
from slashmake.execution.pods import split_runpod_args


def runpod_flags(chain: str | None) -> tuple[str | None, list[str]]:
    """The chain and the ``--runpod-*`` flags among `run`'s extra arguments (before or after it)."""
    ctx = click.get_current_context()
    flags, rest = split_runpod_args([*([chain] if chain is not None else []), *ctx.args])
    if len(rest) > 1 or any(r.startswith("-") and r != "-" for r in rest):
        raise click.UsageError(f"unexpected arguments: {' '.join(rest[1:] if len(rest) > 1 else rest)}")
    return (rest[0] if rest else None), flags


def _hours(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


def register_pods(main: click.Group) -> None:
    """Add `pods` to the `slashmake` command."""

    @click.group(invoke_without_command=True)
    @click.option("--json", "as_json", is_flag=True, help="Print the pods as JSON.")
    @click.pass_context
    def pods(ctx: click.Context, as_json: bool) -> None:
        """The RunPod pods runs started (.slashmake/pods.json): state, uptime, cost so far.

        Pods of runs that are gone are reaped first (their run's on_finish); states come from
        the RunPod API (RUNPOD_API_KEY).
        """
        if ctx.invoked_subcommand is not None:
            return
        report = api.pods(ctx.obj)
        for note in report.notes:
            click.echo(f"runpod: {note}", err=True)
        if as_json:
            click.echo(json.dumps([p.as_dict() for p in report.pods], indent=1))
            return
        if not report.pods:
            click.echo("no pods in .slashmake/pods.json")
            return
        click.echo(f"{'pod':16} {'state':10} {'gpu':20} {'uptime':>8} {'cost':>8}  run")
        for p in report.pods:
            cost = f"${p.cost_usd:.2f}"
            click.echo(f"{p.id:16} {p.state:10} {p.gpu[:20]:20} {_hours(p.uptime_s):>8} {cost:>8}  "
                       f"{p.run}{'' if p.owner_alive else ' (gone)'}")

    def _act(action: str) -> click.Command:
        @click.command(action, help=f"{action.capitalize()} pods of the ledger (--all: every live one).")
        @click.argument("ids", nargs=-1)
        @click.option("--all", "every", is_flag=True, help="Every pod of the ledger that is not gone.")
        @click.pass_context
        def command(ctx: click.Context, ids: tuple[str, ...], every: bool) -> None:
            lines = api.pods_act(ctx.find_root().obj, action, list(ids), every)
            for line in lines or [f"no pod to {action}"]:
                click.echo(line)

        return command

    pods.add_command(_act("stop"))
    pods.add_command(_act("terminate"))
    main.add_command(pods)
