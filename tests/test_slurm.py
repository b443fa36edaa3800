"""End-to-end check of slashmake's SLURM profile on a real (single-node) SLURM cluster.

A sigma sweep (4 variants of a trivial step, then an aggregate) runs through the real
``snakemake --profile config/profiles/slurm`` CLI, written by hand, and compiled by slashmake
(``slashmake run "<chain>" --executor slurm``, and plain snakemake on a macro). SLURM's own
job-completion log (jobcomp/filetxt, set up by .ci/slurm-up.sh) is the witness that each variant
ran as a SLURM job with the resources the rule (or the command and droid files) asked for; a
second run must submit nothing.

The cluster comes from the ``slurm_cluster`` fixture in tests/services.py: under CI=true a
missing cluster fails these tests, elsewhere they skip with the reason.

Every cluster run is bounded (``timeout``, plus a subprocess timeout): snakemake-executor-plugin-
slurm 2.8.0 can wait forever when its status command keeps failing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sweep_flow as F
from services import SLURM_PROFILE, SlurmCluster

# One pytest-xdist worker runs this module: its jobs do not queue behind each other on the one node.
pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.xdist_group("slurm")]

SIGMAS = ("0.10", "0.12", "0.15", "0.20")
#: Hard limit for one snakemake run on the cluster, in seconds.
RUN_TIMEOUT = 300

STEP_PY = '''\
"""One sweep variant: record which SLURM job ran it."""
import argparse, json, os, socket

ap = argparse.ArgumentParser()
ap.add_argument("--sigma", type=float, required=True)
ap.add_argument("--out", required=True)
a = ap.parse_args()
rec = {"sigma": a.sigma, "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
       "host": socket.gethostname(), "cwd": os.getcwd()}
with open(a.out + ".tmp", "w") as f:
    json.dump(rec, f)
os.replace(a.out + ".tmp", a.out)
'''

AGGREGATE_PY = '''\
"""Aggregate: read every variant's JSON."""
import argparse, json, os

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--variants", nargs="+", required=True)
a = ap.parse_args()
variants = [json.load(open(p)) for p in a.variants]
rec = {"variants": variants, "slurm_job_id": os.environ.get("SLURM_JOB_ID")}
with open(a.out + ".tmp", "w") as f:
    json.dump(rec, f)
os.replace(a.out + ".tmp", a.out)
'''

SNAKEFILE = """\
# A sigma sweep, written by hand the way slashmake compiles one: one rule over a wildcard,
# resources from the command file, an aggregate that needs every variant.
SIGMAS = {sigmas!r}
PY = {python!r}

rule all:
    input: "results/aggregate.json"

rule sweep_step:
    output: "results/steps/sweep/sigma-{{sigma}}/metrics.json"
    threads: 1
    resources: mem_mb=300, runtime=3, gpu=0
    shell: "{{PY:q}} step.py --sigma {{wildcards.sigma:q}} --out {{output:q}}"

rule aggregate:
    input: expand("results/steps/sweep/sigma-{{sigma}}/metrics.json", sigma=SIGMAS)
    output: "results/aggregate.json"
    threads: 2
    resources: mem_mb=400, runtime=4
    shell: "{{PY:q}} aggregate.py --out {{output:q}} --variants {{input:q}}"
"""


def _snakemake_bin() -> str:
    """The snakemake CLI of the interpreter running the tests (the project venv)."""
    beside = Path(sys.executable).with_name("snakemake")
    if beside.exists():
        return str(beside)
    found = shutil.which("snakemake")
    if found is None:
        pytest.fail("snakemake CLI not found", pytrace=False)
    return found


def _cancel_leftovers(workdir: Path) -> None:
    """scancel any job this workflow left queued or running (after a timeout or a failure)."""
    try:
        out = subprocess.run(
            ["squeue", "--noheader", "--format=%i %Z"],
            capture_output=True, text=True, timeout=20, check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return
    ids = [
        parts[0]
        for parts in (line.split(maxsplit=1) for line in out.splitlines())
        if len(parts) == 2 and Path(parts[1]) == workdir
    ]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=20, check=False)


def run_snakemake(workdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``snakemake --profile config/profiles/slurm`` in *workdir*, bounded by RUN_TIMEOUT."""
    return run_bounded(workdir, [_snakemake_bin(), "--profile", str(SLURM_PROFILE), "--snakefile", "Snakefile", *extra])


def run_bounded(workdir: Path, cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run *cmd* in *workdir* (stdout and stderr together), killed with its children after RUN_TIMEOUT."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNAKEMAKE_", "SLURM_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    what = " ".join(Path(c).name for c in cmd[:3])
    if shutil.which("timeout"):
        cmd = ["timeout", "-k", "10", str(RUN_TIMEOUT), *cmd]
    proc = subprocess.Popen(
        cmd, cwd=workdir, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        _cancel_leftovers(workdir)
        pytest.fail(f"{what} on SLURM hung for {RUN_TIMEOUT + 30}s:\n{out[-4000:]}", pytrace=False)
    if proc.returncode != 0:
        _cancel_leftovers(workdir)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def _wait_for_jobcomp(
    cluster: SlurmCluster, job_ids: set[str], timeout: float = 20.0
) -> dict[str, dict[str, str]]:
    """The jobcomp records of *job_ids*, waiting briefly for slurmctld to write them."""
    deadline = time.monotonic() + timeout
    while True:
        records = {r["JobId"]: r for r in cluster.jobcomp_records() if r["JobId"] in job_ids}
        if set(records) == job_ids or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def _job_ids_in(cluster: SlurmCluster, workdir: Path) -> set[str]:
    """Every SLURM job of ``workdir``: queued, running or finished (squeue keeps those MinJobAge=600 s,
    the job-completion log for good). Other checkouts and pytest workers share the cluster, so the
    tests count only their own folder's jobs, never the whole log."""
    out = subprocess.run(["squeue", "--noheader", "--states=all", "--format=%i %Z"], capture_output=True, text=True,
                         timeout=20, check=True).stdout
    queued = {job for job, _, wd in (line.partition(" ") for line in out.splitlines()) if Path(wd).resolve() == workdir}
    logged = {r["JobId"] for r in cluster.jobcomp_records() if Path(r.get("WorkDir", "")).resolve() == workdir}
    return queued | logged


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """A workflow folder with the sweep Snakefile and its two step programs."""
    wd = tmp_path / "sweep"
    wd.mkdir()
    (wd / "Snakefile").write_text(SNAKEFILE.format(sigmas=list(SIGMAS), python=sys.executable))
    (wd / "step.py").write_text(STEP_PY)
    (wd / "aggregate.py").write_text(AGGREGATE_PY)
    return wd.resolve()


@pytest.mark.timeout(2 * RUN_TIMEOUT + 120)
def test_sweep_runs_as_slurm_jobs_and_second_run_submits_nothing(
    slurm_cluster: SlurmCluster, sweep_dir: Path
) -> None:
    """Over 60 s: five real SLURM jobs (four variants and the aggregate) each start a Python, and slurmctld
    writes each job's completion record; then a second Snakemake run that must submit nothing."""
    first = run_snakemake(sweep_dir)
    assert first.returncode == 0, f"first run failed (rc={first.returncode}):\n{first.stdout[-4000:]}"
    run_ids = set(re.findall(r"SLURM run ID: (\S+)", first.stdout))
    assert len(run_ids) == 1, f"expected one SLURM run ID in the output:\n{first.stdout[-2000:]}"
    (run_id,) = run_ids

    # Each variant ran inside its own SLURM job, on the cluster's node, in the workflow folder.
    variants = {
        s: json.loads((sweep_dir / f"results/steps/sweep/sigma-{s}/metrics.json").read_text())
        for s in SIGMAS
    }
    variant_jobs = {s: v["slurm_job_id"] for s, v in variants.items()}
    assert all(variant_jobs.values()), f"a variant ran outside SLURM: {variant_jobs}"
    assert len(set(variant_jobs.values())) == len(SIGMAS), f"variants shared a job: {variant_jobs}"
    for s, v in variants.items():
        assert v["sigma"] == float(s)
        assert Path(v["cwd"]).resolve() == sweep_dir

    # The aggregate saw every variant (and was a SLURM job of its own).
    agg = json.loads((sweep_dir / "results/aggregate.json").read_text())
    assert sorted(v["sigma"] for v in agg["variants"]) == sorted(float(s) for s in SIGMAS)
    assert {v["slurm_job_id"] for v in agg["variants"]} == set(variant_jobs.values())
    assert agg["slurm_job_id"] and agg["slurm_job_id"] not in variant_jobs.values()

    # SLURM's own job-completion log lists each job, completed, with the rule's resources.
    expected = set(variant_jobs.values()) | {agg["slurm_job_id"]}
    records = _wait_for_jobcomp(slurm_cluster, expected)
    assert set(records) == expected, (
        f"jobcomp log {slurm_cluster.jobcomp_log} lacks jobs {sorted(expected - set(records))}"
    )
    for job_id, rec in records.items():
        assert rec.get("JobState") == "COMPLETED", rec
        assert rec.get("Name") == run_id, rec  # the plugin names every job after the run ID
        assert Path(rec.get("WorkDir", "")).resolve() == sweep_dir, rec
        assert rec.get("Partition") == slurm_cluster.partition, rec
        tres = dict(kv.split("=", 1) for kv in rec.get("Tres", "").split(",") if "=" in kv)
        if job_id == agg["slurm_job_id"]:
            assert (rec.get("TimeLimit"), tres.get("mem"), tres.get("cpu")) == ("4", "400M", "2"), rec
        else:
            assert (rec.get("TimeLimit"), tres.get("mem"), tres.get("cpu")) == ("3", "300M", "1"), rec
    ours = [r for r in slurm_cluster.jobcomp_records() if Path(r.get("WorkDir", "")) == sweep_dir]
    assert len(ours) == len(SIGMAS) + 1, f"expected {len(SIGMAS) + 1} SLURM jobs, log has {ours}"

    # A second run reuses everything: nothing submitted, no job of this folder in SLURM's records.
    jobs_before = _job_ids_in(slurm_cluster, sweep_dir)
    second = run_snakemake(sweep_dir)
    assert second.returncode == 0, f"second run failed:\n{second.stdout[-4000:]}"
    assert "Nothing to be done" in second.stdout, second.stdout[-2000:]
    assert "has been submitted with SLURM jobid" not in second.stdout, second.stdout[-2000:]
    assert _job_ids_in(slurm_cluster, sweep_dir) == jobs_before, "the second run ran SLURM jobs"


# -- a sweep compiled by slashmake ----------------------------------------------------------------

#: /train's resources: threads and runtime from the command file, mem_mb from its droid's defaults
#: (the droid's runtime loses to the command's), gpu 0 (no GPU asked for).
TRAIN = {"droid": "sweeper", "threads": 2, "resources": {"runtime": 3, "gpu": 0}}
DROID_RESOURCES = {"mem_mb": 300, "runtime": 5}


def _check_slurm_run(cluster: SlurmCluster, root: Path, out: str, values: list[str]) -> None:
    """One SLURM job per variant and one for the aggregate, with the resources their files ask for."""
    run_ids = set(re.findall(r"SLURM run ID: (\S+)", out))
    assert len(run_ids) == 1, f"expected one SLURM run ID in the output:\n{out[-2000:]}"
    (run_id,) = run_ids
    records = F.variant_records(root)
    assert sorted(records) == values
    jobs = {s: r["slurm_job_id"] for s, r in records.items()}
    assert all(jobs.values()), f"a variant ran outside SLURM: {jobs}"
    assert len(set(jobs.values())) == len(values), f"variants shared a job: {jobs}"
    assert all(Path(r["pwd"]).resolve() == root for r in records.values()), records
    agg, inputs = F.aggregate_record(root)
    assert sorted(Path(p).parent.name for p in inputs) == [f"sigma-{v}" for v in values], "the aggregate saw all"
    assert agg["slurm_job_id"] and agg["slurm_job_id"] not in jobs.values(), agg

    expected = set(jobs.values()) | {agg["slurm_job_id"]}
    found = _wait_for_jobcomp(cluster, expected)
    assert set(found) == expected, f"jobcomp log {cluster.jobcomp_log} lacks jobs {sorted(expected - set(found))}"
    for job_id, rec in found.items():
        assert rec.get("JobState") == "COMPLETED", rec
        assert rec.get("Name") == run_id, rec
        assert Path(rec.get("WorkDir", "")).resolve() == root, rec
        assert rec.get("Partition") == cluster.partition, rec
        tres = dict(kv.split("=", 1) for kv in rec.get("Tres", "").split(",") if "=" in kv)
        got = (rec.get("TimeLimit"), tres.get("mem"), tres.get("cpu"))
        if job_id == agg["slurm_job_id"]:
            # /aggregate sets nothing: the slurm profile's default-resources, which the workflow's
            # default profile (profiles/default) must not override.
            assert got == ("30", "1000M", "1"), rec
        else:
            assert got == ("3", "300M", "2"), rec  # command runtime + threads, droid mem_mb
            assert not any(k.startswith("gres/gpu") for k in tres), rec
    ours = [r for r in cluster.jobcomp_records() if Path(r.get("WorkDir", "")).resolve() == root]
    assert len(ours) == len(values) + 1, f"expected {len(values) + 1} SLURM jobs (no job groups), log has {ours}"


@pytest.mark.timeout(2 * RUN_TIMEOUT + 120)
@pytest.mark.parametrize("how", ["slashmake-run", "snakemake-macro"])
def test_slashmake_sweep_runs_one_slurm_job_per_variant(
    slurm_cluster: SlurmCluster, toy, how: str  # type: ignore[no-untyped-def]
) -> None:
    """Over 60 s: five real SLURM jobs per run (four variants and the aggregate), run twice per parameter;
    what is checked is SLURM's own record of each job, so nothing here can be faked to save time."""
    values = F.sigmas(4)
    root = toy.root.resolve()
    F.write_droid(root, "sweeper", DROID_RESOURCES)
    chain = F.write_sweep(toy, values, macro=how == "snakemake-macro", train=TRAIN)
    F.copy_profile(root, "slurm")
    if how == "slashmake-run":
        cmd = [sys.executable, "-m", "slashmake.interfaces.cli", "run", chain, "--executor", "slurm"]
    else:
        cmd = [_snakemake_bin(), "--profile", "config/profiles/slurm", F.MACRO_TARGET]
    first = run_bounded(root, cmd)
    assert first.returncode == 0, f"first run failed (rc={first.returncode}):\n{first.stdout[-4000:]}"
    _check_slurm_run(slurm_cluster, root, first.stdout, values)

    jobs_before = _job_ids_in(slurm_cluster, root)
    stamps = F.output_stamps(root)
    second = run_bounded(root, cmd)
    assert second.returncode == 0, f"second run failed:\n{second.stdout[-4000:]}"
    assert "Nothing to be done" in second.stdout, second.stdout[-2000:]
    assert "has been submitted with SLURM jobid" not in second.stdout, second.stdout[-2000:]
    assert _job_ids_in(slurm_cluster, root) == jobs_before, "the second run ran SLURM jobs"
    assert F.output_stamps(root) == stamps
