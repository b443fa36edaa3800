"""What the Snakefile imports at parse time: the compiled-flow refresh and input-function helpers.

Kept light on purpose: Snakemake parses the Snakefile at every start (and once per job on
cluster and pod executors), so nothing here may import torch, pandas or dvc.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

from slashmake.runtime import as_param, metric_text, param_type_error, read_metric

RECURSION_LIMIT = 50_000


def prepare(root: str | Path, config: dict[str, Any]) -> None:
    """Rebuild stale compiled flows and put this interpreter first on PATH for the rules' programs.

    ``config`` is the workflow's config; it is checked against ``config/schema.yaml`` here.
    """
    from slashmake.compiler.project import Project, validate_config
    from slashmake.errors import FlowError

    # Snakemake builds its DAG recursively, a frame or so per stage: a chain of thousands of
    # stages needs more than Python's default 1,000 frames.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
    bindir = os.path.dirname(sys.executable)
    if not os.environ.get("PATH", "").startswith(bindir + os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    try:
        validate_config(Path(root).resolve(), dict(config))
        Project(Path(root).resolve(), dict(config)).compile_macros()
    except FlowError as e:
        raise SystemExit(f"slashmake: {e.render()}") from None


def agent_environment(config: dict[str, Any]) -> None:
    """Set what agent steps read from the environment: this run's id and agent.max_cost_usd.

    The id keeps one already set (by `slashmake run`, or the process that started this one); the
    cost cap is not a parameter, so changing it reruns nothing.
    """
    os.environ.setdefault("SLASHMAKE_RUN_ID", f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.environ["SLASHMAKE_AGENT_MAX_COST_USD"] = str((config.get("agent") or {}).get("max_cost_usd") or "")


def compiled_flows(root: str | Path, config: dict[str, Any]) -> list[Path]:
    """The compiled flows to include: those ``config["slashmake_flows"]`` names, else every one."""
    folder = Path(root, "rules/compiled")
    names = config.get("slashmake_flows")
    if names is None:
        return sorted(folder.glob("*.smk"))
    return [folder / f"{name}.smk" for name in names]


class Branch(NamedTuple):
    """A decision still to look up: the gate's checkpoint and its files by branch."""

    checkpoint: Any
    options: dict[str, Any]


def branch(checkpoint: Any, options: dict[str, Any]) -> Branch:
    """A choice that ``choose`` resolves (the body of a compiled flow's named branch function)."""
    return Branch(checkpoint, options)


def choose(checkpoint: Any, options: dict[str, Any]) -> Any:
    """The files of the branch a gate took (its decision file is read inside ``with``).

    A branch may hand on to an earlier gate's choice (a function returning a :class:`Branch`);
    they are followed in a loop, so hundreds of gates in a row never recurse."""
    value: Any = Branch(checkpoint, options)
    while True:
        if isinstance(value, Branch):
            with value.checkpoint.get().output[0].open() as fh:
                taken = json.load(fh)["branch"]
            value = value.options.get(taken, [])
        elif callable(value):
            value = value()
        else:
            return value


def flat(*parts: Any) -> list[str]:
    """Flatten strings and lists of files into one list."""
    out: list[str] = []
    for p in parts:
        if isinstance(p, (list, tuple)):
            out.extend(flat(*p))
        elif callable(p):
            out.extend(flat(p()))
        else:
            out.append(str(p))
    return out


def metric(path: Any, key: str, like: Any = None, param: str = "", where: str = "") -> Any:
    """A variable's value, read from the metrics file of the step that bound it.

    With ``like`` (the parameter's default) the value is typed by the rule a constant follows, and
    refused with the same message (runtime.as_param), naming the chain position ``where``.
    """
    if not os.path.exists(str(path)):
        # While the DAG is built the file may not exist yet: a FileNotFoundError naming the input
        # lets Snakemake defer the parameter until the job runs.
        raise FileNotFoundError(2, "metrics file not written yet", str(path))
    value = read_metric(str(path), key)
    if like is None:
        return value
    text = metric_text(value)
    try:
        return as_param(text, like)
    except ValueError:
        raise ValueError(f"{where}: {param_type_error(param, like, text)} (metric '{key}' of {path})") from None


_VARIANTS: dict[str, dict[str, dict[str, Any]]] = {}


def register_variants(rule: str, table: dict[str, dict[str, Any]]) -> None:
    """Record a sweep's variants; flows sharing the sweep's rule add theirs to the same table."""
    _VARIANTS.setdefault(rule, {}).update(table)


def variant(rule: str, name: str, key: str) -> Any:
    """One parameter of one variant of a sweep."""
    return _VARIANTS[rule][name][key]


def q(value: Any) -> str:
    """Shell-quote a parameter (lists element by element; an empty string stays one argument)."""
    import shlex

    if isinstance(value, (list, tuple)):
        return " ".join(q(v) for v in value)
    if isinstance(value, bool):
        value = "true" if value else "false"
    return shlex.quote(str(value))
