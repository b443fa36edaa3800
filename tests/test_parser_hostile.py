"""Careless and hostile chains through the CLI: each is a positioned error with a caret, never a traceback."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def _error(toy, chain: str) -> list[str]:  # type: ignore[no-untyped-def]
    proc = toy.slashmake("run", chain, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert toy.ran() == []
    return proc.stderr.splitlines()


def test_a_fullwidth_slash_suggests_the_ascii_command(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a")
    assert _error(toy, "／a → /a") == [
        "Error: <chain>:1:1: '／a' is not a stage: '／' is not '/' (did you mean /a?)",
        "    ／a → /a",
        "    ^^",
    ]


def test_a_duplicate_sweep_value_is_named_with_the_caret_on_it(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", params={"lr": 0.1})
    assert _error(toy, "/a parallel[lr=0.1 | lr=0.2 | lr=0.1]") == [
        "Error: <chain>:1:31: duplicate sweep value lr=0.1 (first given at 1:13)",
        "    /a parallel[lr=0.1 | lr=0.2 | lr=0.1]",
        "                                  ^^^^^^",
    ]


def test_1200_nested_gates_are_a_positioned_error_not_a_recursion_error(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "1"})
    chain = "/a → " + " → ".join(["/if:acc>0.5"] * 1200) + " → /a" + " → /end" * 1200
    lines = _error(toy, chain)
    col = len("/a → ") + 64 * len("/if:acc>0.5 → ") + 1
    assert lines[0] == f"Error: <chain>:1:{col}: /if nested more than 64 deep (close some with /end)"
    assert lines[2] == "    " + " " * (col - 1) + "^^^"  # on the 65th /if


def test_63_nested_gates_run(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "1"})
    toy.command("b")
    chain = "/a → " + " → ".join(["/if:acc>0.5"] * 63) + " → /b" + " → /end" * 63
    toy.slashmake("run", chain)
    assert toy.ran() == ["a", "b"]
