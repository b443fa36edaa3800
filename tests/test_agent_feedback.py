"""What a user sees of agent steps (issue 18, findings 6, 7, 10, 11), with the claude and droid emulators.

The answer's first lines and its path in the run summary, `slashmake show`, the failing program's
own words, warnings for limits the program cannot keep, and Claude's model aliases under Droid.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ToyProject

pytestmark = pytest.mark.slow

BIN = Path(__file__).resolve().parent / "bin"


@pytest.fixture
def agents(toy: ToyProject, monkeypatch: pytest.MonkeyPatch) -> ToyProject:
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("EMU_SHAPE", raising=False)
    (toy.root / "workflow/commands/plan-feature.md").write_text(
        "---\ndescription: plan a feature\n---\nPlan the feature: $ARGUMENTS\n")
    toy.config(agent={"preset": "claude", "timeout": 60})
    return toy


def test_the_summary_shows_the_answer_and_show_prints_it_all(agents: ToyProject) -> None:
    r = agents.slashmake("run", "/plan-feature dark mode")
    [folder] = (agents.root / "results/steps").glob("plan-feature-*")
    answer = (folder / "response.md").read_text()
    first = next(line for line in answer.splitlines() if line.strip())
    assert f"answer (results/steps/{folder.name}/response.md)" in r.stdout
    assert first.strip()[:60] in r.stdout
    assert "Building DAG" not in r.stdout + r.stderr and "Job stats" not in r.stdout + r.stderr  # no banner
    shown = agents.slashmake("show", "/plan-feature").stdout
    assert answer.strip() in shown and f"log: logs/steps/{folder.name}.log" in shown and "metrics: " in shown
    missing = agents.slashmake("show", "/nothing-ran", check=False)
    assert missing.returncode == 1 and "no results for '/nothing-ran'" in missing.stderr


def test_a_failed_agent_step_says_what_the_program_said(agents: ToyProject, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMU_SHAPE", "crash")
    r = agents.slashmake("run", "/plan-feature x", check=False)
    assert r.returncode == 1
    assert "/plan-feature failed: agent program 'claude'" in r.stderr
    assert "claude: error: simulated crash (EMU_SHAPE=crash)" in r.stderr, r.stderr


def test_limits_droid_cannot_keep_are_named_at_the_start(agents: ToyProject) -> None:
    agents.config(agent={"preset": "droid", "timeout": 60, "max_cost_usd": 0.02, "max_turns": 5})
    r = agents.slashmake("run", "/plan-feature x")
    assert "warning: agent.max_cost_usd (0.02) is not enforced: droid exec reports no cost" in r.stderr
    assert "warning: agent.max_turns (5) is not enforced: droid exec has no such option" in r.stderr


def test_claude_model_aliases_are_refused_under_droid(agents: ToyProject) -> None:
    (agents.root / ".claude/agents").mkdir(parents=True)
    (agents.root / ".claude/agents/writer.md").write_text(
        "---\nname: writer\ndescription: writes\nmodel: sonnet\n---\nWrite.\n")
    agents.config(agent={"preset": "droid", "timeout": 60})
    r = agents.slashmake("run", "writer:plan-feature x", check=False)
    assert r.returncode == 1
    assert "model 'sonnet' (.claude/agents/writer.md) is a Claude Code alias" in r.stderr
    agents.config(agent={"preset": "claude", "timeout": 60})  # claude takes its own alias
    assert agents.slashmake("run", "writer:plan-feature x").returncode == 0
