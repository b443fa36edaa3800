"""Pods through the official ``runpod`` SDK: create (with GPU-type fallback), poll, stop, terminate.

The SDK sends GraphQL to ``$RUNPOD_API_BASE_URL/graphql`` (https://api.runpod.io by default);
nothing here speaks HTTP itself. The API key comes from ``RUNPOD_API_KEY`` only: it is handed to
the SDK in memory and never written to a file, a log or a pod (pods get the user's public key,
as ``PUBLIC_KEY``, and nothing else of the user's).

``runpod`` is imported on first use: it takes over a second to import, and Snakemake imports
every executor plugin at start-up.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: What RunPod answers when no machine has the GPU type free ("There are no longer any instances
#: available with the requested specifications. Please refresh and try again.").
UNAVAILABLE_HINTS = ("no longer any instances available", "no instances available", "not enough free")


class PodApiError(Exception):
    """The RunPod API refused or failed; the message names the call and the pod or GPU type."""


class NoGpuError(PodApiError):
    """No GPU type in the list had a machine free within the waiting limit."""


@dataclass(frozen=True)
class PodSpec:
    """What to ask create_pod for (everything but the GPU type)."""

    name: str
    image: str
    cloud_type: str = "ALL"
    container_disk_gb: int = 20
    volume_gb: int = 0
    network_volume_id: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def create_kwargs(spec: PodSpec, gpu_type: str) -> dict[str, Any]:
    """Keyword arguments of ``runpod.create_pod`` for one GPU type (pure: tested without the API).

    Port 22 is exposed over TCP with a public IP so that ssh and rsync reach the pod directly
    (RunPod's proxy SSH has no exec channel).
    """
    kwargs: dict[str, Any] = {
        "name": spec.name, "image_name": spec.image, "gpu_type_id": gpu_type, "cloud_type": spec.cloud_type,
        "gpu_count": 1, "container_disk_in_gb": spec.container_disk_gb, "volume_in_gb": spec.volume_gb,
        "ports": "22/tcp", "support_public_ip": True, "start_ssh": True, "env": dict(spec.env),
        "volume_mount_path": "/workspace",
    }
    if spec.network_volume_id:
        kwargs["network_volume_id"] = spec.network_volume_id
    return kwargs


def ssh_address(pod: Mapping[str, Any] | None) -> tuple[str, int] | None:
    """The public ``(ip, port)`` mapped to the pod's port 22, once ``runtime.ports`` shows it."""
    runtime = (pod or {}).get("runtime") or {}
    for port in runtime.get("ports") or []:
        if port.get("privatePort") == 22 and port.get("isIpPublic") and port.get("type") == "tcp":
            return str(port["ip"]), int(port["publicPort"])
    return None


def is_running(pod: Mapping[str, Any] | None) -> bool:
    """Whether the API reports the pod as up (desired RUNNING with a runtime)."""
    return bool(pod) and (pod or {}).get("desiredStatus") == "RUNNING" and bool((pod or {}).get("runtime"))


def is_unavailable(message: str) -> bool:
    """Whether create_pod's error says that no machine with that GPU type is free."""
    low = message.lower()
    return any(h in low for h in UNAVAILABLE_HINTS)


def backoff_delays(first: float, limit: float, cap: float = 60.0) -> list[float]:
    """Waits between rounds over the GPU list: doubling from ``first``, each at most ``cap``, summing ≤ limit."""
    delays: list[float] = []
    wait, total = first, 0.0
    while total + wait <= limit:
        delays.append(wait)
        total += wait
        wait = min(wait * 2, cap)
    return delays


def _import_sdk() -> Any:
    """The official SDK (slow to import, so only here), without py-cpuinfo's second Python.

    Importing ``runpod`` imports its serverless worker, whose debugger asks py-cpuinfo for the
    CPU's name at import time; py-cpuinfo answers by running another Python (over a second on
    a small machine). Only serverless workers ever report that name, and the executor uses the pod
    API alone, so during the import the question gets an empty answer (the SDK then records
    "Unable to get processor info."); py-cpuinfo is as it was afterwards.
    """
    try:
        import cpuinfo
    except ImportError:
        cpuinfo = None
    asked = getattr(cpuinfo, "get_cpu_info", None)
    if asked is not None:
        cpuinfo.get_cpu_info = dict
    try:
        import runpod
    finally:
        if asked is not None:
            cpuinfo.get_cpu_info = asked
    return runpod


class Cloud:
    """The few SDK calls the executor and ``slashmake pods`` make, with errors made readable."""

    def __init__(self, api_key: str | None = None) -> None:
        key = api_key or os.environ.get("RUNPOD_API_KEY")
        if not key:
            raise PodApiError("runpod: set RUNPOD_API_KEY to start, list or stop pods through the RunPod API")
        runpod = _import_sdk()
        runpod.api_key = key  # in memory only: stop/terminate/resume read the module's key
        self._sdk = runpod
        self._secret = key

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # the SDK raises QueryError, AuthenticationError, ValueError, requests' errors
            text = str(e).replace(self._secret, "***")
            raise PodApiError(f"runpod API: {what}: {text}") from None

    def create(self, spec: PodSpec, gpu_type: str) -> dict[str, Any]:
        """``create_pod`` for one GPU type; the pod as the API returned it (``id`` at least)."""
        pod = self._call(f"create_pod {spec.name} ({gpu_type})", self._sdk.create_pod, **create_kwargs(spec, gpu_type))
        return dict(pod or {})

    def get(self, pod_id: str) -> dict[str, Any] | None:
        """``get_pod``: the pod, or None when the API no longer knows it (terminated)."""
        pod = self._call(f"get_pod {pod_id}", self._sdk.get_pod, pod_id)
        return dict(pod) if pod else None

    def list(self) -> list[dict[str, Any]]:
        """``get_pods``: every pod of the account."""
        return [dict(p) for p in self._call("get_pods", self._sdk.get_pods) or []]

    def stop(self, pod_id: str) -> None:
        """``stop_pod``: the GPU is released and billing stops; the volume stays."""
        self._call(f"stop_pod {pod_id}", self._sdk.stop_pod, pod_id)

    def resume(self, pod_id: str) -> None:
        """``resume_pod`` with one GPU."""
        self._call(f"resume_pod {pod_id}", self._sdk.resume_pod, pod_id, 1)

    def terminate(self, pod_id: str) -> None:
        """``terminate_pod``: the pod and its disk are gone."""
        self._call(f"terminate_pod {pod_id}", self._sdk.terminate_pod, pod_id)

    def create_any(self, spec: PodSpec, gpu_types: Sequence[str], wait_limit: float,
                   first_wait: float = 2.0, sleep: Callable[[float], None] = time.sleep,
                   give_up: Callable[[], bool] = lambda: False) -> tuple[dict[str, Any], str]:
        """Try each GPU type in order; when none is free, wait with backoff up to ``wait_limit`` s.

        Returns the created pod and its GPU type. NoGpuError names every type tried and how long
        it waited; any other API error is raised at once.
        """
        if not gpu_types:
            raise PodApiError("runpod: no gpu_types given")
        delays = backoff_delays(first_wait, wait_limit)
        waited = 0.0
        last: dict[str, str] = {}
        for round_no in range(len(delays) + 1):
            for gpu in gpu_types:
                try:
                    return self.create(spec, gpu), gpu
                except PodApiError as e:
                    if not is_unavailable(str(e)):
                        raise
                    last[gpu] = str(e).rsplit(": ", 1)[-1]
            if round_no == len(delays) or give_up():
                break
            sleep(delays[round_no])
            waited += delays[round_no]
        tried = "; ".join(f"{g}: {m}" for g, m in last.items())
        raise NoGpuError(f"runpod: no GPU available after trying {', '.join(gpu_types)} "
                         f"for {waited:.0f}s with backoff (gpu_wait {wait_limit:.0f}s): {tried}")
