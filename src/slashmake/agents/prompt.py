"""The prompt of an agent step: the droid's body, then the command's body as the agents render it.

A command body means here what it means inside Claude Code and Droid (docs/agents.md says which
rules are followed):

- ``$ARGUMENTS``: the arguments as typed (quoted where a value has spaces); ``$ARGUMENTS[N]`` and
  ``$N``: the N-th argument, counted from 0 (Claude Code's current rule); ``$name`` for a name
  listed in the command's ``arguments:`` (the N-th name is the N-th argument). A missing argument
  is empty. Without any placeholder the arguments are appended as ``ARGUMENTS: ...``.
- ``!`cmd``` and ````` ```! ````` blocks run in bash from the project root when the prompt is
  rendered; their output replaces them. Argument values inside them are shell-quoted, so an
  argument is always data, never shell text.
- ``@path`` inlines the file under a header naming it; the compiler makes it an input of the step.

Imports stay light (the definition reader and yaml): this runs once per agent step.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slashmake.agents.errors import EXIT_USAGE, AgentError
from slashmake.definitions.files import DefFile
from slashmake.errors import FlowError

BANG_TIMEOUT_S = 30.0
BANG_TAIL = 2000

# $ARGUMENTS[N], $ARGUMENTS, $N, $name: one pass, so an argument's own text is never filled again.
_ARG_RE = re.compile(r"\$ARGUMENTS\[(\d+)\]|\$ARGUMENTS\b|\$(\d+)|\$([A-Za-z_][A-Za-z0-9_-]*)")
_INLINE_BANG_RE = re.compile(r"!`([^`\n]+)`")
_BLOCK_BANG_RE = re.compile(r"^[ \t]*```![ \t]*\r?\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
# @path: a file reference, as Claude Code writes them (@src/app.py, @README.md). It must hold a
# "/" or a "." so that prose mentions (@alice) stay prose; trailing punctuation is not the path.
_AT_RE = re.compile(r"(?<![\w@`/])@((?:[\w~.-]+/)*[\w.-]*[\w-](?:\.[\w-]+)?)")


@dataclass
class Definition:
    """A command or droid file: frontmatter and body."""

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
    """Read a definition file; a missing or unreadable one is a usage error."""
    p = Path(path)
    try:
        # the compiler's own reader: agent keys as leniently as the agents read them
        df = DefFile(p, str(p))
    except FileNotFoundError:
        raise AgentError(f"{what} file not found: {p}", EXIT_USAGE) from None
    except (OSError, FlowError) as exc:
        raise AgentError(f"cannot read {what} file {p}: {exc}", EXIT_USAGE) from None
    return Definition(p, dict(df.data), df.body.strip())


def command_name(cmd: Definition) -> str:
    """``plan`` for workflow/commands/plan.md, ``results/aggregate`` for a namespaced one."""
    parts = cmd.path.with_suffix("").parts
    if "commands" in parts:
        idx = len(parts) - 1 - list(reversed(parts)).index("commands")
        return "/".join(parts[idx + 1 :]) or cmd.path.stem
    return cmd.path.stem


def argument_names(meta: Mapping[str, Any]) -> list[str]:
    """The command's ``arguments:`` names (a list, or one space-separated string)."""
    raw = meta.get("arguments")
    if isinstance(raw, str):
        return raw.split()
    if isinstance(raw, list):
        return [str(x.get("name") if isinstance(x, dict) else x) for x in raw if x]
    return []


def raw_arguments(arguments: Sequence[str]) -> str:
    """The arguments as a user types them: a value with spaces or quotes is quoted."""
    return " ".join(a if a and re.fullmatch(r"[^\s'\"\\]+", a) else shlex.quote(a) for a in arguments)


def fill_arguments(text: str, arguments: Sequence[str], names: Sequence[str] = (), quote: bool = False) -> str:
    """Substitute the argument placeholders of ``text``; ``quote``: shell-quote every value (for ``!``)."""
    def one(i: int) -> str:
        value = arguments[i] if 0 <= i < len(arguments) else ""
        return shlex.quote(value) if quote else value

    def fill(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return one(int(m.group(1)))
        if m.group(2) is not None:
            return one(int(m.group(2)))
        if m.group(3) is not None:
            if m.group(3) in names:
                return one(list(names).index(m.group(3)))
            return m.group(0)  # $HOME, $PATH...: not ours
        return " ".join(shlex.quote(a) for a in arguments) if quote else raw_arguments(arguments)

    return _ARG_RE.sub(fill, text)


def has_placeholders(text: str, names: Sequence[str] = ()) -> bool:
    """Whether ``text`` takes the arguments anywhere (else they are appended)."""
    return any(m.group(3) is None or m.group(3) in names for m in _ARG_RE.finditer(text))


# --------------------------------------------------------------------------- ! commands


def run_bang(script: str, where: str, cwd: str | None = None, timeout: float = BANG_TIMEOUT_S) -> str:
    """Run one ``!`` command in bash from the project root; its stdout, or an AgentError."""
    try:
        done = subprocess.run(  # noqa: S603 - bash runs the command file's own text; arguments are quoted
            ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise AgentError(f"{where}: the ! command timed out after {timeout:g}s: {script.strip()}\n"
                         f"end of its stderr:\n{_tail(err)}") from None
    if done.returncode != 0:
        raise AgentError(f"{where}: the ! command exited with status {done.returncode}: {script.strip()}\n"
                         f"end of its stderr:\n{_tail(done.stderr)}")
    return done.stdout.rstrip("\n")


def _tail(text: str) -> str:
    text = text.strip()
    if not text:
        return "(stderr was empty)"
    return ("..." + text[-BANG_TAIL:]) if len(text) > BANG_TAIL else text


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def expand_body(cmd: Definition, arguments: Sequence[str], cwd: str | None = None,
                body_line: int = 1) -> str:
    """The command body as the agent sees it: ``!`` output in place, arguments filled.

    ``body_line``: the file line the body starts on, for error messages."""
    names = argument_names(cmd.meta)
    body = cmd.body

    def where(offset: int) -> str:
        return f"{cmd.path}:{body_line + _line_of(body, offset) - 1}"

    def block(m: re.Match[str]) -> str:
        return run_bang(fill_arguments(m.group(1), arguments, names, quote=True), where(m.start()), cwd)

    def inline(m: re.Match[str]) -> str:
        return run_bang(fill_arguments(m.group(1), arguments, names, quote=True), where(m.start()), cwd)

    # ! commands first, on the body as written: filled arguments never become ! commands.
    parts: list[str] = []
    last = 0
    spans = sorted([(m.start(), m.end(), block(m)) for m in _BLOCK_BANG_RE.finditer(body)] +
                   [(m.start(), m.end(), inline(m)) for m in _INLINE_BANG_RE.finditer(body)
                    if not any(b.start() <= m.start() < b.end() for b in _BLOCK_BANG_RE.finditer(body))])
    for start, end, out in spans:
        parts.append(fill_arguments(body[last:start], arguments, names))
        parts.append(out)
        last = end
    parts.append(fill_arguments(body[last:], arguments, names))
    text = "".join(parts)
    if arguments and not has_placeholders(body, names):
        text = (text + "\n\n" if text else "") + f"ARGUMENTS: {raw_arguments(arguments)}"
    return text


def body_offset(text: str) -> int:
    """The 1-based file line where the body of a definition file starts (after its frontmatter)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return 1
    for i, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            # frontmatter strips the body's leading blank lines
            j = i
            while j < len(lines) and not lines[j].strip():
                j += 1
            return j + 1
    return 1


def has_bang(body: str) -> bool:
    """Whether a body runs ``!`` commands when its prompt is rendered."""
    return bool(_BLOCK_BANG_RE.search(body) or _INLINE_BANG_RE.search(body))


def bang_fingerprint(command_file: str, arguments_json: str) -> str:
    """A digest of what a command's ``!`` commands print now (Snakemake params: a change reruns the step).

    Evaluated when Snakemake builds its DAG, from the project root; a failing command gives its
    error text, so the step itself fails with it when it runs."""
    import hashlib
    import json

    cmd = load_definition(command_file, "command")
    args = json.loads(arguments_json)
    names = argument_names(cmd.meta)
    h = hashlib.sha256()
    for m in [*_BLOCK_BANG_RE.finditer(cmd.body), *_INLINE_BANG_RE.finditer(cmd.body)]:
        try:
            h.update(run_bang(fill_arguments(m.group(1), args, names, quote=True), command_file).encode())
        except AgentError as exc:
            h.update(str(exc).encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- @ files


@dataclass(frozen=True)
class FileRef:
    """An ``@path`` reference of a command body, with the file line it is on."""

    path: str
    line: int


_CODE_RE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1[ \t]*$|`[^`\n]+`", re.DOTALL | re.MULTILINE)


def file_references(body: str, body_line: int = 1) -> list[FileRef]:
    """The ``@path`` references of a body, in order, each once.

    Not inside ``!`` commands, fenced code blocks or inline code: ``@pytest.fixture`` in an example
    is code, not a file."""
    bangs = [(m.start(), m.end()) for r in (_BLOCK_BANG_RE, _INLINE_BANG_RE, _CODE_RE) for m in r.finditer(body)]
    seen: dict[str, FileRef] = {}
    for m in _AT_RE.finditer(body):
        path = m.group(1).rstrip(".")
        if ("/" not in path and "." not in path) or any(a <= m.start() < b for a, b in bangs):
            continue
        seen.setdefault(path, FileRef(path, body_line + _line_of(body, m.start()) - 1))
    return list(seen.values())


def inline_files(refs: Sequence[FileRef], command_path: Path, root: str = ".") -> list[str]:
    """Each referenced file's contents under a header naming it.

    A reference to a missing file stays in the body as text, as Claude Code leaves an @ mention it
    cannot resolve, with a warning on stderr (the step's log).
    """
    out: list[str] = []
    for ref in refs:
        p = Path(root) / ref.path
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            print(f"slashmake: warning: {command_path}:{ref.line}: @{ref.path}: no such file; left as text "
                  "(paths are relative to the project root)", file=sys.stderr)
            continue
        fence = "````" if "```" in text else "```"
        out.append(f"### File: {ref.path}\n\n{fence}\n{text.rstrip()}\n{fence}")
    return out


# --------------------------------------------------------------------------- the prompt


@dataclass
class StepInput:
    """Upstream files under one name (``response``, ``metrics``...)."""

    name: str
    paths: list[str] = field(default_factory=list)


def metric_keys(cmd: Definition) -> tuple[list[str], str | None]:
    """The command's declared metric keys and its primary one."""
    metrics = cmd.slashmake.get("metrics")
    if not isinstance(metrics, dict):
        return [], None
    keys = metrics.get("keys") or []
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    keys = [str(k) for k in keys]
    primary = metrics.get("primary")
    return keys, (str(primary) if primary else (keys[0] if keys else None))


def _inputs_section(inputs: Sequence[StepInput]) -> list[str]:
    out = ["\n## Upstream inputs\n"]
    if not inputs:
        out.append("None: this step starts the flow.")
        return out
    out.append("Files written by the steps before this one (paths relative to the working directory):\n")
    for inp in inputs:
        for path in inp.paths:
            out.append(f"- `{inp.name}`: {path}")
    # The answers of the agent steps before this one are the hand-off: their text, not only a path.
    for inp in inputs:
        for path in inp.paths:
            if inp.name.startswith("response") or path.endswith(("/response.md", "/metrics.json")):
                text = Path(path).read_text(encoding="utf-8", errors="replace").rstrip()
                out.append(f"\n### {inp.name}: {path}\n\n{text}")
    return out


def render_prompt(
    cmd: Definition,
    droid: Definition | None,
    arguments: Sequence[str],
    inputs: Sequence[StepInput],
    params: Sequence[tuple[str, str]] = (),
    cwd: str | None = None,
) -> str:
    """The whole prompt of one step: role, task, body, parameters, inputs, answer format."""
    name = command_name(cmd)
    out: list[str] = []
    if droid is not None:
        out.append(f"# Role: {droid.name}")
        if droid.meta.get("description"):
            out.append(f"\n_{str(droid.meta['description']).strip()}_")
        if droid.body:
            out.append(f"\n{droid.body}")
        out.append("")
    invocation = "/" + name + (" " + raw_arguments(arguments) if arguments else "")
    out.append(f"# Task: {invocation}")
    if cmd.meta.get("description"):
        out.append(f"\n_{str(cmd.meta['description']).strip()}_")
    try:
        first = body_offset(cmd.path.read_text(encoding="utf-8"))
    except OSError:
        first = 1
    body = expand_body(cmd, arguments, cwd, first)
    if body:
        out.append(f"\n{body}")
    files = inline_files(file_references(cmd.body, first), cmd.path, cwd or ".")
    if files:
        out.append("\n## Referenced files\n")
        out.append("\n\n".join(files))
    if params:
        out.append("\n## Parameters\n")
        out.extend(f"- `{k}` = `{v}`" for k, v in params)
    out.extend(_inputs_section(inputs))
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
