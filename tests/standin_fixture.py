"""Starting the stand-in RunPod API (tests/runpod_standin.py) for the tests and the bench.

The stand-in runs as its own process (root: its pods are users with their own sshd). A project
is pointed at it the way a user points one at RunPod: ``RUNPOD_API_KEY`` and
``RUNPOD_API_BASE_URL`` in the environment and a ``runpod:`` section in config/config.yaml.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "runpod_standin.py"
#: GPU types of every stand-in: NAME -> (USD per hour, pods of it that may run at once).
GPUS = {"NVIDIA A40": (0.40, 8), "NVIDIA H100 80GB HBM3": (2.69, 0), "NVIDIA COSTLY": (3600.0, 8)}


def missing() -> str | None:
    """Why the stand-in cannot run here, or None."""
    if os.geteuid() != 0:
        return "the stand-in RunPod needs root (its pods are users with their own sshd)"
    for tool in ("/usr/sbin/sshd", "ssh", "ssh-keygen", "rsync", "useradd", "userdel", "/usr/bin/python3"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install openssh-server openssh-client rsync)"
    return None


def _others_can_read(path: Path) -> bool:
    """Whether any user may read path: every folder above it lets others through, it lets them read."""
    path = path.resolve()
    if not path.stat().st_mode & stat.S_IROTH:
        return False
    return all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents])


def stage_packages(dest: Path) -> tuple[Path, Path]:
    """This venv's packages and the checkout's src/ where any pod user can read them.

    Used in place when others may read them; else (a clone in a private folder, as in CI) hard
    links of both trees under dest.
    """
    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    if _others_can_read(purelib) and _others_can_read(HERE.parent / "src"):
        return purelib, (HERE.parent / "src").resolve()
    targets = (dest / "site-packages", dest / "src")
    dest.mkdir(parents=True, exist_ok=True)
    for origin, target in zip((purelib, HERE.parent / "src"), targets, strict=True):
        if subprocess.run(["cp", "-al", str(origin), str(target)], capture_output=True).returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(origin, target, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    dest.chmod(0o755)
    return targets


def setup_cmd(packages: tuple[Path, Path]) -> str:
    """An offline --runpod-setup-cmd: a venv on the pod seeing the staged packages (pods have no network)."""
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return ("{python} -m venv --without-pip {venv} && "
            f"printf '%s\\n' {packages[0]} {packages[1]} > {{venv}}/lib/{ver}/site-packages/_slashmake_test.pth")


@dataclass
class StandIn:
    """A running stand-in, the key it accepts, and the user's SSH key for its pods."""

    proc: subprocess.Popen[str]
    url: str
    api_key: str
    key: Path

    def state(self) -> dict[str, Any]:
        """GET /standin/state: every pod ever made, with its history."""
        with urllib.request.urlopen(f"{self.url}/standin/state", timeout=10) as r:
            return dict(json.load(r))

    def env(self) -> dict[str, str]:
        """What a user exports to reach the API."""
        return {"RUNPOD_API_KEY": self.api_key, "RUNPOD_API_BASE_URL": self.url}

    def stop(self) -> None:
        """SIGTERM: the stand-in removes its pods and exits."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start(folder: Path, boot: float = 0.3) -> StandIn:
    """Start a stand-in with :data:`GPUS` and a fresh client key in folder (root-only)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "slashmake-test", "-f", str(key)],
                   check=True, capture_output=True, timeout=30)
    api_key = f"rpa_TEST{secrets.token_hex(16)}"
    args = [a for name, (price, count) in GPUS.items() for a in ("--gpu", f"{name}={price}:{count}")]
    proc = subprocess.Popen([sys.executable, str(STANDIN), *args, "--boot", str(boot)], text=True,
                            stdout=subprocess.PIPE, env={**os.environ, "RUNPOD_API_KEY": api_key})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("URL "):
        proc.kill()
        raise RuntimeError(f"the stand-in did not start: {line!r}")
    return StandIn(proc, line.split()[1], api_key, key)


def runpod_section(standin: StandIn, packages: tuple[Path, Path], **extra: Any) -> dict[str, Any]:
    """A ``runpod:`` config section for the stand-in's pods (each pod logs in as ``pod<id>``)."""
    section: dict[str, Any] = {
        "gpu_types": ["NVIDIA A40"], "pods": 1, "user": "pod{pod_id}", "key": str(standin.key),
        "known_hosts": str(standin.key.parent / "known_hosts"), "remote_dir": "~/workspace",
        "python": "/usr/bin/python3", "setup_cmd": setup_cmd(packages), "retry_wait": 0.2,
        "transfer_retries": 1, "ssh_wait": 60, "gpu_wait": 0, "image": "runpod/pytorch:standin",
    }
    section.update(extra)
    return section


def write_config(root: Path, section: dict[str, Any]) -> None:
    """Put the ``runpod:`` section into the project's config/config.yaml."""
    path = root / "config" / "config.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data["runpod"] = section
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def wait_for(check: Any, timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll check() until it returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
