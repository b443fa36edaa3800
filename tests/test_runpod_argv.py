"""Unit tests of the runpod executor's command builders and checks (no host needed)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from snakemake_executor_plugin_runpod import argv as A
from snakemake_executor_plugin_runpod.executor import relative_to, remote_workdir
from snakemake_executor_plugin_runpod.transport import Result, RunpodError
from snakemake_executor_plugin_runpod.verify import (
    VerifyError,
    check_staged,
    missing_outputs,
    place,
    sha256,
)

T = A.Target(
    host="203.0.113.7", port=22077, user="root", key="/keys/my key", control_path="/tmp/s/1-%C",
    known_hosts="/kh",
)


def _opt(argv: list[str], name: str) -> str:
    values = [argv[i + 1].split("=", 1)[1] for i, a in enumerate(argv[:-1])
              if a == "-o" and argv[i + 1].startswith(name + "=")]
    assert len(values) == 1, (name, argv)
    return values[0]


def test_ssh_options_reuse_one_connection() -> None:
    opts = A.ssh_options(T)
    assert opts[:2] == ["-p", "22077"]
    assert _opt(opts, "ControlMaster") == "auto"
    assert _opt(opts, "ControlPath") == "/tmp/s/1-%C"
    assert _opt(opts, "ControlPersist") == "60"
    assert _opt(opts, "BatchMode") == "yes"
    assert _opt(opts, "UserKnownHostsFile") == "/kh"
    assert opts[opts.index("-i") + 1] == "/keys/my key"


def test_master_start_is_the_only_master() -> None:
    argv = A.master_start_argv(T)
    assert argv[0] == "ssh" and "-f" in argv and "-N" in argv and argv[-1] == "root@203.0.113.7"
    assert _opt(argv, "ControlMaster") == "yes"
    assert A.master_control_argv(T, "exit")[-3:] == ["-O", "exit", "root@203.0.113.7"]


def test_ssh_argv_passes_the_remote_command_as_one_argument() -> None:
    argv = A.ssh_argv(T, "echo 'a b'")
    assert argv[-2:] == ["root@203.0.113.7", "echo 'a b'"]


def test_rsync_rsh_survives_spaces_in_the_key_path() -> None:
    rsh = A.rsync_rsh(T)
    assert shlex.split(rsh) == ["ssh", *A.ssh_options(T)]


def test_rsync_code_argv_excludes_and_trailing_slashes() -> None:
    argv = A.rsync_code_argv(T, "/p/proj", "/w/proj", exclude_from="/p/proj/.rsyncignore")
    assert argv[0] == "rsync" and "-rlpt" in argv and "-a" not in argv
    assert argv[-2:] == ["/p/proj/", "root@203.0.113.7:/w/proj/"]
    excluded = [argv[i + 1] for i, a in enumerate(argv) if a == "--exclude"]
    assert ".snakemake/" in excluded and ".git/" in excluded
    assert argv[argv.index("--exclude-from") + 1] == "/p/proj/.rsyncignore"
    assert argv[argv.index("-e") + 1] == A.rsync_rsh(T)


def test_rsync_push_and_pull_take_files_on_stdin() -> None:
    push = A.rsync_push_argv(T, "/w/proj", remote_rsync="/opt/rsync")
    assert "--files-from=-" in push and "--from0" in push
    assert push[-2:] == ["./", "root@203.0.113.7:/w/proj/"]
    assert push[push.index("--rsync-path") + 1] == "/opt/rsync"
    pull = A.rsync_pull_argv(T, "/w/proj", "/p/.snakemake/runpod/staging/x")
    assert pull[-2:] == ["root@203.0.113.7:/w/proj/", "/p/.snakemake/runpod/staging/x/"]
    assert A.files_from(["a b", "c"]) == "a b\0c\0"


def test_env_is_sent_on_stdin_and_read_back_exactly(tmp_path: Path) -> None:
    secret = "s3cr3t 'quoted' $HOME `x`"
    prefix = A.job_prefix(str(tmp_path), None)
    assert secret not in prefix
    out = subprocess.run(
        ["sh", "-c", f'{prefix} && printf %s "$TOKEN" && pwd'],
        input=A.env_script({"TOKEN": secret}), capture_output=True, text=True, check=True,
    ).stdout
    assert out == secret + str(tmp_path) + "\n"


def test_job_command_runs_and_prints_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "out dir").mkdir()
    (tmp_path / "out dir" / "a.txt").write_text("hello")
    (tmp_path / "o'q.txt").write_text("q")
    cmd = A.job_command(
        "cd " + shlex.quote(str(tmp_path)) + " && true", shlex.quote(sys.executable),
        ["out dir", "o'q.txt", "absent.txt"],
    )
    res = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True)
    manifest = A.parse_manifest(res.stdout)
    assert manifest is not None
    assert set(manifest) == {"out dir/a.txt", "o'q.txt"}
    size, digest, _ = manifest["out dir/a.txt"]
    assert size == 5 and digest == sha256(str(tmp_path / "out dir" / "a.txt"))


def test_job_command_keeps_the_jobs_exit_code() -> None:
    cmd = A.job_command("echo boom >&2; exit 7", "python3", ["x"])
    res = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False)
    assert res.returncode == 7 and A.parse_manifest(res.stdout) is None


def test_setup_runs_once_per_version_set(tmp_path: Path) -> None:
    venv, work = tmp_path / "venv", tmp_path / "w" / "proj"
    template = "mkdir -p {venv} && echo built >> {venv}.count"

    def setup(versions: dict[str, str]) -> str:
        cmd = A.setup_command(str(work), str(venv), "python3", ["snakemake==9"], versions, template)
        return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True).stdout

    assert A.SETUP_MARK in setup({"snakemake": "9.27.1"})
    assert A.SETUP_MARK not in setup({"snakemake": "9.27.1"})
    assert A.SETUP_MARK in setup({"snakemake": "9.28.0"})
    assert (tmp_path / "venv.count").read_text().count("built") == 2
    assert work.is_dir()
    assert json.loads((venv / A.MARKER_NAME).read_text()) == {"snakemake": "9.28.0"}


def test_setup_template_values_are_quoted() -> None:
    cmd = A.setup_command("/w", "/v v", "py; rm -rf /", ["a b"], {}, "{python} {venv} {packages}")
    assert "'py; rm -rf /' '/v v' 'a b'" in cmd


def test_warm_snakemake_is_named_by_interpreter_versions_and_script() -> None:
    key = A.forkserver_key("/v/bin/python", {"snakemake": "9"}, "script")
    assert len(key) == 16 and int(key, 16) >= 0
    others = {A.forkserver_key("/w/bin/python", {"snakemake": "9"}, "script"),
              A.forkserver_key("/v/bin/python", {"snakemake": "10"}, "script"),
              A.forkserver_key("/v/bin/python", {"snakemake": "9"}, "script 2")}
    assert key not in others and len(others) == 3


def test_warm_snakemake_set_up_reads_its_script_from_stdin(tmp_path: Path) -> None:
    folder = tmp_path / "remote dir" / ".warm"
    install = A.forkserver_install(str(folder))
    assert "print(" not in install, "the script travels on stdin, not in the command"
    subprocess.run(["sh", "-c", install], input="print('hi')\n", text=True, check=True)
    assert (folder / A.FORKSERVER_NAME).read_text() == "print('hi')\n"
    assert (folder.stat().st_mode & 0o777) == 0o700 and not list(folder.glob(".*"))


def test_warm_snakemake_start_and_launcher_are_quoted() -> None:
    start = A.forkserver_start("/r d/.warm", "/v v/bin/python", "0123456789abcdef", 30)
    assert "setsid '/v v/bin/python' '/r d/.warm/forkserver.py' serve '/r d/.warm/0123456789abcdef.sock' 30" in start
    assert "grep -qs 0123456789abcdef" in start, "a live server of that key is found by its command line"
    launcher = A.launcher("'/v v/bin/python'", "/r d/.warm/", "0123456789abcdef")
    assert shlex.split(launcher) == ["/v v/bin/python", "/r d/.warm/forkserver.py", "run",
                                     "/r d/.warm/0123456789abcdef.sock"]
    assert shlex.split(A.launcher("python3", "/w", None)) == ["python3", "/w/forkserver.py", "run", "-"]


def test_redact_and_error_messages_hide_secrets() -> None:
    assert A.redact("token=abcd1234 and abcd1234", ["abcd1234", "", "ab"]) == "token=*** and ***"
    err = RunpodError("job x", T, Result(["ssh", "h", "echo abcd1234"], 3, "", "fail abcd1234"),
                      ["abcd1234"])
    text = str(err)
    assert "abcd1234" not in text
    assert "203.0.113.7" in text and "22077" in text and "exit code 3" in text and "fail ***" in text


def test_verify_catches_truncation_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("12345")
    good = {"a": (5, sha256(str(tmp_path / "a")), 1.0)}
    check_staged(str(tmp_path), good)
    with pytest.raises(VerifyError, match="truncated"):
        check_staged(str(tmp_path), {"a": (6, good["a"][1], 1.0)})
    with pytest.raises(VerifyError, match="sha256"):
        check_staged(str(tmp_path), {"a": (5, "0" * 64, 1.0)})
    with pytest.raises(VerifyError, match="missing"):
        check_staged(str(tmp_path), {"b": (5, "0" * 64, 1.0)})
    assert missing_outputs(["a", "d", "e"], {"a": good["a"], "d/x": good["a"]}) == ["e"]


def test_place_moves_files_and_keeps_their_order(tmp_path: Path) -> None:
    staging, root = tmp_path / "s", tmp_path / "r"
    (staging / "x").mkdir(parents=True)
    (staging / "x" / "first").write_text("1")
    (staging / "x" / "second").write_text("2")
    manifest = {"x/first": (1, "", 100.0), "x/second": (1, "", 160.0)}
    place(str(staging), manifest, [], str(root))
    first, second = (os.path.getmtime(root / "x" / n) for n in ("first", "second"))
    assert second - first == pytest.approx(60.0, abs=0.01)
    assert abs(second - __import__("time").time()) < 5


def test_paths_outside_the_project_are_refused(tmp_path: Path) -> None:
    assert relative_to(str(tmp_path), str(tmp_path / "a" / "b")) == "a/b"
    with pytest.raises(Exception, match="outside"):
        relative_to(str(tmp_path), "/etc/passwd")
    wd = remote_workdir("/workspace/x/", "/home/me/proj")
    assert wd.startswith("/workspace/x/work/proj-") and wd != remote_workdir("/workspace/x", "/o/proj")


def test_plugin_import_is_light() -> None:
    code = (
        "import sys, snakemake_executor_plugin_runpod as p\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('sh', 'snakemake', 'slashmake')]\n"
        "assert not heavy, heavy\n"
        "assert p.common_settings.can_transfer_local_files\n"
        "assert not p.common_settings.pass_envvar_declarations_to_cmd\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_snakemake_finds_the_executor_and_its_settings() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--help"], capture_output=True, text=True, timeout=120,
        check=True,
    ).stdout
    assert "runpod" in out
    for flag in ("host", "port", "user", "key", "remote-dir", "jobs", "ignore", "python", "venv",
                 "transfer-retries"):
        assert f"--runpod-{flag}" in out


def test_settings_parse_through_snakemakes_registry() -> None:
    import configargparse
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    plugin = ExecutorPluginRegistry().get_plugin("runpod")
    parser = configargparse.ArgumentParser()
    plugin.register_cli_args(parser, "executor")
    ns = parser.parse_args(["--runpod-host", "h", "--runpod-key", "/k", "--runpod-port", "2222",
                            "--runpod-retry-wait", "0.5", "--runpod-skip-setup"])
    settings = plugin.get_settings(ns)
    assert (settings.host, settings.key, settings.port) == ("h", "/k", 2222)
    assert settings.retry_wait == 0.5 and settings.skip_setup is True


def test_pod_address_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import configargparse
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    for name, value in {"HOST": "203.0.113.7", "PORT": "22084", "USER": "me", "KEY": "/keys/pod"}.items():
        monkeypatch.setenv(f"SNAKEMAKE_RUNPOD_{name}", value)
    plugin = ExecutorPluginRegistry().get_plugin("runpod")
    parser = configargparse.ArgumentParser()
    plugin.register_cli_args(parser, "executor")
    settings = plugin.get_settings(parser.parse_args([]))
    assert (settings.host, settings.port, settings.user, settings.key) == ("203.0.113.7", 22084, "me", "/keys/pod")
    assert plugin.get_settings(parser.parse_args(["--runpod-port", "2222"])).port == 2222, "the flag wins"
