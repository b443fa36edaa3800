"""Pods started through the RunPod API: fan-out, a pod that dies, Ctrl-C, SIGKILL, the cost cap.

Every test runs the real CLI (`slashmake run … --executor runpod`, `slashmake pods`) against the
stand-in RunPod API (tests/runpod_standin.py, started here), through the official ``runpod``
SDK, and the stand-in's pods are real: a user each, an sshd each, real ssh and rsync, and a
``runpodctl`` that calls the stand-in back (so the watchdog's stop is real).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import standin_fixture as SF
import sweep_flow as F
from services import in_ci

pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.timeout(300)]

TRAIN = ("sleep {params.pause} && python toy_step.py train --out {output.report} "
         "--where {output.where} --metrics {output.metrics} --set sigma={params.sigma} -- {params.arguments}")
KILL_ONCE = """import json, os, sys, time, urllib.request
base = os.environ["RUNPOD_API_BASE_URL"]
state = json.load(urllib.request.urlopen(base + "/standin/state"))
if sys.argv[1] == "0.01" and not any("killed" in p["history"] for p in state["pods"].values()):
    urllib.request.urlopen(urllib.request.Request(base + "/standin/kill/" + os.environ["RUNPOD_POD_ID"],
                                                  data=b"", method="POST"))
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    why = SF.missing()
    if why is not None:
        if in_ci():
            pytest.fail(f"stand-in RunPod unavailable: {why}", pytrace=False)
        pytest.skip(f"stand-in RunPod unavailable: {why}")
    dest = Path("/home") / f"rp-test-packages-{os.getpid()}"
    try:
        yield SF.stage_packages(dest)
    finally:
        subprocess.run(["rm", "-rf", str(dest)], check=False)


@pytest.fixture
def standin(packages: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SF.StandIn]:
    server = SF.start(tmp_path / "standin")
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    try:
        yield server
    finally:
        server.stop()


def _project(toy: Any, standin: SF.StandIn, packages: tuple[Path, Path], values: list[str], pause: float = 0.0,
             before: str = "", **runpod: Any) -> str:
    toy.root.parent.chmod(0o700)  # the pods cannot read the project: everything travels by rsync
    toy.command("train", params={"sigma": 0.12, "pause": pause},
                output={"report": "report.json", "where": "where.json"}, metrics={"sigma": "{params.sigma}"},
                shell=before + TRAIN)
    toy.command("aggregate", inputs=["where"], output={"report": "report.json", "where": "where.json"},
                metrics={"n": "1"}, shell=F.AGGREGATE_SHELL)
    F.copy_profile(toy.root, "runpod")
    (toy.root / ".rsyncignore").write_text("results/\nlogs/\ntrace.jsonl\n")
    SF.write_config(toy.root, SF.runpod_section(standin, packages, **runpod))
    return F.sweep_chain(values)


def _ledger(root: Path) -> dict[str, dict[str, Any]]:
    return dict(json.loads((root / ".slashmake" / "pods.json").read_text())["pods"])


def _start(toy: Any, chain: str) -> subprocess.Popen[str]:
    return subprocess.Popen([SF.sys.executable, "-m", "slashmake.interfaces.cli", "run", chain, "--executor", "runpod"],
                            cwd=toy.root, env=toy.env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_sweep_fans_out_over_three_pods_and_every_pod_is_terminated(standin: SF.StandIn, packages: Any, toy: Any) -> None:
    values = F.sigmas(6)
    # The first GPU type has no machine free: the second is used.
    chain = _project(toy, standin, packages, values, pause=1.0, pods=3,
                     gpu_types=["NVIDIA H100 80GB HBM3", "NVIDIA A40"])
    res = toy.slashmake("run", chain, "--executor", "runpod", check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    records = F.variant_records(toy.root)
    assert sorted(records) == values and "cost: pods $" in res.stdout, res.stdout[-2000:]
    users = {r["whoami"] for r in records.values()}
    state = standin.state()
    pods = state["pods"]
    assert 2 <= len(users) and len(pods) <= 3 and state["peak_running"] <= 3, (users, state)
    assert users <= {p["user"] for p in pods.values()}, "every variant ran as a pod's user"
    groups = list((toy.root / ".snakemake" / "runpod").glob("sweep_*.log"))
    assert len(groups) == 3, f"6 variants over 3 pods travel as 3 jobs of 2, not {len(groups)}"
    assert state["create_attempts"][0] == "NVIDIA H100 80GB HBM3" and {p["gpu"] for p in pods.values()} == {"NVIDIA A40"}
    assert all(p["status"] == "TERMINATED" for p in pods.values()), pods
    ledger = _ledger(toy.root)
    assert set(ledger) == set(pods) and {r["state"] for r in ledger.values()} == {"terminated"}
    assert all(r["gpu"] == "NVIDIA A40" and r["cost_per_hr"] == 0.4 for r in ledger.values())
    listed = json.loads(toy.slashmake("pods", "--json").stdout)
    assert {p["id"] for p in listed} == set(pods) and all(p["cost_usd"] > 0 for p in listed)
    # The API key is in no file of the project and in no output.
    texts = {"stdout": res.stdout, "stderr": res.stderr}
    for path in toy.root.rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any(p.endswith("pods.json") for p in texts)
    for where, text in texts.items():
        assert standin.api_key not in text, f"the API key leaked into {where}"


def test_a_pod_that_dies_mid_job_is_terminated_and_its_job_runs_elsewhere(
        standin: SF.StandIn, packages: Any, toy: Any) -> None:
    values = F.sigmas(2)
    (toy.root / "kill_once.py").write_text(KILL_ONCE)
    chain = _project(toy, standin, packages, values, pods=2, before="python kill_once.py {params.sigma} && ")
    res = toy.slashmake("run", chain, "--executor", "runpod", check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    pods = standin.state()["pods"]
    killed = [p for p in pods.values() if "killed" in p["history"]]
    assert len(killed) == 1 and killed[0]["status"] == "TERMINATED", pods
    records = F.variant_records(toy.root)
    assert sorted(records) == values and records["0.01"]["whoami"] != killed[0]["user"]
    assert "died during job" in res.stderr, res.stderr[-3000:]
    assert all(p["status"] == "TERMINATED" for p in pods.values())


def test_ctrl_c_stops_every_pod(standin: SF.StandIn, packages: Any, toy: Any) -> None:
    chain = _project(toy, standin, packages, F.sigmas(2), pause=60, pods=2, on_finish="stop")
    proc = _start(toy, chain)
    try:
        SF.wait_for(lambda: len([r for r in _ledger_or_empty(toy.root).values() if r["state"] == "running"]) == 2,
                    90, "two pods running jobs")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    pods = standin.state()["pods"]
    assert len(pods) == 2 and all(p["status"] == "EXITED" for p in pods.values()), (pods, out[-3000:])
    assert {r["state"] for r in _ledger(toy.root).values()} == {"stopped"}
    # The next run resumes a stopped pod (its disk kept the venv) instead of creating one.
    toy.command("hello", shell="echo hi > {output.report}")
    again = toy.slashmake("run", "/hello", "--executor", "runpod")
    assert "resumed pod" in again.stderr, again.stderr[-3000:]
    pods = standin.state()["pods"]
    assert len(pods) == 2 and sum("resumed" in p["history"] for p in pods.values()) == 1, pods
    assert all(p["status"] == "EXITED" for p in pods.values()), "stopped again at the end (on_finish: stop)"
    done = toy.slashmake("pods", "terminate", "--all")
    assert done.stdout.count("terminated") == 2, done.stdout
    assert all(p["status"] == "TERMINATED" for p in standin.state()["pods"].values())


def test_after_sigkill_the_watchdog_stops_the_pods_and_the_next_command_reaps_them(
        standin: SF.StandIn, packages: Any, toy: Any) -> None:
    chain = _project(toy, standin, packages, F.sigmas(2), pause=2, pods=2, idle_minutes=0.05)
    proc = _start(toy, chain)
    try:
        SF.wait_for(lambda: len([r for r in _ledger_or_empty(toy.root).values() if r["state"] == "running"]) == 2,
                    90, "two pods running jobs")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    # Nobody is left to stop them: each pod's watchdog does, through runpodctl, once idle for 3 s.
    SF.wait_for(lambda: all(p["status"] == "EXITED" for p in standin.state()["pods"].values()), 60,
                "the watchdogs to stop the pods")
    assert all(p["history"][-1] == "stopped" for p in standin.state()["pods"].values())
    listed = toy.slashmake("pods", "--json")
    assert "reaped" in listed.stderr, listed.stderr
    assert {p["state"] for p in json.loads(listed.stdout)} == {"terminated"}
    assert all(p["status"] == "TERMINATED" for p in standin.state()["pods"].values())


def test_max_cost_usd_stops_the_run_and_starts_no_new_pod(standin: SF.StandIn, packages: Any, toy: Any) -> None:
    for name in ("a", "b", "c"):
        toy.command(name, params={"pause": 1.5}, shell="sleep {params.pause} && echo ok > {output.report}")
    _project(toy, standin, packages, F.sigmas(1), pods=2, gpu_types=["NVIDIA COSTLY"], max_cost_usd=50.0)
    # A flag wins over the config's runpod: section.
    res = toy.slashmake("run", "/a → /b → /c", "--executor", "runpod", "--runpod-max-cost-usd", "1", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "max_cost_usd 1.00 reached" in out, out[-3000:]
    assert "cost: pods $" in out and "runpod.max_cost_usd 1.00" in out, out[-3000:]
    pods = standin.state()["pods"]
    assert len(pods) == 1 and all(p["status"] == "TERMINATED" for p in pods.values()), pods
    assert not list((toy.root / "results" / "steps").glob("c-*/report.json"))


def _ledger_or_empty(root: Path) -> dict[str, dict[str, Any]]:
    try:
        return _ledger(root)
    except (OSError, ValueError):
        return {}


def test_a_pod_that_never_shows_ssh_is_terminated_with_a_clear_error(
        packages: Any, toy: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slow = SF.start(tmp_path / "slow-standin", boot=60)  # its pods take a minute to show SSH
    try:
        for k, v in slow.env().items():
            monkeypatch.setenv(k, v)
        toy.command("hello", shell="echo hi > {output.report}")
        _project(toy, slow, packages, F.sigmas(1), ssh_wait=2)
        res = toy.slashmake("run", "/hello", "--executor", "runpod", check=False)
        out = res.stdout + res.stderr
        assert res.returncode != 0 and "showed no public SSH port within 2s" in out, out[-3000:]
        pods = slow.state()["pods"]
        assert pods and all(p["status"] == "TERMINATED" for p in pods.values()), pods
    finally:
        slow.stop()


def test_the_stand_in_answers_the_sdk_as_runpod_does(standin: SF.StandIn) -> None:
    from snakemake_executor_plugin_runpod.cloud import Cloud, PodApiError

    with pytest.raises(PodApiError) as err:
        Cloud("rpa_WRONGKEY12345").list()
    assert "Unauthorized" in str(err.value) and "rpa_WRONGKEY12345" not in str(err.value)
    cloud = Cloud(standin.api_key)
    assert cloud.list() == [] and cloud.get("nosuchpod") is None
    with pytest.raises(PodApiError, match="not found"):
        cloud.stop("nosuchpod")
