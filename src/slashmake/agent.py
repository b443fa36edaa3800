"""The agent-step runtime: ``python -m slashmake.agent``.

A compiled agent command runs this. It renders the prompt (the droid's body, the command's body
with ``$ARGUMENTS`` filled, the upstream input files), runs the agent program (an argv list from
config, never a shell string) with a timeout, and publishes ``response.md`` and ``metrics.json``
atomically, only when the program exited 0 in time with a non-empty answer. The last fenced
```json block of the answer becomes metrics.json (a flat object); without one, metrics.json is
``{"answered": true}``. On failure it exits non-zero and leaves neither file.

Imports stay light (stdlib, yaml, frontmatter): this runs once per agent step.

    python -m slashmake.agent --command workflow/commands/aggregate.md \\
        --droid droids/command-workflow-orchestrator.md --arguments '["analysis-results"]' \\
        --input response=results/steps/a/response.md --input response=results/steps/b/response.md \\
        --prompt-out OUT/prompt.md --response-out OUT/response.md --metrics-out OUT/metrics.json \\
        --program '["droid", "exec", "--auto", "low", "-f", "{prompt_file}"]' --tools-format droid \\
        --timeout 1800
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter

from slashmake.tools import ToolsError, describe, missing_tools, normalize_tools, to_program_form

PROG = "slashmake.agent"
EXIT_FAILED = 1  # the agent program failed, timed out or gave no answer
EXIT_USAGE = 2  # bad arguments or definition files
STDERR_TAIL = 2000
KILL_GRACE_S = 5.0
DEFAULT_TIMEOUT_S = 1800.0

PLACEHOLDERS = ("{prompt_file}", "{prompt}", "{tools}", "{model}", "{effort}")
_PLACEHOLDER_RE = re.compile(r"\{prompt_file\}|\{prompt\}")
_FENCE_RE = re.compile(r"^[ \t]*```[ \t]*json[ \t]*\r?\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
_POSITIONAL_RE = re.compile(r"\$(\d+)")
_ARGS_RE = re.compile(r"\$ARGUMENTS|\$(\d+)")


class AgentError(Exception):
    """A failure with a message for the step log, and an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- definitions


@dataclass
class Definition:
    path: Path
    meta: dict[str, Any]
    body: str

    @property
    def name(self) -> str:
        name = self.meta.get("name")
        return str(name) if name else self.path.stem

    @property
    def slashmake(self) -> dict[str, Any]:
        sm = self.meta.get("slashmake")
        return sm if isinstance(sm, dict) else {}


def load_definition(path: str | os.PathLike[str], what: str) -> Definition:
    p = Path(path)
    try:
        post = frontmatter.load(str(p))
    except FileNotFoundError:
        raise AgentError(f"{what} file not found: {p}", EXIT_USAGE) from None
    except Exception as exc:  # yaml errors, bad encoding
        raise AgentError(f"cannot read {what} file {p}: {exc}", EXIT_USAGE) from None
    meta = dict(post.metadata) if isinstance(post.metadata, dict) else {}
    return Definition(p, meta, post.content.strip())


def command_name(cmd: Definition) -> str:
    """``plan`` for workflow/commands/plan.md, ``results/aggregate`` for a namespaced one."""
    parts = cmd.path.with_suffix("").parts
    if "commands" in parts:
        idx = len(parts) - 1 - list(reversed(parts)).index("commands")
        return "/".join(parts[idx + 1 :]) or cmd.path.stem
    return cmd.path.stem


# --------------------------------------------------------------------------- prompt


def fill_arguments(body: str, arguments: Sequence[str]) -> str:
    """``$ARGUMENTS`` -> the arguments joined by spaces; ``$1``, ``$2``... -> each (empty if absent)."""
    joined = " ".join(arguments)

    def fill(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return joined
        i = int(m.group(1))
        return arguments[i - 1] if 1 <= i <= len(arguments) else ""

    # one pass, so an argument's own text ("$2") is never filled in again
    return _ARGS_RE.sub(fill, body)


@dataclass
class StepInput:
    name: str
    paths: list[str] = field(default_factory=list)


def metric_keys(cmd: Definition) -> tuple[list[str], str | None]:
    metrics = cmd.slashmake.get("metrics")
    if not isinstance(metrics, dict):
        return [], None
    keys = metrics.get("keys") or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    keys = [str(k) for k in keys]
    primary = metrics.get("primary")
    return keys, (str(primary) if primary else (keys[0] if keys else None))


def render_prompt(
    cmd: Definition,
    droid: Definition | None,
    arguments: Sequence[str],
    inputs: Sequence[StepInput],
    params: Sequence[tuple[str, str]] = (),
) -> str:
    name = command_name(cmd)
    out: list[str] = []
    if droid is not None:
        out.append(f"# Role: {droid.name}")
        if droid.meta.get("description"):
            out.append(f"\n_{str(droid.meta['description']).strip()}_")
        if droid.body:
            out.append(f"\n{droid.body}")
        out.append("")
    invocation = "/" + name + (" " + " ".join(arguments) if arguments else "")
    out.append(f"# Task: {invocation}")
    if cmd.meta.get("description"):
        out.append(f"\n_{str(cmd.meta['description']).strip()}_")
    body = fill_arguments(cmd.body, arguments)
    if body:
        out.append(f"\n{body}")
    if arguments and "$ARGUMENTS" not in cmd.body and not _POSITIONAL_RE.search(cmd.body):
        out.append(f"\nArguments: {' '.join(arguments)}")
    if params:
        out.append("\n## Parameters\n")
        out.extend(f"- `{k}` = `{v}`" for k, v in params)
    out.append("\n## Upstream inputs\n")
    if inputs:
        out.append("Files written by the steps before this one (paths relative to the working directory):\n")
        for inp in inputs:
            for path in inp.paths:
                out.append(f"- `{inp.name}`: {path}")
    else:
        out.append("None: this step starts the flow.")
    keys, primary = metric_keys(cmd)
    out.append("\n## Answer format\n")
    out.append(
        "Write your answer in Markdown on standard output; it is saved as this step's response.md. "
        "End it with one fenced ```json block holding a flat JSON object (numbers, booleans, "
        "strings) of the step's metrics: later steps and gates read it."
    )
    if keys:
        out.append("\nThe metrics object must have these keys:\n")
        for key in keys:
            out.append(f"- `{key}`" + (" (primary)" if key == primary else ""))
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- tools


def step_tools(cmd: Definition, droid: Definition | None) -> tuple[frozenset[str] | None, list[str]]:
    """The tools the step may use: the command's ``allowed-tools`` (which the droid must have), else
    the droid's ``tools``; None when neither restricts them."""
    warnings: list[str] = []
    try:
        cmd_raw = cmd.meta.get("allowed-tools")
        cmd_ids = None
        if cmd_raw is not None:
            cmd_ids, w = normalize_tools(cmd_raw)
            warnings += [f"{cmd.path}: {x}" for x in w]
        droid_ids = None
        if droid is not None and droid.meta.get("tools") is not None:
            droid_ids, w = normalize_tools(droid.meta.get("tools"))
            warnings += [f"{droid.path}: {x}" for x in w]
    except ToolsError as exc:
        raise AgentError(str(exc), EXIT_USAGE) from None
    if droid is not None and cmd_ids is not None and droid_ids is not None:
        lacking = missing_tools(droid_ids, cmd_ids)
        if lacking:
            raise AgentError(
                f"droid {droid.name!r} ({droid.path}) lacks tools that command {command_name(cmd)!r} "
                f"({cmd.path}) allows: {', '.join(sorted(lacking))}; the droid has {describe(droid_ids)}",
                EXIT_USAGE,
            )
    if cmd_ids is not None:
        return (cmd_ids & droid_ids if droid_ids is not None else cmd_ids), warnings
    return droid_ids, warnings


def guess_tools_format(program: Sequence[str]) -> str:
    base = os.path.basename(program[0]) if program else ""
    if base.startswith("claude"):
        return "claude"
    if base.startswith("droid"):
        return "droid"
    return "none"


def build_argv(template: Sequence[str], prompt_file: str, prompt: str, tools_args: Sequence[str],
               settings: dict[str, str] | None = None) -> list[str]:
    """Fill the program template. ``{prompt_file}`` and ``{prompt}`` are replaced inside words;
    a word that is exactly ``{tools}`` is replaced by the tools words (zero or more). Without a
    ``{tools}`` word, the tools words go at the end. A word that is exactly ``{model}`` or
    ``{effort}`` takes the droid's ``model`` / ``reasoningEffort``; where the droid sets none (or
    ``inherit``), that word and the ``--option`` before it are left out."""
    values = {"{prompt_file}": prompt_file, "{prompt}": prompt}
    optional = {f"{{{k}}}": v for k, v in (settings or {}).items()}
    argv: list[str] = []
    placed = False
    for i, word in enumerate(template):
        if word == "{tools}":
            argv.extend(tools_args)
            placed = True
            continue
        if word in ("{model}", "{effort}"):
            value = optional.get(word, "")
            if value and value != "inherit":
                argv.append(value)
            elif argv and argv[-1].startswith("-") and i > 0:
                argv.pop()  # `--model {model}` with no model: neither word
            continue
        filled = _PLACEHOLDER_RE.sub(lambda m: values[m.group(0)], word)
        if i == 0 and filled in ("python", "python3"):
            filled = sys.executable  # the workflow's own interpreter
        argv.append(filled)
    if not placed:
        argv.extend(tools_args)
    return argv


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    seconds: float


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait if wait is not None else 10)
            return
        except subprocess.TimeoutExpired:
            continue


def run_program(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> Outcome:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(  # noqa: S603 - an argv list from config, never a shell string
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # so a timeout kills the program and its children
            env=env,
        )
    except FileNotFoundError:
        raise AgentError(
            f"agent program {argv[0]!r} not found (is it installed and on PATH? "
            "the program comes from the agent settings in config/config.yaml)"
        ) from None
    except OSError as exc:  # permissions, E2BIG (a huge {prompt}: use {prompt_file} instead)
        raise AgentError(f"cannot start agent program {argv[0]!r}: {exc}") from None
    try:
        out, err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=10)
        except (subprocess.TimeoutExpired, ValueError):
            out, err = b"", b""
        code = None
    except BaseException:
        _kill_group(proc)
        raise
    else:
        # the program is done; leftovers it started in its session go too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return Outcome(
        code,
        out.decode("utf-8", errors="replace"),
        err.decode("utf-8", errors="replace"),
        time.monotonic() - start,
    )


def _tail(text: str, n: int = STDERR_TAIL) -> str:
    text = text.strip()
    if not text:
        return "(stderr was empty)"
    return ("..." + text[-n:]) if len(text) > n else text


# --------------------------------------------------------------------------- metrics


def extract_metrics(answer: str) -> dict[str, Any]:
    """The last fenced ```json block as a flat object; ``{"answered": true}`` without one.

    Nested values (objects, lists) are not metrics: they are dropped, with a note on stderr.
    A block that is not a JSON object is an error."""
    blocks = _FENCE_RE.findall(answer)
    if not blocks:
        return {"answered": True}
    raw = blocks[-1]
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise AgentError(f"the last ```json block of the answer is not valid JSON ({exc}):\n{raw.strip()[:500]}") from None
    if not isinstance(data, dict):
        raise AgentError(
            f"the last ```json block of the answer must be a JSON object of metrics, got {type(data).__name__}"
        )
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            print(f"{PROG}: note: metric {key!r} is {value}; written as null", file=sys.stderr)
            value = None
        if value is None or isinstance(value, (str, int, float, bool)):
            flat[str(key)] = value
        else:
            print(f"{PROG}: note: metric {key!r} is not a number, boolean or string: dropped", file=sys.stderr)
    return flat


# --------------------------------------------------------------------------- files


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _remove(path: str | None) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------- CLI


def _json_list(text: str, what: str) -> list[str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentError(f"{what} must be a JSON list of strings: {exc}", EXIT_USAGE) from None
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise AgentError(f"{what} must be a JSON list of strings, got {text!r}", EXIT_USAGE)
    return [v if isinstance(v, str) else json.dumps(v) for v in value]


def _parse_inputs(groups: Sequence[Sequence[str]] | None) -> list[StepInput]:
    inputs: list[StepInput] = []
    for group in groups or []:
        first, *more = group
        if "=" not in first:
            raise AgentError(f"--input takes NAME=PATH [PATH ...], got {first!r}", EXIT_USAGE)
        name, path = first.split("=", 1)
        paths = [p for p in [path, *more] if p]
        for p in paths:
            if not os.path.exists(p):
                raise AgentError(f"upstream input {name!r} is missing: {p}", EXIT_USAGE)
        existing = next((i for i in inputs if i.name == name), None)
        if existing is None:
            inputs.append(StepInput(name, paths))
        else:
            existing.paths.extend(paths)
    return inputs


def _parse_params(items: Sequence[str] | None) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        if "=" not in item:
            raise AgentError(f"--param takes NAME=VALUE, got {item!r}", EXIT_USAGE)
        k, v = item.split("=", 1)
        out.append((k, v))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m {PROG}",
        description="Run one agent step: render the prompt, run the agent program, save its answer.",
    )
    p.add_argument("--command", required=True, metavar="FILE", help="the command .md (its body is the prompt)")
    p.add_argument("--droid", metavar="FILE", help="the droid .md (its body leads the prompt)")
    p.add_argument("--arguments", default="[]", metavar="JSON", help="JSON list: $ARGUMENTS, $1, $2...")
    p.add_argument(
        "--input", action="append", nargs="+", metavar="NAME=PATH",
        help="an upstream output, listed in the prompt (repeatable; NAME=PATH [PATH ...])",
    )
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a resolved parameter, listed in the prompt")
    p.add_argument("--prompt-out", required=True, metavar="PATH")
    p.add_argument("--response-out", required=True, metavar="PATH")
    p.add_argument("--metrics-out", required=True, metavar="PATH")
    p.add_argument(
        "--program", required=True, metavar="JSON",
        help='argv template as a JSON list; placeholders {prompt_file}, {prompt}, {tools}, {model}, {effort}',
    )
    p.add_argument(
        "--tools-format", default="auto", choices=("auto", "claude", "droid", "none"),
        help="how the program takes the allowed tools (auto: from the program's name)",
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS")
    return p


def run(args: argparse.Namespace) -> int:
    # Outputs from an earlier, failed attempt must not survive this one.
    for path in (args.response_out, args.metrics_out):
        _remove(path)

    arguments = _json_list(args.arguments, "--arguments")
    program = _json_list(args.program, "--program")
    if not program:
        raise AgentError("--program is an empty list", EXIT_USAGE)
    if args.timeout <= 0:
        raise AgentError("--timeout must be positive", EXIT_USAGE)
    inputs = _parse_inputs(args.input)
    params = _parse_params(args.param)

    cmd = load_definition(args.command, "command")
    droid = load_definition(args.droid, "droid") if args.droid else None

    tools, warnings = step_tools(cmd, droid)
    for w in warnings:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    fmt = args.tools_format if args.tools_format != "auto" else guess_tools_format(program)
    raw_allowed = cmd.meta.get("allowed-tools") if cmd.meta.get("allowed-tools") is not None else None
    tools_args = to_program_form(tools, fmt, raw=raw_allowed)

    prompt = render_prompt(cmd, droid, arguments, inputs, params)
    write_atomic(args.prompt_out, prompt)
    settings = {} if droid is None else {"model": str(droid.meta.get("model") or ""),
                                         "effort": str(droid.meta.get("reasoningEffort") or "")}
    argv = build_argv(program, os.path.abspath(args.prompt_out), prompt, tools_args, settings)

    label = f"/{command_name(cmd)}" + (f" as droid {droid.name}" if droid else "")
    shown = [a if len(a) < 200 else a[:60] + f"...<{len(a)} chars>" for a in argv]
    print(f"{PROG}: running {label}: {json.dumps(shown)} (timeout {args.timeout:g}s)", file=sys.stderr)

    env = dict(os.environ)
    env.update(
        SLASHMAKE_COMMAND=command_name(cmd),
        SLASHMAKE_DROID=droid.name if droid else "",
        SLASHMAKE_PROMPT_FILE=os.path.abspath(args.prompt_out),
    )
    outcome = run_program(argv, args.timeout, env)
    if outcome.stderr.strip():
        sys.stderr.write(outcome.stderr if outcome.stderr.endswith("\n") else outcome.stderr + "\n")

    who = f"agent program {program[0]!r} ({label})"
    if outcome.returncode is None:
        raise AgentError(
            f"{who} timed out after {args.timeout:g}s and was stopped; "
            f"end of its stderr:\n{_tail(outcome.stderr)}"
        )
    if outcome.returncode != 0:
        status = outcome.returncode
        what = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        raise AgentError(f"{who} {what} after {outcome.seconds:.1f}s; end of its stderr:\n{_tail(outcome.stderr)}")
    answer = outcome.stdout
    if not answer.strip():
        raise AgentError(
            f"{who} exited 0 but printed no answer (empty stdout); end of its stderr:\n{_tail(outcome.stderr)}"
        )
    try:
        metrics = extract_metrics(answer)
    except AgentError as exc:
        raise AgentError(f"{who}: {exc}\nend of the answer:\n{answer.strip()[-STDERR_TAIL:]}") from None
    keys, _ = metric_keys(cmd)
    absent = [k for k in keys if k not in metrics]
    if absent and metrics != {"answered": True}:
        print(f"{PROG}: warning: the answer's metrics lack declared keys: {', '.join(absent)}", file=sys.stderr)
    elif absent:
        print(f"{PROG}: warning: the answer has no ```json metrics block (declared keys: {', '.join(keys)})",
              file=sys.stderr)

    try:
        write_atomic(args.response_out, answer if answer.endswith("\n") else answer + "\n")
        write_atomic(args.metrics_out, json.dumps(metrics, indent=2, sort_keys=True) + "\n")  # last
    except BaseException:
        _remove(args.response_out)
        _remove(args.metrics_out)
        raise
    print(f"{PROG}: {label} answered in {outcome.seconds:.1f}s: {args.response_out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except AgentError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
