"""Pods whose run is gone: found in the ledger and given the on_finish their run asked for.

A run killed with SIGKILL (or on a machine that slept) never applied on_finish; its pods' own
watchdogs stop them, and the next run (plain ``snakemake`` through this executor, or
``slashmake run`` / ``slashmake pods``) finds them here and terminates or stops them.
"""

from __future__ import annotations

import time

from . import ledger as L
from .cloud import Cloud


def orphans(ledger: L.Ledger) -> list[L.Record]:
    """The ledger's pods whose owner run is gone and whose on_finish is not yet applied."""
    out = []
    for rec in ledger.records().values():
        policy, state = rec.get("on_finish") or "terminate", rec.get("state")
        if policy == "keep" or state not in ("starting", "running", "stopped"):
            continue
        if policy == "stop" and state == "stopped":
            continue  # stopped as asked: a later run may resume it
        if not L.owner_alive(rec.get("owner") or {}):
            out.append(rec)
    return out


def apply(cloud: Cloud, ledger: L.Ledger, pod_id: str, policy: str, why: str) -> str:
    """Stop or terminate one pod through the API and record it; a line saying what was done."""
    if cloud.get(pod_id) is None:
        ledger.set_state(pod_id, "terminated")
        return f"{pod_id}: already gone"
    if policy == "stop":
        cloud.stop(pod_id)
        ledger.set_state(pod_id, "stopped")
        return f"{pod_id}: stopped ({why})"
    cloud.terminate(pod_id)
    ledger.set_state(pod_id, "terminated", ended=time.time())
    return f"{pod_id}: terminated ({why})"


def reap(ledger: L.Ledger, cloud: Cloud) -> list[str]:
    """Apply their run's on_finish to every orphan; one line per pod."""
    return [apply(cloud, ledger, str(r["id"]), str(r.get("on_finish") or "terminate"),
                  f"its run {(r.get('owner') or {}).get('run')} is gone") for r in orphans(ledger)]
