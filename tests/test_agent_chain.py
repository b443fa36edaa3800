"""A chain of agent steps end to end (real Snakemake, the claude emulator): the hand-off, and reruns
exactly when a step's rendered prompt changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import ToyProject

pytestmark = pytest.mark.slow

BIN = Path(__file__).resolve().parent / "bin"
CHAIN = "/s1 → /s2 → /s3"


@pytest.fixture
def chain(toy: ToyProject, monkeypatch: pytest.MonkeyPatch) -> ToyProject:
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("EMU_ARGV", str(toy.root / "calls.jsonl"))
    monkeypatch.delenv("EMU_SHAPE", raising=False)
    commands = toy.root / "workflow" / "commands"
    (commands / "s1.md").write_text("---\ndescription: first\n---\nStep one. State: !`cat state.txt`\n")
    (commands / "s2.md").write_text("---\ndescription: second\n---\nStep two, with @notes/context.md in mind.\n")
    (commands / "s3.md").write_text("---\ndescription: third\n---\nStep three.\n")
    (toy.root / "state.txt").write_text("alpha\n")
    (toy.root / "notes").mkdir()
    (toy.root / "notes" / "context.md").write_text("Context v1.\n")
    toy.config(agent={"preset": "claude", "timeout": 60})
    return toy


def calls(toy: ToyProject) -> list[str]:
    """The tasks the agent was called for since the last call (consumed)."""
    path = toy.root / "calls.jsonl"
    if not path.exists():
        return []
    tasks = [json.loads(line)["task"] for line in path.read_text().splitlines()]
    path.unlink()
    return tasks


def latest(toy: ToyProject, name: str, file: str) -> str:
    folders = sorted((toy.root / "results" / "steps").glob(f"{name}-*"), key=lambda p: p.stat().st_mtime)
    return (folders[-1] / file).read_text()


def test_each_step_gets_the_answer_before_it_and_reruns_only_when_its_prompt_changes(chain: ToyProject) -> None:
    chain.slashmake("run", CHAIN)
    assert calls(chain) == ["/s1", "/s2", "/s3"]
    p2, p3 = latest(chain, "s2", "prompt.md"), latest(chain, "s3", "prompt.md")
    assert latest(chain, "s1", "response.md").rstrip() in p2
    assert latest(chain, "s2", "response.md").rstrip() in p3
    assert latest(chain, "s1", "response.md").rstrip() not in p3  # only the step directly before
    assert "State: alpha" in latest(chain, "s1", "prompt.md")
    assert "### File: notes/context.md" in p2 and "Context v1." in p2
    rows = [json.loads(line) for line in (chain.root / "results" / "ledger.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("kind") == "agent"]  # the agents' own cost rows, beside the run record
    assert [r["metrics"]["turns"] for r in rows] == [3, 3, 3]
    assert all(r["metrics"]["cost_usd"] == pytest.approx(0.0125) for r in rows)
    table = chain.slashmake("results").stdout
    assert "cost_usd" in table and "turns" in table

    chain.slashmake("run", CHAIN)
    assert calls(chain) == []  # nothing changed, nothing reruns
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(chain.slashmake("run", "-n", CHAIN))
    assert calls(chain) == []

    (chain.root / "notes" / "context.md").write_text("Context v2.\n")
    chain.slashmake("run", CHAIN)
    assert calls(chain) == ["/s2", "/s3"]  # the @ file: step 2 and what follows
    assert "Context v2." in latest(chain, "s2", "prompt.md")

    (chain.root / "state.txt").write_text("beta\n")
    chain.slashmake("run", CHAIN)
    assert calls(chain)[0] == "/s1"  # what its ! command prints changed
    assert "State: beta" in latest(chain, "s1", "prompt.md")

    s1 = chain.root / "workflow" / "commands" / "s1.md"
    s1.write_text(s1.read_text() + "Be brief.\n")
    chain.slashmake("run", CHAIN)
    assert calls(chain) == ["/s1", "/s2", "/s3"]  # editing step 1's command reruns all three

    chain.slashmake("run", CHAIN)
    assert calls(chain) == []


def test_a_missing_at_file_stays_text_with_a_warning_at_its_line(chain: ToyProject) -> None:
    """As Claude Code leaves an @ mention it cannot resolve: the step runs; lint and the log say so."""
    (chain.root / "notes" / "context.md").unlink()
    lint = chain.slashmake("lint")
    assert "warning: workflow/commands/s2.md:4: @notes/context.md: no such file; the agent gets it as text" \
        in lint.stderr
    chain.slashmake("run", CHAIN)
    [log] = (chain.root / "logs/steps").glob("s2-*.log")
    assert "s2.md:4: @notes/context.md: no such file; left as text" in log.read_text()


def test_the_budget_stops_the_run_before_the_next_agent_step(chain: ToyProject,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMU_COST", "0.015")
    chain.config(agent={"preset": "claude", "timeout": 60, "max_cost_usd": 0.02})
    r = chain.slashmake("run", CHAIN, check=False)
    assert r.returncode == 1
    assert calls(chain) == ["/s1", "/s2"]  # s2 started under budget ($0.015) and crossed it; s3 never started
    assert "agent budget spent" in r.stdout + r.stderr
    s3 = list((chain.root / "results" / "steps").glob("s3-*"))
    assert all(not (d / "response.md").exists() and not (d / "prompt.md").exists() for d in s3)
    rows = [json.loads(line) for line in (chain.root / "results" / "ledger.jsonl").read_text().splitlines()]
    record = [r for r in rows if r.get("kind") == "step"]
    [run] = [r for r in rows if r.get("kind") == "run"]
    rows = [r for r in rows if r.get("kind") == "agent"]
    assert sum(r["metrics"]["cost_usd"] for r in rows) == pytest.approx(0.03)
    # The run record carries the same cost per step, and the run row its sum.
    assert sum(r["cost"]["agent_usd"] for r in record) == pytest.approx(0.03)
    assert run["status"] == "failed" and run["cost"]["agent_usd"] == pytest.approx(0.03)
    assert len({r["run"] for r in rows}) == 1

    chain.config(agent={"preset": "claude", "timeout": 60, "max_cost_usd": 1.0})  # a bigger budget: it goes on
    chain.slashmake("run", CHAIN)
    assert calls(chain) == ["/s3"]


def test_a_command_can_opt_out_of_the_hand_off_or_name_its_inputs(chain: ToyProject) -> None:
    commands = chain.root / "workflow" / "commands"
    (commands / "s2.md").write_text("---\ndescription: second\nslashmake:\n  input: []\n---\nStep two alone.\n")
    (commands / "s3.md").write_text("---\ndescription: third\nslashmake:\n  input: [response]\n---\nStep three.\n")
    chain.slashmake("run", CHAIN)
    assert calls(chain) == ["/s1", "/s2", "/s3"]
    p2, p3 = latest(chain, "s2", "prompt.md"), latest(chain, "s3", "prompt.md")
    assert "None: this step starts the flow." in p2 and latest(chain, "s1", "response.md").rstrip() not in p2
    assert latest(chain, "s2", "response.md").rstrip() in p3
    assert "- `metrics`:" not in p3  # only the input it names


def test_the_compiled_step_passes_the_resolved_tools_model_and_effort(chain: ToyProject) -> None:
    (chain.root / "droids").mkdir()
    (chain.root / "droids" / "rev.md").write_text(
        "---\nname: rev\ndescription: reviews\nmodel: opus\nreasoningEffort: high\ntools: [Read, Grep, Glob]\n---\nRev.\n")
    (chain.root / "workflow" / "commands" / "look.md").write_text(
        "---\ndescription: look\nmodel: sonnet\nallowed-tools: [Read, Grep]\n---\nLook.\n")
    chain.slashmake("run", "/rev:look")
    (call,) = [json.loads(line) for line in (chain.root / "calls.jsonl").read_text().splitlines()]
    argv = call["argv"]
    assert argv[argv.index("--model") + 1] == "sonnet"  # the command's own model wins
    assert argv[argv.index("--effort") + 1] == "high"  # the droid's effort
    assert argv[argv.index("--allowedTools") + 1] == "Grep,Read"
    (compiled,) = (chain.root / ".slashmake" / "chains").glob("*.smk")
    text = compiled.read_text()  # resolved once, by the compiler
    assert 'agent_tools=q("Grep,Read")' in text and 'agent_model=q("sonnet")' in text
