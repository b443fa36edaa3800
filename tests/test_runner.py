"""The Snakemake argument lists slashmake builds (pure functions, no Snakemake run)."""

from __future__ import annotations

import sys

from slashmake.runner import Invocation, parse_dry_run, snakemake_argv


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
