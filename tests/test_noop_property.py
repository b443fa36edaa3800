"""A property of the fast path, driven by hypothesis: random edits, copies and moves of a small project.

After each change, plain ``snakemake -n`` says whether anything would run; ``slashmake run`` must
never answer "nothing to do" where it would. The project has one of each hole issue 17 found: a
plugin command, a command in a dot-folder reached through ``needs:``, and a ``script:`` command.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from conftest import ToyProject
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow
NOOP = "nothing to do"
_count = itertools.count()

OPS = ["edit_draft", "edit_plugin", "edit_script", "edit_param", "delete_output", "touch_input", "copy", "move",
       "nothing"]


def _at(root: Path) -> ToyProject:
    """The ToyProject helpers for a folder that already holds a project (a copy, a moved one)."""
    toy = ToyProject.__new__(ToyProject)
    toy.root, toy.trace = root, root / "trace.jsonl"
    return toy


def _project(root: Path) -> ToyProject:
    toy = ToyProject(root)
    plug = root / "plug"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin/plugin.json").write_text('{"name": "plug"}')
    (plug / "commands").mkdir()
    (plug / "commands/p.md").write_text("---\ndescription: plugin step\nslashmake:\n  output: {data: data.json}\n"
                                        "  shell: python toy_step.py p --out {output.data} -- v0\n---\n")
    toy.config(plugins=["plug"])
    (root / "workflow/commands/.wip").mkdir(parents=True)
    (root / "workflow/commands/.wip/draft.md").write_text(
        "---\ndescription: a draft\nslashmake:\n  output: {report: report.json}\n"
        "  shell: python toy_step.py draft --out {output.report} -- v0\n---\n")
    (root / "scripts").mkdir()
    (root / "scripts/a.py").write_text("open(snakemake.output.model, 'w').write(str(snakemake.params.n))\n")
    _script_command(root, 1)
    toy.command("flow", flow="/plug:p → /a")
    return toy


def _script_command(root: Path, n: int) -> None:
    (root / "workflow/commands/a.md").write_text(
        f"---\ndescription: a\nslashmake:\n  params: {{n: {n}}}\n  needs: [.wip/draft]\n"
        "  output: {model: model.txt}\n  script: scripts/a.py\n---\n")


def _apply(toy: ToyProject, op: str, n: int) -> ToyProject:
    root = toy.root
    if op == "edit_draft":
        path = root / "workflow/commands/.wip/draft.md"
        path.write_text(path.read_text().replace("-- v", f"-- {n}v"))
    elif op == "edit_plugin":
        path = root / "plug/commands/p.md"
        path.write_text(path.read_text().replace("-- v", f"-- {n}v"))
    elif op == "edit_script":
        with (root / "scripts/a.py").open("a") as fh:
            fh.write(f"# edit {n}\n")
    elif op == "edit_param":
        _script_command(root, n + 2)
    elif op == "delete_output":
        for p in (root / "results/steps").glob("a-*/model.txt"):
            p.unlink()
    elif op == "touch_input":
        for p in (root / "results/steps").glob("p-*/data.json"):
            p.write_text(p.read_text() + " ")
    elif op == "copy":
        copy = root.parent / f"copy{n}"
        shutil.copytree(root, copy, symlinks=True)
        return _at(copy)
    elif op == "move":
        moved = root.parent / f"moved{n}"
        root.rename(moved)
        return _at(moved)
    return toy


def _agrees(toy: ToyProject) -> None:
    dry = toy.snakemake("-n", "-c1", "flow")
    would_run = "Nothing to be done" not in dry.stdout + dry.stderr
    out = toy.slashmake("run", "/flow")
    if NOOP in out.stdout:
        assert not would_run, f"the fast path said nothing to do where Snakemake would run:\n{dry.stdout[-2000:]}"


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=3))
# each hole issue 17 found, always tried (each run is real Snakemake: few random examples beyond them)
@example(ops=["copy", "edit_param"])
@example(ops=["edit_plugin"])
@example(ops=["edit_draft"])
@example(ops=["move", "edit_script"])
def test_the_fast_path_never_hides_a_job_snakemake_would_run(tmp_path_factory: pytest.TempPathFactory,
                                                             ops: list[str]) -> None:
    """Slow (about a minute): each example builds a project, runs it, mutates it and asks both Snakemake
    (a dry run) and slashmake; hypothesis tries a few dozen mutation sequences, each a handful of runs."""
    base = tmp_path_factory.mktemp("prop")
    (base / "proj").mkdir()
    toy = _project(base / "proj")
    toy.slashmake("run", "/flow")
    assert NOOP in toy.slashmake("run", "/flow").stdout
    for op in ops:
        toy = _apply(toy, op, next(_count))
        _agrees(toy)
