"""Small programs that compiled rules run: gate decisions, branch joins, retried attempts, indexes.

Run as ``python -m slashmake.runtime gate|join|attempt|index|script ...``; stdlib only, so a rule pays
for a Python start and nothing more. ``ledger`` appends the experiment ledger's rows.

The job side, below every stage: compile-time code shares its parameter typing (``as_param``).
May import: ``slashmake.errors`` only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from slashmake.errors import RunError

_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")  # parser.is_number's pattern
OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
       "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


class StepFailure(RunError):
    """A runtime failure the rule reports in its log (``slashmake run`` prints it; see outcomes.py)."""


# The prefix of a failure line in a step's log: what `slashmake run` looks for to say why a step failed.
FAILURE = "slashmake: error: "


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_metric(path: str | Path, key: str) -> Any:
    """One key of a metrics JSON file; errors name the file and the key."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StepFailure(f"metrics file {path} is missing (looking for '{key}')") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StepFailure(f"metrics file {path} is not valid JSON ({e}); looking for '{key}'") from None
    if not isinstance(data, dict):
        raise StepFailure(f"metrics file {path} must hold a JSON object, not {type(data).__name__}; "
                          f"looking for '{key}'")
    norm = {k.replace("-", "_"): v for k, v in data.items()}
    if key.replace("-", "_") not in norm:
        raise StepFailure(f"metrics file {path} has no key '{key}' (it has: {', '.join(sorted(data)) or 'none'})")
    return norm[key.replace("-", "_")]


def as_param(text: str, default: Any) -> Any:
    """A parameter's value from its text, typed like its default; ValueError when it cannot be.

    The one rule for a constant in a chain and for a metric read when the job runs: ``60`` is an
    int, ``0.5`` is not (nor is ``60.0``), ``true``/``false``/``1``/``0``/``yes``/``no`` are booleans.
    """
    if isinstance(default, bool):
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return text.lower() in ("true", "1", "yes")
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        float(text)
        return text if _DECIMAL.fullmatch(text) else float(text)
    return text


def param_type_error(name: str, default: Any, value: str) -> str:
    """The message for a value a parameter refuses; the same for a constant and for a metric."""
    return f"parameter {name} takes a {type(default).__name__}, not '{value}'"


def metric_text(value: Any) -> str:
    """A metric's value as a chain would write it (``true``, ``0.5``, ``3``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _number(value: Any, what: str) -> float | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        raise StepFailure(f"{what} is {value!r}, not a number or true/false") from None


def decide(value: Any, op: str, threshold: Any) -> bool:
    """Whether a gate's condition holds."""
    if op == "truthy":
        v = _number(value, "the metric")
        return bool(v) and not (isinstance(v, float) and math.isnan(v))
    a, b = _number(value, "the metric"), _number(threshold, "the threshold")
    if isinstance(a, float) and math.isnan(a):
        raise StepFailure("the metric is NaN")
    return bool(OPS[op](a, b))


def cmd_gate(args: argparse.Namespace) -> None:
    value = read_metric(args.metrics, args.key) if args.metrics else args.value
    threshold = read_metric(args.threshold_file, args.threshold_key) if args.threshold_file else args.threshold
    taken = decide(value, args.op, threshold)
    decision = {"branch": "then" if taken else "else", "metric": args.key, "value": value, "op": args.op,
                "threshold": threshold, "source": args.metrics or "constant"}
    print(json.dumps(decision))
    write_json(args.out, decision)


def cmd_join(args: argparse.Namespace) -> None:
    decision = json.loads(Path(args.decision).read_text())
    write_json(args.out, {"branch": decision.get("branch"), "decision": args.decision, "files": args.files})


def cmd_index(args: argparse.Namespace) -> None:
    index = json.loads(Path(args.index).read_text())  # the flow's data file (index_data)
    out = Path(args.out)
    for i, step in enumerate(index["steps"], 1):
        folder = Path(step["folder"])
        for name in ("decision.json", "status.json"):
            if (folder / name).exists():
                step["decision"] = json.loads((folder / name).read_text())
        link = out.parent / f"{i:02d}-{step['key'].rsplit('-', 1)[0]}"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        if folder.exists():
            link.symlink_to(os.path.relpath(folder, link.parent))
    write_json(out, index)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except FileNotFoundError:
        return ""


def cmd_attempt(args: argparse.Namespace) -> int:
    """Run argv, retrying with backoff S, 2S, 4S...; for a try, publish outputs only on success."""
    argv = args.argv[1:] if args.argv and args.argv[0] == "--" else args.argv
    log = Path(args.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(args.stage) if args.stage else None
    code = 1
    # Definitions refuse negative values when they load; a hand-written rule still never crashes here.
    retries, backoff = max(0, args.retries), max(0.0, args.backoff)
    made = 0
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        made += 1
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
        with log.open("a") as fh:
            fh.write(f"slashmake: attempt {attempt + 1}/{retries + 1} started at {time.time():.3f}\n")
            fh.flush()
            try:
                code = subprocess.call(argv, stdout=fh, stderr=fh, stdin=subprocess.DEVNULL)  # noqa: S603
            except OSError as e:
                fh.write(f"slashmake: cannot start {argv[0]!r}: {e}\n")
                code = 127
            fh.write(f"slashmake: attempt {attempt + 1} exited with {code}\n")
        if code == 0:
            break
    if args.status is None:
        return code
    return _finish_try(args, stage, code, log, made)


def _finish_try(args: argparse.Namespace, stage: Path | None, code: int, log: Path, made: int) -> int:
    publish = Path(args.publish)
    if code == 0 and stage is not None:
        for item in sorted(stage.rglob("*")):
            if item.is_file():
                dest = publish / item.relative_to(stage)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, dest)
    if stage is not None:
        shutil.rmtree(stage, ignore_errors=True)
    status = {"success": code == 0, "branch": "else" if code == 0 else "catch", "exit_code": code,
              "label": args.label, "attempts": made,
              "attempts_allowed": max(0, args.retries) + 1}
    if code != 0:
        status["stderr_tail"] = _tail(log)
    write_json(args.status, status)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m slashmake.runtime")
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gate", help="decide a gate from a metrics file")
    g.add_argument("--metrics")
    g.add_argument("--key", default="")
    g.add_argument("--value")
    g.add_argument("--op", required=True, choices=[*OPS, "truthy"])
    g.add_argument("--threshold")
    g.add_argument("--threshold-file")
    g.add_argument("--threshold-key")
    g.add_argument("--out", required=True)
    j = sub.add_parser("join", help="record which branch of a gate ran")
    j.add_argument("--decision", required=True)
    j.add_argument("--out", required=True)
    j.add_argument("files", nargs="*")
    i = sub.add_parser("index", help="write a flow's readable index")
    i.add_argument("--index", required=True, help="the flow's index data file (JSON)")
    i.add_argument("--out", required=True)
    i.add_argument("files", nargs="*")
    a = sub.add_parser("attempt", help="run a command with retries and backoff")
    a.add_argument("--retries", type=int, default=0)
    a.add_argument("--backoff", type=float, default=0.0)
    a.add_argument("--log", required=True)
    a.add_argument("--status")
    a.add_argument("--stage")
    a.add_argument("--publish")
    a.add_argument("--label", default="failure")
    a.add_argument("argv", nargs=argparse.REMAINDER)
    from slashmake.runtime import script

    script.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if argv[:1] == ["script"] and "--" in argv:  # a script's own arguments, verbatim (argparse would mix them)
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1:]
    args = build_parser().parse_args(argv)
    args.arguments = rest
    try:
        if args.cmd == "attempt":
            return cmd_attempt(args)
        if args.cmd == "script":
            from slashmake.runtime import script

            return script.run(args)
        {"gate": cmd_gate, "join": cmd_join, "index": cmd_index}[args.cmd](args)
    except StepFailure as e:
        print(f"{FAILURE}{e}", file=sys.stderr)
        return 1
    return 0

