"""One error family for every user mistake, rendered as ``file:line:col: message`` with a caret."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class Span:
    """A half-open range of character offsets into a :class:`Source`."""

    source: Source = field(repr=False, compare=False)
    start: int
    end: int

    def position(self) -> tuple[int, int]:
        """1-based (line, column) of the span's start in the original file."""
        before = self.source.text[: self.start]
        line = before.count("\n")
        col = self.start - (before.rfind("\n") + 1)
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


class FlowError(Exception):
    """Root of every error slashmake reports to a user (never shown with a traceback)."""

    kind = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

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


def fail(cls: type[FlowError], message: str, span: Span | None = None, hint: str | None = None) -> FlowError:
    """Build the error that the caller raises: ``raise fail(ResolveError, "...", span)``."""
    return cls(message, span, hint)


def closest(name: str, known: list[str] | set[str], n: int = 3) -> str:
    """A ``did you mean ...?`` suffix listing the closest known names, or ``''``."""
    import difflib

    matches = difflib.get_close_matches(name, sorted(known), n=n, cutoff=0.5)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""
