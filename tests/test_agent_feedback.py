"""What a user sees of agent steps (issue 18, findings 6, 7, 10, 11), with the claude and droid emulators.

The answer's first lines and its path in the run summary, `slashmake show`, the failing program's
own words, warnings for limits the program cannot keep, and Claude's model aliases under Droid.
"""

from __future__ import annotations

import os
import sys
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


def test_the_mcp_run_error_starts_with_the_failed_step_and_its_words(agents: ToyProject,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import anyio
    from mcp import Client, StdioServerParameters
    from mcp.types import TextContent

    monkeypatch.setenv("EMU_SHAPE", "crash")
    params = StdioServerParameters(command=sys.executable, args=["-m", "slashmake.interfaces.cli", "mcp"],
                                   cwd=agents.root, env=agents.env())

    async def go() -> None:
        async with Client(params, read_timeout_seconds=300) as client:
            r = await client.call_tool("run", {"chain": "/plan-feature x"})
            assert r.is_error
            text = "\n".join(c.text for c in r.content if isinstance(c, TextContent))
            # (the SDK puts "Error executing tool run: " before the tool's own text)
            assert "Error: /plan-feature failed: agent program 'claude'" in text.split("\n")[0], text[:300]
            assert "claude: error: simulated crash (EMU_SHAPE=crash)" in text

    anyio.run(go)


def test_droid_budget_is_named_at_the_start_and_max_turns_bounds_its_steps(
        agents: ToyProject, monkeypatch: pytest.MonkeyPatch) -> None:
    agents.config(agent={"preset": "droid", "timeout": 60, "max_cost_usd": 0.02, "max_turns": 5})
    r = agents.slashmake("run", "/plan-feature x")
    assert "warning: agent.max_cost_usd (0.02) is not enforced: droid exec reports no cost" in r.stderr
    # droid exec has no --max-turns: a step that took more turns than allowed fails, its answer unused
    agents.config(agent={"preset": "droid", "timeout": 60, "max_turns": 2})
    monkeypatch.setenv("EMU_TURNS", "4")
    over = agents.slashmake("run", "/plan-feature y", check=False)
    assert over.returncode == 1 and "took 4 turns, more than agent.max_turns (2)" in over.stderr
    assert len(list((agents.root / "results/steps").glob("plan-feature-*/response.md"))) == 1  # the first run's


def test_a_droid_past_its_turns_is_stopped_while_it_runs(tmp_path: Path) -> None:
    """The live bound: the program is stopped at the tool call past the limit, not at its end."""
    from slashmake.agents.output import run_program
    from slashmake.agents.step import turn_counter

    done = tmp_path / "finished"
    script = ("import json, time, pathlib\n"
              "for i in range(50):\n"
              "    print(json.dumps({'type': 'tool_call', 'toolName': 'Read'}), flush=True)\n"
              "    time.sleep(0.05)\n"
              f"pathlib.Path({str(done)!r}).write_text('x')\n")
    outcome = run_program([sys.executable, "-c", script], timeout=60, stop=turn_counter(3))
    assert outcome.stopped and outcome.stdout.count('"tool_call"') <= 6 and not done.exists()


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
