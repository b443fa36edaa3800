"""The pods of one run: started on demand as jobs wait, shared out, and stopped at the end.

``acquire`` hands a job a pod with a free slot, starting a new one (up to ``pods``) when none is
free, else waits for one to free up. A new pod is recorded in the ledger before anything else
uses it, then polled until ``runtime.ports`` shows its SSH port, then set up once. A pod that
dies is terminated and leaves the fleet; its job fails and Snakemake's retry runs it elsewhere.
``finish`` applies ``on_finish`` (terminate, stop or keep) to every pod: at the end of the run,
after a failure and on Ctrl-C. ``max_cost_usd`` is checked before any pod or job starts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from . import ledger as L
from .argv import Target
from .cloud import Cloud, PodApiError, PodSpec, is_running, ssh_address
from .session import PodSession

ON_FINISH = ("terminate", "stop", "keep")


def _with_price(rec: L.Record, price: float) -> L.Record:
    return {**rec, "cost_per_hr": price}


class CostCapReached(Exception):
    """max_cost_usd is spent: no new pod or job starts."""


class PodDied(Exception):
    """The pod running a job went away; it was terminated, and the job is retried elsewhere."""


@dataclass
class Plan:
    """What the fleet may do: its size, its pods' spec, and the limits it keeps."""

    spec: PodSpec
    gpu_types: tuple[str, ...]
    max_pods: int = 1
    on_finish: str = "terminate"
    max_cost_usd: float = 0.0
    ssh_wait: float = 600.0
    gpu_wait: float = 300.0
    poll: float = 0.2


@dataclass
class Fleet:
    """Sessions on API pods (or one hand-started pod), and the ledger that records them."""

    plan: Plan
    cloud: Cloud | None
    ledger: L.Ledger | None
    make_session: Callable[[str, Target | None], PodSession]
    prepare: Callable[[PodSession], None]
    log: Callable[[str], None]
    owner: dict[str, object] = field(default_factory=L.this_owner)
    sessions: list[PodSession] = field(default_factory=list)
    starting: int = 0
    closing: bool = False
    started_pods: int = 0
    fixed_error: Exception | None = None
    cond: threading.Condition = field(default_factory=threading.Condition)

    # -- giving out pods ------------------------------------------------------------------

    def acquire(self) -> PodSession:
        """A set-up pod with a free slot for one job; starts one when none is free and room is left."""
        with self.cond:
            while True:
                if self.closing:
                    raise PodApiError("runpod: the run is ending; no new job starts")
                self.check_cost()
                free = [s for s in self.sessions if s.ready and not s.dead and s.busy < s.slots]
                if free:
                    chosen = min(free, key=lambda s: s.busy)
                    chosen.busy += 1
                    return chosen
                fixed = [s for s in self.sessions if s.pod_id is None]
                if fixed and self.fixed_error is not None:
                    raise self.fixed_error
                if fixed and not fixed[0].ready:
                    return self._prepare_fixed(fixed[0])
                # a pod being started is counted by `starting` until it is ready (or dead)
                up = [s for s in self._live() if s.ready]
                if self.cloud is not None and len(up) + self.starting < self.plan.max_pods:
                    self.starting += 1
                    break
                self.cond.wait(timeout=1.0)
        try:
            session = self._start_pod()
        finally:
            with self.cond:
                self.starting -= 1
                self.cond.notify_all()
        return session

    def _prepare_fixed(self, session: PodSession) -> PodSession:
        # A hand-started pod is set up by its first job, under the lock; the rest wait for it, and
        # all fail with its error when it fails.
        try:
            self.prepare(session)
        except Exception as e:
            self.fixed_error = e
            raise
        session.busy += 1
        return session

    def release(self, session: PodSession) -> None:
        """The job on this pod is over: free its slot."""
        with self.cond:
            session.busy = max(0, session.busy - 1)
            self.cond.notify_all()

    def _live(self) -> list[PodSession]:
        return [s for s in self.sessions if not s.dead]

    # -- cost -----------------------------------------------------------------------------

    def spent(self) -> float:
        """USD so far over this run's pods: cost_per_hr × time running, from the ledger."""
        return self._spent()[0]

    def _spent(self) -> tuple[float, int]:
        if self.ledger is None:
            return 0.0, 0
        mine = [r for r in self.ledger.records().values() if (r.get("owner") or {}).get("run") == self.owner["run"]]
        return sum(L.run_cost(r) for r in mine), len(mine)

    def check_cost(self) -> None:
        """Raise CostCapReached once max_cost_usd is spent."""
        cap = self.plan.max_cost_usd
        if cap > 0 and self.ledger is not None:
            spent, count = self._spent()
            if spent >= cap:
                raise CostCapReached(
                    f"runpod: max_cost_usd {cap:.2f} reached (${spent:.2f} spent on {count} pod(s) "
                    "of this run): no new pod or job starts")

    # -- one new pod ------------------------------------------------------------------------

    def _start_pod(self) -> PodSession:
        assert self.cloud is not None and self.ledger is not None
        with self.cond:  # several jobs may start pods at once: each gets its own number
            self.started_pods += 1
            number = self.started_pods
        spec = PodSpec(**{**self.plan.spec.__dict__, "name": f"{self.plan.spec.name}-{number}"})
        now = time.time()
        pod_id = self._resume_stopped()
        if pod_id is None:
            pod, gpu = self.cloud.create_any(spec, self.plan.gpu_types, self.plan.gpu_wait,
                                             give_up=lambda: self.closing)
            pod_id = str(pod["id"])
            self.ledger.put(L.mark({"id": pod_id, "name": spec.name, "gpu": gpu, "cost_per_hr": None,
                                    "created": now, "owner": self.owner, "on_finish": self.plan.on_finish,
                                    "image": spec.image}, "starting", now))
            self.log(f"runpod: started pod {pod_id} ({gpu}); waiting for SSH")
        session = self.make_session(pod_id, None)
        session.events["created"] = now
        with self.cond:
            self.sessions.append(session)
        try:
            target = self._wait_for_ssh(pod_id)
            session.events["ssh_shown"] = time.time()
            session.target = target
            session.runner.target = target
            if self.closing:
                raise PodApiError("runpod: the run is ending")
            self.prepare(session)
        except BaseException:
            if not session.dead:
                session.dead = True
                self._end_pod(session, "terminate")
            raise
        self.ledger.set_state(pod_id, "running", host=target.host, port=target.port)
        with self.cond:
            session.busy += 1
        return session

    def _resume_stopped(self) -> str | None:
        """Resume a pod an earlier run stopped (on_finish: stop) with this image and a listed GPU type.

        Its disk kept the venv and the code, so its set-up is quick. The ledger claims it for this
        run under its lock, so two runs never resume the same pod. None when there is none, or
        when RunPod cannot resume it (its machine's GPUs are taken): then a new pod is created.
        """
        assert self.cloud is not None and self.ledger is not None

        def fits(rec: L.Record) -> bool:
            return (rec.get("state") == "stopped" and rec.get("on_finish") == "stop"
                    and rec.get("image") == self.plan.spec.image and rec.get("gpu") in self.plan.gpu_types
                    and not L.owner_alive(rec.get("owner") or {}))

        rec = self.ledger.claim(fits, lambda r: {**L.mark(r, "starting"), "owner": self.owner,
                                                 "on_finish": self.plan.on_finish, "base_s": L.run_seconds(r)})
        if rec is None:
            return None
        try:
            self.cloud.resume(str(rec["id"]))
        except PodApiError as e:
            self.ledger.set_state(str(rec["id"]), "stopped")
            self.log(f"runpod: could not resume pod {rec['id']} ({e}); starting a new one")
            return None
        self.log(f"runpod: resumed pod {rec['id']} ({rec.get('gpu')}), stopped by an earlier run; waiting for SSH")
        return str(rec["id"])

    def _wait_for_ssh(self, pod_id: str) -> Target:
        assert self.cloud is not None and self.ledger is not None
        deadline = time.monotonic() + self.plan.ssh_wait
        while True:
            pod = self.cloud.get(pod_id)
            if pod and pod.get("costPerHr") is not None:
                price = float(pod["costPerHr"])
                self.ledger.update(pod_id, partial(_with_price, price=price))
            where = ssh_address(pod)
            if where is not None:
                base = self.make_session(pod_id, None).target
                user = base.user.replace("{pod_id}", pod_id)  # a login name may name the pod
                return Target(**{**base.__dict__, "host": where[0], "port": where[1], "user": user})
            if time.monotonic() > deadline:
                status = (pod or {}).get("desiredStatus", "unknown")
                raise PodApiError(f"runpod: pod {pod_id} showed no public SSH port within "
                                  f"{self.plan.ssh_wait:.0f}s (status {status}); it was terminated")
            if self.closing:
                raise PodApiError("runpod: the run is ending")
            time.sleep(self.plan.poll)

    # -- pods that die, and the end of the run ---------------------------------------------

    def check_dead(self, session: PodSession) -> str | None:
        """After a failed ssh: None when the pod is still up, else why it is not (and it is terminated)."""
        if self.cloud is None or session.pod_id is None or self.closing or session.dead:
            return None  # at the end of a run the pods go down on purpose (on_finish)
        try:
            pod = self.cloud.get(session.pod_id)
        except PodApiError:
            return None  # the API did not answer: nothing is known about the pod
        if is_running(pod) and ssh_address(pod) is not None:
            return None
        status = (pod or {}).get("desiredStatus", "gone")
        session.dead = True
        self._end_pod(session, "terminate")
        with self.cond:
            self.cond.notify_all()
        return f"pod {session.pod_id} is {status}"

    def _end_pod(self, session: PodSession, policy: str) -> None:
        session.close()
        if self.cloud is None or self.ledger is None or session.pod_id is None or policy == "keep":
            if session.pod_id is not None and self.ledger is not None:
                self.ledger.set_state(session.pod_id, "kept")
            return
        try:
            if policy == "stop":
                self.cloud.stop(session.pod_id)
                self.ledger.set_state(session.pod_id, "stopped")
            else:
                self.cloud.terminate(session.pod_id)
                self.ledger.set_state(session.pod_id, "terminated", ended=time.time())
        except PodApiError as e:
            self.log(f"runpod: could not {policy} pod {session.pod_id}: {e} (`slashmake pods` shows it)")

    def finish(self, policy: str | None = None) -> None:
        """Apply on_finish to every pod of the run (once; later calls do nothing)."""
        with self.cond:
            if self.closing:
                return
            self.closing = True
            sessions = list(self.sessions)
            self.cond.notify_all()
        policy = policy or self.plan.on_finish
        pods = [s.pod_id for s in sessions if s.pod_id and not s.dead]
        ending = []
        for s in sessions:
            if s.pod_id is None:
                s.close()
            elif not s.dead:
                s.dead = True
                # one thread per pod: each ends with an ssh hang-up and an API call that waits for
                # the pod to go down, so a run's end costs one of them, not one per pod
                ending.append(threading.Thread(target=self._end_pod, args=(s, policy), daemon=True))
        for thread in ending:
            thread.start()
        for thread in ending:
            thread.join()
        if pods:
            verb = {"terminate": "terminated", "stop": "stopped", "keep": "kept"}[policy]
            self.log(f"runpod: {verb} {len(pods)} pod(s): {', '.join(pods)} (on_finish: {policy}); "
                     f"pod cost of this run ${self.spent():.2f}")
