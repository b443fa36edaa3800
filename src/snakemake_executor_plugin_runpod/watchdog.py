"""The on-pod watchdog and the job markers it reads: shell text, built by pure functions.

The watchdog runs on the pod itself, so a pod stops even when the machine that started it is
gone (killed with SIGKILL, asleep, off the network), as SkyPilot's autostop does. It polls a
folder of busy markers (one per running job, named by the job shell's pid, dropped when that
pid is gone) and the mtime of ``last`` (touched when a job starts and ends); after
``idle`` seconds without a job, or ``max_duration`` seconds up, it runs
``runpodctl stop pod $RUNPOD_POD_ID``, RunPod's own tool on every pod, with the pod-scoped key
RunPod puts in the pod's environment (``/etc/rp_environment`` on images whose SSH sessions do
not see it).
"""

from __future__ import annotations

import shlex

WATCHDOG_BODY = r"""
[ -f /etc/rp_environment ] && . /etc/rp_environment
D=$1; IDLE=$2; MAXD=$3; POLL=$4
echo $$ > "$D/pid"
start=$(date +%s); last=$start
while :; do
  now=$(date +%s)
  for f in "$D"/busy/*; do
    [ -e "$f" ] || continue
    if kill -0 "${f##*/}" 2>/dev/null; then last=$now; else rm -f "$f"; fi
  done
  t=$(stat -c %Y "$D/last" 2>/dev/null || echo 0); [ "$t" -gt "$last" ] && last=$t
  if [ "$IDLE" -gt 0 ] && [ $((now - last)) -ge "$IDLE" ]; then why="idle for ${IDLE}s"; break; fi
  if [ "$MAXD" -gt 0 ] && [ $((now - start)) -ge "$MAXD" ]; then why="up for ${MAXD}s"; break; fi
  sleep "$POLL"
done
echo "$(date -u +%FT%TZ) watchdog: stopping pod $RUNPOD_POD_ID: $why" >> "$D/log"
exec runpodctl stop pod "$RUNPOD_POD_ID" >> "$D/log" 2>&1
"""


def seconds(minutes: float) -> int:
    """Whole seconds of a minutes setting (0 stays 0: off); at least 1 when on."""
    return 0 if minutes <= 0 else max(1, round(minutes * 60))


def poll_seconds(idle_s: int, max_s: int) -> int:
    """How often the watchdog looks: a tenth of the shortest limit, between 1 and 30 s."""
    limits = [s for s in (idle_s, max_s) if s > 0]
    return max(1, min(30, min(limits) // 10)) if limits else 30


def start_command(state_dir: str, idle_s: int, max_s: int) -> str:
    """Remote shell text: start the watchdog unless one already runs for this pod (pure).

    It is detached (``setsid``, every stream redirected) so that the ssh command returns at once
    and the watchdog outlives the connection.
    """
    d = shlex.quote(state_dir)
    script = shlex.quote(WATCHDOG_BODY)
    args = " ".join(shlex.quote(str(a)) for a in (state_dir, idle_s, max_s, poll_seconds(idle_s, max_s)))
    return (
        f"mkdir -p {d}/busy && touch {d}/last && "
        f"if ! kill -0 \"$(cat {d}/pid 2>/dev/null || echo x)\" 2>/dev/null; then "
        f"setsid sh -c {script} watchdog {args} </dev/null >>{d}/log 2>&1 & fi"
    )


def wrap_job(state_dir: str, job_text: str) -> str:
    """A job's remote shell text inside busy markers: the watchdog sees the pod busy while it runs."""
    d = shlex.quote(state_dir)
    return (
        f"mkdir -p {d}/busy; echo $$ > {d}/busy/$$; touch {d}/last; ( {job_text} ); rc=$?; "
        f"rm -f {d}/busy/$$; touch {d}/last; exit $rc"
    )
