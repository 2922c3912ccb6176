#!/usr/bin/env bash
# A throwaway single-node Slurm cluster on this machine, for the integration test and for trying
# `bench slurm` before a real cluster. Debian 12, as root; nothing under /etc is edited and the
# system's munge/slurm services are not used: config, key, sockets, state, logs and PID files all
# live under $SLURM_LOCAL_BASE. All traffic stays on 127.0.0.1.
#
#   scripts/slurm-local.sh install   apt-get slurm-wlm and munge (if missing)
#   scripts/slurm-local.sh up        install, write the config, start munged, slurmctld, slurmd
#   scripts/slurm-local.sh down      stop the three daemons by the PIDs `up` recorded
#   scripts/slurm-local.sh env       print the export line for SLURM_CONF
#
# Environment: SLURM_LOCAL_BASE (default /tmp/turritopsis-slurm), SLURM_LOCAL_CTLD_PORT (16817),
# SLURM_LOCAL_SLURMD_PORT (16818), SLURM_LOCAL_TIMEOUT (seconds to wait for a daemon, 60).
set -euo pipefail

BASE=${SLURM_LOCAL_BASE:-/tmp/turritopsis-slurm}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-16817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-16818}
TIMEOUT=${SLURM_LOCAL_TIMEOUT:-60}
NODE=$(hostname -s)
SOCKET=$BASE/munge/munge.socket
export SLURM_CONF=$BASE/etc/slurm.conf

say() { printf 'slurm-local: %s\n' "$*" >&2; }
fail() {
    say "$*"
    for f in "$BASE/munge/munged.log" "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log"; do
        [ -f "$f" ] && { say "--- last lines of $f"; tail -n 15 "$f" >&2; }
    done
    exit 1
}

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
       command -v munged >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || fail "installing slurm-wlm needs root"
    apt-get update -qq
    # The packages' maintainer scripts try to start services; without systemd they cannot, harmlessly.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm >/dev/null
    say "installed $(slurmd -V)"
}

configure() {
    mkdir -p "$BASE"/{etc,munge,state/ctld,state/d,log,run}
    # munged needs a world-executable socket folder and a root-owned 0600 key of its own.
    chmod 755 "$BASE" "$BASE/munge"
    [ -s "$BASE/munge/munge.key" ] || mungekey --create --keyfile="$BASE/munge/munge.key"
    chmod 600 "$BASE/munge/munge.key"
    # The node must not claim more than slurmd detects, or it is drained and nothing runs.
    local hardware
    hardware=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //')
    cat > "$SLURM_CONF" <<EOF
ClusterName=turritopsis-local
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$BASE/state/ctld
SlurmdSpoolDir=$BASE/state/d
SlurmctldPidFile=$BASE/run/slurmctld.daemon.pid
SlurmdPidFile=$BASE/run/slurmd.daemon.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
DependencyParameters=kill_invalid_depend
MinJobAge=600
MaxArraySize=1001
NodeName=$NODE NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

# start NAME COMMAND...: a foreground-mode daemon, backgrounded, its own PID recorded.
start() {
    local name=$1; shift
    "$@" > "$BASE/log/$name.stdout" 2>&1 < /dev/null &
    echo $! > "$BASE/run/$name.pid"
}

# wait_until WHAT COMMAND...: poll every 0.2 s for at most $TIMEOUT seconds.
wait_until() {
    local what=$1; shift
    local deadline=$(( $(date +%s) + TIMEOUT ))
    until "$@" > /dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "no $what after ${TIMEOUT} s"
        sleep 0.2
    done
}

munge_answers() { munge -n -S "$SOCKET" | unmunge -S "$SOCKET"; }
node_idle() { [ "$(sinfo -h -n "$NODE" -o %T 2>/dev/null)" = idle ]; }

up() {
    install
    configure
    for d in munged slurmctld slurmd; do
        if [ -s "$BASE/run/$d.pid" ] && kill -0 "$(cat "$BASE/run/$d.pid")" 2>/dev/null; then
            fail "$d is already running (PID $(cat "$BASE/run/$d.pid")); run '$0 down' first"
        fi
    done
    trap down EXIT   # a failed start leaves nothing running
    start munged munged --foreground --socket="$SOCKET" --key-file="$BASE/munge/munge.key" \
        --pid-file="$BASE/munge/munged.pid" --seed-file="$BASE/munge/munged.seed" --log-file="$BASE/munge/munged.log"
    wait_until "answer from munged" munge_answers
    start slurmctld slurmctld -D -c -f "$SLURM_CONF"
    wait_until "answer from slurmctld" scontrol ping
    start slurmd slurmd -D -f "$SLURM_CONF" -N "$NODE"
    wait_until "idle node $NODE" node_idle
    trap - EXIT
    say "up: node $NODE idle; export SLURM_CONF=$SLURM_CONF"
}

down() {
    local d pid
    for d in slurmd slurmctld munged; do
        [ -s "$BASE/run/$d.pid" ] || continue
        pid=$(cat "$BASE/run/$d.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
            say "stopped $d (PID $pid)"
        fi
        rm -f "$BASE/run/$d.pid"
    done
}

case "${1:-}" in
    install) install ;;
    up) up ;;
    down) down ;;
    env) echo "export SLURM_CONF=$SLURM_CONF" ;;
    *) echo "usage: $0 install|up|down|env" >&2; exit 2 ;;
esac
