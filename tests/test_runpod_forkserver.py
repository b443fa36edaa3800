"""The pod's warm Snakemake (forkserver.py), run here as the pod runs it: a server and launchers.

No host is needed: the set-up text starts the server with this interpreter in a private folder,
and jobs go through the launcher exactly as a job's remote command starts it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from snakemake_executor_plugin_runpod import argv as A
from snakemake_executor_plugin_runpod.executor import forkserver_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SNAKEFILE = """
rule all:
    input: "parent.txt", "env.txt"

rule parent:
    output: "parent.txt"
    shell: "tr '\\\\0' ' ' < /proc/$PPID/cmdline > {output}"

rule env:
    output: "env.txt"
    shell: "printf '%s|%s' \\"${{TOKEN:-}}\\" \\"$(pwd)\\" > {output}"

rule fail:
    shell: "echo broken-on-purpose >&2; exit 3"

rule sleep:
    output: "slept.txt"
    shell: "echo $$ > sleep.pid; sleep 60; touch {output}"
"""


@dataclass
class Warm:
    """A running server: its folder, key and the launcher text a job would use."""

    folder: Path
    key: str

    @property
    def launcher(self) -> str:
        return A.launcher(shlex.quote(sys.executable), str(self.folder), self.key)

    def pid(self) -> int:
        return int((self.folder / f"{self.key}.pid").read_text())


def _start(folder: Path, script: str, python: str = sys.executable) -> Warm:
    key = A.forkserver_key(python, {"test": "1"}, script)
    cmd = f"{A.forkserver_install(str(folder))} && {A.forkserver_start(str(folder), python, key, 60)}"
    subprocess.run(["sh", "-c", cmd], input=script, text=True, check=True, timeout=30)
    return Warm(folder, key)


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warm]:
    server = _start(tmp_path_factory.mktemp("warm") / "state dir", forkserver_text())
    deadline = time.monotonic() + 60
    while not (server.folder / f"{server.key}.sock").exists():
        assert time.monotonic() < deadline, (server.folder / f"{server.key}.log").read_text()
        time.sleep(0.1)
    try:
        yield server
    finally:
        os.kill(server.pid(), 15)


def _job(project: Path, launcher: str, *targets: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    """Run targets as a job's remote command does: ``LAUNCHER -m snakemake ARGS`` in its folder."""
    (project / "Snakefile").write_text(SNAKEFILE)
    args = shlex.join(["-m", "snakemake", "--cores", "1", "--nolock", *targets])
    return subprocess.run(["sh", "-c", f"cd {shlex.quote(str(project))} && {launcher} {args}"],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False,
                          timeout=120)


def test_a_job_forks_from_the_warm_server_with_its_own_folder_and_environment(warm: Warm, tmp_path: Path) -> None:
    res = _job(tmp_path, warm.launcher, env={"TOKEN": "t0k'en"})
    assert res.returncode == 0, res.stderr[-3000:]
    assert " serve " in (tmp_path / "parent.txt").read_text(), "the job ran in a fork of the server"
    assert (tmp_path / "env.txt").read_text() == f"t0k'en|{tmp_path}"
    assert "Finished" in res.stderr or "steps (100%) done" in res.stderr, "its log came through its own stderr"


def test_a_failing_job_keeps_its_exit_code_and_stderr(warm: Warm, tmp_path: Path) -> None:
    res = _job(tmp_path, warm.launcher, "fail")
    assert res.returncode == 1 and "broken-on-purpose" in res.stderr, (res.returncode, res.stderr[-2000:])


def test_without_a_server_the_launcher_runs_snakemake_itself(warm: Warm, tmp_path: Path) -> None:
    python = shlex.quote(sys.executable)
    res = _job(tmp_path, A.launcher(python, str(warm.folder), "0123456789abcdef"))  # no such server
    assert res.returncode == 0, res.stderr[-3000:]
    assert " run " in (tmp_path / "parent.txt").read_text(), "it ran in the launcher itself"
    assert _job(tmp_path, A.launcher(python, str(warm.folder), None), "fail").returncode == 1


def test_an_interpreter_set_up_otherwise_runs_cold(warm: Warm, tmp_path: Path) -> None:
    res = _job(tmp_path, warm.launcher, env={"PYTHONPATH": str(tmp_path)})
    assert res.returncode == 0, res.stderr[-3000:]
    assert " run " in (tmp_path / "parent.txt").read_text(), "PYTHONPATH differs from the server's"


def test_a_hung_up_job_is_killed(warm: Warm, tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    args = shlex.join(["-m", "snakemake", "--cores", "1", "--nolock", "sleep"])
    # The job's streams are a pipe whose reader goes away, as when the ssh connection closes.
    proc = subprocess.Popen(["sh", "-c", f"cd {shlex.quote(str(tmp_path))} && {warm.launcher} {args} 2>&1"],
                            stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / "sleep.pid").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the sleep job did not start"
        time.sleep(0.1)
    sleeper = int((tmp_path / "sleep.pid").read_text())
    assert proc.stdout is not None
    proc.stdout.close()
    assert proc.wait(timeout=30) != 0
    deadline = time.monotonic() + 30
    while Path(f"/proc/{sleeper}").exists() and "sleep" in Path(f"/proc/{sleeper}/cmdline").read_text(errors="replace"):
        assert time.monotonic() < deadline, "the job outlived its launcher"
        time.sleep(0.1)
    assert not (tmp_path / "slept.txt").exists()


def test_a_second_start_keeps_the_running_server(warm: Warm) -> None:
    before = warm.pid()
    _start(warm.folder, forkserver_text())
    assert warm.pid() == before and Path(f"/proc/{before}").exists()


def test_the_server_leaves_when_its_socket_goes(tmp_path: Path) -> None:
    server = _start(tmp_path / "gone", forkserver_text())
    sock = server.folder / f"{server.key}.sock"
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert time.monotonic() < deadline, (server.folder / f"{server.key}.log").read_text()
        time.sleep(0.1)
    pid = server.pid()
    sock.unlink()
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the server stayed after its socket was removed"
        time.sleep(0.1)
