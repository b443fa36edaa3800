"""Service fixtures (SLURM, sshd) for slashmake's tests.

Loaded from tests/conftest.py with ``pytest_plugins = ["tests.services"]`` (or ``["services"]``
when tests/ is on sys.path). Each service owns one clearly delimited section below; shared
imports sit here at the top. Under ``CI=true`` a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import pwd as _pwd
import re
import secrets as _secrets
import shutil
import socket as _socket
import subprocess
import sys as _sys
import sysconfig as _sysconfig
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# ======================================================================================
# SLURM  (owner: executors/slurm; see .ci/slurm-up.sh and docs/executors.md)
# Everything between this banner and "END SLURM" belongs to the SLURM fixtures.
# ======================================================================================

SLURM_REPO_ROOT = Path(__file__).resolve().parents[1]
SLURM_UP_SCRIPT = SLURM_REPO_ROOT / ".ci" / "slurm-up.sh"
SLURM_PROFILE = SLURM_REPO_ROOT / "config" / "profiles" / "slurm"
#: Seconds any single SLURM client call (sinfo, scontrol, squeue) may take.
SLURM_CLIENT_TIMEOUT = 20
#: Seconds .ci/slurm-up.sh may take (apt-get install on a fresh machine included).
SLURM_UP_TIMEOUT = 600
_READY_STATES = {"idle", "mixed", "allocated", "completing"}
_JOBCOMP_FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass(frozen=True)
class SlurmCluster:
    """A SLURM cluster that answers, with a filetxt job-completion log to check runs against."""

    node: str
    partition: str
    jobcomp_log: Path

    def jobcomp_records(self) -> list[dict[str, str]]:
        """Every record of SLURM's job-completion log, as ``{field: value}`` dicts."""
        return read_jobcomp(self.jobcomp_log)


def read_jobcomp(path: Path) -> list[dict[str, str]]:
    """Parse a ``jobcomp/filetxt`` log: one job per line, ``Key=Value`` fields."""
    if not path.exists():
        return []
    records: list[dict[str, str]] = []
    for line in path.read_text(errors="replace").splitlines():
        fields = dict(_JOBCOMP_FIELD.findall(line))
        if "JobId" in fields:
            records.append(fields)
    return records


def in_ci() -> bool:
    """True under CI (``CI=true``), where a missing service is a failure, never a skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _slurm_cmd(*args: str) -> tuple[int, str]:
    """Run a SLURM client command with a hard timeout; (exit code, stdout+stderr)."""
    try:
        proc = subprocess.run(
            list(args), capture_output=True, text=True, timeout=SLURM_CLIENT_TIMEOUT, check=False
        )
    except FileNotFoundError:
        return 127, f"{args[0]}: not installed"
    except subprocess.TimeoutExpired:
        return 124, f"{' '.join(args)}: no answer within {SLURM_CLIENT_TIMEOUT}s"
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def probe_slurm() -> SlurmCluster | str:
    """Return the cluster if it is usable for the tests, else a string saying why not.

    Usable means: ``sinfo`` answers, a default partition has a node in a ready state, and
    ``scontrol show config`` names a ``jobcomp/filetxt`` log.
    """
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM client tools (sinfo, sbatch) are not installed"
    rc, out = _slurm_cmd("sinfo", "--noheader", "--format=%P %T %n")
    if rc != 0:
        return f"sinfo failed (rc={rc}): {out[-400:]}"
    partition = node = ""
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].endswith("*") and parts[1].rstrip("*~#$@+") in _READY_STATES:
            partition, node = parts[0].rstrip("*"), parts[2]
            break
    if not node:
        return f"no node ready in a default partition; sinfo says: {out[-400:] or '(nothing)'}"
    rc, conf = _slurm_cmd("scontrol", "show", "config")
    if rc != 0:
        return f"scontrol show config failed (rc={rc}): {conf[-400:]}"
    settings: dict[str, str] = {}
    for line in conf.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip()
    if settings.get("JobCompType") != "jobcomp/filetxt" or not settings.get("JobCompLoc"):
        return (
            "the cluster keeps no jobcomp/filetxt log (JobCompType="
            f"{settings.get('JobCompType')!r}); the tests read SLURM's own record of each job"
        )
    return SlurmCluster(node=node, partition=partition, jobcomp_log=Path(settings["JobCompLoc"]))


def _run_slurm_up() -> str:
    """Try .ci/slurm-up.sh (it needs root); return what it printed, for the failure message."""
    if not SLURM_UP_SCRIPT.exists():
        return f"{SLURM_UP_SCRIPT} is missing"
    if os.geteuid() != 0:
        return f"not root, so {SLURM_UP_SCRIPT.name} was not run (run it with sudo)"
    try:
        proc = subprocess.run(
            ["bash", str(SLURM_UP_SCRIPT)],
            capture_output=True, text=True, timeout=SLURM_UP_TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{SLURM_UP_SCRIPT.name} did not finish within {SLURM_UP_TIMEOUT}s"
    return f"{SLURM_UP_SCRIPT.name} exited {proc.returncode}: {(proc.stdout + proc.stderr)[-1500:]}"


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """A single-node SLURM cluster that answers (started with .ci/slurm-up.sh if need be).

    Under CI=true a missing or broken cluster fails the test; elsewhere it skips, with the
    reason.
    """
    found = probe_slurm()
    if isinstance(found, SlurmCluster):
        return found
    tried = _run_slurm_up()
    again = probe_slurm()
    if isinstance(again, SlurmCluster):
        return again
    reason = f"SLURM cluster unavailable: {again} (first probe: {found}; {tried})"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)

# ======================================================================================
# END SLURM
# ======================================================================================


# ======================================================================================
# SSHD / RUNPOD  (owner: executors/runpod; see docs/executors.md)
# Everything between this banner and "END SSHD" belongs to the sshd fixtures.
# A private sshd on 127.0.0.1 (own config, host key, client key and log; the system's sshd
# is not touched) logging in as the unprivileged user ``slashpod``, who cannot read the
# project folders (root-owned, mode 700).
# ======================================================================================


SSHD_BIN = "/usr/sbin/sshd"
POD_USER = "slashpod"
POD_HOME = Path("/home") / POD_USER
#: Seconds the private sshd may take to accept connections.
SSHD_START_TIMEOUT = 15


@dataclass
class SshPod:
    """A private sshd standing in for a RunPod pod, and how to reach it."""

    host: str
    port: int
    user: str
    key: Path
    known_hosts: Path
    log: Path
    base: Path
    python: str
    setup_cmd: str

    def logins(self) -> int:
        """Logins so far (one per SSH connection), from sshd's VERBOSE log."""
        return self.log.read_text(errors="replace").count(f"Accepted publickey for {self.user}")

    def new_dir(self, name: str) -> Path:
        """A fresh folder on the pod owned by the pod user."""
        path = self.base / f"{name}-{_secrets.token_hex(3)}"
        path.mkdir(parents=True)
        _chown_to_pod(path)
        return path

    def pod_file(self, name: str, text: str, mode: int = 0o755) -> Path:
        """A file on the pod, readable by the pod user (wrappers, fault switches)."""
        path = self.base / name
        path.write_text(text)
        path.chmod(mode)
        _chown_to_pod(path)
        return path

    def executor_args(self, remote_dir: Path | None = None, **extra: str) -> list[str]:
        """The ``--runpod-*`` arguments that point Snakemake's runpod executor here."""
        args = {
            "host": self.host, "port": str(self.port), "user": self.user, "key": str(self.key),
            "known-hosts": str(self.known_hosts), "remote-dir": str(remote_dir or self.base),
            "python": self.python, "setup-cmd": self.setup_cmd, "retry-wait": "0.2",
            "venv": str(self.base / "venv"),
        }
        args.update(extra)
        return [item for k, v in args.items() for item in (f"--runpod-{k}", v)]


def _chown_to_pod(path: Path) -> None:
    entry = _pwd.getpwnam(POD_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _free_port() -> int:
    with _socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _missing_for_sshd() -> str | None:
    if os.geteuid() != 0:
        return "the sshd fixture needs root (it runs sshd and adds a user)"
    for tool in (SSHD_BIN, "ssh", "ssh-keygen", "rsync", "useradd", "/usr/bin/python3"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openssh-server openssh-client rsync)"
    return None


def _ensure_pod_user() -> None:
    try:
        _pwd.getpwnam(POD_USER)
    except KeyError:
        made = subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(POD_HOME), "--shell", "/bin/sh", POD_USER],
            capture_output=True, text=True, timeout=30,
        )
        if made.returncode != 0:  # another pytest worker may have added the user just now
            try:
                _pwd.getpwnam(POD_USER)
            except KeyError:
                raise RuntimeError(f"useradd {POD_USER} failed: {made.stderr}") from None
    # '*' (no password, not locked): sshd without PAM refuses locked ('!') accounts.
    subprocess.run(["usermod", "-p", "*", POD_USER], check=True, capture_output=True, timeout=30)


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slashmake-test", "-f", str(path)],
        check=True, capture_output=True, timeout=30,
    )


def _sshd_config(port: int, host_key: Path, auth_keys: Path, pidfile: Path) -> str:
    return "\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}", f"PidFile {pidfile}",
        f"AuthorizedKeysFile {auth_keys}", "PubkeyAuthentication yes",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
        "PermitRootLogin no", f"AllowUsers {POD_USER}", "StrictModes no", "LogLevel VERBOSE",
        "MaxSessions 64", "MaxStartups 64:30:128", "X11Forwarding no", "PrintMotd no",
        "Subsystem sftp internal-sftp", "",
    ])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = _time.monotonic() + SSHD_START_TIMEOUT
    while _time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited {proc.returncode}: {log.read_text(errors='replace')[-1500:]}")
        try:
            with _socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            _time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {SSHD_START_TIMEOUT}s")


def pod_setup_cmd(staged: Path) -> str:
    """A --runpod-setup-cmd that works offline: a venv on the pod that sees this venv's packages.

    The real default pip-installs snakemake (and slashmake) on the pod; the test pod has no
    network, so its venv gets a .pth onto this checkout's site-packages, linked under ``staged``
    (one folder per pod: pytest workers and other checkouts on this machine each start their own).
    It also counts its runs in ``<venv>.setup-count`` so tests can check that setup happens once.
    """
    purelib, src = _pod_readable_packages(staged)
    ver = f"python{_sys.version_info.major}.{_sys.version_info.minor}"
    return (
        "{python} -m venv --without-pip {venv} && "
        f"printf '%s\\n' {purelib} {src} > {{venv}}/lib/{ver}/site-packages/_slashmake_test.pth && "
        "echo built >> {venv}.setup-count"
    )


def _pod_readable_packages(staged: Path) -> tuple[Path, Path]:
    """This venv's packages and the checkout's src/, where the pod user can read them.

    The checkout may sit in a folder only root can enter (a clone in a `mktemp -d` folder is
    0700), so the pod's .pth cannot point into it: link the two trees under the pod user's home
    (hard links: no copy of the data; a plain copy when the home is on another filesystem).
    """
    purelib = Path(_sysconfig.get_paths()["purelib"])
    src = Path(__file__).resolve().parents[1] / "src"
    targets = (staged / "site-packages", staged / "src")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for origin, target in zip((purelib, src), targets, strict=True):
        if subprocess.run(["cp", "-al", str(origin), str(target)], capture_output=True).returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(origin, target, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(staged)], check=True)
    return targets


def start_pod(conf_dir: Path) -> tuple[SshPod, subprocess.Popen[bytes]]:
    """Start a private sshd with its config, keys and log in conf_dir (root-only); no checks."""
    _ensure_pod_user()
    conf_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    host_key, client_key = conf_dir / "host_key", conf_dir / "client_key"
    _keygen(host_key)
    _keygen(client_key)
    base = POD_HOME / f"pod-{_secrets.token_hex(4)}"
    base.mkdir(parents=True)
    _chown_to_pod(base)
    auth_keys = base / "authorized_keys"
    auth_keys.write_text(Path(f"{client_key}.pub").read_text())
    auth_keys.chmod(0o600)
    _chown_to_pod(auth_keys)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation folder
    port = _free_port()
    config, log = conf_dir / "sshd_config", conf_dir / "sshd.log"
    config.write_text(_sshd_config(port, host_key, auth_keys, conf_dir / "sshd.pid"))
    proc = subprocess.Popen([SSHD_BIN, "-D", "-f", str(config), "-E", str(log)])
    pod = SshPod(
        host="127.0.0.1", port=port, user=POD_USER, key=client_key,
        known_hosts=conf_dir / "known_hosts", log=log, base=base,
        python="/usr/bin/python3", setup_cmd=pod_setup_cmd(base / "test-packages"),
    )
    try:
        _wait_for_port(port, proc, log)
    except BaseException:
        stop_pod(pod, proc)
        raise
    return pod, proc


def stop_pod(pod: SshPod, proc: subprocess.Popen[bytes]) -> None:
    """Stop the private sshd and remove the pod's folder."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    shutil.rmtree(pod.base, ignore_errors=True)


def require_sshd() -> None:
    """Skip (or, under CI=true, fail) when the private sshd cannot run here."""
    why = _missing_for_sshd()
    if why is not None:
        if in_ci():
            pytest.fail(f"sshd pod unavailable: {why}", pytrace=False)
        pytest.skip(f"sshd pod unavailable: {why}")


@pytest.fixture(scope="session")
def sshd_pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshPod]:
    """A running private sshd on 127.0.0.1 (a free port) that logs in as ``slashpod``.

    Yields an :class:`SshPod`. Under CI=true a missing sshd/rsync/useradd (or not being root)
    fails the test; elsewhere it skips, with the reason.
    """
    require_sshd()
    pod, proc = start_pod(tmp_path_factory.mktemp("sshd"))
    try:
        yield pod
    finally:
        stop_pod(pod, proc)


@pytest.fixture
def private_project(tmp_path: Path) -> Path:
    """An empty project folder owned by root, mode 700: the pod user cannot read it."""
    project = tmp_path / "project"
    project.mkdir()
    project.chmod(0o700)
    tmp_path.chmod(0o700)
    return project

# ======================================================================================
# END SSHD
# ======================================================================================
