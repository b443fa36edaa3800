"""End-to-end tests of the runpod executor against a private sshd (the ``sshd_pod`` fixture).

Each test runs the real ``snakemake`` CLI with ``--executor runpod`` (through the runpod
profile), or ``slashmake run --executor runpod``, on a project folder the pod user cannot read,
so everything it needs must travel by rsync. The hand-written sweep (tests/runpod_project.py)
probes the executor's failure handling; the slashmake sweeps (tests/sweep_flow.py) check that a
compiled flow runs there as it does locally.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import services
import sweep_flow as F
from runpod_project import GROUPING, PROFILE, VARIANTS, snakemake, write_project
from services import SshPod

# One pytest-xdist worker runs this module, so its tests share one private sshd (a session fixture).
pytestmark = [pytest.mark.service, pytest.mark.slow, pytest.mark.timeout(600), pytest.mark.xdist_group("sshd")]


def _run(pod: SshPod, project: Path, remote: Path, *extra: str, **settings: str) -> subprocess.CompletedProcess[str]:
    args = ["--profile", str(PROFILE), *GROUPING, *pod.executor_args(remote, **settings), *extra]
    return snakemake(project, args, env={"SLASHMAKE_TEST_TOKEN": ""})


def _outputs(project: Path) -> list[Path]:
    return sorted((project / "results" / "sweep").glob("*.json"))


def _fault_rsync(pod: SshPod, name: str, body: str) -> Path:
    """A remote rsync wrapper that misbehaves as body says, then runs the real rsync."""
    counter = pod.base / f"{name}.count"
    script = f"""#!/bin/sh
n=$(cat {counter} 2>/dev/null || echo 0); echo $((n+1)) > {counter}
{body}
exec rsync "$@"
"""
    return pod.pod_file(f"{name}.sh", script)


DROP_CONNECTION = """if [ "$n" -lt {limit} ]; then
  p=$PPID
  while [ "$p" -gt 1 ] && [ "$(cat /proc/$p/comm)" != sshd ]; do p=$(cut -d' ' -f4 /proc/$p/stat); done
  kill -9 "$p"; sleep 5; exit 1
fi"""


def test_sweep_runs_once_on_the_pod_and_is_reused(sshd_pod: SshPod, private_project: Path) -> None:
    """Over 60 s: real ssh and rsync to the private sshd, the pod's venv set up once, 16 variants run there."""
    pod, project = sshd_pod, write_project(private_project)
    remote = pod.new_dir("sweep")
    venv = remote / "venv"
    unreadable = subprocess.run(["su", "-s", "/bin/sh", pod.user, "-c", f"ls {project}"],
                                capture_output=True, check=False)
    assert unreadable.returncode != 0, "the pod user must not read the project folder"

    before = pod.logins()
    first = _run(pod, project, remote, venv=str(venv))
    assert first.returncode == 0, first.stderr[-4000:]
    assert pod.logins() - before == 1, "one SSH login per run"
    assert (Path(f"{venv}.setup-count")).read_text().count("built") == 1
    docs = [json.loads(p.read_text()) for p in _outputs(project)]
    assert sorted(d["variant"] for d in docs) == VARIANTS
    assert {d["whoami"] for d in docs} == {pod.user}
    assert all(d["pwd"].startswith(str(remote) + "/work/") for d in docs)
    summary = json.loads((project / "results" / "summary.json").read_text())
    assert summary["n"] == 16 and summary["users"] == [pod.user]
    job_logs = sorted(p.name for p in (project / ".snakemake" / "runpod").glob("*.log"))
    assert len(job_logs) == 2 and job_logs[1].startswith("sweep_step-"), job_logs  # 1 group + aggregate
    assert (project / "logs" / "step" / "v00.log").read_text().startswith("step v00 done")
    stamps = {p: p.stat().st_mtime for p in _outputs(project)}

    before = pod.logins()
    second = _run(pod, project, remote, venv=str(venv))
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Nothing to be done" in second.stderr
    assert pod.logins() == before, "an up-to-date run must not connect"
    assert {p: p.stat().st_mtime for p in _outputs(project)} == stamps

    third = _run(pod, project, remote, "--forceall", venv=str(venv))
    assert third.returncode == 0, third.stderr[-4000:]
    assert pod.logins() - before == 1
    assert (Path(f"{venv}.setup-count")).read_text().count("built") == 1, "setup runs once, not per run"


def test_closed_port_is_a_clear_error(sshd_pod: SshPod, private_project: Path) -> None:
    project, port = write_project(private_project), services._free_port()
    res = _run(sshd_pod, project, sshd_pod.base, port=str(port), **{"transfer-retries": "1"})
    assert res.returncode != 0
    assert "host 127.0.0.1" in res.stderr and f"port {port}" in res.stderr, res.stderr[-3000:]
    assert "Connection refused" in res.stderr, res.stderr[-3000:]
    assert _outputs(project) == []


def test_dropped_connection_is_retried(sshd_pod: SshPod, private_project: Path) -> None:
    pod, project = sshd_pod, write_project(private_project)
    wrapper = _fault_rsync(pod, "drop-once", DROP_CONNECTION.format(limit=1))
    before = pod.logins()
    res = _run(pod, project, pod.new_dir("drop1"), **{"remote-rsync": str(wrapper)})
    assert res.returncode == 0, res.stderr[-4000:]
    assert len(_outputs(project)) == 16
    assert pod.logins() - before == 2, "the dropped connection is re-opened once"


def test_connection_that_keeps_dropping_is_a_clear_error(sshd_pod: SshPod, private_project: Path) -> None:
    pod, project = sshd_pod, write_project(private_project)
    wrapper = _fault_rsync(pod, "drop-always", DROP_CONNECTION.format(limit=1000))
    res = _run(pod, project, pod.new_dir("drop"), **{"remote-rsync": str(wrapper), "transfer-retries": "2"})
    assert res.returncode != 0
    assert "code sync (after 3 attempts) failed" in res.stderr, res.stderr[-4000:]
    assert f"port {pod.port}" in res.stderr and "exit code" in res.stderr
    assert _outputs(project) == []


FAILING = """
rule all:
    input: "out/ok.txt", "out/bad.txt"

rule ok:
    output: "out/ok.txt"
    shell: "python -c 'import os; print(len(os.environ.get(\\"SLASHMAKE_TEST_TOKEN\\", \\"\\")))' > {output}"

rule bad:
    output: "out/bad.txt"
    shell: "echo partial > {output}; echo \\"FAILMARK-4711 token=$SLASHMAKE_TEST_TOKEN\\" >&2; exit 3"
"""


def test_remote_failure_reports_the_end_of_its_stderr(sshd_pod: SshPod, private_project: Path) -> None:
    project = write_project(private_project, FAILING)
    res = _run(sshd_pod, project, sshd_pod.base, "--keep-going")
    assert res.returncode != 0
    assert "FAILMARK-4711" in res.stderr and "exit code" in res.stderr, res.stderr[-4000:]
    assert "host 127.0.0.1" in res.stderr
    assert (project / "out" / "ok.txt").exists()
    assert not (project / "out" / "bad.txt").exists()


@pytest.mark.parametrize("fault", ["truncate", "delete"])
def test_damaged_output_fails_and_nothing_is_marked_complete(
    sshd_pod: SshPod, private_project: Path, fault: str
) -> None:
    """Up to ~60 s: a real pod round trip whose pulled output is damaged on purpose, then the rerun."""
    pod, project = sshd_pod, write_project(private_project)
    remote = pod.new_dir(f"damage-{fault}")
    victim = f"{remote}/work/*/results/sweep/v03.json"
    act = {"truncate": 'head -c 10 "$f" > "$f.t" && mv "$f.t" "$f"', "delete": 'rm -f "$f"'}[fault]
    body = f'case " $* " in *" --sender "*) for f in {victim}; do {act}; done;; esac'
    wrapper = _fault_rsync(pod, f"damage-{fault}", body)
    res = _run(pod, project, remote, **{"remote-rsync": str(wrapper), "transfer-retries": "1"})
    assert res.returncode != 0
    expected = "truncated" if fault == "truncate" else "output transfer (after 2 attempts)"
    assert expected in res.stderr, res.stderr[-4000:]
    assert _outputs(project) == [], "a group that failed verification leaves no outputs"
    dry = snakemake(project, ["-n", "--profile", str(PROFILE), *GROUPING, *pod.executor_args(remote)])
    assert dry.returncode == 0 and "step            16" in dry.stdout + dry.stderr


def test_secrets_stay_out_of_logs_and_metadata(sshd_pod: SshPod, private_project: Path) -> None:
    project = write_project(private_project, FAILING)
    token, api_key = "tok-5f1e9c-secret-value", "rpa_APIKEY-never-logged-77"
    args = ["--profile", str(PROFILE), *sshd_pod.executor_args(sshd_pod.base)]
    res = snakemake(project, [*args, "--keep-going", "--envvars", "SLASHMAKE_TEST_TOKEN"],
                    env={"SLASHMAKE_TEST_TOKEN": token, "RUNPOD_API_KEY": api_key})
    assert res.returncode != 0 and "FAILMARK-4711 token=***" in res.stderr, res.stderr[-3000:]
    assert (project / "out" / "ok.txt").read_text().strip() == str(len(token)), "env reached the job"
    key_lines = [ln for ln in sshd_pod.key.read_text().splitlines() if ln and "PRIVATE KEY" not in ln]
    texts = {"stdout": res.stdout, "stderr": res.stderr}
    for path in (project / ".snakemake").rglob("*"):
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for where, text in texts.items():
        for secret in [token, api_key, *key_lines]:
            assert secret not in text, f"a secret leaked into {where}"


# -- slashmake flows on the pod ---------------------------------------------------------------


def _point_at_pod(toy, pod: SshPod, remote: Path, venv: Path, monkeypatch: pytest.MonkeyPatch,
                  **profile: object) -> None:  # type: ignore[no-untyped-def]
    """Point a toy project at the pod as a user would: the pod's address, port and key path in the
    environment (SNAKEMAKE_RUNPOD_*), the rest in the project's config/profiles/runpod (the
    repository's profile plus the pod's settings), and an .rsyncignore for results/ and logs/."""
    monkeypatch.setenv("SNAKEMAKE_RUNPOD_HOST", pod.host)
    monkeypatch.setenv("SNAKEMAKE_RUNPOD_PORT", str(pod.port))
    monkeypatch.setenv("SNAKEMAKE_RUNPOD_KEY", str(pod.key))
    settings = {"runpod-user": pod.user, "runpod-known-hosts": str(pod.known_hosts),
                "runpod-remote-dir": str(remote), "runpod-venv": str(venv), "runpod-python": pod.python,
                "runpod-setup-cmd": pod.setup_cmd, "runpod-retry-wait": 0.2}
    F.copy_profile(toy.root, "runpod", **settings, **profile)
    (toy.root / ".rsyncignore").write_text("results/\nlogs/\ntrace.jsonl\n")


def _ran_on_the_pod(root: Path, pod: SshPod, remote: Path, values: list[str]) -> None:
    """Every variant and the aggregate ran as the pod user in the pod's work folder; all came back."""
    records = F.variant_records(root)
    assert sorted(records) == values
    work = f"{remote}/work/{root.name}-"
    for sigma, rec in records.items():
        assert (rec["whoami"], rec["step"]) == (pod.user, "train"), rec
        assert rec["pwd"].startswith(work), (sigma, rec["pwd"], work)
    agg, inputs = F.aggregate_record(root)
    assert agg["whoami"] == pod.user and agg["pwd"].startswith(work), agg
    assert sorted(Path(p).parent.name for p in inputs) == [f"sigma-{v}" for v in values], "the aggregate saw all"
    train_logs = list((root / "logs" / "steps").glob("train-*/sigma-*.log"))
    assert len(train_logs) == len(values), "each variant's log came back"


def test_slashmake_sweep_runs_on_the_pod_and_is_reused(
    sshd_pod: SshPod, toy_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    """Over 60 s: the whole slashmake run goes over real ssh and rsync to the private sshd, then is rerun."""
    pod, values = sshd_pod, F.sigmas(16)
    tmp_path.chmod(0o700)  # the pod user cannot read the projects: everything travels by rsync
    venv = pod.new_dir("sm-env") / "venv"  # one pod environment for both projects
    setups = Path(f"{venv}.setup-count")

    # An ad-hoc chain: slashmake run "<chain>" --executor runpod.
    proj, remote = toy_factory("chain"), pod.new_dir("sm-chain")
    chain = F.write_sweep(proj, values)
    _point_at_pod(proj, pod, remote, venv, monkeypatch)
    before = pod.logins()
    proj.slashmake("run", chain, "--executor", "runpod")
    assert pod.logins() - before == 1, "one SSH login per run"
    assert setups.read_text().count("built") == 1
    _ran_on_the_pod(proj.root, pod, remote, values)
    stamps = F.output_stamps(proj.root)
    again = proj.slashmake("run", chain, "--executor", "runpod")
    assert "Nothing to be done" in again.stdout + again.stderr
    assert pod.logins() - before == 1, "an up-to-date run must not connect"
    assert F.output_stamps(proj.root) == stamps

    # A macro: plain snakemake --profile config/profiles/runpod sigma_sweep.
    proj, remote = toy_factory("macro"), pod.new_dir("sm-macro")
    F.write_sweep(proj, values, macro=True)
    _point_at_pod(proj, pod, remote, venv, monkeypatch)
    before = pod.logins()
    proj.snakemake("--profile", "config/profiles/runpod", F.MACRO_TARGET)
    assert pod.logins() - before == 1, "one SSH login per run"
    assert setups.read_text().count("built") == 1, "the pod's environment is set up once"
    _ran_on_the_pod(proj.root, pod, remote, values)
    stamps = F.output_stamps(proj.root)
    again = proj.snakemake("--profile", "config/profiles/runpod", F.MACRO_TARGET)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert pod.logins() - before == 1, "an up-to-date run must not connect"
    assert F.output_stamps(proj.root) == stamps


def test_compiled_sweep_goes_to_the_pod_as_one_job_group(toy) -> None:  # type: ignore[no-untyped-def]
    F.write_sweep(toy, F.sigmas(16), macro=True)
    F.copy_profile(toy.root, "runpod")
    # Snakemake's own option sizes the group (docs/executors.md); `slashmake run --executor runpod`
    # passes it for every sweep of the flow.
    toy.slashmake("compile")
    compiled = "\n".join(p.read_text() for p in (toy.root / "rules/compiled").glob("*.smk"))
    group = re.search(r'group:\s*"(sweep_\w+)"', compiled)
    assert group, "a compiled sweep names its job group"
    dry = toy.snakemake("-n", F.MACRO_TARGET, "--profile", "config/profiles/runpod", "--runpod-host", "pod.invalid",
                        "--group-components", f"{group.group(1)}=16")
    groups = (dry.stdout + dry.stderr).count("Group job sweep_train")
    assert groups == 1, f"16 variants became {groups} job groups"


def test_slashmake_run_on_the_pod_keeps_secrets_out(
    sshd_pod: SshPod, toy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    pod = sshd_pod
    tmp_path.chmod(0o700)
    token, api_key = "tok-8d2c41-secret-value", "rpa_APIKEY-never-logged-91"
    # set -u in Snakemake's shell: the step fails unless the token reached the pod.
    toy.command("use-token", shell='printf %s "$SLASHMAKE_TEST_TOKEN" | wc -c > {output.report}')
    toy.command("boom", shell="python toy_step.py boom --out {output.report} --fail-if toy_step.py")
    remote = pod.new_dir("sm-secrets")
    _point_at_pod(toy, pod, remote, remote / "venv", monkeypatch, envvars=["SLASHMAKE_TEST_TOKEN"])
    monkeypatch.setenv("SLASHMAKE_TEST_TOKEN", token)
    monkeypatch.setenv("RUNPOD_API_KEY", api_key)
    res = toy.slashmake("run", "/use-token → /boom", "--executor", "runpod", check=False)
    assert res.returncode != 0
    assert "runpod: job" in res.stderr and "exit code" in res.stderr, res.stderr[-3000:]
    report = F.step_folder(toy.root, "use-token") / "report.json"
    assert report.read_text().strip() == str(len(token)), "the token reached the job on the pod"
    key_lines = [ln for ln in pod.key.read_text().splitlines() if ln and "PRIVATE KEY" not in ln]
    texts = {"stdout": res.stdout, "stderr": res.stderr}
    for path in toy.root.rglob("*"):  # .snakemake/ (metadata, logs, runpod job logs), logs/, results/
        if path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any("/.snakemake/metadata/" in p for p in texts), "Snakemake kept metadata for the finished step"
    for where, text in texts.items():
        for secret in [token, api_key, *key_lines]:
            assert secret not in text, f"a secret leaked into {where}"
