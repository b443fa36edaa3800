"""Unit tests of the flow-language lexer."""

from __future__ import annotations

import pytest

from slashmake.errors import FlowSyntaxError, Source
from slashmake.language.lexer import tokenize


def toks(text: str) -> list[tuple[str, str]]:
    return [(t.kind, t.text) for t in tokenize(Source("<chain>", text))][:-1]  # drop EOF


def test_arrows() -> None:
    assert toks("/a → /b -> /c") == [
        ("/", "/"),
        ("WORD", "a"),
        ("ARROW", "→"),
        ("/", "/"),
        ("WORD", "b"),
        ("ARROW", "->"),
        ("/", "/"),
        ("WORD", "c"),
    ]
    # `->` ends a word even when nothing separates them; `→` is never part of a word
    assert toks("/a->/b→/c") == toks("/a -> /b → /c")
    assert toks("x-y->z") == [("WORD", "x-y"), ("ARROW", "->"), ("WORD", "z")]


def test_word_characters() -> None:
    assert toks("sigma-0.10,0.12;x") == [("WORD", "sigma-0.10,0.12;x")]
    # a slash inside a word is data (a path); a leading slash starts a call
    assert toks("/data/raw/x.csv") == [("/", "/"), ("WORD", "data/raw/x.csv")]
    assert toks("a(b)'c`d\\e") == [("WORD", "a(b)'c`d\\e")]


def test_strings_and_escapes() -> None:
    assert toks('"a b"') == [("STRING", "a b")]
    assert toks(r'"say \"hi\" c:\\d"') == [("STRING", 'say "hi" c:\\d')]
    assert toks(r'"\n stays"') == [("STRING", "\\n stays")]  # other backslashes are literal
    assert toks('"→ | [ ] $x\nnext"') == [("STRING", "→ | [ ] $x\nnext")]
    with pytest.raises(FlowSyntaxError, match="unterminated string") as info:
        list(tokenize(Source("<chain>", '/a:"open')))
    assert (info.value.span.start, info.value.span.end) == (3, 8)


def test_options() -> None:
    assert toks("--epochs 60 --dashboard") == [("OPTION", "epochs"), ("WORD", "60"), ("OPTION", "dashboard")]
    assert toks("--parameters sigma:0.1") == [
        ("OPTION", "parameters"),
        ("WORD", "sigma"),
        (":", ":"),
        ("WORD", "0.1"),
    ]
    assert toks("-3 -x") == [("WORD", "-3"), ("WORD", "-x")]  # one dash: a word (negative number)


def test_ops_and_punctuation() -> None:
    assert [k for k, _ in toks("a>=1 a<=1 a==1 a!=1 a>1 a<1")].count("OP") == 6
    assert [t for k, t in toks("a>=1 a<=1 a==1 a!=1 a>1 a<1") if k == "OP"] == [
        ">=",
        "<=",
        "==",
        "!=",
        ">",
        "<",
    ]
    assert toks("$x=<result>") == [("$", "$"), ("WORD", "x"), ("=", "="), ("RESULT", "<result>")]
    assert [k for k, _ in toks("parallel[a | b]:")] == ["WORD", "[", "WORD", "PIPE", "WORD", "]", ":"]


def test_spacing_and_spans() -> None:
    ts = list(tokenize(Source("<chain>", "/a:b  c")))
    assert [t.spaced for t in ts] == [True, False, False, False, True, True]  # ... c, EOF
    assert [(t.span.start, t.span.end) for t in ts] == [(0, 1), (1, 2), (2, 3), (3, 4), (6, 7), (7, 8)]


def test_unexpected_character() -> None:
    with pytest.raises(FlowSyntaxError, match="unexpected character '!'") as info:
        list(tokenize(Source("<chain>", "/a !b")))
    assert info.value.render().splitlines()[0] == "<chain>:1:4: unexpected character '!'"


def test_single_quotes_quote_like_double_quotes() -> None:
    assert toks("lr='c d'") == [("WORD", "lr"), ("=", "="), ("STRING", "c d")]
    assert toks(r"'it\'s \\ \"x\"'") == [("STRING", "it's \\ \\\"x\\\"")]  # only \' and \\ are escapes
    assert toks("'a\"b'") == [("STRING", 'a"b')]
    assert toks("it's") == [("WORD", "it's")]  # inside a word a quote is data
    with pytest.raises(FlowSyntaxError) as info:
        list(tokenize(Source("<chain>", "/a lr='open")))
    assert info.value.render().splitlines() == [
        "<chain>:1:7: unterminated string: missing closing \"'\"", "    /a lr='open", "          ^^^^^"]


@pytest.mark.slow
def test_a_single_quoted_value_reaches_the_program_as_one_argument(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", params={"lr": "x"}, shell="python toy_step.py a --out {output.report} -- {params.lr}")
    toy.slashmake("run", "/a lr='c d'")
    assert [r["args"] for r in toy.records()] == [["c d"]]
