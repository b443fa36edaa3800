"""The runpod executor: jobs (and job groups) run on a pod over one SSH connection.

Per run: one master SSH connection (the run's only login), the pod's venv checked against a
marker (built only when versions change), and one rsync of the workflow tree. Per job: rsync
of its inputs, one remote ``snakemake`` over the shared connection, which prints sizes and
sha256 of the outputs, rsync of the outputs into a staging folder, verification, and only
then a move into place and a success report.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from hashlib import sha1
from typing import Any, cast

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from . import argv as A
from .settings import ExecutorSettings
from .transport import Result, Runner, RunpodError
from .verify import VerifyError, check_staged, missing_outputs, place

STATUS_POLL_S = 0.05
SECRET_ENV = ("RUNPOD_API_KEY",)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def _strs(items: Iterable[Any]) -> list[str]:
    return [str(i) for i in items]


def control_path(uid: int, pid: int) -> str:
    """A short per-run ControlPath (unix socket paths are limited to ~100 bytes)."""
    folder = os.path.join(tempfile.gettempdir(), f"smrp-{uid}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    return os.path.join(folder, f"{pid}-%C")


def remote_workdir(remote_dir: str, local_root: str) -> str:
    """The pod's work folder for this project: its name plus a hash of its local path."""
    name = os.path.basename(local_root.rstrip("/")) or "workflow"
    return f"{remote_dir.rstrip('/')}/work/{name}-{sha1(local_root.encode()).hexdigest()[:10]}"


def relative_to(root: str, path: str) -> str:
    """path relative to root; an error when it lies outside (it cannot be transferred)."""
    rel = os.path.relpath(os.path.abspath(path), root)
    if rel.startswith(".."):
        raise WorkflowError(f"runpod: {path} lies outside the workflow folder {root}")
    return rel


class Executor(RemoteExecutor):
    """Snakemake executor running jobs on a pod over SSH, moving files with rsync."""

    def __post_init__(self) -> None:
        self.settings = cast(ExecutorSettings, self.workflow.executor_settings)
        if not self.settings.host:
            raise WorkflowError("runpod: set --runpod-host (or SNAKEMAKE_RUNPOD_HOST)")
        self.next_seconds_between_status_checks = STATUS_POLL_S
        self.root = os.path.abspath(os.getcwd())
        self.workdir = remote_workdir(self.settings.remote_dir, self.root)
        self.venv = None if self.settings.skip_setup else self._venv_path()
        self.target = A.Target(
            host=self.settings.host,
            port=self.settings.port,
            user=self.settings.user,
            key=self.settings.key,
            control_path=control_path(os.getuid(), os.getpid()),
            connect_timeout=self.settings.connect_timeout,
            known_hosts=self.settings.known_hosts,
        )
        self.runner = Runner(
            self.target,
            retries=self.settings.transfer_retries,
            retry_wait=self.settings.retry_wait,
            secrets=self._secrets(),
        )
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.settings.jobs))
        self._pod_lock = threading.Lock()
        self._pod_ready = False
        self._pod_error: Exception | None = None
        self._master = False
        self.state_dir = os.path.join(self.root, ".snakemake", "runpod")
        os.makedirs(os.path.join(self.state_dir, "staging"), exist_ok=True)

    # -- settings -------------------------------------------------------------------------

    def _venv_path(self) -> str:
        return self.settings.venv or f"{self.settings.remote_dir.rstrip('/')}/.venv"

    def _secrets(self) -> list[str]:
        names = list(SECRET_ENV) + list(self.workflow.remote_execution_settings.envvars or [])
        return [os.environ[n] for n in names if os.environ.get(n)]

    def _packages(self) -> list[str]:
        spec = self.settings.packages or "snakemake=={snakemake_version}"
        filled = spec.format(
            snakemake_version=_version("snakemake"), slashmake_version=_version("slashmake")
        )
        return filled.split()

    def _versions(self) -> dict[str, str]:
        return {
            "python": self.settings.python,
            "packages": " ".join(self._packages()),
            "snakemake": _version("snakemake"),
            "slashmake": _version("slashmake"),
            "setup_cmd": self.settings.setup_cmd or A.DEFAULT_SETUP_CMD,
        }

    # -- interface hooks used by format_job_exec --------------------------------------------

    def get_python_executable(self) -> str:
        """The pod's interpreter (the venv's, unless setup is skipped)."""
        return A.remote_python(self.venv, self.settings.python)

    def get_job_exec_prefix(self, job: JobExecutorInterface) -> str:
        """Read the environment from stdin, enter the work folder, put the venv first."""
        return A.job_prefix(self.workdir, self.venv)

    def envvars(self) -> dict[str, str]:
        """Declared variables; sent on ssh's stdin, never in a command line."""
        return dict(super().envvars())

    # -- scheduling -----------------------------------------------------------------------

    def run_job(self, job: JobExecutorInterface) -> None:
        """Submit a job (or group job) to the worker pool."""
        future = self._pool.submit(self._run_remote, job)
        info = SubmittedJobInfo(job=job, external_jobid=f"runpod-{job.jobid}", aux={"f": future})
        self.report_job_submission(info)

    async def check_active_jobs(
        self, active_jobs: list[SubmittedJobInfo]
    ) -> AsyncGenerator[SubmittedJobInfo, None]:
        """Report finished futures; yield the ones still running."""
        for info in active_jobs:
            future = cast(Future[None], (info.aux or {})["f"])
            if not future.done():
                yield info
                continue
            error = future.exception()
            if error is None:
                self.report_job_success(info)
            else:
                self._report_error(info, A.redact(str(error), self.runner.secrets))

    def _report_error(self, info: SubmittedJobInfo, msg: str) -> None:
        # A group job's log_error drops the message, so it is logged here as well.
        if info.job.is_group():
            self.logger.error(f"{msg}\n(job group {info.job.name})")
        self.report_job_error(info, msg=msg + "\n")

    def cancel_jobs(self, active_jobs: list[SubmittedJobInfo]) -> None:
        """Cancel queued work; closing the master connection hangs up running remote jobs."""
        for info in active_jobs:
            cast(Future[None], (info.aux or {})["f"]).cancel()
        self._close_master()

    def shutdown(self) -> None:
        """Wait for the status thread and the workers, then close the SSH connection."""
        super().shutdown()
        self._pool.shutdown(wait=True)
        self._close_master()

    # -- the pod ----------------------------------------------------------------------------

    def _ensure_pod(self) -> None:
        with self._pod_lock:
            if self._pod_error is not None:
                raise self._pod_error
            if self._pod_ready:
                return
            try:
                self._prepare_pod()
            except Exception as e:
                self._pod_error = e
                raise
            self._pod_ready = True

    def _prepare_pod(self) -> None:
        self.runner.transfer("connect", A.master_start_argv(self.target))
        self._master = True
        self.runner.on_retry = self._reconnect
        if self.venv is not None:
            cmd = A.setup_command(
                self.workdir,
                self.venv,
                self.settings.python,
                self._packages(),
                self._versions(),
                self.settings.setup_cmd or A.DEFAULT_SETUP_CMD,
            )
        else:
            cmd = f"mkdir -p {shlex.quote(self.workdir)}"
        result = self.runner.check("pod setup", A.ssh_argv(self.target, cmd))
        if A.SETUP_MARK in result.stdout:
            self.logger.info(f"runpod: built the pod environment {self.venv}")
        self.runner.transfer("code sync", self._code_argv())

    def _code_argv(self) -> list[str]:
        ignore = self.settings.ignore
        if ignore is None and os.path.exists(os.path.join(self.root, ".rsyncignore")):
            ignore = os.path.join(self.root, ".rsyncignore")
        return A.rsync_code_argv(
            self.target, self.root, self.workdir, ignore, self.settings.remote_rsync
        )

    def _reconnect(self) -> None:
        if self.runner.run(A.master_control_argv(self.target, "check")).exit_code != 0:
            self.runner.run(A.master_start_argv(self.target))

    def _close_master(self) -> None:
        if self._master:
            self._master = False
            self.runner.run(A.master_control_argv(self.target, "exit"))

    # -- one job ----------------------------------------------------------------------------

    def _run_remote(self, job: JobExecutorInterface) -> None:
        clock = [time.perf_counter()]
        self._ensure_pod()
        self._push_inputs(job)
        clock.append(time.perf_counter())
        required, optional, logs = self._products(job)
        command = A.job_command(
            self.format_job_exec(job), self.get_python_executable(), required + optional + logs
        )
        result = self.runner.run(A.ssh_argv(self.target, command), A.env_script(self.envvars()))
        clock.append(time.perf_counter())
        if result.exit_code != 0:
            self._save_log(job, result, clock)
            self._fetch_logs(logs)
            raise RunpodError(f"job {job.name}", self.target, result, self.runner.secrets)
        self._fetch_outputs(job, result, required)
        clock.append(time.perf_counter())
        self._save_log(job, result, clock)

    def _push_inputs(self, job: JobExecutorInterface) -> None:
        inputs = [relative_to(self.root, p) for p in _strs(job.input)]
        inputs = [p for p in inputs if os.path.exists(os.path.join(self.root, p))]
        if inputs:
            argv = A.rsync_push_argv(self.target, self.workdir, self.settings.remote_rsync)
            self.runner.transfer("input transfer", argv, A.files_from(inputs))

    def _products(self, job: JobExecutorInterface) -> tuple[list[str], list[str], list[str]]:
        """Outputs that must come back, intermediates that may, and log/benchmark files."""
        rel = lambda ps: [relative_to(self.root, p) for p in _strs(ps)]  # noqa: E731
        required = rel(job.output)
        members = list(getattr(job, "jobs", [])) if job.is_group() else [job]
        every = rel(o for m in members for o in m.output)
        optional = [p for p in every if p not in required]
        bench = [b for m in members if (b := getattr(m, "benchmark", None))]
        logs = rel(list(job.log) + bench)
        return required, optional, logs

    def _fetch_outputs(self, job: JobExecutorInterface, result: Result, required: list[str]) -> None:
        manifest = A.parse_manifest(result.stdout)
        if manifest is None:
            raise VerifyError(f"runpod: job {job.name} printed no output manifest on {self.target.where}")
        missing = missing_outputs(required, manifest)
        if missing:
            raise VerifyError(f"runpod: job {job.name} made no {', '.join(missing)} on the pod")
        staging = tempfile.mkdtemp(dir=os.path.join(self.state_dir, "staging"))
        try:
            argv = A.rsync_pull_argv(self.target, self.workdir, staging, self.settings.remote_rsync)
            self.runner.transfer("output transfer", argv, A.files_from(sorted(manifest)))
            check_staged(staging, manifest)
            dirs = [p for p in required if p not in manifest]
            place(staging, manifest, dirs, self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _fetch_logs(self, logs: list[str]) -> None:
        if logs:
            argv = A.rsync_pull_argv(self.target, self.workdir, self.root, self.settings.remote_rsync)
            self.runner.run([*argv[:-2], "--ignore-missing-args", *argv[-2:]], A.files_from(logs))

    def _save_log(self, job: JobExecutorInterface, result: Result, clock: list[float]) -> None:
        path = os.path.join(self.state_dir, f"{job.name}-{job.jobid}.log")
        phases = ("setup+inputs", "remote run", "fetch+verify")
        spent = ", ".join(f"{n} {b - a:.2f}s" for n, a, b in zip(phases, clock, clock[1:], strict=False))
        self.logger.debug(f"runpod: {job.name}: {spent}")
        text = (
            f"exit code {result.exit_code}\ntimes: {spent}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        with open(path, "w") as fh:
            fh.write(A.redact(text, self.runner.secrets))
