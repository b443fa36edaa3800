"""Unit tests of the pod lifecycle's pure parts: SDK arguments, addresses, fallback, ledger, flags.

No host and no API: the SDK's own query text (from the installed ``runpod``) is parsed by the
stand-in's parser to check that the stand-in reads what the SDK really sends.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from runpod_standin import NO_INSTANCES, field_input

from slashmake.errors import RunError
from slashmake.execution import pods as P
from snakemake_executor_plugin_runpod import cloud as C
from snakemake_executor_plugin_runpod import ledger as L
from snakemake_executor_plugin_runpod import watchdog as W

SPEC = C.PodSpec("slashmake-r1", "runpod/pytorch:x", env={"PUBLIC_KEY": "ssh-ed25519 AAAA me@laptop"})


def test_create_kwargs_ask_for_public_ssh_and_pass_the_public_key_only() -> None:
    kw = C.create_kwargs(SPEC, "NVIDIA A40")
    assert kw["gpu_type_id"] == "NVIDIA A40" and kw["ports"] == "22/tcp" and kw["support_public_ip"]
    assert kw["env"] == {"PUBLIC_KEY": "ssh-ed25519 AAAA me@laptop"}


def test_the_stand_in_reads_the_mutation_the_sdk_sends() -> None:
    from runpod.api.mutations.pods import generate_pod_deployment_mutation

    kw = C.create_kwargs(SPEC, "NVIDIA A40")
    text = generate_pod_deployment_mutation(
        kw["name"], kw["image_name"], kw["gpu_type_id"], kw["cloud_type"], kw["support_public_ip"], kw["start_ssh"],
        None, None, 1, 0, 20, 1, 1, "", kw["ports"], "/workspace", kw["env"])
    got = field_input(text, "podFindAndDeployOnDemand")
    assert got is not None and got["gpuTypeId"] == "NVIDIA A40" and got["cloudType"] == "ALL"
    assert got["env"] == [{"key": "PUBLIC_KEY", "value": "ssh-ed25519 AAAA me@laptop"}]


def test_ssh_address_is_the_public_mapping_of_port_22() -> None:
    pod = {"desiredStatus": "RUNNING", "runtime": {"ports": [
        {"ip": "10.0.0.1", "isIpPublic": False, "privatePort": 22, "publicPort": 22, "type": "tcp"},
        {"ip": "194.68.1.2", "isIpPublic": True, "privatePort": 8888, "publicPort": 40001, "type": "http"},
        {"ip": "194.68.1.2", "isIpPublic": True, "privatePort": 22, "publicPort": 40022, "type": "tcp"}]}}
    assert C.ssh_address(pod) == ("194.68.1.2", 40022)
    assert C.ssh_address({"runtime": None}) is None and C.ssh_address(None) is None
    assert C.is_running(pod) and not C.is_running({"desiredStatus": "EXITED", "runtime": None})


class _FakeCloud(C.Cloud):
    def __init__(self, free: set[str]) -> None:  # no SDK, no key
        self.free, self.tried = free, []  # type: list[str]

    def create(self, spec: C.PodSpec, gpu_type: str) -> dict[str, Any]:
        self.tried.append(gpu_type)
        if gpu_type not in self.free:
            raise C.PodApiError(f"runpod API: create_pod {spec.name} ({gpu_type}): {NO_INSTANCES}")
        return {"id": "p1"}


def test_gpu_types_are_tried_in_order_then_waited_for_with_backoff() -> None:
    fake = _FakeCloud({"B"})
    assert fake.create_any(SPEC, ["A", "B"], wait_limit=0) == ({"id": "p1"}, "B")
    assert fake.tried == ["A", "B"]
    slept: list[float] = []
    none = _FakeCloud(set())
    with pytest.raises(C.NoGpuError) as err:
        none.create_any(SPEC, ["A", "B"], wait_limit=7, first_wait=1, sleep=slept.append)
    assert slept == [1, 2, 4] and none.tried == ["A", "B"] * 4
    assert "after trying A, B for 7s" in str(err.value) and "no longer any instances" in str(err.value)


def test_ledger_costs_running_time_only(tmp_path: Path) -> None:
    ledger = L.Ledger(tmp_path / "pods.json")
    ledger.put(L.mark({"id": "p1", "cost_per_hr": 3.6, "owner": L.this_owner("r1")}, "running", now=1000.0))
    rec = ledger.records()["p1"]
    assert L.cost_so_far(rec, now=1010.0) == pytest.approx(0.01)
    stopped = L.mark(rec, "stopped", now=1020.0)
    assert L.cost_so_far(stopped, now=5000.0) == pytest.approx(0.02), "a stopped pod's GPU costs nothing"
    assert L.owner_alive(rec["owner"]) and not L.owner_alive({**rec["owner"], "start": "0"})


def test_watchdog_text_is_valid_shell_and_detaches() -> None:
    cmd = W.start_command("/workspace/.watchdog", W.seconds(0.05), W.seconds(0))
    assert subprocess.run(["sh", "-n", "-c", cmd], check=False).returncode == 0
    assert subprocess.run(["sh", "-n", "-c", W.WATCHDOG_BODY], check=False).returncode == 0
    assert "setsid" in cmd and "</dev/null" in cmd and "runpodctl stop pod" in W.WATCHDOG_BODY
    assert W.seconds(0.05) == 3 and W.poll_seconds(3, 0) == 1 and W.poll_seconds(0, 0) == 30
    assert subprocess.run(["sh", "-n", "-c", W.wrap_job("/w", "exit 3")], check=False).returncode == 0


def test_watchdog_stops_an_idle_pod_through_runpodctl(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "runpodctl").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/called\n")
    (bin_dir / "runpodctl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNPOD_POD_ID": "pod42"}
    subprocess.run(["sh", "-c", W.start_command(str(tmp_path / "wd"), 1, 0)], env=env, check=True, timeout=10)
    import time

    deadline = time.monotonic() + 15
    while not (tmp_path / "called").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert (tmp_path / "called").read_text().split() == ["stop", "pod", "pod42"]


def test_config_section_becomes_flags_and_flags_split_from_the_chain() -> None:
    flags = P.runpod_flags({"gpu_types": ["A", "B"], "pods": 3, "skip_setup": True, "venv": None})
    assert flags == ["--runpod-gpu-types", "A,B", "--runpod-pods", "3", "--runpod-skip-setup"]
    got, rest = P.split_runpod_args(["--runpod-pods", "2", "/a → /b", "--runpod-on-finish=stop", "--runpod-skip-setup"])
    assert got == ["--runpod-pods", "2", "--runpod-on-finish", "stop", "--runpod-skip-setup"] and rest == ["/a → /b"]
    with pytest.raises(RunError):
        P.split_runpod_args(["/a", "--runpod-pods"])
    assert P.sweep_group_size(6, [*flags, "--runpod-pods", "4"]) == 2
    assert P.sweep_group_size(6, ["--runpod-pods", "3"]) == 6, "a hand-started pod takes the sweep as one job"


def test_pods_lists_the_ledger_without_the_api_and_asks_for_the_key_to_act(
        toy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import time

    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    owner = {"host": "another-machine", "pid": 1, "start": "1", "run": "r-elsewhere"}
    L.Ledger(toy.root / ".slashmake" / "pods.json").put(L.mark(
        {"id": "abc123", "name": "slashmake-r-1", "gpu": "NVIDIA A40", "cost_per_hr": 3.6, "created": time.time() - 100,
         "owner": owner, "on_finish": "terminate"}, "running", now=time.time() - 100))
    listed = toy.slashmake("pods", "--json")
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == ["abc123"] and 0.09 < rows[0]["cost_usd"] < 0.2, rows
    assert "states from the ledger only" in listed.stderr and "RUNPOD_API_KEY" in listed.stderr
    table = toy.slashmake("pods").stdout
    assert "abc123" in table and "running" in table and "r-elsewhere" in table
    refused = toy.slashmake("pods", "stop", "--all", check=False)
    assert refused.returncode == 1 and "RUNPOD_API_KEY" in refused.stderr and "Traceback" not in refused.stderr


def test_code_sync_honours_gitignore_but_carries_compiled_chains(tmp_path: Path) -> None:
    from snakemake_executor_plugin_runpod import argv as A

    src, dest = tmp_path / "proj", tmp_path / "pod"
    for rel in ("Snakefile", "data/raw.csv", "sub/keep.py", "sub/cache.bin", ".slashmake/chains/c.smk",
                ".slashmake/pods.json"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    (src / ".gitignore").write_text("/data/\n/.slashmake/\n")
    (src / "sub" / ".gitignore").write_text("*.bin\n")
    argv = A.rsync_code_argv(A.Target("h"), str(src), "/remote", gitignore=True)
    filters = argv[argv.index("--rsync-path") + 2:-2]  # what follows rsync's ssh and remote-rsync options
    assert filters[:len(A.GITIGNORE_FILTERS)] == list(A.GITIGNORE_FILTERS)
    subprocess.run(["rsync", "-rlpt", *filters, f"{src}/", f"{dest}/"], check=True, timeout=30)
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == [".gitignore", ".slashmake/chains/c.smk", "Snakefile", "sub/.gitignore", "sub/keep.py"], got


def test_a_pod_the_run_has_ended_starts_no_job_and_no_transfer(tmp_path: Path) -> None:
    """Ctrl-C ends every pod; a job thread that got one just before must not open its own connection."""
    from snakemake_interface_common.exceptions import WorkflowError

    from snakemake_executor_plugin_runpod import argv as A
    from snakemake_executor_plugin_runpod import session as S
    from snakemake_executor_plugin_runpod.transport import Result, Runner

    class Recording(Runner):
        def run(self, argv: Any, stdin: str = "") -> Result:
            calls.append(list(argv))
            return Result(list(argv), 0, "", "")

    calls: list[list[str]] = []
    target = A.Target("127.0.0.1", 2222)
    (tmp_path / "in.txt").write_text("x")
    pod = S.PodSession(target, Recording(target), str(tmp_path), "w", pod_id="p1", ready=True, workdir="/w")
    pod.run_job("true", "", wrap=False)
    pod.push_inputs(["in.txt"], "rsync")
    assert len(calls) == 2  # a live pod: both reach the runner
    pod.dead = True  # what Fleet.finish does to every pod of the run
    with pytest.raises(WorkflowError, match="was ended"):
        pod.run_job("sleep 60", "", wrap=False)
    with pytest.raises(WorkflowError, match="was ended"):
        pod.push_inputs(["in.txt"], "rsync")
    assert len(calls) == 2
    # Ctrl-C hangs each pod up (cancel_jobs) before Fleet.finish marks it dead: from the hang-up on,
    # a job thread that passes the check must not start a connection of its own either.
    other = S.PodSession(target, Recording(target), str(tmp_path), "w2", pod_id="p2", ready=True, workdir="/w")
    other.close()
    assert not other.dead
    with pytest.raises(WorkflowError, match="was ended"):
        other.run_job("sleep 60", "", wrap=False)
    assert len(calls) == 2
