"""One error family for every user-facing failure, rendered as ``file:line:col: message`` with a caret.

Every error slashmake shows a user is a :class:`FlowError`: the CLI catches the root in one place,
prints :meth:`FlowError.show` and exits with :attr:`FlowError.exit_code` (a traceback only with
``--debug``). Subclasses say which stage failed; none needs its own handler.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import IO


@dataclass(frozen=True)
class Source:
    """Text that spans point into: a chain typed on the command line, a flow file, a definition.

    ``line_offset``/``col_offset`` place a chain embedded in another file (a macro's ``flow:``
    value inside a command file) at its real position there.
    """

    name: str
    text: str
    line_offset: int = 0
    col_offset: int = 0

    def newlines(self) -> list[int]:
        """The offsets of the text's line ends, computed once per source."""
        cached: list[int] | None = self.__dict__.get("_newlines")
        if cached is None:
            cached = [m.start() for m in re.finditer("\n", self.text)]
            object.__setattr__(self, "_newlines", cached)
        return cached


@dataclass(frozen=True)
class Span:
    """A half-open range of character offsets into a :class:`Source`."""

    source: Source = field(repr=False, compare=False)
    start: int
    end: int

    def position(self) -> tuple[int, int]:
        """1-based (line, column) of the span's start in the original file.

        From the source's line index (built once): a file with many warnings is read in linear time."""
        ends = self.source.newlines()
        line = bisect_left(ends, self.start)
        col = self.start - (ends[line - 1] + 1 if line else 0)
        if line == 0:
            col += self.source.col_offset
        return line + 1 + self.source.line_offset, col + 1

    def line_text(self) -> str:
        """The source line the span starts on (without the embedding file's prefix)."""
        text = self.source.text
        begin = text.rfind("\n", 0, self.start) + 1
        stop = text.find("\n", self.start)
        return text[begin : stop if stop >= 0 else len(text)]

    def merge(self, other: Span) -> Span:
        """The smallest span covering both."""
        return Span(self.source, min(self.start, other.start), max(self.end, other.end))


EXIT_FAILED = 1  # a user mistake or a failed run (usage errors exit 2, as click's own do)


class FlowError(Exception):
    """Root of every error slashmake reports to a user (never shown with a traceback).

    ``exit_code`` is the status the CLI exits with; ``show()`` prints it the way click prints its
    own errors (``Error: ...`` on standard error).
    """

    kind = "error"
    exit_code = EXIT_FAILED

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def position(self) -> str:
        """``file:line:col`` of the error, or ``''`` when it has no span."""
        if self.span is None:
            return ""
        line, col = self.span.position()
        return f"{self.span.source.name}:{line}:{col}"

    def one_line(self) -> str:
        """``file:line:col: message`` on one line (for a warning that names a bad file)."""
        where = self.position()
        first = self.message.splitlines()[0] if self.message else ""
        return f"{where}: {first}" if where else first

    def show(self, file: IO[str] | None = None) -> None:
        """Print ``Error: <render()>`` to ``file`` (standard error by default), as click does."""
        print(f"Error: {self.render()}", file=file if file is not None else sys.stderr)

    def render(self) -> str:
        """``file:line:col: message``, the source line, and a caret under the offending part."""
        if self.span is None:
            text = self.message
        else:
            line, col = self.span.position()
            src = self.span.line_text()
            local_col = self.span.start - (self.span.source.text.rfind("\n", 0, self.span.start) + 1)
            width = max(1, min(self.span.end, self.span.start + len(src) - local_col) - self.span.start)
            caret = " " * local_col + "^" * width
            text = f"{self.span.source.name}:{line}:{col}: {self.message}\n    {src}\n    {caret}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.render()


class FlowSyntaxError(FlowError):
    """The chain does not follow the grammar."""


class ResolveError(FlowError):
    """A name, argument or definition file is wrong."""


class CompileError(FlowError):
    """The chain is well-formed but cannot become a workflow (a gate after a sweep, a cycle...)."""


class RunError(FlowError):
    """Running the workflow failed (Snakemake, a service, an executor)."""


class DefinitionError(ResolveError):
    """A command, droid, skill or plugin file is wrong (reported with its file:line:col)."""


class ConfigError(FlowError):
    """``config/config.yaml`` is wrong (reported with its file:line:col)."""


class ToolsError(FlowError, ValueError):
    """A ``tools``/``allowed-tools`` value that cannot be read at all (wrong type)."""


def fail(cls: type[FlowError], message: str, span: Span | None = None, hint: str | None = None) -> FlowError:
    """Build the error that the caller raises: ``raise fail(ResolveError, "...", span)``."""
    return cls(message, span, hint)


def closest(name: str, known: list[str] | set[str], n: int = 3) -> str:
    """A ``did you mean ...?`` suffix listing the closest known names, or ``''``."""
    import difflib

    matches = difflib.get_close_matches(name, sorted(known), n=n, cutoff=0.5)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""
