"""``!`` commands of a command body: argument values reach bash as data, never as shell text.

Claude Code pastes ``$ARGUMENTS`` and ``$N`` into a ``!`` line as text. Pasting (even quoted one
value at a time) is unsafe wherever the author put the placeholder inside quotes of their own
(``--grep="$ARGUMENTS"``, ``'…$0…'``): the quoting of the value and of the text around it combine,
and ``$(…)`` from an argument runs. So slashmake never pastes a value. The values travel to bash on
an inherited pipe, NUL-separated, into the array ``SLASHMAKE_ARG`` (no size limit of argv or the
environment applies), and each placeholder becomes a reference to that array, written for the
quoting context it stands in:

=================  ======================================  ===================================
context            ``$N`` becomes                           ``$ARGUMENTS`` becomes
=================  ======================================  ===================================
unquoted           ``"${SLASHMAKE_ARG[N]-}"``              ``"${SLASHMAKE_ARG[@]}"`` (one word each)
``"…"``            ``${SLASHMAKE_ARG[N]-}``                ``${SLASHMAKE_ARG[*]}`` (space-joined)
``'…'``            ``'"${SLASHMAKE_ARG[N]-}"'``            ``'"${SLASHMAKE_ARG[*]}"'``
``$'…'``           ``'"${SLASHMAKE_ARG[N]-}"$'``           ``'"${SLASHMAKE_ARG[*]}"$'``
here-document      ``${SLASHMAKE_ARG[N]-}``                ``${SLASHMAKE_ARG[*]}``
=================  ======================================  ===================================

A parameter expansion's result is never parsed again as shell text, so a value holding ``;``,
``$(…)``, backticks, quotes or newlines is printed, never run, whatever the context. Inside a
quoted here-document (``<<'EOF'``) nothing expands; a value without a newline is written there as
text (it cannot end the document), and one with a newline fails the step.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Sequence

from slashmake.agents.errors import AgentError

ARRAY = "SLASHMAKE_ARG"
TAIL = 2000
# $ARGUMENTS[N], $ARGUMENTS, $N, $name: the placeholders prompt.fill_arguments knows.
_ARG_RE = re.compile(r"\$ARGUMENTS\[(\d+)\]|\$ARGUMENTS\b|\$(\d+)|\$([A-Za-z_][A-Za-z0-9_-]*)")
_HEREDOC_RE = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]+)'|\"([^\"\n]+)\"|\\?([A-Za-z_][\w.-]*))")


def _contexts(script: str) -> list[str]:
    """The quoting context of each character of ``script``: top, dq, sq, ansi, doc (expanding
    here-document), lit (quoted here-document) or comment."""
    ctx = ["top"] * len(script)
    stack: list[str] = ["top"]  # top, dq, sq, ansi, bt (backticks), cs ($( … ))
    pending: list[tuple[str, bool, bool]] = []  # here-documents opened on the current line
    i, n = 0, len(script)
    while i < n:
        c, state = script[i], stack[-1]
        if c == "\n" and pending and state in ("top", "cs", "bt"):
            i = _heredoc_bodies(script, i + 1, pending, ctx)
            pending = []
            continue
        ctx[i] = {"bt": "top", "cs": "top"}.get(state, state)
        if state == "sq":
            if c == "'":
                stack.pop()
        elif state == "ansi":
            if c == "\\":
                i += 1
            elif c == "'":
                stack.pop()
        elif state == "dq":
            if c == "\\":
                i += 1
            elif c == '"':
                stack.pop()
            elif script.startswith("$(", i):
                stack.append("cs")
                i += 1
            elif c == "`":
                stack.append("bt")
        else:  # top, cs, bt: unquoted shell text
            if c == "\\":
                i += 1
            elif c == "'":
                stack.append("sq")
            elif script.startswith("$'", i):
                stack.append("ansi")
                i += 1
            elif c == '"':
                stack.append("dq")
            elif script.startswith("$(", i):
                stack.append("cs")
                i += 1
            elif c == ")" and state == "cs":
                stack.pop()
            elif c == "`":
                if state == "bt":
                    stack.pop()
                else:
                    stack.append("bt")
            elif c == "#" and (i == 0 or script[i - 1] in " \t\n;&|("):
                end = script.find("\n", i)
                end = n if end < 0 else end
                ctx[i:end] = ["comment"] * (end - i)
                i = end
                continue
            elif (m := _HEREDOC_RE.match(script, i)) is not None:
                word = m.group(2) or m.group(3) or m.group(4)
                quoted = m.group(2) is not None or m.group(3) is not None or m.group(0).find("\\") >= 0
                pending.append((word, quoted, m.group(1) == "-"))
                i = m.end()
                continue
        i += 1
    return ctx


def _heredoc_bodies(script: str, i: int, pending: list[tuple[str, bool, bool]], ctx: list[str]) -> int:
    """Mark the bodies of the here-documents opened on the line before ``i``; where the text goes on."""
    for word, quoted, strip_tabs in pending:
        while i < len(script):
            end = script.find("\n", i)
            end = len(script) if end < 0 else end
            line = script[i:end]
            if (line.lstrip("\t") if strip_tabs else line) == word:
                i = end + 1
                break
            ctx[i:end + 1] = ["lit" if quoted else "doc"] * (end + 1 - i)
            i = end + 1
    return i


def to_shell(script: str, arguments: Sequence[str], names: Sequence[str] = ()) -> str:
    """``script`` with each argument placeholder replaced by a reference to ``SLASHMAKE_ARG``."""
    ctx = _contexts(script)
    out: list[str] = []
    last = 0
    for m in _ARG_RE.finditer(script):
        where = ctx[m.start()] if m.start() < len(ctx) else "top"
        if m.group(3) is not None and m.group(3) not in names or where == "comment":
            continue  # $HOME, $PATH: the shell's own; a comment runs nothing
        index: int | None
        if m.group(1) is not None or m.group(2) is not None:
            index = int(m.group(1) if m.group(1) is not None else m.group(2))
        elif m.group(3) is not None:
            index = list(names).index(m.group(3))
        else:
            index = None  # all of them
        out.append(script[last:m.start()])
        out.append(_reference(where, index, arguments))
        last = m.end()
    out.append(script[last:])
    return "".join(out)


def _reference(where: str, index: int | None, arguments: Sequence[str]) -> str:
    if where == "lit":  # nothing expands in a quoted here-document: the value is text there
        value = (arguments[index] if index is not None and index < len(arguments) else "") if index is not None \
            else " ".join(arguments)
        if "\n" in value:
            raise AgentError("an argument with a newline cannot be placed inside a quoted here-document "
                             "(<<'EOF'): it could end the document")
        return value
    one = f"${{{ARRAY}[{index}]-}}" if index is not None else f"${{{ARRAY}[*]}}"
    if where == "top":
        return f'"${{{ARRAY}[@]}}"' if index is None else f'"{one}"'
    if where == "sq":
        return f"'\"{one}\"'"
    if where == "ansi":
        return f"'\"{one}\"$'"
    return one  # dq, doc


def run_bang(script: str, arguments: Sequence[str], names: Sequence[str], where: str,
             cwd: str | None = None, timeout: float = 30.0) -> str:
    """Run one ``!`` command in bash from the project root, the arguments as data; its stdout."""
    for value in arguments:
        if "\0" in value:
            raise AgentError(f"{where}: an argument holds a NUL byte, which no program argument can carry")
    text = to_shell(script, arguments, names)
    rfd, wfd = os.pipe()
    # The fd number is ours, not the user's: the array is read before the script's first line.
    prelude = f"mapfile -d '' -t {ARRAY} <&{rfd}; exec {rfd}<&-\n"
    data = b"".join(a.encode("utf-8", "surrogateescape") + b"\0" for a in arguments)

    def feed() -> None:
        try:
            with os.fdopen(wfd, "wb") as fh:
                fh.write(data)
        except OSError:
            pass  # bash stopped before reading: its exit status says why

    writer = threading.Thread(target=feed, daemon=True)
    try:
        proc = subprocess.Popen(  # noqa: S603 - bash runs the command file's text; arguments come on a pipe
            ["bash", "-c", prelude + text], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, pass_fds=(rfd,), text=True,
        )
    except OSError as exc:
        os.close(wfd)
        raise AgentError(f"{where}: the ! command could not start: {exc.strerror}") from None
    finally:
        os.close(rfd)
    writer.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AgentError(f"{where}: the ! command timed out after {timeout:g}s: {script.strip()}\n"
                         f"end of its stderr:\n{tail(err)}") from None
    finally:
        writer.join(timeout=5)
    if proc.returncode != 0:
        raise AgentError(f"{where}: the ! command exited with status {proc.returncode}: {script.strip()}\n"
                         f"end of its stderr:\n{tail(err)}")
    return out.rstrip("\n")


def tail(text: str) -> str:
    """The end of a program's stderr, for an error message."""
    text = text.strip()
    if not text:
        return "(stderr was empty)"
    return ("..." + text[-TAIL:]) if len(text) > TAIL else text
