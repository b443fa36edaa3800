"""Deep chains through the CLI: hundreds of gates in a row or nested compile and dry-run (slashmake.language.deep)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PYTHON

pytestmark = pytest.mark.slow


def _gates(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("s")
    toy.command("m", metrics={"value": "1"}, inputs=["report"])
    toy.command("z", metrics={"value": "0"}, inputs=["report"])
    toy.command("b", inputs=["report"])


def _dry_run(toy, chain: str) -> str:  # type: ignore[no-untyped-def]
    toy.slashmake("compile", chain)
    proc = toy.slashmake("run", "--dry-run", chain, timeout=600)
    assert "Traceback" not in proc.stderr
    assert toy.ran() == []
    return proc.stdout


def test_300_nested_gates_compile_and_dry_run(toy) -> None:  # type: ignore[no-untyped-def]
    _gates(toy)
    chain = "/s → /m → " + " → ".join(["/if:value>0"] * 300) + " → /b" + " → /end" * 300
    out = _dry_run(toy, chain)
    assert "gate_value" in out and "join_value_300" in out  # the outermost gate decides first


def test_300_gates_in_a_row_compile_and_dry_run(toy) -> None:  # type: ignore[no-untyped-def]
    # Each gate reads the metric of the branch the gate before took: a choice of a choice, 300 deep.
    _gates(toy)
    chain = "/s → /m → " + " → ".join(["/if:value>0 → /m → /end"] * 300) + " → /b"
    out = _dry_run(toy, chain)
    assert "gate_value" in out
    compiled = next((toy.root / ".slashmake/chains").glob("*.smk")).read_text()
    assert "def gate_value_299_branch_1():" in compiled  # named, not nested 300 deep inline
    assert max(len(line) - len(line.lstrip()) for line in compiled.splitlines()) <= 16


def test_a_gate_reads_the_metric_of_the_branch_taken_two_gates_back(toy) -> None:  # type: ignore[no-untyped-def]
    # m (1) → then z (0) → else (m not rerun) → else: b reads z's report through two choices.
    _gates(toy)
    chain = "/s → /m → /if:value>0 → /z → /end → /if:value>0 → /m → /end → /if:value>0 → /m → /end → /b"
    toy.slashmake("run", chain)
    (b,) = [r for r in toy.records() if r["step"] == "b"]
    assert toy.ran() == ["s", "m", "z", "b"]
    assert [i.split("/")[2].split("-")[0] for i in b["inputs"]] == ["z"]
    compiled = next((toy.root / ".slashmake/chains").glob("*.smk"))
    fmt = subprocess.run([str(Path(PYTHON).parent / "snakefmt"), "--check", str(compiled)], capture_output=True,
                         text=True)
    assert fmt.returncode == 0, fmt.stderr  # the named branch functions are laid out as snakefmt writes them


def test_1000_nested_parallel_brackets_compile(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("s")
    toy.command("x")
    toy.command("b", inputs=["report"])
    chain = "/s → " + "parallel[/x | /b → " * 1000 + "/b" + "]" * 1000
    proc = toy.slashmake("compile", chain)
    assert "Traceback" not in proc.stderr and "rule x:" in proc.stdout
