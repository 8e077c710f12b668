#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by scripts/slurm/start-local-cluster.sh:
# slurmd, slurmctld and munged, each by the pid in its pid file. Idempotent.
# Jobs still running are cancelled first.
set -uo pipefail

if [[ ${EUID} -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -E bash "$0" "$@"
    fi
    echo "stop-local-cluster.sh: needs root (or sudo)" >&2
    exit 1
fi

log() { echo "[stop-local-cluster] $*" >&2; }

if command -v scancel >/dev/null && [[ -f /run/slurm/slurmctld.pid ]]; then
    timeout 5 scancel --full --quiet --state=RUNNING --user="$(id -un)" 2>/dev/null || true
    timeout 5 scancel --quiet --state=PENDING 2>/dev/null || true
fi

stop_pidfile() { # name pidfile
    local name=$1 pidfile=$2 pid
    if [[ -f $pidfile ]] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null; then
        log "stopping $name ($pid)"
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name did not stop in 10 s: killing it"
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

stop_pidfile slurmd /run/slurm/slurmd.pid
stop_pidfile slurmctld /run/slurm/slurmctld.pid
stop_pidfile munged /run/munge/munged.pid
exit 0
