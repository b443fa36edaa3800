"""Rerun semantics a user expects, through the CLI on real Snakemake: what a second run redoes.

A step whose outputs were deleted by hand is rebuilt (Snakemake alone leaves a missing intermediate
file missing while what follows it is up to date); a failed ``/try:`` is tried again on the next run,
a successful one is reused.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def step_dir(root: Path, label: str) -> Path:
    """The one step folder whose key is ``label-<hash>``."""
    hits = [p for p in (root / "results/steps").glob(f"{label}-*") if re.fullmatch(rf"{re.escape(label)}-[0-9a-f]{{8}}", p.name)]
    assert len(hits) == 1, hits
    return hits[0]


def test_a_deleted_intermediate_output_is_rebuilt_and_explain_says_so(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "0.5"})
    toy.command("b", inputs=["report"])
    toy.slashmake("run", "/a → /b")
    assert toy.ran() == ["a", "b"]
    a = step_dir(toy.root, "a")
    (a / "report.json").unlink()
    plan = toy.slashmake("explain", "/a → /b").stdout
    rel = (a / "report.json").relative_to(toy.root).as_posix()
    assert re.search(rf"^will run\s+/a \({a.name}\): its output {re.escape(rel)} is missing$", plan, re.M), plan
    out = toy.slashmake("run", "/a → /b").stdout
    assert toy.ran() == ["a", "b"]  # a is rebuilt; b reads the new file
    assert (a / "report.json").exists()
    assert re.search(r"^  /a\s+acc=0.5", out, re.M), out  # `results` lists it again
    toy.slashmake("run", "/a → /b")
    assert toy.ran() == []


def test_a_deleted_step_folder_is_rebuilt(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("a", metrics={"acc": "0.5"})
    toy.command("b", inputs=["report"])
    toy.slashmake("run", "/a → /b")
    toy.ran()
    shutil.rmtree(step_dir(toy.root, "a"))
    toy.slashmake("run", "/a → /b")
    assert toy.ran() == ["a", "b"]
    assert (step_dir(toy.root, "a") / "metrics.json").exists()


def test_a_failed_try_is_retried_on_the_next_run_and_a_successful_one_reused(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("x", metrics={"m": "1"}, shell="python toy_step.py x --out {output.report} "
                "--metrics {output.metrics} --set m=1 --fail-if FAIL")
    toy.command("a")
    toy.command("b")
    chain = "/try:/x → /catch:x-failed → /a → /else → /b"
    (toy.root / "FAIL").touch()
    toy.slashmake("run", chain)
    assert toy.ran() == ["x", "a"]
    (toy.root / "FAIL").unlink()  # the cause is fixed
    plan = toy.slashmake("explain", chain).stdout
    assert re.search(r"^will run\s+/x \(x-\w+\): it failed last time", plan, re.M), plan
    toy.slashmake("run", chain)
    assert toy.ran() == ["x", "b"]
    assert json.loads((step_dir(toy.root, "x") / "status.json").read_text())["success"] is True
    toy.slashmake("run", chain)
    assert toy.ran() == []  # success is an up-to-date result


def test_a_try_status_counts_the_attempts_made(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("flaky", shell="python toy_step.py flaky --out {output.report} --counter flaky.count --fail-times 1")
    toy.command("a")
    toy.slashmake("run", "/try:/flaky --retries 3 → /catch:gave-up → /a → /end")
    assert toy.ran() == ["flaky", "flaky"]
    status = json.loads((step_dir(toy.root, "flaky") / "status.json").read_text())
    assert (status["success"], status["attempts"], status["attempts_allowed"]) == (True, 2, 4)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_editing_a_shell_commands_prose_reruns_nothing(toy) -> None:  # type: ignore[no-untyped-def]
    a = toy.command("a", body="Runs a.")
    toy.command("b", inputs=["report"])
    toy.slashmake("run", "/a → /b")
    assert toy.ran() == ["a", "b"]
    _edit(a, "Runs a.", "Runs a, now documented at length.")
    _edit(a, "description: toy a", "description: a toy step, described better")
    assert "will run" not in toy.slashmake("explain", "/a → /b").stdout
    toy.slashmake("run", "/a → /b")
    assert toy.ran() == []


def test_editing_what_shapes_a_shell_rule_reruns_it_and_what_follows(toy) -> None:  # type: ignore[no-untyped-def]
    a = toy.command("a", params={"n": 1})
    toy.command("b", inputs=["report"])
    toy.command("c")
    toy.slashmake("run", "/c → /a → /b")
    assert toy.ran() == ["c", "a", "b"]
    _edit(a, "n: 1", "n: 2")
    toy.slashmake("run", "/c → /a → /b")
    assert toy.ran() == ["a", "b"]  # c is upstream and unchanged


def test_editing_an_agent_commands_body_reruns_it(toy) -> None:  # type: ignore[no-untyped-def]
    toy.config(agent={"program": ["python", str(Path(__file__).parent / "fake_agent.py"), "-f", "{prompt_file}"],
                      "timeout": 60})
    ask = toy.root / "workflow/commands/ask.md"
    ask.write_text("---\ndescription: ask\n---\nSay hello.\n")
    toy.slashmake("run", "/ask")
    _edit(ask, "Say hello.", "Say goodbye.")
    plan = toy.slashmake("explain", "/ask").stdout
    assert re.search(r"^will run\s+/ask ", plan, re.M), plan
    toy.slashmake("run", "/ask")
    prompts = sorted(p.read_text() for p in (toy.root / "results/steps").glob("ask-*/prompt.md"))
    assert len(prompts) == 2 and sum("Say goodbye." in p for p in prompts) == 1  # a new key: the prompt changed
