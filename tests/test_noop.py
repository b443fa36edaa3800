"""The no-op fast path gives Snakemake's own answer (end to end through the CLI, real Snakemake).

Each test runs a small flow of toy commands once, changes one kind of thing Snakemake's rerun
decision reads, and checks both sides: plain ``snakemake -n`` on the same target says whether
anything would run, and ``slashmake run`` answers "nothing to do" (without starting Snakemake)
only where Snakemake would run nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FLOW = "/prep → /train → /if:accuracy>0.5 → /deploy → /else → /retry → /end → /report"
TARGET = "nightly"
NOOP = "nothing to do"


def _project(toy) -> None:  # type: ignore[no-untyped-def]
    toy.command("prep", output={"data": "data.json"})
    toy.command("train", params={"acc": 0.9}, metrics={"accuracy": "{params.acc}"}, inputs=["data"])
    for name in ("deploy", "retry", "report"):
        toy.command(name)
    toy.command(TARGET, flow=FLOW)


def _snakemake_would_run(toy) -> bool:  # type: ignore[no-untyped-def]
    dry = toy.snakemake("-n", "-c1", TARGET)
    return "Nothing to be done" not in dry.stdout + dry.stderr


def _answer(toy) -> tuple[bool, list[str]]:  # type: ignore[no-untyped-def]
    """Whether ``slashmake run`` took the fast path, and the toy steps it ran."""
    toy.ran()
    out = toy.slashmake("run", f"/{TARGET}")
    return NOOP in out.stdout, toy.ran()


def _check(toy) -> bool:  # type: ignore[no-untyped-def]
    """Snakemake's answer first (a dry run changes nothing), then slashmake's; they must agree."""
    would_run = _snakemake_would_run(toy)
    fast, ran = _answer(toy)
    if fast:
        assert not would_run, "the fast path said nothing to do where Snakemake would run something"
        assert ran == []
    return fast


@pytest.fixture
def done(toy):  # type: ignore[no-untyped-def]
    """The flow run once to completion; a second run is the fast no-op."""
    _project(toy)
    first = toy.slashmake("run", f"/{TARGET}")
    assert NOOP not in first.stdout and toy.ran() == ["prep", "train", "deploy", "report"]
    assert _check(toy), "an unchanged project must be a no-op without Snakemake"
    return toy


def _step_file(toy, step: str, name: str) -> Path:  # type: ignore[no-untyped-def]
    hits = sorted((toy.root / "results/steps").glob(f"{step}-*/{name}"))
    assert len(hits) == 1, hits
    return hits[0]


def test_unchanged_project_is_a_noop_and_prints_the_results(done) -> None:  # type: ignore[no-untyped-def]
    out = done.slashmake("run", f"/{TARGET}")
    assert NOOP in out.stdout and "accuracy=0.9" in out.stdout
    assert done.ran() == []
    assert not _snakemake_would_run(done)


def test_an_input_whose_content_changed_runs(done) -> None:  # type: ignore[no-untyped-def]
    time.sleep(0.05)
    _step_file(done, "prep", "data.json").write_text('{"rows": 2}')  # /train's input
    would_run = _snakemake_would_run(done)
    fast, ran = _answer(done)
    assert would_run and not fast and ran[0] == "train"
    assert _check(done)


def test_a_deleted_output_runs_its_step(done) -> None:  # type: ignore[no-untyped-def]
    (done.root / "results" / TARGET / "index.json").unlink()
    would_run = _snakemake_would_run(done)
    fast, _ = _answer(done)
    assert would_run and not fast and (done.root / "results" / TARGET / "index.json").exists()
    assert _check(done)


def test_a_deleted_intermediate_output_is_left_to_snakemake(done) -> None:  # type: ignore[no-untyped-def]
    # Snakemake 9 does not rebuild an intermediate file whose consumers are up to date; whatever
    # it decides, the fast path leaves the decision to it.
    _step_file(done, "report", "report.json").unlink()
    assert not _check(done)
    assert _check(done)


def test_a_changed_parameter_runs(done) -> None:  # type: ignore[no-untyped-def]
    done.config(params={"acc": 0.8})
    assert not _check(done)
    assert _check(done)


def test_a_changed_shell_command_runs(done) -> None:  # type: ignore[no-untyped-def]
    path = done.root / "workflow/commands/report.md"
    path.write_text(path.read_text().replace("python toy_step.py report", "python toy_step.py report --set x=1"))
    assert not _check(done)
    assert _check(done)


def test_a_changed_config_runs_snakemake(done) -> None:  # type: ignore[no-untyped-def]
    done.config(agent={"program": ["true"], "tools_format": "auto", "timeout": 30})
    assert not _check(done)  # Snakemake decides (here: nothing to run), and the stamp is renewed
    assert _check(done)


def test_a_gate_whose_metric_changed_takes_the_other_branch(done) -> None:  # type: ignore[no-untyped-def]
    metrics = _step_file(done, "train", "metrics.json")
    time.sleep(0.05)
    metrics.write_text(json.dumps({"accuracy": 0.1, "n_inputs": 1}))
    would_run = _snakemake_would_run(done)
    fast, ran = _answer(done)
    assert would_run and not fast
    assert "retry" in ran and "deploy" not in ran
    assert _check(done)


def test_a_killed_run_leaves_no_stamp(done) -> None:  # type: ignore[no-untyped-def]
    path = done.root / "workflow/commands/report.md"
    path.write_text(path.read_text().replace("python toy_step.py report", "sleep 30; python toy_step.py report"))
    proc = subprocess.Popen([sys.executable, "-m", "slashmake.interfaces.cli", "run", f"/{TARGET}"], cwd=done.root,
                            env=done.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not _sleeping(proc.pid):  # the report step is running
        time.sleep(0.1)
    assert _sleeping(proc.pid), "the report step never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    path.write_text(path.read_text().replace("sleep 30; python toy_step.py report", "python toy_step.py report"))
    # The shell is back as it was, but the killed run removed the stamp before it started.
    assert not _noop_stamps(done.root)
    assert not _check(done)


def _sleeping(pid: int) -> bool:
    out = subprocess.run(["pgrep", "-s", str(pid), "sleep"], capture_output=True, text=True)
    return bool(out.stdout.strip())


def _noop_stamps(root: Path) -> list[Path]:
    return sorted((root / ".slashmake/noop").glob("*.json"))


def test_forced_runs_skip_the_fast_path(done) -> None:  # type: ignore[no-untyped-def]
    out = done.slashmake("run", f"/{TARGET}", "--forcerun", "/report")
    assert NOOP not in out.stdout and done.ran() == ["report"]
    assert not _noop_stamps(done.root)  # the forced run removed it; only a plain run writes one
    assert not _check(done)
    assert _check(done)


def test_an_agent_commands_bang_output_is_left_to_snakemake(toy) -> None:  # type: ignore[no-untyped-def]
    # A `!` line runs each time Snakemake parses the workflow, and its output is a parameter:
    # no file shows its change, so such a flow never takes the fast path.
    fake = Path(__file__).resolve().parent / "fake_agent.py"
    toy.config(agent={"program": ["python", str(fake), "-f", "{prompt_file}"], "tools_format": "auto",
                      "timeout": 60})
    (toy.root / "workflow/commands/ask.md").write_text(
        "---\ndescription: ask the agent\nallowed-tools: [Read]\n---\nThe note says: !`cat note.txt`.\n")
    (toy.root / "note.txt").write_text("one\n")
    toy.command("review", flow="/ask")
    first = toy.slashmake("run", "/review")
    assert NOOP not in first.stdout
    (toy.root / "note.txt").write_text("two\n")
    dry = toy.snakemake("-n", "-c1", "review")
    assert "Nothing to be done" not in dry.stdout + dry.stderr, "Snakemake reruns the step: its parameter changed"
    again = toy.slashmake("run", "/review")
    assert NOOP not in again.stdout
    assert "two" in next((toy.root / "results/steps").glob("ask-*/prompt.md")).read_text()


# -- the holes of issue 17: each case fails where the stamp was absolute or missed a folder --------

def _one(toy, name: str = "one", **kw) -> None:  # type: ignore[no-untyped-def]
    toy.command(name, params={"n": 1}, **kw)
    first = toy.slashmake("run", f"/{name}")
    assert NOOP not in first.stdout and toy.ran() == [name]
    assert NOOP in toy.slashmake("run", f"/{name}").stdout


def test_a_copied_project_never_answers_from_the_original(toy_factory) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from conftest import ToyProject

    toy = toy_factory("orig")
    _one(toy)
    copy_root = toy.root.parent / "copy"
    shutil.copytree(toy.root, copy_root, symlinks=True)
    copy = ToyProject.__new__(ToyProject)
    copy.root, copy.trace = copy_root, copy_root / "trace.jsonl"
    copy.command("one", params={"n": 2})  # edited in the copy only
    out = copy.slashmake("run", "/one")
    assert NOOP not in out.stdout, "the copy answered from the original's unchanged files"
    assert copy.ran() == ["one"]  # the copy's step ran, with the copy's parameter
    assert NOOP in copy.slashmake("run", "/one").stdout  # and the copy's own stamp is good afterwards


def test_a_moved_or_renamed_project_asks_snakemake(toy_factory) -> None:  # type: ignore[no-untyped-def]
    from conftest import ToyProject

    toy = toy_factory("before")
    _one(toy)
    moved = toy.root.parent / "after"
    toy.root.rename(moved)
    # a new project takes the old name, with the same stamp and an older copy of the files
    proj = ToyProject.__new__(ToyProject)
    proj.root, proj.trace = moved, moved / "trace.jsonl"
    out = proj.slashmake("run", "/one")
    assert NOOP not in out.stdout  # another folder: Snakemake decided (and ran nothing)
    assert proj.ran() == []
    assert NOOP in proj.slashmake("run", "/one").stdout


def test_an_edited_plugin_command_runs(toy) -> None:  # type: ignore[no-untyped-def]
    plug = toy.root / "plug"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin/plugin.json").write_text('{"name": "plug"}')
    (plug / "commands").mkdir()
    cmd = plug / "commands/step.md"
    cmd.write_text("---\ndescription: a plugin step\nslashmake:\n  output: {report: report.json}\n"
                   "  shell: python toy_step.py plug --out {output.report}\n---\n")
    toy.config(plugins=["plug"])
    toy.slashmake("run", "/plug:step")
    assert toy.ran() == ["plug"] and NOOP in toy.slashmake("run", "/plug:step").stdout
    cmd.write_text(cmd.read_text().replace("toy_step.py plug", "toy_step.py plug2"))
    out = toy.slashmake("run", "/plug:step")
    assert NOOP not in out.stdout and toy.ran() == ["plug2"]


def test_an_edited_command_in_a_dot_folder_runs(toy) -> None:  # type: ignore[no-untyped-def]
    wip = toy.root / "workflow/commands/.wip"
    wip.mkdir(parents=True)
    draft = wip / "draft.md"
    draft.write_text("---\ndescription: a draft\nslashmake:\n  output: {report: report.json}\n"
                     "  shell: python toy_step.py draft --out {output.report}\n---\n")
    toy.command("main", needs=[".wip/draft"])
    toy.slashmake("run", "/main")
    assert toy.ran() == ["draft", "main"] and NOOP in toy.slashmake("run", "/main").stdout
    draft.write_text(draft.read_text().replace("toy_step.py draft", "toy_step.py draft2"))
    out = toy.slashmake("run", "/main")
    assert NOOP not in out.stdout and toy.ran() == ["draft2", "main"]


def test_a_git_checkout_of_another_branch_runs(toy) -> None:  # type: ignore[no-untyped-def]
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=toy.root, check=True,
                       capture_output=True)

    toy.command("one", params={"n": 1})
    git("init", "-q", "-b", "main")
    git("add", "workflow")
    git("commit", "-qm", "n=1")
    git("checkout", "-qb", "other")
    toy.command("one", params={"n": 2})
    git("commit", "-qam", "n=2")
    git("checkout", "-q", "main")
    toy.slashmake("run", "/one")
    assert toy.ran() == ["one"] and NOOP in toy.slashmake("run", "/one").stdout
    git("checkout", "-q", "other")
    out = toy.slashmake("run", "/one")
    assert NOOP not in out.stdout and toy.ran() == ["one"]


def test_a_hard_link_or_chmod_of_the_installed_code_keeps_the_stamp_while_an_edit_does_not(tmp_path: Path) -> None:
    """The pod tests hard-link and chmod slashmake's installed tree while other tests run: a code
    file's state (an absolute key) must ignore that, as its ctime moves, and still see an edit."""
    from slashmake.execution.noop import state_of

    project, code = tmp_path / "proj", tmp_path / "site" / "module.py"
    project.mkdir()
    code.parent.mkdir()
    code.write_text("x = 1\n")
    (project / "Snakefile").write_text("# rules\n")
    before_code, before_project = state_of(project, str(code)), state_of(project, "Snakefile")
    time.sleep(0.01)  # the ctimes below must be able to differ
    os.link(code, tmp_path / "linked.py")
    code.chmod(0o600)
    (project / "Snakefile").chmod(0o600)
    assert state_of(project, str(code)) == before_code
    assert state_of(project, "Snakefile") != before_project  # a project file's state keeps its ctime
    code.write_text("x = 2\n")  # an edit: a new mtime
    assert state_of(project, str(code)) != before_code
