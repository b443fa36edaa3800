"""A hand-written lexer for slash-command chains.

Tokens remember whether whitespace came before them: ``backoff=300`` is one argument and
``--parameters sigma:0.1,0.2`` one option value only because their pieces touch.

Values quote as a shell user expects: ``"a b"`` and ``'a b'`` are one value each. A quote opens a
string only where a token starts (``lr='c d'``); inside a word it is data (``it's``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from slashmake.errors import FlowSyntaxError, Source, Span

ARROW, PIPE, LBRACK, RBRACK, COLON, SLASH, DOLLAR = "ARROW", "PIPE", "[", "]", ":", "/", "$"
WORD, STRING, OPTION, OP, EQ, RESULT, EOF = "WORD", "STRING", "OPTION", "OP", "=", "RESULT", "EOF"

# Characters that end a bare word; everything else (`;`, `(`, quotes...) is data inside one.
_BREAK = set(' \t\r\n→|[]:"$<>=!/')
_OPS = (">=", "<=", "==", "!=", ">", "<")


@dataclass(frozen=True)
class Token:
    """One token: its kind, its text (unescaped for strings), where it is, and what preceded it."""

    kind: str
    text: str
    span: Span
    spaced: bool  # whitespace (or the start of input) came right before it


def is_word_char(ch: str) -> bool:
    """True for a character that may appear in an unquoted word."""
    return ch not in _BREAK


def tokenize(source: Source) -> Iterator[Token]:
    """Split ``source`` into tokens, ending with EOF; raise FlowSyntaxError on a stray character."""
    text, i, n = source.text, 0, len(source.text)
    nul = text.find("\0")
    if nul >= 0:  # no program argument, file name or environment value can carry one
        raise FlowSyntaxError("a NUL byte cannot be part of a chain (no program argument can carry it)",
                              Span(source, nul, nul + 1))
    spaced = True
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            spaced = True
            continue
        start = i
        kind, value, i = _one(source, text, i)
        yield Token(kind, value, Span(source, start, i), spaced)
        spaced = False
    yield Token(EOF, "", Span(source, n, n + 1), True)


def _one(source: Source, text: str, i: int) -> tuple[str, str, int]:
    ch = text[i]
    if ch == "→":
        return ARROW, ch, i + 1
    if text.startswith("->", i):
        return ARROW, "->", i + 2
    if text.startswith("--", i) and i + 2 < len(text) and is_word_char(text[i + 2]):
        j = _word_end(text, i + 2)
        if j > i + 2:  # `--->` is `-` then an arrow, not an option with an empty name
            return OPTION, text[i + 2 : j], j
    if text.startswith("<result>", i):
        return RESULT, "<result>", i + 8
    for op in _OPS:
        if text.startswith(op, i):
            return OP, op, i + len(op)
    if ch in "|[]:/$=":
        return {"|": PIPE, "=": EQ}.get(ch, ch), ch, i + 1
    if ch in "\"'":
        return _string(source, text, i)
    if is_word_char(ch):
        j = _word_end(text, i)
        return WORD, text[i:j], j
    raise FlowSyntaxError(f"unexpected character {ch!r}", Span(source, i, i + 1))


def _word_end(text: str, i: int) -> int:
    # A slash inside a word is data (a path); only a leading slash starts a call.
    j = i
    while j < len(text) and (is_word_char(text[j]) or (text[j] == "/" and j > i)):
        if text.startswith("->", j):
            break
        j += 1
    return j


def _string(source: Source, text: str, i: int) -> tuple[str, str, int]:
    """A quoted value (``"..."`` or ``'...'``); a backslash escapes the quote or itself, else is literal."""
    quote = text[i]
    out: list[str] = []
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == "\\" and j + 1 < len(text) and text[j + 1] in (quote, "\\"):
            out.append(text[j + 1])
            j += 2
        elif ch == quote:
            return STRING, "".join(out), j + 1
        else:
            out.append(ch)
            j += 1
    raise FlowSyntaxError(f"unterminated string: missing closing {quote!r}", Span(source, i, len(text)))
