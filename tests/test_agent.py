"""slashmake.agents.step, the agent-step runtime, through its CLI with tests/fake_agent.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import frontmatter
import pytest

from slashmake.definitions.tools import missing_tools, normalize_tools

ROOT = Path(__file__).resolve().parents[1]
FAKE = str(Path(__file__).resolve().parent / "fake_agent.py")
FILE_PROGRAM = [sys.executable, FAKE, "-f", "{prompt_file}", "{tools}"]
TEXT_PROGRAM = [sys.executable, FAKE, "-p", "{prompt}"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def defs(tmp_path: Path) -> dict[str, Path]:
    cmd = write(
        tmp_path / "workflow" / "commands" / "review.md",
        "---\n"
        "description: Review some code\n"
        "allowed-tools: [Read, Grep]\n"
        "slashmake:\n"
        "  metrics: {keys: [quality], primary: quality}\n"
        "---\n"
        "Review $ARGUMENTS carefully. First: <$0>. Second: <$1>. Third: <$2>.\n",
    )
    droid = write(
        tmp_path / "droids" / "reviewer.md",
        "---\nname: reviewer\ndescription: Reviews code\nmodel: inherit\ntools: read-only\n---\n"
        "You are a meticulous reviewer.\n",
    )
    upstream = write(tmp_path / "results" / "steps" / "a" / "response.md", "upstream answer\n")
    return {"cmd": cmd, "droid": droid, "upstream": upstream}


def run_agent(
    tmp_path: Path,
    command: Path,
    *,
    droid: Path | None = None,
    arguments: list[str] | None = None,
    inputs: list[str] | None = None,
    program: list[str] | None = None,
    tools_format: str | None = "claude",
    timeout: float | None = 60,
    env: dict[str, str] | None = None,
    extra: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "out"
    argv = [
        sys.executable, "-m", "slashmake.agents.step",
        "--command", str(command),
        "--prompt-out", str(out / "prompt.md"),
        "--response-out", str(out / "response.md"),
        "--metrics-out", str(out / "metrics.json"),
        "--program", json.dumps(program or FILE_PROGRAM),
    ]
    if droid is not None:
        argv += ["--droid", str(droid)]
    if arguments is not None:
        argv += ["--arguments", json.dumps(arguments)]
    for item in inputs or []:
        argv += ["--input", item]
    if tools_format is not None:
        argv += ["--tools-format", tools_format]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    argv += extra or []
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT")}
    full_env["FAKE_AGENT_ARGV"] = str(tmp_path / "argv.jsonl")
    full_env.update(env or {})
    return subprocess.run(argv, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120)


def outputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    out = tmp_path / "out"
    return out / "prompt.md", out / "response.md", out / "metrics.json"


def argv_seen(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "argv.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- prompt


def test_prompt_has_droid_then_command_then_inputs(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(
        tmp_path, defs["cmd"], droid=defs["droid"], arguments=["src/model.py", "strict"],
        inputs=[f"response={defs['upstream'].relative_to(tmp_path)}"],
    )
    assert r.returncode == 0, r.stderr
    prompt = outputs(tmp_path)[0].read_text()
    role = prompt.index("# Role: reviewer")
    droid_body = prompt.index("You are a meticulous reviewer.")
    task = prompt.index("# Task: /review src/model.py strict")
    body = prompt.index("Review src/model.py strict carefully.")
    inputs = prompt.index("## Upstream inputs")
    assert role < droid_body < task < body < inputs
    assert "First: <src/model.py>. Second: <strict>. Third: <>." in prompt
    assert "- `response`: results/steps/a/response.md" in prompt
    assert "- `quality` (primary)" in prompt  # the declared metric keys are asked for
    assert "$ARGUMENTS" not in prompt and "$1" not in prompt


def test_prompt_without_droid_or_inputs(tmp_path: Path, defs: dict[str, Path]) -> None:
    cmd = write(tmp_path / "workflow" / "commands" / "plain.md", "Say hello.\n")
    r = run_agent(tmp_path, cmd, arguments=["to", "everyone"])
    assert r.returncode == 0, r.stderr
    prompt = outputs(tmp_path)[0].read_text()
    assert "# Role:" not in prompt
    assert prompt.startswith("# Task: /plain to everyone")
    assert "ARGUMENTS: to everyone" in prompt  # the body has no $ARGUMENTS: appended, as Claude Code does
    assert "None: this step starts the flow." in prompt


def test_namespaced_command_name(tmp_path: Path) -> None:
    cmd = write(tmp_path / "workflow" / "commands" / "results" / "aggregate.md", "Aggregate.\n")
    r = run_agent(tmp_path, cmd)
    assert r.returncode == 0, r.stderr
    assert "# Task: /results/aggregate" in outputs(tmp_path)[0].read_text()


def test_several_inputs_and_paths_per_name(tmp_path: Path, defs: dict[str, Path]) -> None:
    b = write(tmp_path / "b.md", "b\n")
    c = write(tmp_path / "c.json", "{}\n")
    r = run_agent(
        tmp_path, defs["cmd"], droid=defs["droid"],
        inputs=[f"response={defs['upstream']}", f"response={b}", f"metrics={c}"],
    )
    assert r.returncode == 0, r.stderr
    prompt = outputs(tmp_path)[0].read_text()
    assert f"- `response`: {defs['upstream']}" in prompt
    assert f"- `response`: {b}" in prompt
    assert f"- `metrics`: {c}" in prompt
    # the fake agent read them: the answer depends on upstream contents
    assert f"input response: {b} sha256=" in outputs(tmp_path)[1].read_text()


def test_input_with_several_paths_in_one_option(tmp_path: Path, defs: dict[str, Path]) -> None:
    b = write(tmp_path / "b.md", "b\n")
    out = tmp_path / "out"
    argv = [
        sys.executable, "-m", "slashmake.agents.step", "--command", str(defs["cmd"]),
        "--input", f"response={defs['upstream']}", str(b),
        "--prompt-out", str(out / "prompt.md"), "--response-out", str(out / "response.md"),
        "--metrics-out", str(out / "metrics.json"), "--program", json.dumps(FILE_PROGRAM),
    ]
    r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    prompt = (out / "prompt.md").read_text()
    assert f"- `response`: {b}" in prompt


def test_missing_input_is_a_clear_error(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], inputs=["response=nowhere/response.md"])
    assert r.returncode == 2
    assert "upstream input 'response' is missing: nowhere/response.md" in r.stderr
    assert argv_seen(tmp_path) == []


def test_params_are_listed(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], extra=["--param", "threshold=0.8", "--param", "mode=fast"])
    assert r.returncode == 0, r.stderr
    prompt = outputs(tmp_path)[0].read_text()
    assert "- `threshold` = `0.8`" in prompt and "- `mode` = `fast`" in prompt


# --------------------------------------------------------------------------- answer and metrics


def test_response_and_metrics_from_fenced_json(tmp_path: Path, defs: dict[str, Path]) -> None:
    cmd = write(tmp_path / "workflow" / "commands" / "gate.md", "Decide.\nVERDICT: approve\n")
    r = run_agent(tmp_path, cmd, droid=defs["droid"])
    assert r.returncode == 0, r.stderr
    _, response, metrics = outputs(tmp_path)
    text = response.read_text()
    assert "droid: reviewer" in text and "task: /gate" in text
    assert json.loads(metrics.read_text()) == {"approved": True, "verdict": "approve"}


def test_rejecting_verdict(tmp_path: Path) -> None:
    cmd = write(tmp_path / "workflow" / "commands" / "gate.md", "VERDICT: reject\n")
    assert run_agent(tmp_path, cmd).returncode == 0
    assert json.loads(outputs(tmp_path)[2].read_text())["approved"] is False


def test_declared_keys_are_answered(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], droid=defs["droid"])
    assert r.returncode == 0, r.stderr
    metrics = json.loads(outputs(tmp_path)[2].read_text())
    assert set(metrics) == {"quality"} and 0 <= metrics["quality"] < 1


def test_no_json_block_gives_answered(tmp_path: Path) -> None:
    cmd = write(tmp_path / "workflow" / "commands" / "hello.md", "Say hello.\n")
    r = run_agent(tmp_path, cmd)
    assert r.returncode == 0, r.stderr
    assert json.loads(outputs(tmp_path)[2].read_text()) == {"answered": True}


def _printer(text: str) -> list[str]:
    """A program that prints ``text`` (ignores the prompt)."""
    return [sys.executable, "-c", f"import sys; sys.stdout.write({text!r})"]


def test_last_json_block_wins(tmp_path: Path, defs: dict[str, Path]) -> None:
    answer = (
        "Here is an example config:\n```json\n{\"lr\": 0.1}\n```\n"
        "Result:\n```json\n{\"accuracy\": 0.91, \"drift_detected\": false, \"note\": \"ok\"}\n```\n"
    )
    r = run_agent(tmp_path, defs["cmd"], program=_printer(answer), tools_format="none")
    assert r.returncode == 0, r.stderr
    _, response, metrics = outputs(tmp_path)
    assert response.read_text() == answer
    assert json.loads(metrics.read_text()) == {"accuracy": 0.91, "drift_detected": False, "note": "ok"}


@pytest.mark.parametrize("block", ["{not json}", "[1, 2]", '{"accuracy": 0.9, "per_class": {"a": 1}}', '{"x": NaN}'])
def test_bad_json_block_fails_without_outputs(tmp_path: Path, defs: dict[str, Path], block: str) -> None:
    answer = f"Answer.\n```json\n{block}\n```\n"
    r = run_agent(tmp_path, defs["cmd"], program=_printer(answer), tools_format="none")
    assert r.returncode == 1
    assert "```json block" in r.stderr
    _, response, metrics = outputs(tmp_path)
    assert not response.exists() and not metrics.exists()


# --------------------------------------------------------------------------- failures


def test_failing_program(tmp_path: Path, defs: dict[str, Path]) -> None:
    stale = write(outputs(tmp_path)[1], "an old answer\n")  # a previous attempt's output
    r = run_agent(tmp_path, defs["cmd"], droid=defs["droid"], env={"FAKE_AGENT_FAIL": "3"})
    assert r.returncode == 1
    err = r.stderr.split("slashmake: error:", 1)[1]
    assert repr(sys.executable) in err  # names the program
    assert "exited with status 3" in err
    assert "simulated failure for reviewer:review (exit 3)" in err  # end of its stderr
    assert not stale.exists()
    assert not outputs(tmp_path)[2].exists()


def test_hanging_program_is_stopped_at_the_timeout(tmp_path: Path, defs: dict[str, Path]) -> None:
    start = time.monotonic()
    r = run_agent(tmp_path, defs["cmd"], env={"FAKE_AGENT_SLEEP": "60"}, timeout=1)
    elapsed = time.monotonic() - start
    assert r.returncode == 1
    assert "timed out after 1s" in r.stderr
    assert "prompt" in r.stderr  # the end of its stderr (it printed its prompt size)
    assert elapsed < 20
    _, response, metrics = outputs(tmp_path)
    assert not response.exists() and not metrics.exists()


def test_empty_answer_fails(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], env={"FAKE_AGENT_EMPTY": "1"})
    assert r.returncode == 1
    assert "printed no answer" in r.stderr
    assert "answering nothing" in r.stderr
    assert not outputs(tmp_path)[1].exists()


def test_program_not_found(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], program=["no-such-agent-program", "-f", "{prompt_file}"])
    assert r.returncode == 1
    assert "agent program 'no-such-agent-program' not found" in r.stderr


def test_bad_arguments_json(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], extra=["--arguments", '{"a": 1}'])
    assert r.returncode == 2
    assert "--arguments must be a JSON list" in r.stderr


def test_missing_command_file(tmp_path: Path) -> None:
    r = run_agent(tmp_path, tmp_path / "nope.md")
    assert r.returncode == 2
    assert "command file not found" in r.stderr


# --------------------------------------------------------------------------- tools


def test_tools_in_claude_form(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], droid=defs["droid"], tools_format="claude")
    assert r.returncode == 0, r.stderr
    (argv,) = argv_seen(tmp_path)
    assert argv[-2:] == ["--allowedTools", "Grep,Read"]
    assert "tools: Grep,Read" in outputs(tmp_path)[1].read_text()


def test_tools_in_droid_form(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], droid=defs["droid"], tools_format="droid")
    assert r.returncode == 0, r.stderr
    (argv,) = argv_seen(tmp_path)
    assert argv[-2:] == ["--enabled-tools", "Grep,Read"]


def test_tools_none_form_and_placement(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], tools_format="none")
    assert r.returncode == 0, r.stderr
    assert argv_seen(tmp_path)[0] == ["-f", str(outputs(tmp_path)[0])]
    # no {tools} word in the template: the tools go at the end
    r = run_agent(tmp_path, defs["cmd"], program=[sys.executable, FAKE, "-f", "{prompt_file}", "--auto", "low"])
    assert r.returncode == 0, r.stderr
    assert argv_seen(tmp_path)[1][-4:] == ["--auto", "low", "--allowedTools", "Grep,Read"]


def test_claude_permission_rules_pass_through(tmp_path: Path) -> None:
    cmd = write(
        tmp_path / "workflow" / "commands" / "commit.md",
        "---\nallowed-tools: Bash(git add:*), Bash(git commit:*), Read\n---\nCommit.\n",
    )
    droid = write(tmp_path / "droids" / "gitter.md", "---\nname: gitter\ntools: [read-only, execute]\n---\nGit.\n")
    r = run_agent(tmp_path, cmd, droid=droid, tools_format="claude")
    assert r.returncode == 0, r.stderr
    assert argv_seen(tmp_path)[0][-2:] == ["--allowedTools", "Bash(git add:*),Bash(git commit:*),Read"]


def test_droid_tools_apply_when_command_has_none(tmp_path: Path, defs: dict[str, Path]) -> None:
    cmd = write(tmp_path / "workflow" / "commands" / "free.md", "Anything.\n")
    r = run_agent(tmp_path, cmd, droid=defs["droid"], tools_format="droid")
    assert r.returncode == 0, r.stderr
    assert argv_seen(tmp_path)[0][-2:] == ["--enabled-tools", "Glob,Grep,LS,Read"]


def test_tools_format_auto_from_program_name(tmp_path: Path, defs: dict[str, Path]) -> None:
    # the fake program is python: auto means "none"
    r = run_agent(tmp_path, defs["cmd"], droid=defs["droid"], tools_format=None)
    assert r.returncode == 0, r.stderr
    assert "--allowedTools" not in argv_seen(tmp_path)[0]


def test_tools_are_the_commands_within_the_droids(tmp_path: Path) -> None:
    # whether the droid has them all is checked at compile time (lint); here only the set is passed on
    droid = write(tmp_path / "droids" / "d.md", "---\nname: d\ntools: [Read, Grep, Task]\n---\nD.\n")
    cmd = write(tmp_path / "workflow" / "commands" / "c.md", "---\nallowed-tools: [Read, Task]\n---\nC.\n")
    r = run_agent(tmp_path, cmd, droid=droid, tools_format="droid")
    assert r.returncode == 0, r.stderr
    assert argv_seen(tmp_path)[0][-2:] == ["--enabled-tools", "Read,Task"]


def test_prompt_as_text_argument(tmp_path: Path, defs: dict[str, Path]) -> None:
    r = run_agent(tmp_path, defs["cmd"], droid=defs["droid"], arguments=["x"], program=TEXT_PROGRAM)
    assert r.returncode == 0, r.stderr
    (argv,) = argv_seen(tmp_path)
    prompt = outputs(tmp_path)[0].read_text()
    assert argv[:2] == ["-p", prompt]
    assert "droid: reviewer" in outputs(tmp_path)[1].read_text()


def test_arguments_are_data_not_placeholders(tmp_path: Path) -> None:
    cmd = write(tmp_path / "workflow" / "commands" / "echo.md", "Echo $ARGUMENTS.\n")
    tricky = ["{prompt_file}", "$(rm -rf /)", "a;b", "$2"]
    r = run_agent(tmp_path, cmd, arguments=tricky, program=TEXT_PROGRAM)
    assert r.returncode == 0, r.stderr
    prompt = outputs(tmp_path)[0].read_text()
    assert "Echo {prompt_file} '$(rm -rf /)' a;b $2." in prompt  # as typed: quoted where it has a space
    assert argv_seen(tmp_path)[0][1] == prompt


# --------------------------------------------------------------------------- the fake agent itself


def test_fake_agent_trace_shows_overlap(tmp_path: Path, defs: dict[str, Path]) -> None:
    trace = tmp_path / "trace.txt"
    procs = []
    for name in ("one", "two"):
        d = tmp_path / name
        d.mkdir()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable, "-m", "slashmake.agents.step", "--command", str(defs["cmd"]),
                    "--prompt-out", str(d / "p.md"), "--response-out", str(d / "r.md"),
                    "--metrics-out", str(d / "m.json"), "--program", json.dumps(FILE_PROGRAM),
                ],
                env={**os.environ, "FAKE_AGENT_BARRIER": f"{tmp_path / 'barrier'}:2", "FAKE_AGENT_TRACE": str(trace),
                     "FAKE_AGENT_NAME": name},
                cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # its ledger row stays in d
            )
        )
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    events: dict[str, dict[str, float]] = {}
    for line in trace.read_text().splitlines():
        kind, name, t = line.split()
        events.setdefault(name, {})[kind] = float(t)
    assert set(events) == {"one", "two"}
    # Each call waited at the barrier for the other: both started before either ended.
    assert max(e["start"] for e in events.values()) < min(e["end"] for e in events.values())


def test_fake_agent_fail_times(tmp_path: Path, defs: dict[str, Path]) -> None:
    env = {"FAKE_AGENT_FAIL_TIMES": "1", "FAKE_AGENT_STATE": str(tmp_path / "count")}
    assert run_agent(tmp_path, defs["cmd"], env=env).returncode == 1
    assert run_agent(tmp_path, defs["cmd"], env=env).returncode == 0


def test_fake_agent_match_limits_knobs(tmp_path: Path, defs: dict[str, Path]) -> None:
    env = {"FAKE_AGENT_FAIL": "5", "FAKE_AGENT_MATCH": "^other:"}
    assert run_agent(tmp_path, defs["cmd"], droid=defs["droid"], env=env).returncode == 0


def test_fake_agent_metrics_env(tmp_path: Path, defs: dict[str, Path]) -> None:
    env = {"FAKE_AGENT_METRICS": json.dumps({"quality": 0.95, "drift_detected": True})}
    assert run_agent(tmp_path, defs["cmd"], env=env).returncode == 0
    assert json.loads(outputs(tmp_path)[2].read_text()) == {"quality": 0.95, "drift_detected": True}


# --------------------------------------------------------------------------- the seed's droids and commands

DROIDS = sorted((ROOT / "droids").glob("*.md"))
SEED_DROIDS = {
    "command-workflow-orchestrator", "ml-production-engineer", "data-infrastructure-engineer",
    "ml-observability-monitoring-engineer", "code-reviewer", "performance-engineer",
}
AGENT_COMMANDS = [
    "analyze-model-architecture", "validate-data-pipeline", "setup-monitoring", "data-quality-check",
    "model-optimization", "monitoring-setup", "aggregate", "plan", "analyze", "optimize",
    "analyze-data", "data-cleanup",
]


def _meta(path: Path) -> dict[str, Any]:
    return dict(frontmatter.load(str(path)).metadata)


def test_seed_droids_are_valid_factory_droids() -> None:
    names = set()
    for path in DROIDS:
        meta = _meta(path)
        assert re.fullmatch(r"[a-z0-9_-]+", meta["name"]), path
        assert meta["name"] == path.stem
        assert meta["description"] and meta["model"] == "inherit"
        _, warnings = normalize_tools(meta["tools"])
        assert warnings == [], path
        body = frontmatter.load(str(path)).content
        assert "```json" in body or "`json`" in body, f"{path}: should ask for a json metrics block"
        names.add(meta["name"])
    assert SEED_DROIDS <= names


def _flow_pairs(flow: str) -> list[tuple[str, str]]:
    return re.findall(r"/?([a-z0-9-]+):([a-z0-9-]+)", flow)


def test_seed_droids_can_run_their_commands() -> None:
    commands = ROOT / "workflow" / "commands"
    pairs: set[tuple[str, str]] = set()
    for name in AGENT_COMMANDS:
        meta = _meta(commands / f"{name}.md")
        sm = meta.get("slashmake", {})
        assert "shell" not in sm and "script" not in sm and "flow" not in sm
        pairs.add((sm["droid"], name))
    for macro in ("parallel-analysis", "droid-handoff"):
        for droid, name in _flow_pairs(_meta(commands / f"{macro}.md")["slashmake"]["flow"]):
            if (ROOT / "droids" / f"{droid}.md").exists():
                pairs.add((droid, name))
    assert ("ml-observability-monitoring-engineer", "monitoring-setup") in pairs
    for droid, name in sorted(pairs):
        droid_tools = _meta(ROOT / "droids" / f"{droid}.md")["tools"]
        cmd_tools = _meta(commands / f"{name}.md")["allowed-tools"]
        assert missing_tools(normalize_tools(droid_tools)[0], cmd_tools) == set(), (droid, name)


@pytest.mark.parametrize("name", AGENT_COMMANDS)
def test_seed_commands_run_with_their_droid(tmp_path: Path, name: str) -> None:
    cmd = ROOT / "workflow" / "commands" / f"{name}.md"
    meta = _meta(cmd)
    droid = ROOT / "droids" / f"{meta['slashmake']['droid']}.md"
    inputs = []
    if "response" in meta["slashmake"].get("input", []):
        upstream = write(tmp_path / "up" / "response.md", "findings\n")
        inputs.append(f"response={upstream}")
    r = run_agent(tmp_path, cmd, droid=droid, arguments=["next-steps"], inputs=inputs, tools_format="droid")
    assert r.returncode == 0, r.stderr
    metrics = json.loads(outputs(tmp_path)[2].read_text())
    assert set(metrics) == set(meta["slashmake"]["metrics"]["keys"])
    assert meta["slashmake"]["metrics"]["primary"] in metrics


# --------------------------------------------------------------------------- under Snakemake

SNAKEFILE = r'''
import json, sys
PROG = json.dumps([sys.executable, FAKE, "-f", "{prompt_file}", "{tools}"])
BRANCHES = {
    "a": ("ml-production-engineer", "analyze-model-architecture"),
    "b": ("data-infrastructure-engineer", "validate-data-pipeline"),
    "c": ("ml-observability-monitoring-engineer", "setup-monitoring"),
}
AGENT = ("python -m slashmake.agents.step --command {params.cmd:q} --droid {params.droid:q} "
         "--arguments {params.args:q} --prompt-out {output.prompt:q} --response-out {output.response:q} "
         "--metrics-out {output.metrics:q} --program {params.prog:q} --tools-format droid --timeout 60")

rule all:
    input: "steps/agg/response.md"

rule branch:
    output: response="steps/{b}/response.md", prompt="steps/{b}/prompt.md", metrics="steps/{b}/metrics.json"
    params:
        cmd=lambda w: f"{ROOT}/workflow/commands/{BRANCHES[w.b][1]}.md",
        droid=lambda w: f"{ROOT}/droids/{BRANCHES[w.b][0]}.md",
        args="[]",
        prog=lambda w: PROG,  # a function: Snakemake would read {prompt_file} as a wildcard
    resources: agents=1
    shell: AGENT

rule agg:
    input: expand("steps/{b}/response.md", b=BRANCHES)
    output: response="steps/agg/response.md", prompt="steps/agg/prompt.md", metrics="steps/agg/metrics.json"
    params:
        cmd=f"{ROOT}/workflow/commands/aggregate.md",
        droid=f"{ROOT}/droids/command-workflow-orchestrator.md",
        args='["analysis-results"]',
        prog=lambda w: PROG,
    resources: agents=1
    shell: AGENT + " --input response={input:q}"
'''


@pytest.mark.slow
def test_agent_steps_under_snakemake_respect_the_agents_cap(tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(f"FAKE = {FAKE!r}\nROOT = {str(ROOT)!r}\n" + SNAKEFILE)
    trace = tmp_path / "trace.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT")}
    env.update(
        # Two branches must meet (so two agents overlap, whatever the load), then each holds its
        # slot for a second (so a third starting beside them would show in the trace).
        FAKE_AGENT_BARRIER=f"{tmp_path / 'barrier'}:2",
        FAKE_AGENT_SLEEP="1",
        FAKE_AGENT_TRACE=str(trace),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    snakemake = [sys.executable, "-m", "snakemake", "-c3", "--resources", "agents=2", "--quiet", "all"]
    r = subprocess.run(snakemake, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    spans: dict[str, list[float]] = {}
    for line in trace.read_text().splitlines():
        kind, name, t = line.split()
        spans.setdefault(name, [0.0, 0.0])[0 if kind == "start" else 1] = float(t)
    branches = [s for name, s in spans.items() if not name.endswith(":aggregate")]
    assert len(branches) == 3
    # at most two agents at once, and some overlap happened
    for s in branches:
        running = sum(1 for o in branches if o[0] <= s[0] < o[1])
        assert running <= 2
    assert any(a is not b and a[0] < b[1] and b[0] < a[1] for a in branches for b in branches)
    agg_start = spans["command-workflow-orchestrator:aggregate"][0]
    assert agg_start >= max(s[1] for s in branches)
    answer = (tmp_path / "steps" / "agg" / "response.md").read_text()
    assert answer.count("input response: steps/") == 3
    # a second run has nothing to do
    r = subprocess.run([*snakemake[:-2], "-n", "all"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr


def test_model_and_effort_come_from_the_droid_or_drop_out() -> None:
    from slashmake.agents.step import build_argv

    template = ["claude", "-p", "{prompt}", "--model", "{model}", "--effort", "{effort}"]
    argv = build_argv(template, "/p.md", "hi", [], {"model": "sonnet", "effort": "high"})
    assert argv == ["claude", "-p", "hi", "--model", "sonnet", "--effort", "high"]
    assert build_argv(template, "/p.md", "hi", [], {"model": "inherit", "effort": ""}) == ["claude", "-p", "hi"]
    assert build_argv(template, "/p.md", "hi", [], None) == ["claude", "-p", "hi"]
