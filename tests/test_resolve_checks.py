"""The resolver's language checks, through the CLI: each case's exact message, or what ran and what it got.

needs cycles, sweep variants named injectively, duplicate sweep values, a variable typed the same
whether bound to a constant or to a metric, an unused ``--set``, and arguments taken as the agents
take them (undeclared ones verbatim into ``$ARGUMENTS``; ``droid:namespace:command``).
"""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.slow


def _error(toy, *args: str) -> list[str]:  # type: ignore[no-untyped-def]
    proc = toy.slashmake(*args, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "RecursionError" not in proc.stderr, \
        proc.stderr[-2000:]
    assert toy.ran() == []
    return [line for line in proc.stderr.splitlines() if line.strip()]


# -- needs ---------------------------------------------------------------------------------------
def test_a_needs_cycle_is_reported_with_its_path(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", needs=["b"])
    toy.command("b", needs=["c"])
    toy.command("c", needs=["a"])
    assert _error(toy, "run", "/a") == [
        "Error: <chain>:1:1: needs cycle: /a → /b → /c → /a (a.md, b.md, c.md)", "    /a", "    ^^"]


def test_a_command_that_needs_itself_is_a_cycle(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", needs=["a"])
    assert _error(toy, "run", "/a")[0] == "Error: <chain>:1:1: needs cycle: /a → /a (a.md)"


def test_lint_reports_a_needs_cycle(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", needs=["b"])
    toy.command("b", needs=["a"])
    toy.command("ok")
    lines = _error(toy, "lint")
    at = lines.index("error: workflow/commands/a.md:6:3: needs cycle: /a → /b → /a")
    assert lines[at + 1:at + 3] == ["      - b", "      ^^^"], lines
    assert len([line for line in lines if "needs cycle" in line]) == 1  # one cycle, reported once


# -- sweeps ----------------------------------------------------------------------------------------
def test_sweep_values_that_slug_alike_never_share_a_variant_folder(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", params={"lr": "x"}, metrics={"m": "1"},
                shell="python toy_step.py a --out {output.report} --metrics {output.metrics} --set m=1 -- {params.lr}")
    toy.slashmake("run", '/a parallel[lr="p q" | lr=z]')
    toy.slashmake("run", '/a parallel[lr="p-q" | lr=z]')
    assert sorted(r["args"][0] for r in toy.records()) == ["p q", "p-q", "z"]  # z is shared, and ran once
    (step,) = (toy.root / "results/steps").glob("a-*")
    names = sorted(p.name for p in step.iterdir())
    assert names[0] == "lr-p-q" and re.fullmatch(r"lr-p-q~[0-9a-f]{8}", names[1]) and names[2:] == ["lr-z"], names
    for folder, value in ((names[0], "p-q"), (names[1], "p q")):
        assert json.loads((step / folder / "report.json").read_text())["args"] == [value]


def test_two_sweep_values_with_the_same_parameters_name_the_second(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", params={"epochs": 1})
    assert _error(toy, "run", "/a parallel[epochs=1 | epochs=2 | epochs=01]") == [
        "Error: <chain>:1:35: duplicate sweep value epochs=01: it gives the same parameters as epochs=1",
        "    /a parallel[epochs=1 | epochs=2 | epochs=01]",
        "                                      ^^^^^^^^^",
    ]


# -- variables and types ---------------------------------------------------------------------------
def test_a_constant_of_the_wrong_type_is_refused_at_its_position(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("b", params={"epochs": 1})
    assert _error(toy, "run", "$e=0.5 → /b epochs=$e")[:3] == [
        "Error: <chain>:1:13: parameter epochs takes a int, not '0.5'",
        "    $e=0.5 → /b epochs=$e",
        "                ^^^^^^^^^",
    ]


def test_a_metric_of_the_wrong_type_is_refused_with_the_same_message(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "0.5"})
    toy.command("b", params={"epochs": 1})
    proc = toy.slashmake("run", "/a → $e=acc → /b epochs=$e", check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    key = next((toy.root / "results/steps").glob("a-*")).name
    assert (f"<chain>:1:15: parameter epochs takes a int, not '0.5' (metric 'acc' of results/steps/{key}/metrics.json)"
            in proc.stderr), proc.stderr[-2000:]
    assert toy.ran() == ["a"]  # b never started
    assert not list((toy.root / "results/steps").glob("b-*/report.json"))


def test_a_whole_number_metric_reaches_an_int_parameter(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"n": "3"})
    toy.command("b", params={"epochs": 1}, shell="python toy_step.py b --out {output.report} -- {params.epochs}")
    toy.slashmake("run", "/a → $e=n → /b epochs=$e")
    assert [r["args"] for r in toy.records() if r["step"] == "b"] == [["3"]]


def test_an_unused_set_name_is_a_warning(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("b", params={"epochs": 1})
    proc = toy.slashmake("run", "/b epochs=$epochs", "--set", "epochs=2", "--set", "epoch=3")
    assert "warning: --set epoch=...: the flow has no $epoch, so it changes nothing (did you mean epochs?)" \
        in proc.stderr.splitlines(), proc.stderr[-2000:]
    assert "warning: --set epochs" not in proc.stderr
    assert toy.ran() == ["b"]


# -- arguments as the agents take them ---------------------------------------------------------------
def test_an_undeclared_argument_is_taken_verbatim(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("fix-issue")
    toy.slashmake("run", "/fix-issue https://host/org/repo/issues/42")
    assert [r["args"] for r in toy.records()] == [["https://host/org/repo/issues/42"]]


def test_undeclared_options_are_taken_verbatim_and_declared_ones_set_parameters(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("ralph-loop", params={"mode": "x"},
                shell="python toy_step.py ralph --out {output.report} -- {params.mode} {params.arguments}")
    toy.slashmake("run", '/ralph-loop "fix the tests" --max-iterations 5 --mode fast --dry')
    assert [r["args"] for r in toy.records()] == [["fast", "fix the tests", "--max-iterations", "5", "--dry"]]


def test_an_undeclared_option_to_a_command_without_arguments_is_still_an_error(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("b", params={"epochs": 1}, shell="python toy_step.py b --out {output.report} -- {params.epochs}")
    assert _error(toy, "run", "/b --epohcs 3")[0] == \
        "Error: <chain>:1:4: /b has no parameter --epohcs (its parameters: epochs) (did you mean epochs?)"


def test_droid_namespace_command_resolves(toy) -> None:  # type: ignore[no-untyped-def]
    (toy.root / "droids").mkdir(exist_ok=True)
    (toy.root / "droids/runner.md").write_text("---\nname: runner\ndescription: runs things\n---\nRun it.\n")
    toy.command("ns/cmd")
    toy.slashmake("run", "runner:ns:cmd extra")
    assert [(r["step"], r["args"]) for r in toy.records()] == [("ns/cmd", ["extra"])]
