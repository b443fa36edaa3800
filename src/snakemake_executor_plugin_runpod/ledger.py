"""The pod ledger, ``.slashmake/pods.json``: every pod a run started, recorded before it is used.

One JSON object ``{"pods": {id: record}}``, rewritten whole under an exclusive lock
(``pods.json.lock``) so that several runs and ``slashmake pods`` can share it. A record holds the
pod's id, name, GPU, ``cost_per_hr``, creation time, the run that owns it (host, pid, the pid's
start time, run id), the run's ``on_finish``, its state (starting, running, stopped, terminated,
kept) and the seconds it has run. No secret is ever stored here.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Record = dict[str, Any]
LIVE_STATES = ("starting", "running")


def proc_start(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot, from /proc), or None when it is gone.

    Together with the pid it names one process: a pid reused later has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_owner(run_id: str | None = None) -> dict[str, Any]:
    """The owner stamp of the calling process."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": proc_start(pid),
            "run": run_id or os.environ.get("SLASHMAKE_RUN_ID") or f"snakemake-{pid}"}


def owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the run that owns a pod is still running (a run on another host counts as alive)."""
    if owner.get("host") != socket.gethostname():
        return True
    start = proc_start(int(owner.get("pid") or 0))
    return start is not None and start == owner.get("start")


def run_seconds(rec: Record, now: float | None = None) -> float:
    """Seconds the pod has been running (billed), closed periods plus the open one."""
    now = time.time() if now is None else now
    open_since = rec.get("running_since")
    return float(rec.get("ran_s") or 0.0) + (max(0.0, now - float(open_since)) if open_since else 0.0)


def cost_so_far(rec: Record, now: float | None = None) -> float:
    """``cost_per_hr`` × running time, in USD (0 while the price is not known yet)."""
    return float(rec.get("cost_per_hr") or 0.0) * run_seconds(rec, now) / 3600.0


def run_cost(rec: Record, now: float | None = None) -> float:
    """What the pod cost its current owner run: a resumed pod's earlier running time (``base_s``) is
    an earlier run's."""
    base = float(rec.get("base_s") or 0.0)
    return float(rec.get("cost_per_hr") or 0.0) * max(0.0, run_seconds(rec, now) - base) / 3600.0


def mark(rec: Record, state: str, now: float | None = None) -> Record:
    """The record moved to ``state``, closing or opening its billed period."""
    now = time.time() if now is None else now
    out = dict(rec)
    if state in LIVE_STATES:
        out.setdefault("running_since", now)
        if out.get("running_since") is None:
            out["running_since"] = now
    elif out.get("running_since") is not None:
        out["ran_s"] = run_seconds(out, now)
        out["running_since"] = None
    out["state"] = state
    out["changed"] = now
    return out


class Ledger:
    """Locked read-modify-write access to one ledger file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Record]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.path}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            pods = self._read()
            before = json.dumps(pods, sort_keys=True)
            yield pods
            if json.dumps(pods, sort_keys=True) != before:
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"pods": pods}, indent=1, sort_keys=True) + "\n")
                os.replace(tmp, self.path)

    def _read(self) -> dict[str, Record]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        pods = data.get("pods") if isinstance(data, dict) else None
        return dict(pods) if isinstance(pods, dict) else {}

    def records(self) -> dict[str, Record]:
        """Every record, by pod id (a snapshot)."""
        with self._locked() as pods:
            return {k: dict(v) for k, v in pods.items()}

    def put(self, rec: Record) -> None:
        """Add or replace one record (by its ``id``)."""
        with self._locked() as pods:
            pods[str(rec["id"])] = dict(rec)

    def update(self, pod_id: str, change: Callable[[Record], Record]) -> Record | None:
        """Apply ``change`` to one record; the new record, or None when there is none."""
        with self._locked() as pods:
            if pod_id not in pods:
                return None
            pods[pod_id] = change(dict(pods[pod_id]))
            return dict(pods[pod_id])

    def set_state(self, pod_id: str, state: str, **fields: Any) -> Record | None:
        """Move one record to ``state`` (closing its billed period when it stops), with extra fields."""
        return self.update(pod_id, lambda r: {**mark(r, state), **fields})

    def claim(self, fits: Callable[[Record], bool], change: Callable[[Record], Record]) -> Record | None:
        """Change the first record that ``fits`` (oldest first), atomically; the new record or None."""
        with self._locked() as pods:
            for pod_id, rec in sorted(pods.items(), key=lambda kv: kv[1].get("created") or 0):
                if fits(rec):
                    pods[pod_id] = change(dict(rec))
                    return dict(pods[pod_id])
        return None
