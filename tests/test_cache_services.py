"""The shared cache where a step runs elsewhere: on the SLURM test cluster, and at an ssh:// location.

- Under ``--executor slurm`` a sweep variant found in the cache is restored on the controller before
  Snakemake submits anything: the run submits jobs only for the new variant and the aggregate
  (counted in Snakemake's output and in SLURM's job-completion log).
- A second storage kind: the cache at ``ssh://`` on a private sshd on 127.0.0.1 (tests/services.py),
  through DVC's ssh filesystem (dvc-ssh); clone B gets clone A's steps from there.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sweep_flow as F
from services import SlurmCluster, SshPod
from test_slurm import run_bounded

pytestmark = [pytest.mark.service, pytest.mark.slow]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "slashmake.interfaces.cli", *args]


@pytest.mark.timeout(600)
def test_cached_sweep_variants_submit_no_slurm_job(slurm_cluster: SlurmCluster, toy_factory: Callable[[str], Any],
                                                   tmp_path: Path) -> None:
    """Slow (under a minute): two clones each run a sweep on the real SLURM cluster; the second must submit nothing."""
    cache = tmp_path / "shared-cache"
    a, b = toy_factory("a"), toy_factory("b")
    for toy in (a, b):
        F.write_sweep(toy, [])
        F.copy_profile(toy.root, "slurm")
    first = run_bounded(a.root, cli("run", F.sweep_chain(F.sigmas(2)), "--cache-location", str(cache)))
    assert first.returncode == 0, first.stdout[-3000:]
    assert first.stdout.count("stored in the cache") == 2, first.stdout[-3000:]  # the sweep (2 variants), the aggregate

    root = b.root.resolve()
    values = F.sigmas(3)
    plan = b.slashmake("explain", F.sweep_chain(values), "--cache-location", str(cache)).stdout
    assert f"2 of its 3 variants are in the cache at {cache}" in plan, plan
    second = run_bounded(root, cli("run", F.sweep_chain(values), "--executor", "slurm", "--cache-location", str(cache)))
    out = second.stdout
    assert second.returncode == 0, out[-4000:]
    assert "/train (train-" in out and "[sigma-0.01, sigma-0.02] came from the cache" in out, out[-3000:]
    submitted = out.count("has been submitted with SLURM jobid")
    assert submitted == 2, f"expected jobs for sigma 0.03 and the aggregate only, got {submitted}:\n{out[-4000:]}"
    records = F.variant_records(root)
    assert sorted(records) == values
    assert all(records[v]["slurm_job_id"] is None for v in values[:2]), records  # A's local runs, from the cache
    assert records[values[2]]["slurm_job_id"], records
    deadline = time.monotonic() + 20
    ours: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        ours = [r for r in slurm_cluster.jobcomp_records() if Path(r.get("WorkDir", "")).resolve() == root]
        if len(ours) >= 2:
            break
        time.sleep(0.5)
    assert len(ours) == 2, f"SLURM accounting for {root}: {ours}"


def test_an_ssh_location_is_shared_by_two_clones(sshd_pod: SshPod, toy_factory: Callable[[str], Any]) -> None:
    where = sshd_pod.new_dir("cache")
    url = f"ssh://{sshd_pod.user}@{sshd_pod.host}:{sshd_pod.port}{where}/shared"
    a, b = toy_factory("a"), toy_factory("b")
    for toy in (a, b):
        toy.command("prep", metrics={"rows": "10"})
        toy.command("fit", inputs=["report"], metrics={"acc": "0.9"})
        toy.config(cache={"location": url, "remote": {"keyfile": str(sshd_pod.key)}})
    out_a = a.slashmake("run", "/prep → /fit").stdout
    assert a.ran() == ["prep", "fit"] and out_a.count(f"stored in the cache at {url}") == 2, out_a
    out_b = b.slashmake("run", "/prep → /fit").stdout
    assert b.ran() == [], out_b
    assert out_b.count(f"came from the cache at {url}") == 2, out_b
    fa = sorted(p.relative_to(a.root) for p in (a.root / "results/steps").rglob("*") if p.is_file())
    assert fa and all((a.root / p).read_bytes() == (b.root / p).read_bytes() for p in fa)
    # everything the plugin wrote is inside the location, owned by the login user
    listing = subprocess.run(["find", str(where), "-type", "f"], capture_output=True, text=True, check=True).stdout.split()
    assert listing and all(p.startswith(f"{where}/shared/") for p in listing), listing
    shown = b.slashmake("cache").stdout
    assert "entries:  2" in shown, shown
