"""The Snakemake argument lists slashmake builds, and per-rule options named by command (real Snakemake)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from slashmake.compiler.project import Project
from slashmake.errors import RunError
from slashmake.execution.options import per_rule, rule_list
from slashmake.execution.runner import Invocation, parse_dry_run, snakemake_argv

REPO = Path(__file__).resolve().parent.parent


def test_target_comes_before_options_that_take_several_values() -> None:
    argv = snakemake_argv(Invocation("chain_x", forcerun=("a_1", "b_2"), chain_file=".slashmake/chains/x.smk"))
    assert argv[:4] == [sys.executable, "-m", "snakemake", "chain_x"]
    assert argv[argv.index("--forcerun") + 1 : argv.index("--forcerun") + 3] == ["a_1", "b_2"]
    assert argv[-2:] == ["--config", "slashmake_chain=.slashmake/chains/x.smk"]


def test_executors_pick_their_profiles() -> None:
    slurm = snakemake_argv(Invocation("t", executor="slurm"))
    assert slurm[-2:] == ["--profile", "config/profiles/slurm"] and "--executor" not in slurm
    runpod = snakemake_argv(Invocation("t", executor="runpod"))
    assert "config/profiles/runpod" in runpod and runpod[-1] == "slashmake_group_sweeps=1"
    local = snakemake_argv(Invocation("t"))
    assert "--profile" not in local and "--executor" not in local


def test_an_explicit_profile_wins_over_the_executor_default() -> None:
    argv = snakemake_argv(Invocation("t", executor="slurm", profile="my/profile"))
    assert argv.count("--profile") == 1 and "my/profile" in argv
    assert argv[argv.index("--executor") + 1] == "slurm"


def test_dry_run_is_quiet_only_when_asked() -> None:
    assert "--quiet" not in snakemake_argv(Invocation("t", dry_run=True))
    argv = snakemake_argv(Invocation("t", dry_run=True, quiet=True))
    assert argv[argv.index("--quiet") + 1] == "rules"


def test_parse_dry_run_reads_rules_reasons_and_wildcards() -> None:
    text = """
[Thu Nov 26 13:25:53 2026]
rule train_ab:
    output: results/steps/train-ab/sigma-0.1/out.json
    jobid: 2
    reason: Missing output files: results/steps/train-ab/sigma-0.1/out.json
    wildcards: variant=sigma-0.1
[Thu Nov 26 13:25:53 2026]
localcheckpoint gate_x:
    reason: Input files updated by another job: a.json
"""
    jobs = parse_dry_run(text)
    assert [(j.rule, j.wildcards) for j in jobs] == [("train_ab", "variant=sigma-0.1"), ("gate_x", "")]
    assert jobs[0].reason.startswith("Missing output files") and jobs[1].reason.startswith("Input files")


def test_per_rule_options_reach_snakemake_after_the_target() -> None:
    argv = snakemake_argv(Invocation("t", until=("a",), set_threads=("a=4",), set_resources=("a:mem_mb=10",),
                                     flows=("f1", "f2")))
    assert argv[3] == "t"
    for option, value in (("--until", "a"), ("--set-threads", "a=4"), ("--set-resources", "a:mem_mb=10")):
        assert argv[argv.index(option) + 1] == value
    assert argv[-1] == "slashmake_flows=[f1,f2]"  # a YAML list to Snakemake's --config


def test_runpod_sizes_each_sweep_group_with_snakemakes_own_option() -> None:
    argv = snakemake_argv(Invocation("t", executor="runpod", group_components=("sweep_train=16",)))
    assert argv[argv.index("--group-components") + 1] == "sweep_train=16"
    local = snakemake_argv(Invocation("t", group_components=("sweep_train=16",)))
    assert "--group-components" not in local  # only where a group job is shipped as one unit


def _repo_project(tmp_path: Path) -> Path:
    """A copy of this repository's workflow (definitions, Snakefile, rules, config) to run Snakemake in."""
    root = tmp_path / "repo"
    for rel in ("workflow", "droids", "rules", "config", "scripts"):
        shutil.copytree(REPO / rel, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
    for rel in ("Snakefile", "environment.yml"):
        if (REPO / rel).exists():
            shutil.copy(REPO / rel, root / rel)
    os.symlink("config/profiles", root / "profiles")
    return root


def test_steps_are_named_by_command_for_per_rule_options(tmp_path: Path) -> None:
    project = Project.open(_repo_project(tmp_path))
    resolved = project.resolve_chain("/ml-pipeline-full", "ml-pipeline-full")
    train = [s.rule for s in resolved.steps if s.label == "/ml-train"]
    assert len(train) == 1
    for name in ("/ml-train", "ml-train", train[0]):
        assert per_rule(resolved, (f"{name}:mem_mb=1000",), "--set-resources", ":") == (f"{train[0]}:mem_mb=1000",)
        assert per_rule(resolved, (f"{name}=3",), "--set-threads", "=") == (f"{train[0]}=3",)
        assert rule_list(resolved, (name,), "--until") == (train[0],)
    with pytest.raises(RunError, match=r"--until /no-such: no such step in this flow \(steps: .*/ml-train"):
        rule_list(resolved, ("/no-such",), "--until")
    with pytest.raises(RunError, match="write STEP:NAME=VALUE"):
        per_rule(resolved, ("/ml-train=1000",), "--set-resources", ":")



def test_the_set_resources_example_of_the_executor_docs_works(tmp_path: Path) -> None:
    """docs/executors.md: `--set-resources ml_train:...` names the /ml-train step's rule."""
    root = _repo_project(tmp_path)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-c2", "ml_pipeline_full", "--forcerun", "ml_train",
                           "--set-resources", "ml_train:mem_mb=1000"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert re.search(r"rule ml_train:\n(?:\s+\S.*\n)*?\s+resources: .*mem_mb=1000", out), out[-3000:]
