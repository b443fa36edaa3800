#!/usr/bin/env bash
# Bring up a single-node SLURM cluster on this machine, for slashmake's SLURM tests.
#
# Run as root on Debian 12 (a fresh CI machine or a developer box). Safe to rerun:
#   - installs slurm-wlm and munge with apt-get only when they are missing;
#   - creates the munge key only when it is missing;
#   - rewrites /etc/slurm/slurm.conf and restarts the daemons only when the config changed
#     or a daemon is not running; otherwise it only checks that the cluster answers.
# No systemd: munged, slurmctld and slurmd are started as plain daemons.
#
# Layout (all overridable from the environment):
#   SLURM_PARTITION     partition name (default "main"; it is the default partition)
#   SLURM_NODE_CPUS     CPUs the node offers (default 2)
#   SLURM_JOBCOMP_LOG   SLURM's job-completion log (default /var/log/slurm/jobcomp.log)
#   SLURM_UP_TIMEOUT    seconds to wait for the node / a test job (default 60)
#
# Status command note: there is no slurmdbd here (AccountingStorageType=none), so `sacct`
# cannot answer; snakemake-executor-plugin-slurm must use `squeue`, which only sees finished
# jobs for MinJobAge seconds. MinJobAge is set to 600 so that the plugin keeps squeue (it
# falls back to sacct when MinJobAge < 3 x init-seconds-before-status-checks).
set -euo pipefail

PARTITION="${SLURM_PARTITION:-main}"
NODE_CPUS="${SLURM_NODE_CPUS:-2}"
JOBCOMP_LOG="${SLURM_JOBCOMP_LOG:-/var/log/slurm/jobcomp.log}"
UP_TIMEOUT="${SLURM_UP_TIMEOUT:-60}"
CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
LOG_DIR=/var/log/slurm
CTLD_PID=/run/slurm/slurmctld.pid
SLURMD_PID=/run/slurm/slurmd.pid
MUNGE_PID=/run/munge/munged.pid

log() { printf '[slurm-up] %s\n' "$*"; }
die() { printf '[slurm-up] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run me as root (sudo $0)"

# ---------------------------------------------------------------- packages
need_pkgs=()
for bin in slurmctld slurmd sinfo sbatch munged; do
    if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then
        need_pkgs=(slurm-wlm munge)
        break
    fi
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    log "installing ${need_pkgs[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # policy-rc.d 101: keep the packages' postinst scripts from starting daemons themselves.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    [ "$made_policy" -eq 1 ] && rm -f "$policy"
else
    log "slurm-wlm and munge already installed"
fi
export PATH="/usr/sbin:/usr/bin:$PATH"

pid_alive() {  # pid_alive PIDFILE -> 0 when the process in PIDFILE runs
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop_pidfile() {  # stop_pidfile PIDFILE: TERM the daemon we started, wait up to 10 s
    local pid
    pid_alive "$1" || { rm -f "$1"; return 0; }
    pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    rm -f "$1"
}

# ---------------------------------------------------------------- munge
getent passwd munge >/dev/null || die "user munge missing (munge package broken?)"
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    log "creating munge key"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

if pid_alive "$MUNGE_PID" && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running (pid $(cat "$MUNGE_PID"))"
else
    stop_pidfile "$MUNGE_PID"
    log "starting munged as user munge"
    # --force: start even if a stale socket from a dead munged is left behind.
    runuser -u munge -- /usr/sbin/munged --force --pid-file="$MUNGE_PID"
    for _ in $(seq 1 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
        sleep 0.2
    done
    munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
fi

# ---------------------------------------------------------------- slurm.conf
getent passwd slurm >/dev/null || die "user slurm missing (slurm-wlm package broken?)"
NODE="$(hostname -s)"
[ -n "$NODE" ] || die "hostname -s is empty"
mem_total_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
# Leave the OS some room: offer 90% of the machine, at least 512 MB.
REAL_MEM=$(( mem_total_mb * 9 / 10 ))
[ "$REAL_MEM" -ge 512 ] || REAL_MEM=512
# Default per-CPU memory when a job asks for none: a fair share, capped at 1 GB.
DEF_MEM=$(( REAL_MEM / NODE_CPUS / 2 ))
[ "$DEF_MEM" -le 1024 ] || DEF_MEM=1024

install -d -o slurm -g slurm -m 0755 "$CONF_DIR" "$STATE_DIR" "$LOG_DIR" /run/slurm
install -d -o root -g root -m 0755 "$SPOOL_DIR"
touch "$JOBCOMP_LOG" && chown slurm:slurm "$JOBCOMP_LOG"

new_conf="$(mktemp)"
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<EOF
# Written by slashmake .ci/slurm-up.sh: a single-node test cluster. Edits are overwritten.
ClusterName=slashmake
SlurmctldHost=${NODE}(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=${STATE_DIR}
SlurmdSpoolDir=${SPOOL_DIR}
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups (containers, CI runners): plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
# Scheduling: CPUs and memory are consumable.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=${DEF_MEM}
ReturnToService=2
# Keep finished jobs visible to squeue for 10 minutes (no slurmdbd, so no sacct).
MinJobAge=600
# Accounting: none (no slurmdbd); SLURM's own job-completion log instead.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=${JOBCOMP_LOG}
# The node: this machine, reached over loopback; its config wins over detected hardware.
SlurmdParameters=config_overrides
NodeName=${NODE} NodeAddr=127.0.0.1 CPUs=${NODE_CPUS} RealMemory=${REAL_MEM} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP
EOF

conf_changed=0
if [ ! -f "$CONF" ] || ! cmp -s "$new_conf" "$CONF"; then
    log "writing $CONF"
    install -o root -g root -m 0644 "$new_conf" "$CONF"
    conf_changed=1
fi
# Debian's slurmd reads cgroup.conf only for cgroup plugins; none are configured here.

# ---------------------------------------------------------------- daemons
if [ "$conf_changed" -eq 1 ]; then
    stop_pidfile "$SLURMD_PID"
    stop_pidfile "$CTLD_PID"
fi
if ! pid_alive "$CTLD_PID"; then
    log "starting slurmctld"
    /usr/sbin/slurmctld -f "$CONF"
fi
if ! pid_alive "$SLURMD_PID"; then
    log "starting slurmd (node $NODE)"
    /usr/sbin/slurmd -f "$CONF"
fi

# ---------------------------------------------------------------- wait for the node
deadline=$(( $(date +%s) + UP_TIMEOUT ))
state=""
while :; do
    state="$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle|mixed|allocated|completing) break ;;
        down*|drain*|fail*)
            log "node state '$state': resuming it"
            scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
        sinfo -N -l >&2 || true
        tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
        die "node $NODE not ready after ${UP_TIMEOUT}s (state '${state:-none}')"
    fi
    sleep 1
done
log "node $NODE is $state"

if ! out="$(timeout "$UP_TIMEOUT" srun -N1 -n1 -t 1 hostname 2>&1)"; then
    tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
    die "srun hostname failed: $out"
fi
log "srun hostname -> $out"
log "partition: $PARTITION (default)"
log "jobcomp log: $JOBCOMP_LOG"
echo "SLURM_JOBCOMP_LOG=$JOBCOMP_LOG"
