"""The runpod executor: jobs (and job groups) run on pods, each over one SSH connection.

Per pod: one master SSH connection (the pod's only login), the pod's venv checked against a
marker (built only when versions change), a warm Snakemake started (forkserver.py) and one rsync
of the workflow tree. Per job: rsync of its inputs, one remote ``snakemake`` over the shared
connection (forked from the warm one), which prints sizes and sha256 of the outputs, rsync of the
outputs into a staging folder, verification, and only then a move into place and a success report.
"""

from __future__ import annotations

import atexit
import json
import os
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
from . import reaper, watchdog
from . import session as S
from .cloud import Cloud, PodApiError, PodSpec
from .fleet import ON_FINISH, Fleet, Plan, PodDied
from .ledger import Ledger
from .settings import ExecutorSettings
from .transport import Result, Runner, RunpodError

STATUS_POLL_S = 0.05
SECRET_ENV = ("RUNPOD_API_KEY",)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def forkserver_text() -> str:
    """forkserver.py, which set-up sends to each pod (it is never imported here)."""
    from importlib.resources import files

    return files(__package__).joinpath("forkserver.py").read_text()


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
    return S.relative_to(root, path)


class Executor(RemoteExecutor):
    """Snakemake executor running jobs on pods over SSH, moving files with rsync.

    With ``--runpod-host`` (and no ``--runpod-gpu-types``) it uses that hand-started pod, running
    ``--runpod-jobs`` jobs there at once. With ``--runpod-gpu-types`` it starts up to
    ``--runpod-pods`` pods through the RunPod API as jobs wait, one job per pod at a time, and
    applies ``--runpod-on-finish`` to them when the run ends.
    """

    def __post_init__(self) -> None:
        self.settings = cast(ExecutorSettings, self.workflow.executor_settings)
        st = self.settings
        managed = bool((st.gpu_types or "").strip())
        if not managed and not st.host:
            raise WorkflowError("runpod: set --runpod-host (or SNAKEMAKE_RUNPOD_HOST) for a pod you started, "
                                "or --runpod-gpu-types (runpod.gpu_types in config/config.yaml) to start pods")
        if st.on_finish not in ON_FINISH:
            raise WorkflowError(f"runpod: on_finish must be one of {', '.join(ON_FINISH)}, not {st.on_finish!r}")
        self.next_seconds_between_status_checks = STATUS_POLL_S
        self.root = os.path.abspath(os.getcwd())
        self.workdir_name = os.path.basename(remote_workdir(st.remote_dir, self.root))
        self.venv = None if st.skip_setup else self._venv_path()
        self.secrets = self._secrets()
        self.setup = S.Setup(
            remote_dir=st.remote_dir, venv=self.venv, python=st.python, packages=tuple(self._packages()),
            versions=self._versions(), template=st.setup_cmd or A.DEFAULT_SETUP_CMD, ignore=st.ignore,
            remote_rsync=st.remote_rsync, watchdog_on=managed,
            watchdog_idle_s=watchdog.seconds(st.idle_minutes), watchdog_max_s=watchdog.seconds(st.max_duration_minutes),
            forkserver=None if st.cold_start else forkserver_text(),
        )
        self._local = threading.local()
        self.state_dir = os.path.join(self.root, ".snakemake", "runpod")
        os.makedirs(os.path.join(self.state_dir, "staging"), exist_ok=True)
        try:
            cloud = Cloud() if managed else None
        except PodApiError as e:
            raise WorkflowError(str(e)) from None
        plan = Plan(spec=self._spec() if managed else PodSpec("", ""),
                    gpu_types=tuple(g.strip() for g in (st.gpu_types or "").split(",") if g.strip()),
                    max_pods=max(1, st.pods), on_finish=st.on_finish, max_cost_usd=st.max_cost_usd,
                    ssh_wait=st.ssh_wait, gpu_wait=st.gpu_wait)
        ledger = Ledger(os.path.join(self.root, st.ledger)) if managed else None
        if cloud is not None and ledger is not None:
            self._reap(cloud, ledger)
        self.fleet = Fleet(plan, cloud, ledger, self._new_session, self._prepare, self.logger.info)
        if not managed:
            self.fleet.sessions.append(self._new_session(None, None, slots=max(1, st.jobs)))
        self._pool = ThreadPoolExecutor(max_workers=max(1, st.pods if managed else st.jobs))
        atexit.register(self.fleet.finish)  # a run that ends any other way still applies on_finish

    def _reap(self, cloud: Cloud, ledger: Ledger) -> None:
        """Pods of earlier runs that are gone get their on_finish (plain snakemake reaps too)."""
        try:
            for line in reaper.reap(ledger, cloud):
                self.logger.info(f"runpod: reaped pod {line}")
        except PodApiError as e:
            self.logger.warning(f"runpod: could not reap the pods of earlier runs: {e}")

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

    def _spec(self) -> PodSpec:
        """The pods' spec; the user's public key goes to them as PUBLIC_KEY, as RunPod's images expect."""
        st = self.settings
        pub = st.public_key or (f"{st.key}.pub" if st.key else os.path.expanduser("~/.ssh/id_ed25519.pub"))
        try:
            public_key = open(os.path.expanduser(pub)).read().strip()
        except OSError as e:
            raise WorkflowError(f"runpod: cannot read the public key {pub} for the pods ({e.strerror}); "
                                "set --runpod-public-key") from None
        run = (os.environ.get("SLASHMAKE_RUN_ID") or str(os.getpid()))[-12:]
        return PodSpec(name=f"slashmake-{run}", image=st.image, cloud_type=st.cloud_type,
                       container_disk_gb=st.container_disk_gb, volume_gb=st.volume_gb,
                       network_volume_id=st.network_volume_id, env={"PUBLIC_KEY": public_key})

    def _new_session(self, pod_id: str | None, target: A.Target | None, slots: int = 1) -> S.PodSession:
        st = self.settings
        target = target or A.Target(
            host=st.host or "pending", port=st.port, user=st.user, key=st.key,
            control_path=control_path(os.getuid(), os.getpid()), connect_timeout=st.connect_timeout,
            known_hosts=st.known_hosts,
        )
        runner = Runner(target, retries=st.transfer_retries, retry_wait=st.retry_wait, secrets=self.secrets)
        return S.PodSession(target, runner, self.root, self.workdir_name, pod_id=pod_id, slots=slots)

    def _prepare(self, session: S.PodSession) -> None:
        session.prepare(self.setup, self.logger.info)

    # -- interface hooks used by format_job_exec --------------------------------------------

    def _session(self) -> S.PodSession | None:
        return cast(S.PodSession | None, getattr(self._local, "session", None))

    def get_python_executable(self) -> str:
        """What the job's command starts before ``-m snakemake``: the pod's launcher (A.launcher).

        It hands the job to the pod's warm Snakemake, else runs it with the pod's interpreter (the
        venv's, unless setup is skipped); with --runpod-cold-start, that interpreter itself.
        """
        session = self._session()
        if session is not None and session.launcher:
            return session.launcher
        return self._python(session)

    def _python(self, session: S.PodSession | None) -> str:
        return A.remote_python(session.venv if session else self.venv, self.settings.python)

    def get_job_exec_prefix(self, job: JobExecutorInterface) -> str:
        """Read the environment from stdin, enter the pod's work folder, put the venv first."""
        session = self._session()
        if session is None:
            return A.job_prefix(remote_workdir(self.settings.remote_dir, self.root), self.venv)
        return A.job_prefix(session.workdir, session.venv)

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
                self._report_error(info, A.redact(str(error), self.secrets))

    def _report_error(self, info: SubmittedJobInfo, msg: str) -> None:
        # A group job's log_error drops the message, so it is logged here as well.
        if info.job.is_group():
            self.logger.error(f"{msg}\n(job group {info.job.name})")
        self.report_job_error(info, msg=msg + "\n")

    def cancel_jobs(self, active_jobs: list[SubmittedJobInfo]) -> None:
        """Ctrl-C: cancel queued work, hang up running remote jobs, apply on_finish to the pods."""
        for info in active_jobs:
            cast(Future[None], (info.aux or {})["f"]).cancel()
        for session in list(self.fleet.sessions):
            session.close()
        self.fleet.finish()

    def shutdown(self) -> None:
        """Wait for the status thread and the workers, then apply on_finish and close connections."""
        super().shutdown()
        self._pool.shutdown(wait=True)
        self.fleet.finish()

    # -- one job ----------------------------------------------------------------------------

    def _run_remote(self, job: JobExecutorInterface) -> None:
        clock = [time.perf_counter()]
        session = self.fleet.acquire()
        self._local.session = session
        try:
            self._run_on(session, job, clock)
        except Exception as e:
            why = self.fleet.check_dead(session)
            if why is not None:
                raise PodDied(f"runpod: {session.label} died during job {job.name} ({why}); it was terminated, "
                              f"and the job is retried on another pod (Snakemake --retries)\n{e}") from None
            raise
        finally:
            self._local.session = None
            self.fleet.release(session)

    def _run_on(self, session: S.PodSession, job: JobExecutorInterface, clock: list[float]) -> None:
        rel = lambda ps: [S.relative_to(self.root, p) for p in _strs(ps)]  # noqa: E731
        session.push_inputs(rel(job.input), self.settings.remote_rsync)
        clock.append(time.perf_counter())
        required, optional, logs = self._products(job)
        command = A.job_command(
            self.format_job_exec(job), self._python(session), required + optional + logs
        )
        if "first_job" not in session.events:
            self._first_job(session)
        result = session.run_job(command, A.env_script(self.envvars()), wrap=session.pod_id is not None)
        clock.append(time.perf_counter())
        if result.exit_code != 0:
            self._save_log(job, result, clock, session)
            session.fetch_logs(logs, self.settings.remote_rsync)
            raise RunpodError(f"job {job.name}", session.target, result, self.secrets)
        session.fetch_outputs(job.name, result, required, os.path.join(self.state_dir, "staging"),
                              self.settings.remote_rsync)
        clock.append(time.perf_counter())
        self._save_log(job, result, clock, session)

    def _first_job(self, session: S.PodSession) -> None:
        session.events["first_job"] = time.time()
        with open(os.path.join(self.state_dir, "pods.jsonl"), "a") as fh:
            fh.write(json.dumps({"pod": session.pod_id or session.target.where, **session.events}) + "\n")

    def _products(self, job: JobExecutorInterface) -> tuple[list[str], list[str], list[str]]:
        """Outputs that must come back, intermediates that may, and log/benchmark files."""
        rel = lambda ps: [S.relative_to(self.root, p) for p in _strs(ps)]  # noqa: E731
        required = rel(job.output)
        members = list(getattr(job, "jobs", [])) if job.is_group() else [job]
        every = rel(o for m in members for o in m.output)
        optional = [p for p in every if p not in required]
        bench = [b for m in members if (b := getattr(m, "benchmark", None))]
        logs = rel(list(job.log) + bench)
        return required, optional, logs

    def _save_log(self, job: JobExecutorInterface, result: Result, clock: list[float],
                  session: S.PodSession) -> None:
        path = os.path.join(self.state_dir, f"{job.name}-{job.jobid}.log")
        phases = ("pod+inputs", "remote run", "fetch+verify")
        spent = ", ".join(f"{n} {b - a:.2f}s" for n, a, b in zip(phases, clock, clock[1:], strict=False))
        self.logger.debug(f"runpod: {job.name} on {session.label}: {spent}")
        text = (
            f"pod {session.label}\nexit code {result.exit_code}\ntimes: {spent}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        with open(path, "w") as fh:
            fh.write(A.redact(text, self.secrets))
