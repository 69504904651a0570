#!/usr/bin/env bash
# Bring up a real single-node Slurm on localhost (munged, slurmctld, slurmd) for the
# `slurm`-marked tests, without systemd.
#
#   sudo cluster-configs/slurm-localhost/up.sh     # idempotent; exits 0 quickly if already up
#   cluster-configs/slurm-localhost/down.sh        # stops exactly what this script started
#
# Environment:
#   MCPOWER_SLURM_DIR      state/spool/log/pid directory (default /var/tmp/mcpower-slurm)
#   MCPOWER_SLURM_TIMEOUT  seconds to wait for the node to become idle (default 60)
#   MCPOWER_SLURM_PARTITION  name of the default partition (default debug)
#
# Facts this relies on (Debian 12, Slurm 22.05) are in ../shared/notes/slurm-localhost.md of the
# workspace; the one pitfall: no cgroup.conf at all (CgroupPlugin=disabled breaks slurmd 22.05).
set -euo pipefail

BASE=${MCPOWER_SLURM_DIR:-/var/tmp/mcpower-slurm}
TIMEOUT=${MCPOWER_SLURM_TIMEOUT:-60}
PARTITION=${MCPOWER_SLURM_PARTITION:-debug}
CONF=/etc/slurm/slurm.conf
# Marks slurm.conf as ours, so we never overwrite a site's real configuration.
MARKER="# Written by mcpower_sweep cluster-configs/slurm-localhost/up.sh"
HOST=$(hostname -s)
START=$(date +%s.%N)

log() { printf 'slurm-localhost: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

elapsed() { awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# A pid file counts only if its process is alive *and* is the expected program; a stale file
# whose pid was reused by something else must not make us think the daemon is up.
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]]
}

node_state() { sinfo -h -N -n "$HOST" -o '%t' 2>/dev/null | head -n1; }

node_ready() {
    # "mix"/"alloc" also mean the node is up and usable (jobs may already be running).
    case "$(node_state)" in idle | mix | alloc) return 0 ;; *) return 1 ;; esac
}

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts daemons)"

# --- Fast path: already up -------------------------------------------------------------------
if command -v sinfo >/dev/null && pid_alive "$BASE/run/slurmctld.pid" slurmctld \
    && pid_alive "$BASE/run/slurmd.pid" slurmd && node_ready; then
    log "already up (node $HOST $(node_state)); nothing to do"
    exit 0
fi

# --- Install -----------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    # Package postinst scripts would try to start the daemons through init scripts; we start
    # them ourselves (with our config), so forbid that unless a policy already exists.
    tmp_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        tmp_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$tmp_policy"
        chmod 755 "$tmp_policy"
        trap 'rm -f "$tmp_policy"' EXIT
    fi
    apt_install() {
        apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
            slurm-wlm munge >/dev/null
    }
    # Update the package lists only when needed: none yet, or the install fails on stale ones.
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || ! apt_install; then
        log "apt-get update"
        apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null
        apt_install
    fi
    if [[ -n $tmp_policy ]]; then rm -f "$tmp_policy"; trap - EXIT; fi
    log "installed in $(elapsed) s"
fi

id munge >/dev/null 2>&1 || die "user 'munge' missing after install"
id slurm >/dev/null 2>&1 || die "user 'slurm' missing after install"

# --- Configuration -----------------------------------------------------------------------------
if [[ -e $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; refusing to overwrite a real site config"
fi

CPUS=$(nproc)
MEM_TOTAL=$(free -m | awk '/^Mem:/ { print $2 }')
# slurmd drains a node whose RealMemory exceeds what it detects, so stay ~10% under.
REAL_MEM=$((MEM_TOTAL * 9 / 10))
# Without a default, a job with no --mem would be given the whole node under CR_Core_Memory
# and block every other job.
DEF_MEM_PER_CPU=$((REAL_MEM / CPUS))

mkdir -p "$BASE"/{state,spool,log,run}
chown -R slurm:slurm "$BASE"
chmod 755 "$BASE"

mkdir -p /etc/slurm
cat >"$CONF.new" <<CONF
$MARKER
# Single-node test cluster on localhost. Not for production.
ClusterName=mcpower-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups: proctrack/linuxproc + task/none work in containers without systemd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM_PER_CPU
# A node that was down (e.g. after a restart) comes back by itself once slurmd registers.
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MEM State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
mv "$CONF.new" "$CONF"
chmod 644 "$CONF"

# --- munged ------------------------------------------------------------------------------------
# Reuse a munged that is already running (ours or the site's); only one we start is recorded
# in $BASE/run/munged.pid, which is what down.sh stops.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 755 /run/munge
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    [[ -s /run/munge/munged.pid ]] || die "munged did not start; see /var/log/munge/munged.log"
    cp /run/munge/munged.pid "$BASE/run/munged.pid"
    munge -n | unmunge >/dev/null || die "munge round trip failed"
    log "munged started (pid $(<"$BASE/run/munged.pid"))"
fi

# --- slurmctld / slurmd ------------------------------------------------------------------------
# Both daemonise themselves and write their pid files named in slurm.conf.
if ! pid_alive "$BASE/run/slurmctld.pid" slurmctld; then
    pgrep -x slurmctld >/dev/null && die "a slurmctld not started by this script is running"
    slurmctld
    log "slurmctld started"
fi
if ! pid_alive "$BASE/run/slurmd.pid" slurmd; then
    pgrep -x slurmd >/dev/null && die "a slurmd not started by this script is running"
    slurmd
    log "slurmd started"
fi

# --- Wait for the node -------------------------------------------------------------------------
deadline=$(($(date +%s) + TIMEOUT))
until node_ready; do
    if (($(date +%s) >= deadline)); then
        log "node $HOST not idle after ${TIMEOUT} s (state: '$(node_state)')"
        for f in "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" /var/log/munge/munged.log; do
            [[ -e $f ]] && { log "--- tail $f"; tail -n 20 "$f" >&2; }
        done
        die "Slurm did not come up; logs above; stop with down.sh"
    fi
    sleep 0.5
done
# After a restart slurmctld reports the node idle from its saved state before slurmd has
# re-registered, so prove end to end (munge credentials, slurmd launching) with a real job.
remaining=$((deadline - $(date +%s)))
((remaining > 5)) || remaining=5
if ! timeout "$remaining" srun -Q -N1 -n1 -t 1 -p "$PARTITION" true; then
    for f in "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log"; do
        [[ -e $f ]] && { log "--- tail $f"; tail -n 20 "$f" >&2; }
    done
    die "node $HOST is '$(node_state)' but a test job (srun true) did not run; logs above"
fi
log "up: node $HOST $(node_state), partition $PARTITION, $CPUS CPUs, ${REAL_MEM} MB, in $(elapsed) s"
