"""slashmake.api: the operations the CLI and the MCP server format, called directly and checked as data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import PYTHON, ToyProject

from slashmake import api
from slashmake.errors import FlowError


@pytest.fixture
def project(toy: ToyProject, monkeypatch: pytest.MonkeyPatch) -> ToyProject:
    """A toy project of two steps, its trace and PATH set for jobs run in this process."""
    toy.command("a", params={"sigma": 0.1}, metrics={"acc": "0.9"})
    toy.command("b", inputs=["report"], metrics={"f1": "0.7"})
    monkeypatch.setenv("TOY_TRACE", str(toy.trace))
    monkeypatch.setenv("PATH", str(Path(PYTHON).parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.chdir(toy.root)
    return toy


def test_catalogue_and_lint_are_data(project: ToyProject) -> None:
    p = api.open_project(project.root)
    cat = api.catalogue(p)
    assert [c["name"] for c in cat["commands"]] == ["/a", "/b"]  # type: ignore[index]
    assert cat["commands"][0]["file"] == "workflow/commands/a.md"  # type: ignore[index]
    report = api.lint(p)
    assert report.problems == 0 and not report.failed()
    (project.root / "workflow/commands/bad.md").write_text("---\nslashmake:\n  threads: 0\n  shell: x\n---\n")
    report = api.lint(api.open_project(project.root))
    assert report.problems == 1 and report.failed()
    assert any("workflow/commands/bad.md:3:12: 'slashmake.threads' must be at least 1, not 0" in m
               for m in report.messages)


def test_prepare_compiles_a_chain_file_inside_the_project(project: ToyProject) -> None:
    prep = api.prepare(api.open_project(project.root), "/a sigma-0.2 → /b")
    assert prep.chain_file is not None and prep.chain_file.startswith(".slashmake/chains/")
    assert (project.root / prep.chain_file).is_file()
    assert [s.label for s in prep.resolved.steps if api.is_command(s)] == ["/a", "/b"]
    assert prep.target.startswith("chain_")


def test_run_returns_each_steps_metrics_then_answers_from_the_stamp(project: ToyProject) -> None:
    first = api.run(project.root, "/a → /b")
    assert not first.nothing_to_do and not first.dry_run
    by_label = {r.label: r for r in first.results}
    assert by_label["/a"].metrics["acc"] == pytest.approx(0.9)
    assert by_label["/b"].metrics["f1"] == pytest.approx(0.7)
    assert first.summary == api.results_text(first.results)
    assert project.ran() == ["a", "b"]
    again = api.run(project.root, "/a → /b")
    assert again.nothing_to_do and again.summary == first.summary
    assert project.ran() == []


def test_explain_says_what_will_run_and_why(project: ToyProject) -> None:
    p = api.open_project(project.root)
    before = api.explain(p, "/a → /b")
    assert [(s.label, s.state) for s in before] == [("/a", "will run"), ("/b", "will run")]
    api.run(project.root, "/a → /b")
    project.ran()
    after = api.explain(api.open_project(project.root), "/a → /b")
    assert [s.state for s in after] == ["up to date", "up to date"]
    forced = api.explain(api.open_project(project.root), "/a → /b", force=("/b",))
    assert [s.state for s in forced] == ["up to date", "will run"]
    assert forced[1].line().startswith("will run    /b (")


def test_bad_arguments_are_flow_errors(project: ToyProject) -> None:
    with pytest.raises(FlowError, match="--cores must be at least 1"):
        api.run(project.root, "/a", opts=api.RunOptions(cores=0))
    with pytest.raises(FlowError) as e:
        api.parse_overrides(["novalue"])
    assert e.value.exit_code == 2
    with pytest.raises(FlowError, match="outside the project folder"):
        api.graph(api.open_project(project.root), "/a", Path("../elsewhere.svg"))
    assert not (project.root.parent / "elsewhere.svg").exists()
