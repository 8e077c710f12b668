#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, on loopback, with one fake GPU.
#
# For tests and CI only (tests/test_slurm.py, .ci/run): it installs Debian's
# slurmctld, slurmd, slurm-client and munge, writes /etc/slurm/slurm.conf and
# gres.conf, and starts munged, slurmctld and slurmd without systemd. It is
# idempotent: run it again and it (re)starts whatever is not running and waits
# until the node is idle. Stop everything with scripts/slurm/stop-local-cluster.sh.
#
# Needs root (or sudo) and apt-get. Environment knobs:
#   DIFFTONE_SLURM_SKIP_INSTALL=1   do not run apt-get (packages already there)
#   DIFFTONE_SLURM_DEF_MEM_PER_CPU  MB per CPU for jobs that ask for none (1000)
#   DIFFTONE_SLURM_WAIT             seconds to wait for the node to be idle (60)
#
# The settings (see docs/cluster.md): select/cons_tres with
# CR_Core_Memory and DefMemPerCPU so jobs share the node; proctrack/linuxproc and
# task/none (no cgroups in containers); ReturnToService=2; a gres "gpu" backed by
# /dev/null so `--gpus=1` is accepted; no accounting, so MinJobAge=600 keeps
# finished jobs visible to squeue (run snakemake with --slurm-status-command squeue).
set -euo pipefail

if [[ ${EUID} -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -E bash "$0" "$@"
    fi
    echo "start-local-cluster.sh: needs root (or sudo) to install and start SLURM" >&2
    exit 1
fi

DEF_MEM_PER_CPU=${DIFFTONE_SLURM_DEF_MEM_PER_CPU:-1000}
WAIT_S=${DIFFTONE_SLURM_WAIT:-60}
CONF_DIR=/etc/slurm
PACKAGES=(slurmctld slurmd slurm-client munge)

log() { echo "[start-local-cluster] $*" >&2; }

# 1. packages ---------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ ${DIFFTONE_SLURM_SKIP_INSTALL:-0} == 1 ]]; then
        log "missing packages ${missing[*]} and DIFFTONE_SLURM_SKIP_INSTALL=1"; exit 1
    fi
    command -v apt-get >/dev/null || { log "apt-get not found: install ${missing[*]} by hand"; exit 1; }
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. configuration ------------------------------------------------------------
HOST=$(hostname -s)
# The node's real topology, so slurmd does not drain it for a mismatch.
read -r -a hw < <(slurmd -C | head -n1)
node_line=""
real_mem=0
for kv in "${hw[@]}"; do
    case $kv in
        NodeName=*) ;;
        RealMemory=*) real_mem=${kv#RealMemory=} ;;
        *) node_line+=" $kv" ;;
    esac
done
# Leave 10% of the memory to the daemons and the submitting process.
node_mem=$((real_mem * 9 / 10))

mkdir -p "$CONF_DIR" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm /run/munge
chown slurm:slurm /var/spool/slurmctld /var/log/slurm /run/slurm
chown munge:munge /run/munge
chmod 0755 /run/munge

new_conf=$(cat <<CONF
# Written by scripts/slurm/start-local-cluster.sh: one node on loopback, one fake GPU.
ClusterName=difftone-local
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=${DEF_MEM_PER_CPU}
ReturnToService=2
MinJobAge=600
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=${HOST} NodeAddr=127.0.0.1${node_line} RealMemory=${node_mem} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
)
new_gres="NodeName=${HOST} Name=gpu File=/dev/null"

changed=0
if [[ ! -f $CONF_DIR/slurm.conf ]] || [[ "$(cat "$CONF_DIR/slurm.conf")" != "$new_conf" ]]; then
    printf '%s\n' "$new_conf" >"$CONF_DIR/slurm.conf.tmp" && mv "$CONF_DIR/slurm.conf.tmp" "$CONF_DIR/slurm.conf"
    changed=1
fi
if [[ ! -f $CONF_DIR/gres.conf ]] || [[ "$(cat "$CONF_DIR/gres.conf")" != "$new_gres" ]]; then
    printf '%s\n' "$new_gres" >"$CONF_DIR/gres.conf.tmp" && mv "$CONF_DIR/gres.conf.tmp" "$CONF_DIR/gres.conf"
    changed=1
fi
chmod 0644 "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf"

# 3. daemons --------------------------------------------------------------------
running() { # pidfile
    [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}
stop_pidfile() { # pidfile
    if running "$1"; then
        local pid; pid=$(cat "$1")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
}

if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    if command -v mungekey >/dev/null; then mungekey --create --force; else create-munge-key -f; fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
if ! running /run/munge/munged.pid; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
fi
munge -n | unmunge >/dev/null || { log "munge does not work: see /var/log/munge/munged.log"; exit 1; }

if ((changed)); then
    log "configuration changed: (re)starting slurmctld and slurmd"
    stop_pidfile /run/slurm/slurmd.pid
    stop_pidfile /run/slurm/slurmctld.pid
fi
if ! running /run/slurm/slurmctld.pid; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
fi
if ! running /run/slurm/slurmd.pid; then
    log "starting slurmd"
    /usr/sbin/slurmd
fi

# 4. wait for the node ----------------------------------------------------------
for ((i = 0; i < WAIT_S * 2; i++)); do
    state=$(timeout 5 sinfo -h -N -n "$HOST" -o %t 2>/dev/null | head -n1 || true)
    case $state in
        idle | mix | alloc)
            log "node $HOST is $state; partition: $(sinfo -h -o '%P %G' | head -n1)"
            exit 0 ;;
        drain* | drng | down* | inval*)
            # e.g. left drained by an earlier run: put it back to service
            timeout 5 scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
log "node $HOST did not become idle within ${WAIT_S}s (state: '${state:-none}')"
log "see /var/log/slurm/slurmctld.log and /var/log/slurm/slurmd.log"
exit 1
