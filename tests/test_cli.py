"""The CLI outside a flow run: `init` lays out a project that then runs; results and usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slashmake.interfaces.cli", *args], cwd=cwd, text=True, capture_output=True,
                          timeout=300)


@pytest.mark.slow
def test_init_lays_out_a_project_that_runs(tmp_path: Path) -> None:
    proj = tmp_path / "mine"
    r = cli("init", str(proj), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for rel in ("Snakefile", "rules/common.smk", "config/config.yaml", "config/schema.yaml",
                "config/profiles/default/config.yaml", "workflow/commands", "droids", "rules/compiled"):
        assert (proj / rel).exists(), rel
    assert (proj / "profiles").is_symlink()
    assert (proj / "Snakefile").read_text() == (REPO / "Snakefile").read_text()
    (proj / "workflow/commands/hello.md").write_text(
        "---\ndescription: say hello\nslashmake:\n  output: {greeting: hello.txt}\n"
        "  shell: echo hello > {output.greeting}\n---\n")
    r = cli("run", "/hello", cwd=proj)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    [greeting] = list((proj / "results/steps").glob("hello-*/hello.txt"))
    assert greeting.read_text() == "hello\n"
    again = cli("init", str(proj), cwd=tmp_path)  # existing files are kept
    assert again.returncode == 0 and "created Snakefile" not in again.stdout


def test_results_prints_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "results/ledger.jsonl"
    ledger.parent.mkdir()
    ledger.write_text(json.dumps({"time": "t1", "step": "ml-evaluate", "metrics": {"accuracy": 0.93, "f1_macro": 0.9}})
                      + "\n"
                      + json.dumps({"time": "t2", "step": "evaluate", "accuracy": 0.5}) + "\n")
    r = cli("results", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["time", "step", "accuracy", "f1_macro"]
    assert lines[1].split() == ["t1", "ml-evaluate", "0.9300", "0.9000"] and lines[2].split()[-1] == "-"


def test_results_without_a_ledger_is_a_user_error(tmp_path: Path) -> None:
    r = cli("results", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("Error: no experiment ledger") and "Traceback" not in r.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert cli("run", "--cores", "many", "/x", cwd=tmp_path).returncode == 2
    assert cli("frobnicate", cwd=tmp_path).returncode == 2
