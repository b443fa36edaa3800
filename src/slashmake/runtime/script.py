"""``python -m slashmake.runtime script``: run a command's ``script:`` as Snakemake's ``script:`` would.

A Python script named by ``slashmake.script`` runs in this process with a global ``snakemake``
object, as under Snakemake's own ``script:`` directive: ``snakemake.input``, ``.output``,
``.params``, ``.log`` and ``.wildcards`` are lists whose entries are also attributes by name
(``snakemake.output.model``, ``snakemake.output[0]``), and ``snakemake.threads`` is a number.
``sys.argv`` holds the script's path and the step's free arguments (``$ARGUMENTS``), so a script
written for argv keeps working. A parameter whose text reads as a JSON number, ``true``, ``false``
or ``null`` arrives typed; any other arrives as text.

The compiled rule passes them as data (``--output NAME=PATH`` ... ``-- ARGS``), each value one
argv word; the script file is an input of the rule, so editing it reruns the step.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class Named(list[Any]):
    """A list whose entries are also attributes by name, like Snakemake's ``Namedlist``."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        items = list(pairs)
        super().__init__(v for _, v in items)
        self._names = {k: v for k, v in items}

    def __getattr__(self, name: str) -> Any:
        names = self.__dict__.get("_names", {})
        if name in names:
            return names[name]
        raise AttributeError(f"no entry named {name!r} (there are: {', '.join(names) or 'none'})")

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._names[key]
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        """The entries' names, in order."""
        return list(self._names)

    def items(self) -> list[tuple[str, Any]]:
        """(name, value) pairs, in order."""
        return list(self._names.items())


class Job:
    """The ``snakemake`` object a script sees."""

    def __init__(self, input: Named, output: Named, params: Named, log: Named, wildcards: Named,
                 threads: int, arguments: list[str]) -> None:
        self.input, self.output, self.params, self.log, self.wildcards = input, output, params, log, wildcards
        self.threads = threads
        self.arguments = arguments
        self.config: dict[str, Any] = {}
        self.resources = Named()
        self.rule = ""


def _typed(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (bool, int, float)) else text


def _pairs(values: list[str], what: str, typed: bool = False) -> Named:
    out: list[tuple[str, Any]] = []
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"slashmake: error: --{what} takes NAME=VALUE, not {item!r}")
        out.append((name, _typed(value) if typed else value))
    return Named(out)


def run(args: Any) -> int:
    """Run ``args.script`` with its ``snakemake`` object; the script's exit status."""
    script = Path(args.script)
    job = Job(_pairs(args.input, "input"), _pairs(args.output, "output"), _pairs(args.param, "param", typed=True),
              Named([("log", args.log)] if args.log else []), _pairs(args.wildcard, "wildcard"),
              args.threads, list(args.arguments))
    sys.argv = [str(script), *job.arguments]
    sys.path.insert(0, str(script.resolve().parent))  # as `python SCRIPT` would
    try:
        runpy.run_path(str(script), init_globals={"snakemake": job}, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    return 0


def add_parser(sub: Any) -> None:
    """The ``script`` subcommand's options."""
    s = sub.add_parser("script", help="run a command's script: with a snakemake object")
    s.add_argument("script")
    s.add_argument("--input", action="append", default=[])
    s.add_argument("--output", action="append", default=[])
    s.add_argument("--param", action="append", default=[])
    s.add_argument("--wildcard", action="append", default=[])
    s.add_argument("--log", default="")
    s.add_argument("--threads", type=int, default=1)
