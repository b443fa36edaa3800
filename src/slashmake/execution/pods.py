"""RunPod pods from slashmake's side: the ``runpod:`` config as executor flags, the ledger, reaping.

The executor plugin (``snakemake_executor_plugin_runpod``) starts pods and records them in
``.slashmake/pods.json``; this module reads that ledger for ``slashmake pods``, stops or
terminates pods at any later time, and reaps the pods of runs that are gone (their owner
process no longer exists): it applies the on_finish that run asked for. The RunPod API key
comes from ``RUNPOD_API_KEY`` only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slashmake.errors import RunError

LEDGER = ".slashmake/pods.json"
#: The plugin's flags that take no value.
BOOL_FLAGS = ("--runpod-skip-setup",)


def runpod_flags(section: dict[str, Any] | None) -> list[str]:
    """The ``runpod:`` section of config/config.yaml as ``--runpod-*`` flags (pure).

    Lists (``gpu_types``) are joined with commas; ``true`` is a bare flag and ``false`` none.
    slashmake puts these before the user's own ``--runpod-*`` flags, which therefore win.
    """
    out: list[str] = []
    for key, value in (section or {}).items():
        flag = "--runpod-" + str(key).replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            out += [flag, ",".join(str(v) for v in value)]
        else:
            out += [flag, str(value)]
    return out


def split_runpod_args(tokens: list[str]) -> tuple[list[str], list[str]]:
    """``--runpod-*`` flags (with their values) apart from the other tokens, in order (pure).

    ``--runpod-pods 3`` and ``--runpod-pods=3`` both work, before or after the chain.
    """
    flags: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--runpod-"):
            name, eq, value = tok.partition("=")
            if eq:
                flags += [name, value]
            elif tok in BOOL_FLAGS:
                flags.append(tok)
            elif i + 1 < len(tokens):
                flags += [tok, tokens[i + 1]]
                i += 1
            else:
                raise RunError(f"{tok} needs a value")
        else:
            rest.append(tok)
        i += 1
    return flags, rest


def flag_value(flags: list[str], name: str) -> str | None:
    """The last value given to ``--runpod-<name>`` in a flag list, or None."""
    value = None
    for i, tok in enumerate(flags[:-1]):
        if tok == f"--runpod-{name}":
            value = flags[i + 1]
    return value


def sweep_group_size(variants: int, flags: list[str]) -> int:
    """How many of a sweep's variants travel as one job: all on one pod, else shared over ``pods``.

    Pods started through the API (``gpu_types`` set) run one job at a time each, so a sweep is
    cut into as many groups as there are pods: 6 variants on 3 pods travel as 3 jobs of 2.
    """
    if not flag_value(flags, "gpu-types"):
        return variants
    try:
        pods = max(1, int(flag_value(flags, "pods") or 1))
    except ValueError:
        raise RunError(f"--runpod-pods {flag_value(flags, 'pods')!r}: give a whole number") from None
    return max(1, -(-variants // pods))


def run_cost(root: Path, run: str, ledger_path: str | None = None) -> tuple[float, int]:
    """What run ``run``'s pods cost so far (USD) and how many it started, from the pod ledger."""
    from snakemake_executor_plugin_runpod import ledger as L

    if not (root / (ledger_path or LEDGER)).exists():
        return 0.0, 0
    mine = [r for r in _ledger(root, ledger_path).records().values() if (r.get("owner") or {}).get("run") == run]
    return sum(L.run_cost(r) for r in mine), len(mine)


def cost_line(root: Path, run: str, config: dict[str, Any], flags: list[str]) -> str | None:
    """The run's two budgets side by side: its pods against runpod.max_cost_usd (as the flags set
    it), its agent steps against agent.max_cost_usd; None when the run started no pod."""
    from slashmake.agents.results import run_cost as agent_cost

    spent, count = run_cost(root, run, flag_value(flags, "ledger"))
    if count == 0:
        return None
    pod_cap = flag_value(flags, "max-cost-usd")
    agent_cap = (config.get("agent") or {}).get("max_cost_usd")
    agents = agent_cost(root / "results" / "ledger.jsonl", run)
    return (f"cost: pods ${spent:.2f} ({count} pod{'s' * (count != 1)}"
            f"{f', runpod.max_cost_usd {float(pod_cap):.2f}' if pod_cap else ''}); "
            f"agent steps ${agents:.2f}{f' (agent.max_cost_usd {float(agent_cap):.2f})' if agent_cap else ''}")


@dataclass(frozen=True)
class PodRow:
    """One pod of the ledger, as ``slashmake pods`` shows it."""

    id: str
    name: str
    gpu: str
    state: str
    uptime_s: float
    cost_usd: float
    cost_per_hr: float | None
    run: str
    owner_alive: bool
    on_finish: str

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data."""
        return dict(self.__dict__)


def _ledger(root: Path, path: str | None = None) -> Any:
    from snakemake_executor_plugin_runpod.ledger import Ledger

    return Ledger(root / (path or LEDGER))


def _cloud() -> Any:
    from snakemake_executor_plugin_runpod.cloud import Cloud, PodApiError

    try:
        return Cloud()
    except PodApiError as e:
        raise RunError(str(e)) from None


def rows(root: Path, ledger_path: str | None = None) -> list[PodRow]:
    """Every pod in the ledger with its state, uptime and cost so far (from the ledger's clock)."""
    from snakemake_executor_plugin_runpod import ledger as L

    now = time.time()
    out = []
    for rec in sorted(_ledger(root, ledger_path).records().values(), key=lambda r: r.get("created") or 0):
        owner = rec.get("owner") or {}
        out.append(PodRow(str(rec["id"]), str(rec.get("name") or ""), str(rec.get("gpu") or ""),
                          str(rec.get("state") or "?"), L.run_seconds(rec, now), L.cost_so_far(rec, now),
                          rec.get("cost_per_hr"), str(owner.get("run") or ""), L.owner_alive(owner),
                          str(rec.get("on_finish") or "terminate")))
    return out


def refresh(root: Path, ledger_path: str | None = None) -> list[str]:
    """Bring the ledger's live pods up to date with the API (a pod the watchdog stopped shows stopped)."""
    ledger = _ledger(root, ledger_path)
    live = [r for r in ledger.records().values() if r.get("state") in ("starting", "running", "kept")]
    if not live:
        return []
    cloud, changed = _cloud(), []
    for rec in live:
        pod = cloud.get(str(rec["id"]))
        status = (pod or {}).get("desiredStatus")
        state = "terminated" if pod is None else ("stopped" if status in ("EXITED", "STOPPED") else None)
        if state is not None and state != rec.get("state"):
            ledger.set_state(str(rec["id"]), state)
            changed.append(f"{rec['id']}: {state}")
    return changed


def reap(root: Path, ledger_path: str | None = None) -> list[str]:
    """Apply on_finish to the pods whose owner run is gone; one line per pod acted on.

    A pod of a run killed with SIGKILL (or of a machine that slept) is found here by the next
    ``slashmake run`` or ``slashmake pods``. ``keep`` pods are left alone.
    """
    from snakemake_executor_plugin_runpod import reaper
    from snakemake_executor_plugin_runpod.cloud import PodApiError

    if not (root / (ledger_path or LEDGER)).exists():
        return []
    ledger = _ledger(root, ledger_path)
    if not reaper.orphans(ledger):
        return []
    try:
        return reaper.reap(ledger, _cloud())
    except PodApiError as e:
        raise RunError(str(e)) from None


def act(root: Path, action: str, ids: list[str], every: bool, ledger_path: str | None = None) -> list[str]:
    """``slashmake pods stop|terminate``: the named pods, or with ``every`` all the ledger's live ones."""
    if action not in ("stop", "terminate"):
        raise RunError(f"unknown pod action {action!r}: stop or terminate")
    ledger = _ledger(root, ledger_path)
    records = ledger.records()
    if every:
        wanted = [i for i, r in records.items() if r.get("state") != "terminated"
                  and not (action == "stop" and r.get("state") == "stopped")]
    else:
        if not ids:
            raise RunError(f"name the pods to {action}, or give --all")
        unknown = [i for i in ids if i not in records]
        if unknown:
            raise RunError(f"no pod {', '.join(unknown)} in {ledger_path or LEDGER}")
        wanted = list(ids)
    if not wanted:
        return []
    cloud = _cloud()
    return [_apply(cloud, ledger, pod_id, action, "asked") for pod_id in wanted]


def _apply(cloud: Any, ledger: Any, pod_id: str, policy: str, why: str) -> str:
    from snakemake_executor_plugin_runpod import reaper
    from snakemake_executor_plugin_runpod.cloud import PodApiError

    try:
        return reaper.apply(cloud, ledger, pod_id, policy, why)
    except PodApiError as e:
        raise RunError(str(e)) from None
