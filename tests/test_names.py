"""Rule names (src/slashmake/compiler/names.py): from labels, numbered only on a clash, kept from one compile to the next."""

from __future__ import annotations

from pathlib import Path

from slashmake.compiler.names import REGISTRY, RuleNames, base_name
from slashmake.compiler.steps import CallStep, GateStep, JoinStep, Step


def test_a_label_becomes_a_python_name() -> None:
    assert base_name("/ml-train") == "ml_train"
    assert base_name("/results:aggregate") == "results_aggregate"
    assert base_name("gate-best-acc") == "gate_best_acc"
    assert base_name("/2stage") == "step_2stage"
    assert base_name("/continue") == "step_continue"  # a Python keyword cannot name a rule


def steps(*labels_keys: tuple[str, str]) -> list[Step]:
    out: list[Step] = []
    for label, key in labels_keys:
        kind = GateStep if label.startswith("gate") else JoinStep if label.startswith("join") else CallStep
        out.append(kind(label, key=key))
    return out


def test_only_different_steps_with_one_label_get_numbers() -> None:
    names = RuleNames()
    a, b, a_again, g = steps(("/train", "train-1"), ("/train", "train-2"), ("/train", "train-1"), ("gate-acc", "g-1"))
    names.name([a, b, a_again, g])
    assert [s.rule for s in (a, b, a_again, g)] == ["train", "train_2", "train", "gate_acc"]


def test_names_survive_a_save_and_freed_names_are_reused(tmp_path: Path) -> None:
    names = RuleNames()
    names.name(steps(("/train", "train-1"), ("/train", "train-2")))
    names.save(tmp_path)
    assert (tmp_path / REGISTRY).exists()
    again = RuleNames.load(tmp_path)
    second, first = steps(("/train", "train-2"), ("/train", "train-1"))
    again.name([second, first])  # another order: the same names
    assert (first.rule, second.rule) == ("train", "train_2")
    again.keep_only({"train-2"})  # /train was edited: its old key is gone, its name is free
    edited = steps(("/train", "train-3"))[0]
    again.name([edited])
    assert edited.rule == "train"


def test_a_flow_target_is_never_a_step_name(tmp_path: Path) -> None:
    names = RuleNames(reserved={"train"})
    step = steps(("/train", "train-1"))[0]
    names.name([step])
    assert step.rule == "train_2"


def test_an_unreadable_table_names_afresh(tmp_path: Path) -> None:
    (tmp_path / REGISTRY).parent.mkdir(parents=True)
    (tmp_path / REGISTRY).write_text("{not json")
    names = RuleNames.load(tmp_path)
    step = steps(("/train", "train-1"))[0]
    names.name([step])
    assert step.rule == "train"
