"""The droid and claude presets: the argv each builds (golden), their envelopes, silent failures, budget.

The programs are tests/bin/droid and tests/bin/claude, emulators written from the two CLIs'
documented flags and output formats (stand-ins: no LLM service runs here), first on PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slashmake.agents.program import Settings, preset_argv

BIN = Path(__file__).resolve().parent / "bin"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- golden argv


def test_droid_preset_argv() -> None:
    s = Settings(model="claude-opus-4-1", effort="high", autonomy="medium")
    inv = preset_argv("droid", s, "/p/prompt.md", ["--enabled-tools", "Read,Grep"], "/proj", "PROMPT")
    assert inv.argv == ["droid", "exec", "--output-format", "stream-json", "--cwd", "/proj", "--auto", "medium",
                        "-m", "claude-opus-4-1", "-r", "high", "--enabled-tools", "Read,Grep", "-f", "/p/prompt.md"]
    assert inv.stdin is None and inv.output == "stream-json"


def test_droid_preset_leaves_out_what_is_not_set() -> None:
    inv = preset_argv("droid", Settings(model="inherit", output="json", max_turns=5), "/p.md", [], "/proj", "P")
    # droid exec has no maximum number of turns: max_turns does not reach it
    assert inv.argv == ["droid", "exec", "--output-format", "json", "--cwd", "/proj", "--auto", "low", "-f", "/p.md"]


def test_claude_preset_argv() -> None:
    s = Settings(model="sonnet", effort="high", permission_mode="plan", max_turns=8)
    inv = preset_argv("claude", s, "/p/prompt.md", ["--allowedTools", "Bash(git add:*),Read"], "/proj", "PROMPT")
    assert inv.argv == ["claude", "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "plan",
                        "--model", "sonnet", "--effort", "high", "--max-turns", "8",
                        "--allowedTools", "Bash(git add:*),Read"]
    assert inv.stdin == "PROMPT"  # the prompt on stdin, never one huge argv word


def test_claude_preset_json_needs_no_verbose() -> None:
    inv = preset_argv("claude", Settings(output="json"), "/p.md", [], "/proj", "P")
    assert inv.argv == ["claude", "-p", "--output-format", "json", "--permission-mode", "acceptEdits"]


@pytest.mark.parametrize(("preset", "settings", "word"), [
    ("droid", Settings(autonomy="max"), "agent.autonomy"),
    ("claude", Settings(permission_mode="yolo"), "agent.permission_mode"),
    ("codex", Settings(), "agent.preset"),
])
def test_bad_preset_settings_are_usage_errors(preset: str, settings: Settings, word: str) -> None:
    from slashmake.agents.errors import AgentError

    with pytest.raises(AgentError, match=word) as info:
        preset_argv(preset, settings, "/p.md", [], "/proj", "P")
    assert info.value.status == 2


# --------------------------------------------------------------------------- running the emulators


@pytest.fixture
def step(tmp_path: Path) -> dict[str, Path]:
    cmd = write(tmp_path / "workflow" / "commands" / "review.md",
                "---\ndescription: Review\nmodel: sonnet\nallowed-tools: [Read, Grep]\n"
                "slashmake:\n  metrics: {keys: [quality]}\n---\nReview $ARGUMENTS.\n")
    droid = write(tmp_path / "droids" / "rev.md",
                  "---\nname: rev\nmodel: opus\nreasoningEffort: high\ntools: read-only\n---\nYou review.\n")
    return {"cmd": cmd, "droid": droid}


def run_step(tmp: Path, step: dict[str, Path], preset: str, *extra: str, env: dict[str, str] | None = None,
             name: str = "out") -> subprocess.CompletedProcess[str]:
    out = tmp / name
    argv = [sys.executable, "-m", "slashmake.agents.step", "--command", str(step["cmd"]), "--droid", str(step["droid"]),
            "--arguments", json.dumps(["src/app.py"]), "--prompt-out", str(out / "prompt.md"),
            "--response-out", str(out / "response.md"), "--metrics-out", str(out / "metrics.json"),
            "--preset", preset, "--step", name, "--timeout", "60", *extra]
    full = {k: v for k, v in os.environ.items() if not k.startswith("EMU_")}
    full["PATH"] = f"{BIN}{os.pathsep}{full['PATH']}"
    full["EMU_ARGV"] = str(tmp / "argv.jsonl")
    full.setdefault("SLASHMAKE_RUN_ID", "run-1")
    full.update(env or {})
    return subprocess.run(argv, cwd=tmp, env=full, capture_output=True, text=True, timeout=120)


def ledger(tmp: Path) -> list[dict[str, object]]:
    path = tmp / "results" / "ledger.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("output", ["stream-json", "json", "text"])
@pytest.mark.parametrize("preset", ["droid", "claude"])
def test_happy_path(tmp_path: Path, step: dict[str, Path], preset: str, output: str) -> None:
    r = run_step(tmp_path, step, preset, "--output", output)
    assert r.returncode == 0, r.stderr
    response = (tmp_path / "out" / "response.md").read_text()
    assert response.startswith("# Fake agent answer") and "task: /review src/app.py" in response
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "quality" in metrics
    (call,) = [json.loads(x) for x in (tmp_path / "argv.jsonl").read_text().splitlines()]
    # the command's own model wins over its droid's; the droid's effort applies
    assert call["argv"][call["argv"].index("-m" if preset == "droid" else "--model") + 1] == "sonnet"
    assert call["argv"][call["argv"].index("-r" if preset == "droid" else "--effort") + 1] == "high"
    assert call["stdin"] is (preset == "claude")
    (row,) = ledger(tmp_path)
    assert row["step"] == "out" and row["kind"] == "agent" and row["run"] == "run-1"
    figures = row["metrics"]
    assert isinstance(figures, dict) and "quality" in figures
    if output == "text":  # plain text carries no figures
        assert "agent_turns" not in metrics and "turns" not in figures
        return
    assert metrics["agent_turns"] == 3 and figures["turns"] == 3
    assert metrics["agent_session_id"].endswith("-emu-session")
    assert metrics["agent_duration_s"] > 0
    if preset == "claude":  # claude reports cost and model; droid exec reports neither in its envelope
        assert metrics["agent_cost_usd"] == pytest.approx(0.0125) and figures["cost_usd"] == pytest.approx(0.0125)
        assert metrics["agent_model"] == "sonnet"
    else:
        assert "agent_cost_usd" not in metrics
    if output == "stream-json":
        assert metrics["agent_model"] == "sonnet"


def test_progress_streams_into_the_log_while_it_runs(tmp_path: Path, step: dict[str, Path]) -> None:
    log = tmp_path / "step.log"
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "slashmake.agents.step", "--command", str(step["cmd"]), "--prompt-out",
            str(out / "prompt.md"), "--response-out", str(out / "response.md"), "--metrics-out",
            str(out / "metrics.json"), "--preset", "claude"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "EMU_DELAY": "1.5"}
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            import time
            deadline = time.monotonic() + 30
            while "uses Read" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert "uses Read" in log.read_text()
            assert proc.poll() is None  # seen while the agent is still working
            assert not (out / "response.md").exists()
        finally:
            assert proc.wait(timeout=60) == 0
    text = log.read_text()
    assert "session " in text and "started (model sonnet)" in text and "finished" in text


SHAPES = [("is_error", "reported an error although it exited 0"), ("zero_turns", "zero turns"),
          ("empty_result", "answer is empty"), ("no_result", "without a final result event"),
          ("crash", "exited with status 3")]


@pytest.mark.parametrize(("shape", "message", "output"), [
    (shape, message, output) for shape, message in SHAPES for output in ("stream-json", "json")
    if not (shape == "no_result" and output == "json")  # a truncated stream is a stream-json shape
])
@pytest.mark.parametrize("preset", ["droid", "claude"])
def test_silent_failures_fail_the_step(tmp_path: Path, step: dict[str, Path], preset: str, output: str,
                                       shape: str, message: str) -> None:
    r = run_step(tmp_path, step, preset, "--output", output, env={"EMU_SHAPE": shape})
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert not (tmp_path / "out" / "response.md").exists()
    assert not (tmp_path / "out" / "metrics.json").exists()
    assert ledger(tmp_path) == []


def test_budget_stops_further_agent_steps(tmp_path: Path, step: dict[str, Path]) -> None:
    budget = ["--max-cost-usd", "0.02"]
    env = {"EMU_COST": "0.015"}
    assert run_step(tmp_path, step, "claude", *budget, env=env, name="a").returncode == 0
    second = run_step(tmp_path, step, "claude", *budget, env=env, name="b")
    assert second.returncode == 0, second.stderr  # $0.015 spent < $0.02: it starts, and passes the budget
    assert "past agent.max_cost_usd" in second.stderr
    third = run_step(tmp_path, step, "claude", *budget, env=env, name="c")
    assert third.returncode == 1
    assert "agent budget spent" in third.stderr and "$0.0300" in third.stderr
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())  # nothing half-written
    assert len((tmp_path / "argv.jsonl").read_text().splitlines()) == 2  # the third program never ran
    # another run has its own budget
    assert run_step(tmp_path, step, "claude", *budget, env={**env, "SLASHMAKE_RUN_ID": "run-2"},
                    name="d").returncode == 0
