"""One pod as the executor uses it: its SSH target, its set-up (once), and a job's transfers.

A session is a hand-started pod (``--runpod-host``) or one the executor started through the API.
Per pod, once: the master SSH connection, the venv checked against its marker, the warm
Snakemake jobs fork from (forkserver.py), the code rsync and, for API pods, the watchdog. Per
job: inputs up, the remote run, outputs back into staging, verified, then moved into place.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from snakemake_interface_common.exceptions import WorkflowError

from . import argv as A
from . import watchdog
from .transport import Result, Runner
from .verify import VerifyError, check_staged, missing_outputs, place


@dataclass(frozen=True)
class Setup:
    """How a pod is set up: where things go and how the venv is built (the same for every pod)."""

    remote_dir: str
    venv: str | None  # None: --runpod-skip-setup
    python: str
    packages: tuple[str, ...]
    versions: dict[str, str]
    template: str
    ignore: str | None
    remote_rsync: str = "rsync"
    watchdog_idle_s: int = 0
    watchdog_max_s: int = 0
    watchdog_on: bool = False
    #: forkserver.py's text, run on the pod as a warm Snakemake that jobs fork from; None: every
    #: job starts its own Snakemake (--runpod-cold-start)
    forkserver: str | None = None


def relative_to(root: str, path: str) -> str:
    """path relative to root; an error when it lies outside (it cannot be transferred)."""
    rel = os.path.relpath(os.path.abspath(path), root)
    if rel.startswith(".."):
        raise WorkflowError(f"runpod: {path} lies outside the workflow folder {root}")
    return rel


def expand_home(path: str, home: str) -> str:
    """``~`` or ``~/x`` on the pod, made absolute with the pod user's home (pure)."""
    if path == "~" or path.startswith("~/"):
        return home.rstrip("/") + path[1:]
    return path


@dataclass
class PodSession:
    """One pod: how to reach it, whether it is set up, how many jobs it runs now."""

    target: A.Target
    runner: Runner
    root: str
    workdir_name: str
    pod_id: str | None = None
    slots: int = 1
    busy: int = 0
    ready: bool = False
    dead: bool = False
    #: set by close(): the run ended this pod, and Ctrl-C hangs up before Fleet.finish marks it dead
    hung_up: bool = False
    master: bool = False
    workdir: str = ""
    venv: str | None = None
    state_dir: str = ""
    #: what a job's command runs in place of ``python`` before ``-m snakemake`` (A.launcher)
    launcher: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: wall-clock times of the pod's milestones (created, ssh_shown, connected, setup_done, synced,
    #: first_job), written to .snakemake/runpod/pods.jsonl for bench/bench_executors_runpod.py
    events: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The pod id (API pods) or ``user@host:port`` (a hand-started pod), for messages."""
        return f"pod {self.pod_id} ({self.target.where})" if self.pod_id else self.target.where

    def prepare(self, setup: Setup, log: Callable[[str], None]) -> None:
        """Log in once, resolve ``~``, build the venv unless its marker matches, sync the code."""
        self.runner.transfer("connect", A.master_start_argv(self.target))
        self.master = True
        self.events["connected"] = time.time()
        self.runner.on_retry = self.reconnect
        remote_dir, venv = setup.remote_dir, setup.venv
        if remote_dir.startswith("~") or (venv or "").startswith("~"):
            home = self.runner.check("pod home", A.ssh_argv(self.target, 'printf %s "$HOME"')).stdout.strip()
            remote_dir, venv = expand_home(remote_dir, home), expand_home(venv, home) if venv else None
        self.workdir = f"{remote_dir.rstrip('/')}/work/{self.workdir_name}"
        self.venv = venv
        self.state_dir = f"{remote_dir.rstrip('/')}/.watchdog"
        if venv is not None:
            cmd = A.setup_command(self.workdir, venv, setup.python, setup.packages, setup.versions, setup.template)
        else:
            cmd = f"mkdir -p {shlex.quote(self.workdir)}"
        script = setup.forkserver
        if script is not None:
            # The warm Snakemake starts in the same login, after the venv: it imports while the
            # code syncs, and its script travels on stdin (it stays out of error messages).
            python, warm = f"{venv}/bin/python" if venv else setup.python, f"{remote_dir.rstrip('/')}/.warm"
            key = A.forkserver_key(python, setup.versions, script)
            cmd = f"{A.forkserver_install(warm)} && {cmd} && {A.forkserver_start(warm, python, key)}"
            self.launcher = A.launcher(A.remote_python(venv, setup.python), warm, key)
        if setup.watchdog_on:
            cmd = f"{watchdog.start_command(self.state_dir, setup.watchdog_idle_s, setup.watchdog_max_s)} && {cmd}"
        result = self.runner.check("pod setup", A.ssh_argv(self.target, cmd), script or "")
        self.events["setup_done"] = time.time()
        if A.SETUP_MARK in result.stdout:
            log(f"runpod: built the pod environment {venv} on {self.label}")
        exclude = setup.ignore
        if exclude is None and os.path.exists(os.path.join(self.root, ".rsyncignore")):
            exclude = os.path.join(self.root, ".rsyncignore")
        argv = A.rsync_code_argv(self.target, self.root, self.workdir, exclude, setup.remote_rsync, gitignore=True)
        self.runner.transfer("code sync", argv)
        self.events["synced"] = time.time()
        self.ready = True

    def reconnect(self) -> None:
        """Reopen the master connection when it is gone (before a retried transfer)."""
        if self.runner.run(A.master_control_argv(self.target, "check")).exit_code != 0:
            self.runner.run(A.master_start_argv(self.target))

    def close(self) -> None:
        """Close the master connection (which hangs up any remote command still running).

        The session is marked first: a job thread checking it from now on starts nothing, instead of
        opening a connection of its own once the master is gone.
        """
        self.hung_up = True
        if self.master:
            self.master = False
            self.runner.run(A.master_control_argv(self.target, "exit"))

    # -- one job ----------------------------------------------------------------------------

    def check_live(self) -> None:
        """Refuse to start a job's transfer or command on a pod the run has ended (Ctrl-C).

        Ending a pod hangs up its master connection, but a job thread that got the pod just before
        would open a connection of its own and run its job to the end on a pod being stopped.
        """
        if self.dead or self.hung_up:
            raise WorkflowError(f"runpod: {self.label} was ended (the run is stopping); its job does not start")

    def push_inputs(self, inputs: Sequence[str], remote_rsync: str) -> None:
        """rsync the job's existing inputs (relative paths) into the work folder."""
        self.check_live()
        present = [p for p in inputs if os.path.exists(os.path.join(self.root, p))]
        if present:
            argv = A.rsync_push_argv(self.target, self.workdir, remote_rsync)
            self.runner.transfer("input transfer", argv, A.files_from(present))

    def run_job(self, command: str, stdin: str, wrap: bool) -> Result:
        """Run the job's remote shell text (inside the watchdog's busy markers when ``wrap``)."""
        self.check_live()
        text = watchdog.wrap_job(self.state_dir, command) if wrap else command
        return self.runner.run(A.ssh_argv(self.target, text), stdin)

    def fetch_outputs(self, name: str, result: Result, required: list[str], staging_root: str,
                      remote_rsync: str) -> None:
        """Bring the outputs the remote manifest lists into staging, verify them, move them in."""
        manifest = A.parse_manifest(result.stdout)
        if manifest is None:
            raise VerifyError(f"runpod: job {name} printed no output manifest on {self.label}")
        missing = missing_outputs(required, manifest)
        if missing:
            raise VerifyError(f"runpod: job {name} made no {', '.join(missing)} on {self.label}")
        staging = tempfile.mkdtemp(dir=staging_root)
        try:
            argv = A.rsync_pull_argv(self.target, self.workdir, staging, remote_rsync)
            self.runner.transfer("output transfer", argv, A.files_from(sorted(manifest)))
            check_staged(staging, manifest)
            place(staging, manifest, [p for p in required if p not in manifest], self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def fetch_logs(self, logs: list[str], remote_rsync: str) -> None:
        """Bring a failed job's logs back, whichever exist."""
        if logs:
            argv = A.rsync_pull_argv(self.target, self.workdir, self.root, remote_rsync)
            self.runner.run([*argv[:-2], "--ignore-missing-args", *argv[-2:]], A.files_from(logs))
