"""Property tests of the flow-language parser.

* Trees generated from the grammar print (``unparse``) and parse back to an equal tree.
* Text mutations of valid chains either parse or fail with a positioned FlowError, never with a
  crash; a mutant that parses prints and re-parses to the same tree.
* Every seed chain of DESIGN.md parses and round-trips.

Budget: 10,200 generated cases (5,600 trees + 4,600 mutants), about 45 s of CPU on two cores.
"""

from __future__ import annotations

import functools
import re
import string

import pytest
from flow_seeds import ALL_SEEDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slashmake.errors import FlowError
from slashmake.language.nodes import Arg, Assign, Call, Flow, Gate, Option, Parallel, Sweep, Try, Var
from slashmake.language.parser import _NAME, KEYWORDS, is_number, parse
from slashmake.language.printer import fmt_arg, unparse

ROUNDTRIP_EXAMPLES = 5600
MUTATION_EXAMPLES = 4600

_SETTINGS = dict(
    deadline=None,
    database=None,  # no example database (Hypothesis still keeps its self-ignored .hypothesis/ cache)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# -- the grammar, as strategies -------------------------------------------------------------------

_FIXED_NAMES = [
    "a",
    "x",
    "init",
    "ml-train",
    "data.v2",
    "_p",
    "parallel",
    "result",
    "true",
    "iff",
    "end-",
    "e_",
]
_NAME_REST = "abcxyz09_.-"
# (from_regex would do, but is several times slower to draw from; these build the same shapes.)
names = st.one_of(
    st.sampled_from(_FIXED_NAMES),
    st.builds(str.__add__, st.sampled_from("aZ_q"), st.text(st.sampled_from(_NAME_REST), max_size=6)),
)
command_names = names.filter(lambda s: s not in KEYWORDS)
option_keys = st.builds(str.__add__, st.sampled_from("apz"), st.text(st.sampled_from("ab09_-"), max_size=6))
_digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=3)
numbers = st.one_of(
    st.sampled_from(["0", "1", "0.87", "-1", "+2.5", ".5", "5.", "1e-3", "2E+10", "300", "-0.0"]),
    st.builds(
        lambda sign, mant, exp: sign + mant + exp,
        st.sampled_from(["", "+", "-"]),
        st.one_of(_digits, st.builds("{}.{}".format, _digits, _digits), _digits.map(".".__add__)),
        st.one_of(st.just(""), _digits.map("e".__add__), _digits.map("E-".__add__)),
    ),
)

# Data that must survive printing: spaces, quotes, backslashes, `;`, `$(…)`, backticks, newlines,
# arrows, brackets, the `--` prefix, the `<result>` token, unicode.
_NASTY = [
    "",
    " ",
    "a b",
    '"',
    '\\"',
    "\\",
    "a\\",
    'say "hi"',
    "C:\\path\\x",
    "a;b",
    "rm -rf /; echo",
    "$(id)",
    "`id`",
    "$HOME",
    "line1\nline2",
    "\t",
    "→",
    "->",
    "a->b",
    "a-",
    "-",
    "-x",
    "--",
    "--x",
    "--x y",
    "<result>",
    "parallel",
    "parallel[a]",
    "a|b",
    "[x]",
    "k=v",
    "a:b",
    "sigma:0.10,0.12;lr:1e-3",
    "x>1",
    "!",
    "a/b",
    "/abs/path",
    "a/",
    "true",
    "é≈漢",
    "'single'",
    "#comment",
]
_word_alphabet = st.sampled_from(list("abcxyz019-_.,;/()'`\\#%^&*+~?@é"))
bare_words = st.text(_word_alphabet, min_size=1, max_size=8)
_any_alphabet = st.sampled_from(list("ab1 -_.,;/\\\"$()`\n\t→>|[]:=<!'é"))
any_text = st.text(_any_alphabet, max_size=10)
text_values = st.one_of(st.sampled_from(_NASTY), bare_words, any_text)

variables = st.builds(Var, names)
values = st.one_of(text_values, text_values, variables)  # Value = str | Var


def _arg(key: str | None, value: str | Var) -> Arg:
    return Arg(value, key=key)


args = st.builds(_arg, st.one_of(st.none(), names), values)
options = st.builds(Option, option_keys, st.one_of(st.none(), values))


@st.composite
def calls(draw, droid: bool = True, fallback: bool = False) -> Call:
    return Call(
        draw(command_names),
        draw(_arg_lists),
        draw(_option_lists),
        droid=draw(_droids) if droid else None,
        fallback=fallback,
    )


_arg_lists = st.lists(args, max_size=3).map(tuple)
_option_lists = st.lists(options, max_size=3).map(tuple)
_droids = st.one_of(st.none(), command_names)


plain_calls = calls()
fallback_calls = calls(droid=False, fallback=True)
# a sweep never repeats a value (the parser refuses a duplicate)
sweeps = st.builds(Sweep, plain_calls, st.lists(args, min_size=1, max_size=4, unique_by=fmt_arg).map(tuple))

_OPS = [">", ">=", "<", "<=", "==", "!="]


_metrics = st.one_of(names, variables)
_thresholds = st.one_of(numbers, st.sampled_from(["true", "false"]), variables)


@st.composite
def gate_heads(draw) -> tuple[str | Var, str | None, str | Var | None]:
    metric = draw(_metrics)
    if draw(st.booleans()):
        return metric, None, None
    op = draw(st.sampled_from(_OPS))
    threshold = draw(_thresholds)
    return metric, op, threshold


assigns = st.one_of(
    st.builds(Assign, names, st.just("const"), st.one_of(numbers, st.sampled_from(["true", "false"]))),
    st.builds(Assign, names, st.just("result"), st.just("<result>")),
    st.builds(Assign, names, st.just("metric"), names.filter(lambda s: s not in ("true", "false"))),
)
# r"[a-z][a-z0-9_-]{0,12}", built from characters (as names are, above)
try_labels = st.builds(str.__add__, st.sampled_from(string.ascii_lowercase),
                       st.text(st.sampled_from(string.ascii_lowercase + string.digits + "_-"), max_size=12))
leaf_stages = st.one_of(plain_calls, plain_calls, sweeps, assigns, fallback_calls)


@functools.cache  # build each strategy once: building is costly, drawing is not
def flows(depth: int, min_size: int = 1) -> st.SearchStrategy[Flow]:
    return st.lists(stages(depth), min_size=min_size, max_size=3).map(lambda s: Flow(tuple(s)))


@functools.cache
def stages(depth: int) -> st.SearchStrategy:
    if depth <= 0:
        return leaf_stages
    inner = depth - 1

    branch = flows(inner, min_size=0)
    maybe_branch = st.one_of(st.none(), branch)
    maybe_label = st.one_of(st.none(), try_labels)

    @st.composite
    def gates(draw) -> Gate:
        metric, op, threshold = draw(gate_heads())
        return Gate(metric, op, threshold, draw(branch), draw(maybe_branch))

    @st.composite
    def tries(draw) -> Try:
        call = draw(plain_calls)
        label = draw(maybe_label)
        catch = None if label is None else draw(branch)
        return Try(call, label, catch, draw(maybe_branch))

    parallels = st.lists(flows(inner), min_size=1, max_size=3).map(lambda b: Parallel(tuple(b)))
    return st.one_of(leaf_stages, leaf_stages, gates(), tries(), parallels)


trees = st.one_of(flows(0), flows(1), flows(2), flows(3))


# -- 1. printed trees parse back ------------------------------------------------------------------


@settings(max_examples=ROUNDTRIP_EXAMPLES, **_SETTINGS)
@given(trees)
def test_unparse_then_parse_is_identity(tree: Flow) -> None:
    """Slow (under a minute on CI): ROUNDTRIP_EXAMPLES generated trees, each printed and parsed back."""
    text = unparse(tree)
    try:
        again = parse(text)
    except FlowError as err:  # pragma: no cover - shown on failure
        raise AssertionError(f"printed tree does not parse:\n{text}\n{err.render()}") from err
    assert again == tree, text
    assert unparse(again) == text


# -- 2. mutated chains fail cleanly ---------------------------------------------------------------

_MUTATION_CHARS = list('→->|[]:"$<>=!/ -') + list("abz09_.\n")
_TOKEN = re.compile(r"→|->|--\w[\w-]*|[A-Za-z0-9_.-]+|\S")


@st.composite
def mutants(draw) -> str:
    text = draw(st.one_of(st.sampled_from(ALL_SEEDS), trees.map(unparse)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        how = draw(st.sampled_from(["delete", "insert", "replace", "swap", "truncate", "dup"]))
        n = len(text)
        if how == "swap":
            toks = [m.span() for m in _TOKEN.finditer(text)]
            if len(toks) >= 2:
                i = draw(st.integers(0, len(toks) - 2))
                j = draw(st.integers(i + 1, min(len(toks) - 1, i + 3)))
                (a0, a1), (b0, b1) = toks[i], toks[j]
                text = text[:a0] + text[b0:b1] + text[a1:b0] + text[a0:a1] + text[b1:]
            continue
        pos = draw(st.integers(0, n))
        if how == "truncate":
            text = text[:pos]
        elif how == "insert":
            text = (
                text[:pos]
                + draw(st.text(st.sampled_from(_MUTATION_CHARS), min_size=1, max_size=3))
                + text[pos:]
            )
        elif how == "dup" and n:
            end = draw(st.integers(pos, min(n, pos + 12)))
            text = text[:end] + text[pos:end] + text[end:]
        elif n:
            end = draw(st.integers(pos, min(n, pos + 3)))
            if how == "delete":
                text = text[:pos] + text[end:]
            else:
                text = text[:pos] + draw(st.sampled_from(_MUTATION_CHARS)) + text[end:]
    return text


_LOCATION = re.compile(r"^<chain>:(\d+):(\d+): ", re.M)


@settings(max_examples=MUTATION_EXAMPLES, **_SETTINGS)
@given(mutants())
def test_mutants_parse_or_fail_with_a_position(text: str) -> None:
    """Slow (under a minute on CI): MUTATION_EXAMPLES mutated chains, each parsed and, when it fails,
    its position and caret checked."""
    try:
        tree = parse(text)
    except FlowError as err:
        assert err.span is not None, f"no position for {err.message!r}"
        assert 0 <= err.span.start <= len(text), (err.span, len(text))
        assert err.span.start <= err.span.end
        rendered = err.render()
        m = _LOCATION.search(rendered)
        assert m, rendered
        before = text[: err.span.start]
        line, col = before.count("\n") + 1, err.span.start - (before.rfind("\n") + 1) + 1
        assert (int(m.group(1)), int(m.group(2))) == (line, col), rendered
        assert "^" in rendered.splitlines()[2]
        return
    # A chain that parses prints as one that parses to the same tree (idempotent printing).
    printed = unparse(tree)
    assert parse(printed) == tree, (text, printed)


# -- 3. the seed chains ---------------------------------------------------------------------------


@pytest.mark.parametrize("chain", ALL_SEEDS)
def test_seed_chain_parses_and_roundtrips(chain: str) -> None:
    tree = parse(chain)
    printed = unparse(tree)
    assert parse(printed) == tree
    assert parse(chain.replace("→", "->")) == tree  # both arrows


def test_strategy_generates_valid_names() -> None:
    """Sanity: the strategies' literals satisfy the grammar's side conditions."""
    assert all(_NAME.fullmatch(n) for n in _FIXED_NAMES)
    check = given(names, option_keys, numbers)(_check_literals)
    settings(max_examples=300, **_SETTINGS)(check)()


def _check_literals(name: str, key: str, number: str) -> None:
    assert _NAME.fullmatch(name)
    assert _NAME.fullmatch(key) and "->" not in key
    assert is_number(number)
