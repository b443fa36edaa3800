"""The stand-in RunPod's pods: each a real machine-like thing on this host.

A pod is a fresh unix user ``pod<id>`` (its home is the pod's disk), an ``sshd`` of its own on a free
loopback port with its own host key, whose ``authorized_keys`` comes from the ``PUBLIC_KEY`` in
the pod's environment (as RunPod's images do at start), and whose SSH sessions see
``RUNPOD_POD_ID``, a pod-scoped ``RUNPOD_API_KEY``, ``RUNPOD_API_BASE_URL`` and a ``runpodctl``
on ``PATH`` that calls the stand-in's GraphQL API back. Stopping a pod kills its sshd and every
process of its user; terminating also removes the user and its home. Needs root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"

#: The pod's ``runpodctl``: ``runpodctl stop pod ID`` / ``runpodctl remove pod ID`` over GraphQL,
#: with the pod's own key, as RunPod's runpodctl does.
RUNPODCTL = r'''#!/usr/bin/python3
import json, os, sys, urllib.request
args = sys.argv[1:]
verbs = {("stop", "pod"): "podStop", ("remove", "pod"): "podTerminate"}
if len(args) != 3 or tuple(args[:2]) not in verbs:
    sys.exit("usage: runpodctl stop pod ID | runpodctl remove pod ID")
op = verbs[tuple(args[:2])]
sel = " { id desiredStatus }" if op == "podStop" else ""
query = 'mutation { %s(input: { podId: "%s" })%s }' % (op, args[2], sel)
req = urllib.request.Request(os.environ["RUNPOD_API_BASE_URL"] + "/graphql",
    data=json.dumps({"query": query}).encode(), method="POST",
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["RUNPOD_API_KEY"]})
with urllib.request.urlopen(req, timeout=30) as r:
    body = json.load(r)
if body.get("errors"):
    sys.exit(body["errors"][0]["message"])
print('pod "%s" %s' % (args[2], "stopped" if op == "podStop" else "removed"))
'''


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (probed, so concurrent test runs do not collide)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Machine:
    """One pod's user, sshd and folders."""

    pod_id: str
    user: str
    home: Path
    conf: Path
    env: dict[str, str]
    port: int = 0
    sshd: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, pod_id: str, env: dict[str, str], conf_root: Path) -> Machine:
        """Make the pod's user and folders (its 'disk'); nothing runs yet."""
        user = f"pod{pod_id}"  # the login name: the executor's --runpod-user "pod{pod_id}"
        home = Path("/home") / f"{user}"
        subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", user],
                       check=True, capture_output=True, timeout=30)
        subprocess.run(["usermod", "-p", "*", user], check=True, capture_output=True, timeout=30)
        conf = conf_root / pod_id
        conf.mkdir(mode=0o700, parents=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(conf / "host_key")],
                       check=True, capture_output=True, timeout=30)
        bin_dir = conf / "bin"
        bin_dir.mkdir()
        (bin_dir / "runpodctl").write_text(RUNPODCTL)
        for p in (conf, bin_dir):
            p.chmod(0o755)  # the pod user runs runpodctl; the host key stays root's (0600)
        (bin_dir / "runpodctl").chmod(0o755)
        return cls(pod_id, user, home, conf, env)

    def boot(self) -> None:
        """The pod's start script: PUBLIC_KEY into authorized_keys, then its sshd on a free port."""
        entry = pwd.getpwnam(self.user)
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        keys.write_text(self.env.get("PUBLIC_KEY", "") + "\n")
        for p in (ssh_dir, keys):
            os.chown(p, entry.pw_uid, entry.pw_gid)
        keys.chmod(0o600)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.port = free_port()
        session_env = {k: v for k, v in self.env.items() if k.startswith("RUNPOD_")}
        session_env["PATH"] = f"{self.conf / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        config = self.conf / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.conf / 'host_key'}",
            f"PidFile {self.conf / 'sshd.pid'}", f"AuthorizedKeysFile {keys}", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin no",
            f"AllowUsers {self.user}", "StrictModes no", "LogLevel VERBOSE", "MaxSessions 64",
            "MaxStartups 64:30:128", "PrintMotd no", "Subsystem sftp internal-sftp",
            "SetEnv " + " ".join(f"{k}={v}" for k, v in sorted(session_env.items())), "",
        ]))
        self.sshd = subprocess.Popen([SSHD, "-D", "-f", str(config), "-E", str(self.conf / "sshd.log")])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.sshd.poll() is not None:
                raise RuntimeError(f"pod {self.pod_id}: sshd exited: {(self.conf / 'sshd.log').read_text()[-800:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pod {self.pod_id}: sshd did not listen on {self.port}")

    def halt(self) -> None:
        """Power off: the sshd and every process of the pod's user are killed (SIGKILL)."""
        sessions = _children(self.sshd.pid) if self.sshd is not None else []
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.kill()
            self.sshd.wait(timeout=10)
        self.sshd = None
        uid = pwd.getpwnam(self.user).pw_uid
        for _ in range(5):  # a process may fork while we look: look again until none is left
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _owner(int(p)) == uid]
            # sshd's per-connection monitors run as root
            pids += [p for p in sessions if _owner(p) is not None]
            sessions = []
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def destroy(self) -> None:
        """Terminate: halt, then remove the user, its home and the pod's config."""
        self.halt()
        subprocess.run(["userdel", "-r", "-f", self.user], capture_output=True, timeout=30)
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.conf, ignore_errors=True)


def _owner(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    """The processes whose parent is pid."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = Path(f"/proc/{p}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p))
    return out
