"""Example-based tests of the flow-language parser: the tree of every seed chain of the language
reference (docs/language.md), the printer, and the exact position and caret of each syntax error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flow_seeds import INTRO_CHAIN, SEED_CHAINS, SEED_MACROS

from slashmake.errors import FlowError, FlowSyntaxError
from slashmake.language.nodes import Arg, Assign, Call, Flow, Gate, Option, Parallel, Sweep, Try, Var
from slashmake.language.parser import parse
from slashmake.language.printer import unparse


def C(
    name: str, *args: str | Arg, droid: str | None = None, fallback: bool = False, **opts: str | None
) -> Call:
    """A call; plain strings are positional args, keyword arguments are --options (`_` -> `-`)."""
    return Call(
        name,
        tuple(a if isinstance(a, Arg) else Arg(a) for a in args),
        tuple(Option(k.replace("_", "-"), v) for k, v in opts.items()),
        droid=droid,
        fallback=fallback,
    )


def F(*stages) -> Flow:
    return Flow(tuple(stages))


def gate(metric, op=None, threshold=None, then=(), orelse=None) -> Gate:
    return Gate(metric, op, threshold, F(*then), None if orelse is None else F(*orelse))


# -- the seed chains --------------------------------------------------------------------------------

SEED_TREES = {
    SEED_CHAINS[0]: F(
        C("init"),
        C("data-validate"),
        C("ml-train"),
        C("ml-evaluate"),
        gate("acc", ">", "0.87", then=[C("ml-deploy")]),  # then-branch runs to the end of the flow
    ),
    SEED_CHAINS[1]: F(
        Sweep(C("runpod-experiment"), (Arg("sigma-0.10"), Arg("sigma-0.12"), Arg("sigma-0.15"))),
        C("results", "aggregate"),
    ),
    SEED_CHAINS[2]: F(
        C("analyze"),
        Assign("model_score", "const", "0.87"),
        gate(Var("model_score"), ">", "0.85", then=[C("deploy")], orelse=[C("optimize")]),
    ),
    SEED_CHAINS[3]: F(
        C("analyze-data"),
        Assign("data_quality", "result", "<result>"),
        gate(Var("data_quality"), ">", "0.8", then=[C("ml-train")], orelse=[C("data-cleanup")]),
    ),
    # A Try with its label, a catch flow holding the fallback call, and an else (success) flow.
    SEED_CHAINS[4]: F(
        Try(C("train"), "training-failed", F(C("use-backup", fallback=True)), F(C("continue"))),
    ),
    # Everything after /catch: is the catch branch (there is no /else or /end).
    SEED_CHAINS[5]: F(
        Try(
            C("deploy"), "deployment-failed", F(C("rollback"), C("notify-team"), C("retry-deployment")), None
        ),
    ),
    SEED_CHAINS[6]: F(
        C("train-with-retry", "3", Arg("300", key="backoff")),
        gate("success", then=[C("deploy")], orelse=[C("escalate")]),
    ),
    SEED_CHAINS[7]: F(
        Parallel(
            (
                F(C("analyze-model-architecture", droid="ml-production-engineer")),
                F(C("validate-data-pipeline", droid="data-infrastructure-engineer")),
                F(C("setup-monitoring", droid="ml-observability-monitoring-engineer")),
            )
        ),
        C("aggregate", "analysis-results"),
        C("plan", "next-steps"),
    ),
    # With a slash, `droid:cmd` is syntactically `/a:b` (== `/a b`); resolution decides later.
    SEED_CHAINS[8]: F(
        C("data-infrastructure-engineer", "data-quality-check"),
        C("ml-production-engineer", "model-optimization"),
        C("ml-observability-monitoring-engineer", "monitoring-setup"),
    ),
    # /else binds to the nearest open gate: /continue-monitoring is the else of better-performance,
    # and the drift-detected gate has no else.
    SEED_CHAINS[9]: F(
        C("monitor-performance"),
        gate(
            "drift-detected",
            then=[
                C("data-refresh"),
                C("retrain"),
                C("evaluate"),
                gate(
                    "better-performance", then=[C("deploy"), C("monitor")], orelse=[C("continue-monitoring")]
                ),
            ],
        ),
    ),
    # The grid is one option value; `--parallel 4` is a separate option.
    SEED_CHAINS[10]: F(C("runpod-hpo", parameters="sigma:0.10,0.12,0.15", parallel="4")),
    SEED_CHAINS[11]: F(C("ml-train", model="simple_lstm", device="cuda", epochs="60")),
    INTRO_CHAIN: F(
        C("init"),
        C("data-validate"),
        C("ml-train"),
        C("ml-evaluate"),
        gate("accuracy", ">", "0.87", then=[C("ml-deploy")], orelse=[C("hyperparameter-tune")]),
    ),
}


def _calls(*names: str) -> list[Call]:
    return [C(n) for n in names]


MACRO_TREES = {
    "/ml-pipeline-full": F(
        *_calls("init", "data-validate", "feature-engineer", "ml-train", "ml-evaluate"),
        # /retrain follows /hyperparameter-tune inside the else-branch (no /end closes the gate).
        gate("accuracy", ">", "0.87", then=[C("ml-deploy")], orelse=_calls("hyperparameter-tune", "retrain")),
    ),
    "/runpod-hpo-parallel": F(
        C("runpod-setup"),
        Parallel(tuple(F(C("train", f"sigma-{s}")) for s in ("0.10", "0.12", "0.15", "0.20"))),
        C("results", "aggregate"),
        C("best-model", "select"),
        gate("best-acc", ">", "0.90", then=[C("deploy")], orelse=[C("analyze-failures")]),
    ),
    "/deploy-production": F(
        *_calls("code-review", "security-scan", "performance-test", "runpod-staging"),
        gate("tests-pass", then=_calls("runpod-production", "monitor-setup"), orelse=[C("rollback")]),
    ),
    "/continuous-training": SEED_TREES[SEED_CHAINS[9]],
    "/lstm-pretraining-full": F(
        *_calls(
            "data-validate", "preprocess-time-series", "pretrain-bilstm", "fine-tune-simplelstm", "evaluate"
        ),
        gate("acc", ">", "0.87", then=_calls("deploy", "benchmark")),
    ),
    "/pretraining-complete": F(*_calls("preprocess", "pretrain", "fine-tune", "evaluate", "deploy")),
    "/parallel-analysis": SEED_TREES[SEED_CHAINS[7]],
}


@pytest.mark.parametrize("chain", list(SEED_TREES))
def test_seed_chain_tree(chain: str) -> None:
    assert parse(chain) == SEED_TREES[chain]
    assert parse(unparse(SEED_TREES[chain])) == SEED_TREES[chain]


@pytest.mark.parametrize("name", list(SEED_MACROS))
def test_seed_macro_tree(name: str) -> None:
    assert parse(SEED_MACROS[name]) == MACRO_TREES[name]


def test_every_seed_is_pinned() -> None:
    assert set(SEED_TREES) == {*SEED_CHAINS, INTRO_CHAIN}
    assert set(MACRO_TREES) == set(SEED_MACROS)


# -- meaning of the notation ------------------------------------------------------------------------


def test_colon_and_space_arguments_are_the_same() -> None:
    assert parse("/a:b:c") == parse("/a b c") == F(C("a", "b", "c"))
    assert parse("/a:b c") == F(C("a", "b", "c"))


def test_both_arrows() -> None:
    assert parse("/a -> /b→/c") == parse("/a → /b → /c") == F(C("a"), C("b"), C("c"))
    assert parse("/a->/b") == F(C("a"), C("b"))  # `->` ends a word even without spaces


def test_keyed_arguments_and_variables() -> None:
    assert parse("/x-with-retry:3:backoff=300") == F(C("x-with-retry", "3", Arg("300", key="backoff")))
    assert parse('/t lr=$best note="a b" $v') == F(
        C("t", Arg(Var("best"), key="lr"), Arg("a b", key="note"), Arg(Var("v")))
    )


def test_options() -> None:
    assert parse("/a --dashboard") == F(C("a", dashboard=None))  # bare option: value None (= true)
    assert parse('/a --msg "hello world" --n -3 --v $x') == F(
        Call("a", (), (Option("msg", "hello world"), Option("n", "-3"), Option("v", Var("x"))))
    )
    # touching pieces join into one value: `:` `=` words and strings
    assert parse('/a --grid k:1,2;j=3"x y"') == F(C("a", grid="k:1,2;j=3x y"))


def test_values_are_data() -> None:
    tree = parse('/run:"$(rm -rf /); `id`" --cmd "a \\"b\\" c\\\\d"')
    assert tree == F(Call("run", (Arg("$(rm -rf /); `id`"),), (Option("cmd", 'a "b" c\\d'),)))
    # `;`, `(`, `'` and `/` inside a bare word are data too
    assert parse("/a:x;y(z)'w/v") == F(C("a", "x;y(z)'w/v"))


def test_end_joins_branches() -> None:
    assert parse("/if:ok → /a → /else → /b → /end → /c") == F(
        gate("ok", then=[C("a")], orelse=[C("b")]), C("c")
    )
    assert parse("/if:ok → /end → /c") == F(gate("ok"), C("c"))  # empty then-branch passes through


def test_nested_gates_and_else_binding() -> None:
    # the second /else belongs to the outer gate once the inner one has had its /else
    text = "/if:a → /if:b → /x → /else → /y → /else → /z"
    assert parse(text) == F(gate("a", then=[gate("b", then=[C("x")], orelse=[C("y")])], orelse=[C("z")]))
    # with /end closing the inner gate, /else goes to the outer one
    assert parse("/if:a → /if:b → /x → /end → /else → /z") == F(
        gate("a", then=[gate("b", then=[C("x")])], orelse=[C("z")])
    )


def test_gate_forms() -> None:
    assert parse("/if:$m>=$t") == F(gate(Var("m"), ">=", Var("t")))
    assert parse("/if:passed==true") == F(gate("passed", "==", "true"))
    assert parse("/if:loss<1e-3") == F(gate("loss", "<", "1e-3"))
    assert parse("/if:loss <= -0.5") == F(gate("loss", "<=", "-0.5"))
    assert parse("/if:flag!=false") == F(gate("flag", "!=", "false"))


def test_assign_kinds() -> None:
    assert parse("$a=0.9 → $b=true → $c=<result> → $d=val_loss") == F(
        Assign("a", "const", "0.9"),
        Assign("b", "const", "true"),
        Assign("c", "result", "<result>"),
        Assign("d", "metric", "val_loss"),
    )


def test_try_forms() -> None:
    assert parse("/try:/a → /end") == F(Try(C("a"), None, None, None))
    assert parse("/try:/a → /b") == F(Try(C("a"), None, None, None), C("b"))  # no catch/else: a plain try
    assert parse("/try:/a → /else → /b") == F(Try(C("a"), None, None, F(C("b"))))
    assert parse("/try:d:a:x → /catch:oops → /end → /z") == F(
        Try(C("a", "x", droid="d"), "oops", F(), None), C("z")
    )


def test_parallel_and_sweep() -> None:
    assert parse("parallel[/a → /b | d:c]") == F(Parallel((F(C("a"), C("b")), F(C("c", droid="d")))))
    assert parse("d:c --n 1 parallel[k=1 | $v]") == F(
        Sweep(C("c", droid="d", n="1"), (Arg("1", key="k"), Arg(Var("v"))))
    )
    # a gate left open inside a branch closes at the branch's end
    assert parse("parallel[/if:ok → /a | /b] → /c") == F(
        Parallel((F(gate("ok", then=[C("a")])), F(C("b")))), C("c")
    )


def test_unparse_quotes_only_what_needs_it() -> None:
    tree = F(C("a", "plain-1.0,x/y", "a b", "--x", "", 'q"\\', opt="->"), Assign("v", "metric", "acc"))
    assert unparse(tree) == '/a:plain-1.0,x/y:"a b":"--x":"":"q\\"\\\\" --opt "->" → $v=acc'
    assert parse(unparse(tree)) == tree


# -- syntax errors: position and caret ---------------------------------------------------------------

ERRORS = [
    # missing slash
    ("/a → b", 1, 6, "'b' is not a stage: a command starts with '/' (did you mean /b?)", "     ^"),
    # unterminated string: the caret covers the string to the end of the line
    ('/a → /b:"oops', 1, 9, "unterminated string: missing closing '\"'", "        ^^^^^"),
    # double arrow
    ("/a → → /b", 1, 6, "expected a stage (a /command), found '→'", "     ^"),
    ("/a -> -> /b", 1, 7, "expected a stage (a /command), found '->'", "      ^^"),
    ("/a → /if:x →", 1, 13, "expected a stage (a /command), found the end of the chain", "            ^"),
    # block markers out of place
    ("/a → /end", 1, 6, "/end without an open /if or /try", "     ^^^^"),
    ("/a → /else → /b", 1, 6, "/else without an open /if or /try", "     ^^^^^"),
    ("/a → /catch:x", 1, 6, "/catch must follow a /try:... stage directly", "     ^^^^^^"),
    (
        "/try:/a → /b → /catch:x",
        1,
        16,
        "/catch must follow a /try:... stage directly",
        "               ^^^^^^",
    ),
    ("/else:x", 1, 6, "/else takes no argument", "     ^"),
    ("/if acc", 1, 5, "expected ':' after /if, found 'acc'", "    ^^^"),
    ("/try:x", 1, 6, "expected a /command, found 'x'", "     ^"),
    (
        "/a → /fallback:",
        1,
        16,
        "expected a command name after /fallback:, found the end of the chain",
        "               ^",
    ),
    # bad thresholds
    ("/if:acc>high → /b", 1, 9, "'high' is not a number, true, false or $variable", "        ^^^^"),
    ("/if:acc>0.8.1", 1, 9, "'0.8.1' is not a number, true, false or $variable", "        ^^^^^"),
    ("/if:acc=0.8", 1, 8, "use '==' to compare in a gate", "       ^"),
    (
        "/if:acc>",
        1,
        9,
        "expected a number, true, false or $variable after the comparison, found the end of the chain",
        "        ^",
    ),
    # a variable alone is not a stage
    (
        "/a → $x",
        1,
        8,
        "expected '=' after $x (a variable alone is not a stage), found the end of the chain",
        "       ^",
    ),
    ("/a → $x → /b", 1, 9, "expected '=' after $x (a variable alone is not a stage), found '→'", "        ^"),
    ("$=1", 1, 2, "expected a variable name after '$', found '='", " ^"),
    ('$x="s"', 1, 4, "expected a number, true, false, <result> or a metric name, found 's'", "   ^^^"),
    # unexpected characters
    ("/a ! /b", 1, 4, "unexpected character '!'", "   ^"),
    ("/a → /b!", 1, 8, "unexpected character '!'", "       ^"),
    # empty chain
    ("", 1, 1, "expected a stage (a /command), found the end of the chain", "^"),
    ("   ", 1, 4, "expected a stage (a /command), found the end of the chain", "   ^"),
    # parallel[ unclosed / empty
    (
        "parallel[/a | /b",
        1,
        17,
        "expected '|' or ']' in parallel[...], found the end of the chain",
        "                ^",
    ),
    (
        "/a parallel[x | y",
        1,
        18,
        "expected '|' or ']' in parallel[...], found the end of the chain",
        "                 ^",
    ),
    ("parallel[]", 1, 10, "expected a stage (a /command), found ']'", "         ^"),
    ("parallel[/a | ]", 1, 15, "expected a stage (a /command), found ']'", "              ^"),
    # names and arguments
    ("/ a", 1, 3, "expected a command name right after '/', found 'a'", "  ^"),
    ("/a:b --x 1 c", 1, 12, "unexpected 'c': arguments go before --options", "           ^"),
    ("/a b:c", 1, 5, "unexpected ':': write the arguments as /cmd:a:b or as /cmd a b, not both", "    ^"),
    ("/a:=x", 1, 4, "expected a value, found '='", "   ^"),
    ("/a:x=", 1, 6, "expected a value right after '=', found the end of the chain", "     ^"),
    ("/a:x= y", 1, 7, "expected a value right after '=', found 'y'", "      ^"),
    ("$x=a b", 1, 6, "expected '→' between stages, found 'b'", "     ^"),
    # multi-line chains: line and column are of the offending line
    ("/a\n→ b", 2, 3, "'b' is not a stage: a command starts with '/' (did you mean /b?)", "  ^"),
    ('/a\n  → /b:"x', 2, 8, "unterminated string: missing closing '\"'", "       ^^"),
    ("/a\n→ /if:acc>oops", 2, 11, "'oops' is not a number, true, false or $variable", "          ^^^^"),
]


@pytest.mark.parametrize(
    ("text", "line", "col", "message", "caret"), ERRORS, ids=[repr(e[0]) for e in ERRORS]
)
def test_syntax_error_position_and_caret(text: str, line: int, col: int, message: str, caret: str) -> None:
    with pytest.raises(FlowSyntaxError) as info:
        parse(text)
    rendered = info.value.render()
    head, src, mark = rendered.splitlines()[:3]
    assert head == f"<chain>:{line}:{col}: {message}"
    assert src == "    " + text.splitlines()[line - 1] if text else src == "    "
    assert mark == "    " + caret
    assert isinstance(info.value, FlowError)


def test_error_position_in_an_embedding_file() -> None:
    """A macro's flow inside a command file reports the file's line and column."""
    with pytest.raises(FlowSyntaxError) as info:
        parse("/a → b", name="workflow/commands/m.md", line_offset=3, col_offset=6)
    assert info.value.render().splitlines()[0].startswith("workflow/commands/m.md:4:12: ")
    with pytest.raises(FlowSyntaxError) as info:
        parse("/a\n→ b", name="m.md", line_offset=3, col_offset=6)
    # col_offset applies to the first line only
    assert info.value.render().splitlines()[0].startswith("m.md:5:3: ")


# -- regressions: bugs the property tests found -----------------------------------------------------


@pytest.mark.parametrize("metric", ["drift-", Var("x-")])
@pytest.mark.parametrize("op", [">", ">="])
def test_gate_metric_ending_in_dash_roundtrips(metric, op) -> None:
    tree = F(gate(metric, op, "0.5", then=[C("a")]))
    assert (
        parse("/if:" + (f"${metric.name}" if isinstance(metric, Var) else metric) + f" {op} 0.5 → /a") == tree
    )
    assert parse(unparse(tree)) == tree


def test_dashes_before_an_arrow_are_not_an_empty_option() -> None:
    try:
        tree = parse("/a ---> /b")
    except FlowSyntaxError:
        return  # an error is a fine answer
    assert all(o.key for o in tree.stages[0].options), tree  # today: Option(key='')
    assert parse(unparse(tree)) == tree  # today: prints `/a -- → /b`, which reads `--` as an argument


@pytest.mark.parametrize("text", ["/ if:ok → /a", "/if:ok → /a → / else → /b", "/if:ok → / end"])
def test_slash_must_touch_a_keyword(text: str) -> None:
    with pytest.raises(FlowSyntaxError, match="right after '/'"):
        parse(text)


def _parallel_depth(flow: Flow) -> int:
    """How many parallel[ brackets nest in ``flow`` (walked with a loop: the tree is 1,000 deep)."""
    depth, node = 0, flow.stages[0]
    while isinstance(node, Parallel):
        depth += 1
        node = node.branches[0].stages[0]
    return depth


def test_parallel_nests_to_the_limit_and_the_next_bracket_is_a_positioned_error() -> None:
    from slashmake.language.parser import MAX_NESTING

    assert MAX_NESTING == 1000  # the README's promise: 1,000 deep parse, the 1,001st is the error
    assert _parallel_depth(parse("parallel[" * 1000 + "/a" + "]" * 1000)) == 1000
    with pytest.raises(FlowSyntaxError) as err:
        parse("parallel[" * 1001 + "/a" + "]" * 1001)
    # The error points at the 1,001st `parallel[` (9 characters each), never a RecursionError.
    assert err.value.span is not None and err.value.span.position() == (1, 1000 * 9 + 1)
    assert "nested more than 1000 deep" in err.value.message
    rendered = err.value.render()
    assert rendered.startswith("<chain>:1:9001: parallel[...] nested more than 1000 deep"), rendered[:200]
    # /if nests to the same limit: the 1,001st gate is the error, at its own column.
    gates = "/a → " + "/if:x>0 → " * 1001 + "/b" + " → /end" * 1001
    with pytest.raises(FlowSyntaxError) as err:
        parse(gates)
    assert err.value.span is not None
    assert err.value.span.position() == (1, len("/a → ") + 1000 * len("/if:x>0 → ") + 1)
    assert parse("/a → " + "/if:x>0 → " * 1000 + "/b" + " → /end" * 1000)  # and 1,000 gates parse


# -- the language reference (docs/language.md) ------------------------------------------------------

LANGUAGE_MD = Path(__file__).resolve().parent.parent / "docs" / "language.md"


def _reference_examples() -> tuple[list[str], dict[str, str]]:
    """The chains and the macros (name, flow) of the reference's Examples section."""
    section = LANGUAGE_MD.read_text().split("\n## Examples\n")[1].split("\n## ")[0]
    blocks = [ln[4:] for ln in section.splitlines() if ln.startswith("    ") and not ln.startswith("     ")]
    macro = re.compile(r"(/[\w-]+) {2,}(.*)")
    chains = [b for b in blocks if not macro.fullmatch(b)]
    macros = dict(m.groups() for b in blocks if (m := macro.fullmatch(b)))
    return chains, macros


def test_the_language_reference_shows_the_seed_chains_and_macros() -> None:
    chains, macros = _reference_examples()
    assert chains == [INTRO_CHAIN, *SEED_CHAINS]
    assert macros == SEED_MACROS


def test_every_example_of_the_language_reference_parses() -> None:
    chains, macros = _reference_examples()
    for chain in [*chains, *macros.values()]:
        assert parse(unparse(parse(chain))) == parse(chain)


def test_the_language_reference_describes_every_construct() -> None:
    text = LANGUAGE_MD.read_text()
    for heading in ("Arrow", "Calls and names", "Arguments and options", "Sweeps", "Parallel sub-flows", "Gates",
                    "Variables", "Try", "Retries", "Needs and macros", "Rule names"):
        assert f"\n### {heading}" in text or f"\n## {heading}" in text, heading
