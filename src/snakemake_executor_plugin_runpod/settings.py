"""Settings of the runpod executor (``--runpod-*`` on the Snakemake command line).

No ``from __future__ import annotations`` and no ``str | None`` here: Snakemake's settings
registry reads the field types at run time and passes them to argparse, which needs
``typing.Optional``.
"""

from dataclasses import dataclass, field
from typing import Any, Optional

from snakemake_interface_executor_plugins.settings import ExecutorSettingsBase


def _meta(help_text: str, env_var: bool = False) -> dict[str, Any]:
    return {"help": help_text, "env_var": env_var, "required": False}


@dataclass
class ExecutorSettings(ExecutorSettingsBase):
    """Where the pod is, how to reach it, and how jobs run there."""

    host: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None,
        metadata=_meta("Pod address reachable over SSH on an exposed TCP port (required).", True),
    )
    port: int = field(
        default=22, metadata=_meta("SSH port of the pod (RunPod's public TCP port).", True)
    )
    user: str = field(
        default="root", metadata=_meta("SSH user on the pod ({pod_id} is filled in for API pods).", True)
    )
    key: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None,
        metadata=_meta("Path of the SSH private key (a path, never the key itself).", True),
    )
    known_hosts: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None,
        metadata=_meta("known_hosts file to use (new host keys are accepted and recorded)."),
    )
    remote_dir: str = field(
        default="/workspace/slashmake",
        metadata=_meta("Folder on the pod holding the environment and one work folder per project."),
    )
    jobs: int = field(default=4, metadata=_meta("Jobs (or job groups) run on the pod at once."))
    ignore: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None,
        metadata=_meta("rsync exclude file for the code sync (default: .rsyncignore if present)."),
    )
    python: str = field(
        default="python3", metadata=_meta("Remote interpreter that builds the pod's venv.")
    )
    venv: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None, metadata=_meta("Remote venv path (default: REMOTE_DIR/.venv).")
    )
    packages: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None,
        metadata=_meta(
            "Space-separated pip requirements for the pod's venv; {snakemake_version} and "
            "{slashmake_version} are filled in (default: snakemake=={snakemake_version})."
        ),
    )
    setup_cmd: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None,
        metadata=_meta(
            "Remote shell template that builds the venv; {python}, {venv}, {packages}, "
            "{workdir} are filled in, quoted. Runs once: a marker holding versions skips it."
        ),
    )
    skip_setup: bool = field(
        default=False, metadata=_meta("Do not build a venv; run jobs with --runpod-python as is.")
    )
    cold_start: bool = field(
        default=False,
        metadata=_meta("Start Snakemake anew for every job instead of forking the pod's warm one (1-3 s a job)."),
    )
    transfer_retries: int = field(
        default=3, metadata=_meta("Further attempts for a failed connection or rsync transfer.")
    )
    retry_wait: float = field(
        default=2.0, metadata=_meta("Seconds before the first retry; doubles each time.")
    )
    connect_timeout: int = field(default=10, metadata=_meta("SSH connect timeout in seconds."))
    remote_rsync: str = field(default="rsync", metadata=_meta("rsync program on the pod."))
    # -- pods started through the RunPod API (RUNPOD_API_KEY; docs/executors.md "RunPod pods") --
    gpu_types: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None,
        metadata=_meta("Comma-separated GPU types, tried in order; set: pods are started through the API."),
    )
    image: str = field(
        default="runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04",
        metadata=_meta("Container image of the pods."),
    )
    cloud_type: str = field(default="ALL", metadata=_meta("ALL, SECURE or COMMUNITY."))
    container_disk_gb: int = field(default=20, metadata=_meta("Container disk of each pod (GB)."))
    volume_gb: int = field(default=0, metadata=_meta("Pod volume (GB) mounted at /workspace; 0: none."))
    network_volume_id: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None, metadata=_meta("A network volume to attach instead of a pod volume.")
    )
    pods: int = field(default=1, metadata=_meta("The most pods running at once."))
    on_finish: str = field(
        default="terminate", metadata=_meta("What the end of a run does to its pods: terminate, stop or keep.")
    )
    idle_minutes: float = field(
        default=30.0, metadata=_meta("The on-pod watchdog stops a pod idle this long (0: never).")
    )
    max_duration_minutes: float = field(
        default=0.0, metadata=_meta("The on-pod watchdog stops a pod up this long (0: no limit).")
    )
    max_cost_usd: float = field(
        default=0.0, metadata=_meta("No pod or job starts once the run's pods cost this much (0: no cap).")
    )
    public_key: Optional[str] = field(  # noqa: UP045 (the registry needs typing.Optional)
        default=None, metadata=_meta("Public key given to pods as PUBLIC_KEY (default: KEY.pub).")
    )
    ssh_wait: float = field(
        default=600.0, metadata=_meta("Seconds to wait for a new pod to show SSH before terminating it.")
    )
    gpu_wait: float = field(
        default=300.0, metadata=_meta("Seconds to keep retrying, with backoff, when no GPU type is available.")
    )
    ledger: str = field(
        default=".slashmake/pods.json", metadata=_meta("The pod ledger (relative to the workflow folder).")
    )
