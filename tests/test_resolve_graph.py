"""Stage 3 of resolving (src/slashmake/compiler/graph.py, steps.py, resolve.py): the step graph."""

from __future__ import annotations

import typing

from conftest import ToyProject

from slashmake.compiler.graph import Scope, after_decision, after_parallel
from slashmake.compiler.resolve import Resolved, Resolver, resolve
from slashmake.compiler.steps import CallStep, Choice, CommandStep, GateStep, JoinStep, Many, Ref
from slashmake.definitions import load
from slashmake.language import nodes
from slashmake.language.parser import parse


def resolved(toy: ToyProject, chain: str) -> Resolved:
    return resolve(parse(chain), load(toy.root), "t", chain)


def project(toy: ToyProject) -> ToyProject:
    toy.command("prep", output={"data": "data.json"})
    toy.command("train", params={"epochs": 3}, inputs=["data"], output={"model": "model.json"},
                metrics={"acc": "0.9"})
    toy.command("deploy", inputs=["model"])
    toy.command("fix", output={"model": "model.json"})
    return toy


def test_every_construct_has_a_resolver_stage() -> None:
    assert set(Resolver.STAGES) == set(typing.get_args(nodes.Stage))


def test_step_kinds_are_classes(toy: ToyProject) -> None:
    r = resolved(project(toy), "/prep → /train → /if:acc>0.5 → /deploy")
    assert [type(s) for s in r.steps] == [CallStep, CallStep, GateStep, CallStep, JoinStep]
    assert [s.kind for s in r.steps] == ["call", "call", "gate", "call", "join"]
    gate, join = r.steps[2], r.steps[4]
    assert isinstance(join, JoinStep) and join.decider is gate
    assert gate.outputs == {"decision": "decision.json"} and join.marker() == Ref(join, "join")


def test_the_same_step_reached_twice_is_one_step(toy: ToyProject) -> None:
    r = resolved(project(toy), "parallel[/prep → /train | /prep → /train epochs=5]")
    keys = [s.key for s in r.steps]
    assert len(keys) == len(set(keys)) == 3  # one /prep, two /train
    assert sum(1 for s in r.steps if s.label == "/prep") == 1


def test_a_key_hashes_what_determines_the_result(toy: ToyProject) -> None:
    a = resolved(project(toy), "/prep → /train").steps[1].key
    b = resolved(toy, "/prep → /train epochs=3").steps[1].key  # the default, written out
    c = resolved(toy, "/prep → /train epochs=4").steps[1].key
    assert a == b != c and a.startswith("train-")


def test_parallel_branches_give_every_file_to_what_follows() -> None:
    one, two = CallStep("/a", key="a-1"), CallStep("/b", key="b-1")
    env = Scope()
    ends = [Scope(outputs={"x": Ref(one, "x")}, last=[Ref(one, "x")]),
            Scope(outputs={"x": Ref(two, "x")}, last=[Ref(two, "x")])]
    out = after_parallel(env, ends)
    assert out.outputs["x"] == Many((Ref(one, "x"), Ref(two, "x")))
    assert out.last == [Ref(one, "x"), Ref(two, "x")] and out.last_step is None


def test_after_a_decision_a_file_both_branches_make_depends_on_the_branch() -> None:
    gate = GateStep("gate-acc", key="gate-acc-1")
    then, orelse = CallStep("/a", key="a-1"), CallStep("/b", key="b-1")
    ends = {"then": Scope(outputs={"m": Ref(then, "m"), "only": Ref(then, "only")}),
            "else": Scope(outputs={"m": Ref(orelse, "m")})}
    out = after_decision(gate, Scope(), ends)
    assert out.outputs == {"m": Choice(gate, (("then", Ref(then, "m")), ("else", Ref(orelse, "m"))))}


def test_a_try_decides_between_its_catch_branch_and_going_on(toy: ToyProject) -> None:
    r = resolved(project(toy), "/prep → /try:/train → /catch:failed → /fix")
    tried, fix, join = r.steps[1], r.steps[2], r.steps[3]
    assert isinstance(tried, CommandStep) and tried.is_try and tried.marker() == Ref(tried, "status")
    assert isinstance(join, JoinStep) and join.decider is tried
    assert join.branches == {"catch": [Ref(fix, "model")], "else": [Ref(tried, "status")]}
