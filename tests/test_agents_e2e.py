"""Agent steps end to end: real Snakemake runs of the repo's droids and agent commands.

Each test builds a toy project (the real Snakefile, see conftest.py) with the repo's droids/ and
agent command files copied in, and config agent.program set to tests/fake_agent.py, a deterministic
stand-in for `droid exec` / `claude -p`. Its knobs come through the environment (FAKE_AGENT_*);
FAKE_AGENT_TRACE gives the start and end time of every agent call, by "<droid>:<command>".
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from slashmake.definitions import load
from slashmake.definitions.tools import describe
from tests.conftest import REPO, ToyProject

pytestmark = pytest.mark.slow

FAKE = REPO / "tests" / "fake_agent.py"
PROGRAM = ["python", str(FAKE), "-f", "{prompt_file}"]
AGENT_COMMANDS = ["parallel-analysis", "droid-handoff", "aggregate", "plan", "analyze-model-architecture",
                  "validate-data-pipeline", "setup-monitoring", "analyze", "data-quality-check",
                  "model-optimization", "monitoring-setup"]
KNOBS = ["FAKE_AGENT_SLEEP", "FAKE_AGENT_TRACE", "FAKE_AGENT_METRICS", "FAKE_AGENT_FAIL", "FAKE_AGENT_FAIL_TIMES",
         "FAKE_AGENT_STATE", "FAKE_AGENT_EMPTY", "FAKE_AGENT_MATCH", "FAKE_AGENT_ARGV", "FAKE_AGENT_NAME"]

# The three droid steps of /parallel-analysis and the two orchestrator steps after them.
MODEL = "ml-production-engineer:analyze-model-architecture"
DATA = "data-infrastructure-engineer:validate-data-pipeline"
MONITOR = "ml-observability-monitoring-engineer:setup-monitoring"
AGGREGATE = "command-workflow-orchestrator:aggregate"
PLAN = "command-workflow-orchestrator:plan"
BRANCHES = {MODEL, DATA, MONITOR}
ALL_FIVE = BRANCHES | {AGGREGATE, PLAN}


@pytest.fixture
def agents(toy: ToyProject, monkeypatch: pytest.MonkeyPatch) -> ToyProject:
    """A toy project with the repo's droids and agent commands, run by the fake agent."""
    for knob in KNOBS:
        monkeypatch.delenv(knob, raising=False)
    monkeypatch.setenv("FAKE_AGENT_TRACE", str(toy.root / "agents.trace"))
    shutil.copytree(REPO / "droids", toy.root / "droids")
    for name in AGENT_COMMANDS:
        shutil.copy(REPO / "workflow/commands" / f"{name}.md", toy.root / "workflow/commands" / f"{name}.md")
    toy.command("init")  # /data-quality-check needs it
    toy.config(agent={"program": PROGRAM, "tools_format": "auto", "timeout": 60})
    return toy


def trace(toy: ToyProject) -> dict[str, list[float]]:
    """name -> [start, end] of every agent call since the last call; the trace is consumed."""
    path = toy.root / "agents.trace"
    spans: dict[str, list[float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            kind, name, t = line.split()
            assert kind == "end" or name not in spans, f"{name} started twice in one run"
            spans.setdefault(name, [0.0, 0.0])[0 if kind == "start" else 1] = float(t)
        path.unlink()
    return spans


def most_at_once(spans: list[list[float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def set_cap(toy: ToyProject, cap: int) -> None:
    path = toy.root / "config/profiles/default/config.yaml"
    profile = yaml.safe_load(path.read_text())
    assert profile["resources"]["agents"] == 3, "the workflow's default profile caps agents at 3, as in the seed"
    profile["resources"]["agents"] = cap
    path.write_text(yaml.safe_dump(profile))


def step_folder(toy: ToyProject, command: str) -> Path:
    found = sorted((toy.root / "results/steps").glob(f"{command}-*"))
    assert len(found) == 1, found
    return found[0]


def listed_inputs(prompt: str) -> list[tuple[str, str]]:
    section = prompt.split("## Upstream inputs", 1)[1].split("## Answer format", 1)[0]
    return re.findall(r"^- `([^`]+)`: (\S+)$", section, re.M)


def sha16(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- 1. the agents cap


@pytest.mark.parametrize(("how", "cap"), [("slashmake", 2), ("slashmake", 3), ("snakemake", 2)],
                         ids=["run-cap2", "run-cap3", "plain-snakemake-cap2"])
def test_droid_steps_run_at_most_cap_at_once(agents: ToyProject, monkeypatch: pytest.MonkeyPatch, how: str,
                                             cap: int) -> None:
    set_cap(agents, cap)
    monkeypatch.setenv("FAKE_AGENT_SLEEP", "1.5")
    monkeypatch.setenv("FAKE_AGENT_MATCH", "analyze-model-architecture|validate-data-pipeline|setup-monitoring")
    if how == "slashmake":
        agents.slashmake("run", "/parallel-analysis", "--cores", "4")
    else:
        agents.snakemake("-c4", "parallel_analysis")
    spans = trace(agents)
    assert set(spans) == ALL_FIVE
    branches = [spans[n] for n in sorted(BRANCHES)]
    assert all(end - start >= 1.4 for start, end in branches)
    assert most_at_once(branches) == cap  # never more than the cap, and the cap is used
    assert spans[AGGREGATE][0] >= max(end for _, end in branches)
    assert spans[PLAN][0] >= spans[AGGREGATE][1]


# --------------------------------------------------------------------------- 2, 3. aggregate; nothing to redo


def test_aggregate_sees_all_three_answers_and_a_rerun_starts_no_agent(agents: ToyProject) -> None:
    out = agents.slashmake("run", "/parallel-analysis").stdout
    assert set(trace(agents)) == ALL_FIVE
    assert "/aggregate" in out and "findings=" in out  # the results table shows the agent's metrics

    folders = {name: step_folder(agents, name.split(":")[1]) for name in BRANCHES}
    aggregate = step_folder(agents, "aggregate")
    listed = listed_inputs((aggregate / "prompt.md").read_text())
    assert sorted(listed) == sorted(("response", f"{f.relative_to(agents.root)}/response.md")
                                    for f in folders.values())
    # the agent read each answer as it was when it ran
    answer = (aggregate / "response.md").read_text()
    for folder in folders.values():
        response = folder / "response.md"
        assert f"input response: {response.relative_to(agents.root)} sha256={sha16(response)}" in answer
    metrics = json.loads((aggregate / "metrics.json").read_text())
    assert set(metrics) == {"findings", "high_severity", "conflicts"}
    plan = listed_inputs((step_folder(agents, "plan") / "prompt.md").read_text())
    assert plan == [("response", f"{aggregate.relative_to(agents.root)}/response.md")]

    agents.slashmake("run", "/parallel-analysis")
    assert trace(agents) == {}
    dry = agents.snakemake("-n", "-c2", "parallel_analysis")
    assert "Nothing to be done" in dry.stdout + dry.stderr


# --------------------------------------------------------------------------- 4. editing a droid


@pytest.mark.parametrize(("droid", "rerun"), [
    ("ml-production-engineer", {MODEL, AGGREGATE, PLAN}),
    ("command-workflow-orchestrator", {AGGREGATE, PLAN}),
])
def test_editing_a_droid_reruns_its_steps_and_what_follows(agents: ToyProject, droid: str, rerun: set[str]) -> None:
    agents.slashmake("run", "/parallel-analysis")
    assert set(trace(agents)) == ALL_FIVE
    before = {p.name for p in (agents.root / "results/steps").iterdir()}

    path = agents.root / "droids" / f"{droid}.md"
    path.write_text(path.read_text() + "\nAlways cite the file and line of every finding.\n")
    agents.slashmake("run", "/parallel-analysis")
    assert set(trace(agents)) == rerun
    after = {p.name for p in (agents.root / "results/steps").iterdir()}
    new = after - before  # new folders for the rerun steps; the others are reused
    assert sorted(n.rsplit("-", 1)[0] for n in new) == sorted(n.split(":")[1] for n in rerun)
    for name in new:
        prompt = (agents.root / "results/steps" / name / "prompt.md").read_text()
        edited = prompt.startswith(f"# Role: {droid}\n")
        assert ("Always cite the file and line" in prompt) == edited

    agents.slashmake("run", "/parallel-analysis")
    assert trace(agents) == {}


# --------------------------------------------------------------------------- 5. gates on an agent's verdict


def _branch_commands(toy: ToyProject, *names: str) -> None:
    for name in names:
        toy.command(name)


@pytest.mark.parametrize(("score", "branch", "ran"), [(0.9, "then", "deploy-ok"), (0.1, "else", "deploy-no")])
def test_gate_on_an_agent_metric_takes_the_branch_it_says(agents: ToyProject, monkeypatch: pytest.MonkeyPatch,
                                                         score: float, branch: str, ran: str) -> None:
    _branch_commands(agents, "deploy-ok", "deploy-no")
    monkeypatch.setenv("FAKE_AGENT_METRICS", json.dumps({"model_score": score}))
    out = agents.slashmake("run", "/analyze → /if:model-score>0.5 → /deploy-ok → /else → /deploy-no").stdout
    assert set(trace(agents)) == {"ml-production-engineer:analyze"}
    assert agents.ran() == [ran]
    decision = json.loads((step_folder(agents, "gate-model-score") / "decision.json").read_text())
    assert decision["branch"] == branch and decision["value"] == score and decision["metric"] == "model_score"
    assert decision["source"].endswith("/metrics.json") and "/analyze-" in decision["source"]
    assert f"branch {branch}" in out


def test_gate_on_a_verdict_line_goes_both_ways(agents: ToyProject) -> None:
    """The fake agent answers approved=true/false from a `VERDICT: word` line of its prompt."""
    _branch_commands(agents, "ship", "fix")
    (agents.root / "workflow/commands/review.md").write_text(
        "---\ndescription: Review the change and give a verdict\nallowed-tools: [Read, Grep]\n"
        "slashmake:\n  droid: code-reviewer\n  metrics: {keys: [approved], primary: approved}\n---\n"
        "Review the change.\n\nVERDICT: $0\n")
    agents.slashmake("run", "/review:lgtm → /if:approved → /ship → /else → /fix")
    assert set(trace(agents)) == {"code-reviewer:review"}
    assert agents.ran() == ["ship"]
    agents.slashmake("run", "/review:request-changes → /if:approved → /ship → /else → /fix")
    assert set(trace(agents)) == {"code-reviewer:review"}
    assert agents.ran() == ["fix"]
    verdicts = sorted(json.loads((f / "metrics.json").read_text())["verdict"]
                      for f in (agents.root / "results/steps").glob("review-*"))
    assert verdicts == ["lgtm", "request-changes"]


# --------------------------------------------------------------------------- 6. failures


@pytest.mark.parametrize(("knobs", "timeout", "says"), [
    ({"FAKE_AGENT_FAIL": "7"}, 60, "exited with status 7"),
    ({"FAKE_AGENT_SLEEP": "30"}, 1, "timed out after 1s and was stopped"),
    ({"FAKE_AGENT_EMPTY": "1"}, 60, "printed no answer"),
], ids=["fails", "hangs", "empty"])
def test_a_failing_agent_fails_its_step_with_a_clear_log(agents: ToyProject, monkeypatch: pytest.MonkeyPatch,
                                                        knobs: dict[str, str], timeout: int, says: str) -> None:
    agents.command("deploy-ok")
    agents.command("analyze-then-deploy", flow="/analyze → /deploy-ok")
    agents.config(agent={"program": PROGRAM, "timeout": timeout})
    for k, v in knobs.items():
        monkeypatch.setenv(k, v)
    r = agents.slashmake("run", "/analyze-then-deploy", check=False, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Error:" in r.stderr and "snakemake exited" in r.stderr
    assert agents.ran() == []  # what follows did not start
    logs = sorted((agents.root / "logs/steps").glob("analyze-*.log"))
    assert len(logs) == 1
    assert logs[0].relative_to(agents.root).as_posix() in r.stdout + r.stderr  # Snakemake points at the log
    log = logs[0].read_text()
    assert "slashmake: error: agent program 'python' (/analyze as droid ml-production-engineer)" in log
    assert says in log
    folder = agents.root / "results/steps" / logs[0].stem
    assert not (folder / "response.md").exists() and not (folder / "metrics.json").exists()

    # Even when Snakemake keeps a failed job's files, the agent left no answer that looks complete.
    r = agents.snakemake("-c2", "--keep-incomplete", "analyze_then_deploy", check=False, timeout=120)
    assert r.returncode != 0
    assert (folder / "prompt.md").exists()  # kept: the prompt it was given, for diagnosis
    assert not (folder / "response.md").exists() and not (folder / "metrics.json").exists()
    assert not list(folder.glob(".response.md.*")) and not list(folder.glob(".metrics.json.*"))


# --------------------------------------------------------------------------- 7. no agent program


@pytest.mark.parametrize("chain", ["/parallel-analysis", "/analyze → /if:score>0.5 → /init"])
def test_without_an_agent_program_run_refuses_before_anything_starts(agents: ToyProject, chain: str) -> None:
    agents.config(agent={"program": [], "timeout": 60})
    r = agents.slashmake("run", chain, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("Error:") and "agent.program" in r.stderr and "config/config.yaml" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (agents.root / "results/steps").exists() and not (agents.root / "logs").exists()
    assert trace(agents) == {} and agents.ran() == []


# --------------------------------------------------------------------------- 8. --force


def test_force_reruns_an_agent_step_and_what_follows(agents: ToyProject) -> None:
    agents.slashmake("run", "/parallel-analysis")
    assert set(trace(agents)) == ALL_FIVE
    agents.slashmake("run", "/parallel-analysis", "--force", "/setup-monitoring")
    assert set(trace(agents)) == {MONITOR, AGGREGATE, PLAN}
    key = step_folder(agents, "aggregate").name
    agents.slashmake("run", "/parallel-analysis", "--force", key)
    assert set(trace(agents)) == {AGGREGATE, PLAN}


def test_force_accepts_the_step_as_the_chain_writes_it(agents: ToyProject) -> None:
    r = agents.slashmake("run", "/parallel-analysis", "-n", "--force", MONITOR, check=False)
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------- 9. lint


def test_lint_prints_the_repos_droid_table(toy: ToyProject) -> None:
    r = toy.slashmake("-C", str(REPO), "lint")
    defs = load(REPO)
    lines = r.stdout.splitlines()
    assert re.match(r"droid\s+tools\s+commands it may run$", lines[0])
    rows = {line.split()[0]: line for line in lines[1:] if line.split() and line.split()[0] in defs.droids}
    assert set(rows) == set(defs.droids) == {p.stem for p in (REPO / "droids").glob("*.md")}
    for name, droid in defs.droids.items():
        assert re.search(rf"^{re.escape(name)}\s+{re.escape(describe(droid.tools))}\s+\d+: ", rows[name]), rows[name]
    may = {name: set(rows[name].split(": ", 1)[1].split()) for name in rows}
    assert {"/aggregate", "/plan"} <= may["command-workflow-orchestrator"]
    assert "/validate-data-pipeline" in may["data-infrastructure-engineer"]
    assert "/validate-data-pipeline" not in may["ml-observability-monitoring-engineer"]  # it needs Execute
    assert "/parallel-analysis" not in may["ml-production-engineer"]  # macros are not listed
    n_macros = sum(c.kind == "flow" for c in defs.commands.values())
    assert lines[-1] == (f"ok: {len(defs.commands)} commands ({n_macros} macros), {len(defs.droids)} droids, "
                         f"{len(defs.warnings)} warnings, 0 bad files")


@pytest.mark.parametrize("style", [
    "plain",
    "quoted",
])
def test_lint_fails_where_a_chain_gives_a_droid_a_command_it_lacks_tools_for(toy: ToyProject, style: str) -> None:
    (toy.root / "droids").mkdir()
    (toy.root / "droids/reader.md").write_text("---\nname: reader\ndescription: Reads\ntools: read-only\n---\nRead.\n")
    toy.command("init")
    (toy.root / "workflow/commands/shipit.md").write_text(
        "---\ndescription: Ship it\nallowed-tools: [Read, Bash(git push:*)]\n---\nShip $ARGUMENTS.\n")
    r = toy.slashmake("lint")  # the pairing is not used yet: fine, and the table says reader cannot run it
    reader = next(line for line in r.stdout.splitlines() if line.startswith("reader "))
    assert "/shipit" not in reader and "/init" in reader

    flow = "/init → /reader:shipit"
    value = f'"{flow}"' if style == "quoted" else flow
    (toy.root / "workflow/commands/ship-flow.md").write_text(f"---\ndescription: Ship\nslashmake:\n  flow: {value}\n---\n")
    r = toy.slashmake("lint", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    col = len('  flow: ') + (1 if style == "quoted" else 0) + flow.index("/reader") + 1
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"error: workflow/commands/ship-flow.md:4:{col}: "), first
    assert "reader.md" in first and "shipit.md" in first and "Execute" in first
    assert "/reader:shipit" in r.stderr and "^" in r.stderr
