"""Stage 2 of resolving (src/slashmake/compiler/bind.py): which command a call means, and its arguments bound."""

from __future__ import annotations

import pytest
from conftest import ToyProject

from slashmake.compiler.bind import Binder, coerce
from slashmake.compiler.desugar import Retry
from slashmake.compiler.graph import Scope
from slashmake.compiler.steps import AgentStep, CallStep, Const, MetricVar, Ref
from slashmake.definitions import load
from slashmake.errors import CompileError, ResolveError
from slashmake.language.nodes import Arg, Call, Option, Var


@pytest.fixture
def binder(toy: ToyProject) -> Binder:
    toy.command("train", params={"epochs": 3, "sigma": 0.1, "fast": False}, inputs=["data"],
                output={"model": "model.json"}, metrics={"acc": "0.9"})
    toy.command("prep", output={"data": "data.json"})
    toy.command("ml/train", params={"epochs": 3})
    toy.command("echo", shell="echo {params.arguments}")
    toy.command("fixed", params={"epochs": 3}, shell="echo {params.epochs} > {output.report}")
    (toy.root / "workflow/commands/ask.md").write_text("---\ndescription: a prompt\n---\nSay hi.\n")
    return Binder(load(toy.root), param_overrides={"train.sigma": 0.2})


def scope_with_data() -> Scope:
    return Scope(outputs={"data": Ref(CallStep("/prep", key="prep-1"), "data")})


def test_lookup_reads_sub_commands_and_retry_suffixes(binder: Binder) -> None:
    cmd, droid, args, retry = binder.lookup(Call("ml", (Arg("train"), Arg("x"))))
    assert cmd.name == "ml/train" and args == (Arg("x"),) and droid is None and retry == Retry()
    cmd, _, args, retry = binder.lookup(Call("train-with-retry", (Arg("2"),)))
    assert cmd.name == "train" and args == () and retry == Retry(2, 0.0)


def test_an_unknown_command_names_the_closest(binder: Binder) -> None:
    with pytest.raises(ResolveError, match=r"unknown command /trian.*train"):
        binder.lookup(Call("trian"))


def test_arguments_set_parameters_with_the_defaults_type(binder: Binder) -> None:
    cmd, droid, args, _ = binder.lookup(Call("train"))
    call = Call("train", (Arg("7", key="epochs"), Arg("sigma-0.25"), Arg("extra")), (Option("fast"),))
    env = scope_with_data()
    step = binder.make_step(cmd, droid, call, call.args, env, "")
    assert isinstance(step, CallStep)
    assert step.params == {"epochs": 7, "sigma": "0.25", "fast": True}
    assert step.args == ["extra"]
    assert step.inputs == {"data": env.outputs["data"]}


def test_config_overrides_change_a_default_only(binder: Binder) -> None:
    cmd, droid, _, _ = binder.lookup(Call("train"))
    step = binder.make_step(cmd, droid, Call("train"), (), scope_with_data(), "")
    assert step.params["sigma"] == 0.2


def test_a_command_without_a_program_is_an_agent_step(binder: Binder) -> None:
    cmd, droid, _, _ = binder.lookup(Call("ask"))
    assert isinstance(binder.make_step(cmd, droid, Call("ask"), (), Scope(), ""), AgentStep)


def test_an_unknown_option_lists_the_parameters(binder: Binder) -> None:
    cmd, droid, _, _ = binder.lookup(Call("fixed"))  # a command that takes no positional arguments
    with pytest.raises(ResolveError, match=r"has no parameter --epoch .*epochs"):
        binder.make_step(cmd, droid, Call("fixed", options=(Option("epoch", "2"),)), (), Scope(), "")


def test_an_unknown_option_of_a_command_taking_arguments_is_an_argument(binder: Binder) -> None:
    cmd, droid, _, _ = binder.lookup(Call("echo"))
    step = binder.make_step(cmd, droid, Call("echo", options=(Option("loud"),)), (), Scope(), "")
    assert step.args == ["--loud"]


def test_a_wrong_type_and_a_missing_input_are_errors(binder: Binder) -> None:
    with pytest.raises(ResolveError, match="parameter epochs takes a int, not 'many'"):
        coerce("many", 3, "epochs", None)
    cmd, droid, _, _ = binder.lookup(Call("train"))
    with pytest.raises(CompileError, match="reads 'data', which no earlier stage makes"):
        binder.make_step(cmd, droid, Call("train"), (), Scope(), "")


def test_variables_bind_constants_and_metrics(binder: Binder) -> None:
    cmd, droid, _, _ = binder.lookup(Call("train"))
    source = MetricVar(Ref(CallStep("/prep", key="prep-1"), "metrics"), "acc")
    env = scope_with_data()
    env.vars = {"n": Const("9"), "best": source}
    call = Call("train", (Arg(Var("n"), key="epochs"), Arg(Var("best"), key="sigma")))
    step = binder.make_step(cmd, droid, call, call.args, env, "")
    assert step.params["epochs"] == 9 and step.var_params == {"sigma": source} and "sigma" not in step.params
    with pytest.raises(ResolveError, match=r"variable \$m is not set"):
        binder.value(Var("m"), env, None)


def test_a_macro_scope_binds_its_parameters_and_passes_the_rest_as_arguments(binder: Binder) -> None:
    cmd, _, _, _ = binder.lookup(Call("train"))  # any command's params serve as a macro's here
    scope, extra = binder.macro_scope(cmd, (Arg("5", key="epochs"), Arg("free")), Scope())
    assert scope.vars["epochs"] == Const("5") and scope.vars["sigma"] == Const("0.1")
    assert extra == [Arg("free")] and scope.vars["ARGUMENTS"] == Const('["free"]')
