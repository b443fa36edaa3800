"""Stage 1 of resolving (src/slashmake/compiler/desugar.py): every shorthand becomes the construct it abbreviates."""

from __future__ import annotations

import pytest

from slashmake.compiler.desugar import (
    Retry,
    grid,
    is_success_gate,
    key_number,
    parallel_as_sweep,
    pass_through,
    stages,
    strip_retry,
)
from slashmake.errors import ResolveError
from slashmake.language.nodes import Arg, Call, Flow, Gate, Option, Parallel, Try
from slashmake.language.parser import parse


def test_a_success_gate_after_a_step_is_a_try_with_the_branches_swapped() -> None:
    [only] = stages(parse("/train → /if:success → /deploy → /else → /rollback"))
    assert isinstance(only, Try)
    assert only.call == Call("train") and only.label == "failure"
    assert only.orelse == Flow((Call("deploy"),))  # runs when the step worked
    assert only.catch == Flow((Call("rollback"),))  # runs when it failed


def test_other_gates_stay_gates() -> None:
    flow = parse("/train → /if:acc>0.9 → /deploy")
    assert [type(s) for s in stages(flow)] == [Call, Gate]
    assert not is_success_gate(flow.stages[1])  # type: ignore[arg-type]
    assert is_success_gate(parse("/a → /if:success==true → /b").stages[1])  # type: ignore[arg-type]


def test_with_retry_names_the_command_and_its_retry_settings() -> None:
    known = {"train"}.__contains__
    args = (Arg("3"), Arg("300", key="backoff"), Arg("fast"))
    name, rest, retry = strip_retry("train-with-retry", args, known)
    assert (name, rest, retry) == ("train", (Arg("fast"),), Retry(3, 300.0))
    # a command really named so, or an unknown base, is left alone
    assert strip_retry("train-with-retry", args, {"train", "train-with-retry"}.__contains__)[0] == "train-with-retry"
    assert strip_retry("nope-with-retry", args, known) == ("nope-with-retry", args, Retry())


def test_a_grid_is_every_combination() -> None:
    combos = grid(Option("parameters", "lr:1,2;depth:a,b,c"))
    assert len(combos) == 6
    assert combos[0] == (Arg("1", key="lr"), Arg("a", key="depth"))
    assert combos[-1] == (Arg("2", key="lr"), Arg("c", key="depth"))


@pytest.mark.parametrize("value", ["lr", "lr:", ":1,2", "lr:1;depth"])
def test_a_bad_grid_is_an_error(value: str) -> None:
    with pytest.raises(ResolveError):
        grid(Option("parameters", value))


def test_a_parallel_of_one_program_is_a_sweep_over_its_arguments() -> None:
    par = parse("parallel[/train sigma-0.1 | /train sigma-0.2]").stages[0]
    assert isinstance(par, Parallel)
    call, variants = parallel_as_sweep(par, lambda c: c.args) or (None, [])
    assert call == Call("train") and variants == [(Arg("sigma-0.1"),), (Arg("sigma-0.2"),)]
    # not a program (the lookup says None), different commands, or options: stays a parallel
    assert parallel_as_sweep(par, lambda c: None) is None
    other = parse("parallel[/train a | /test b]").stages[0]
    assert parallel_as_sweep(other, lambda c: c.args) is None  # type: ignore[arg-type]


def test_a_sub_command_name_is_shared_by_the_sweep() -> None:
    par = parse("parallel[/ml train a | /ml train b]").stages[0]
    call, variants = parallel_as_sweep(par, lambda c: c.args[1:]) or (None, [])  # type: ignore[arg-type]
    assert call == Call("ml", (Arg("train"),)) and variants == [(Arg("a"),), (Arg("b"),)]


def test_key_number_words() -> None:
    assert key_number("sigma-0.12") == ("sigma", "0.12")
    assert key_number("lr-1e-3") == ("lr", "1e-3")
    assert key_number("warm-up") is None


def test_a_one_line_alias_passes_arguments_and_options_on() -> None:
    alias = parse("/train epochs=5")
    call = Call("quick", options=(Option("device", "cpu"),))
    out = pass_through(alias, [Arg("x")], call)
    assert out == Flow((Call("train", (Arg("5", key="epochs"), Arg("x")), (Option("device", "cpu"),)),))
    longer = parse("/prepare → /train")
    assert pass_through(longer, [Arg("x")], call) == longer
