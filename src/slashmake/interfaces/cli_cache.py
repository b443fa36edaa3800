"""``slashmake cache``: the shared cache's size and entries, and pruning; the cache options of run/explain."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import click

from slashmake import api
from slashmake.cache.settings import MODES, CacheRequest
from slashmake.errors import FlowError

_AGE = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def cache_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--cache-location``, ``--cache-mode`` and ``--no-cache``, handed to the command as ``cache``."""

    f = click.option("--no-cache", is_flag=True, help="Neither read nor write the shared cache.")(f)
    f = click.option("--cache-mode", type=click.Choice(MODES),
                     help="omit-software: the software environment is not part of a step's key.")(f)
    f = click.option("--cache-location", metavar="FOLDER|URL",
                     help="The shared cache (overrides cache.location in config/config.yaml).")(f)
    return f


def request(cache_location: str | None, cache_mode: str | None, no_cache: bool) -> CacheRequest:
    """The three options as one request."""
    return CacheRequest(cache_location, cache_mode, no_cache)


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text.lower())
    if not m:
        raise FlowError(f"--older-than {text!r}: write a number and a unit (s, m, h, d, w), e.g. 30d", exit_code=2)
    return float(m.group(1)) * _AGE[m.group(2)]


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1024`` (bytes) as bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*", text.lower())
    if not m:
        raise FlowError(f"--max-size {text!r}: write a number and a unit (K, M, G, T), e.g. 2G", exit_code=2)
    return int(float(m.group(1)) * _SIZE[m.group(2)])


def human(n: float) -> str:
    """A byte count for people."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def register(main: click.Group) -> None:
    """Add the ``cache`` group to the CLI."""

    @main.group("cache", invoke_without_command=True)
    @click.option("--cache-location", metavar="FOLDER|URL", help="The cache to show (default: the config's).")
    @click.pass_context
    def cache(ctx: click.Context, cache_location: str | None) -> None:
        """The shared cache: its location, size and entries (`slashmake cache prune` drops some)."""
        ctx.meta["cache_location"] = cache_location
        if ctx.invoked_subcommand is not None:
            return
        info = api.cache_info(click.get_current_context().find_root().obj, CacheRequest(cache_location))
        click.echo(f"location: {info.location}")
        click.echo(f"entries:  {len(info.entries)}")
        click.echo(f"size:     {human(info.size)} in {info.objects} files")
        now = time.time()
        for e in info.entries:
            age = now - e.created
            when = f"{age / 86400:.1f}d" if age >= 86400 else f"{age / 3600:.1f}h" if age >= 3600 else f"{age / 60:.0f}m"
            click.echo(f"  {e.key[:12]}  {human(e.size):>10}  {when:>6} ago  {e.rule}  {e.step}")

    @cache.command("prune")
    @click.option("--older-than", metavar="AGE", help="Drop entries stored longer ago than this (30d, 12h).")
    @click.option("--max-size", metavar="SIZE", help="Then drop the oldest entries until the cache fits (2G, 500M).")
    @click.pass_context
    def prune(ctx: click.Context, older_than: str | None, max_size: str | None) -> None:
        """Drop old entries, then the oldest until the cache fits, then the files no entry names."""
        if older_than is None and max_size is None:
            raise FlowError("cache prune: give --older-than AGE and/or --max-size SIZE", exit_code=2)
        age = parse_age(older_than) if older_than is not None else None
        size = parse_size(max_size) if max_size is not None else None
        root = ctx.find_root().obj
        dropped, freed = api.cache_prune(root, CacheRequest(ctx.parent.meta.get("cache_location") if ctx.parent else None),
                                         age, size)
        for e in dropped:
            click.echo(f"dropped {e.key[:12]}  {e.rule}  {e.step}")
        click.echo(f"pruned {len(dropped)} entr{'y' if len(dropped) == 1 else 'ies'}, freed {human(freed)}")
