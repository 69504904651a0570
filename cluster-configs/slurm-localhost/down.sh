#!/usr/bin/env bash
# Stop the single-node Slurm started by up.sh: exactly the daemons whose pid files up.sh's
# configuration names (slurmd, slurmctld) and munged only if up.sh started it. Nothing is
# stopped by name, so a site's own daemons are never touched.
#
#   cluster-configs/slurm-localhost/down.sh
#
# Environment: MCPOWER_SLURM_DIR (default /var/tmp/mcpower-slurm), as for up.sh.
set -euo pipefail

BASE=${MCPOWER_SLURM_DIR:-/var/tmp/mcpower-slurm}
RUN=$BASE/run

log() { printf 'slurm-localhost: %s\n' "$*" >&2; }

# Prints the pid in a pid file if that process is alive and is the expected program (a stale
# file's pid may have been reused by an unrelated process, which we must not signal).
live_pid() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$name" ]] || return 1
    echo "$pid"
}

stop() {
    local name=$1 pidfile=$RUN/$1.pid pid
    if ! pid=$(live_pid "$pidfile" "$name"); then
        log "$name: not running (no live pid in $pidfile)"
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid"
    # Daemons flush state on SIGTERM; give them time before insisting.
    for _ in $(seq 100); do
        [[ -e /proc/$pid ]] || break
        sleep 0.1
    done
    if [[ -e /proc/$pid ]]; then
        log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    log "$name stopped (pid $pid)"
}

# Jobs still running here (e.g. Dask workers of a crashed test) would outlive slurmd as
# orphaned slurmstepd processes; cancel them while slurmctld can still do it cleanly.
if live_pid "$RUN/slurmctld.pid" slurmctld >/dev/null && command -v squeue >/dev/null; then
    mapfile -t jobs < <(squeue -h -o '%i' 2>/dev/null || true)
    if ((${#jobs[@]})); then
        log "cancelling ${#jobs[@]} job(s): ${jobs[*]}"
        scancel "${jobs[@]}" || true
        for _ in $(seq 50); do
            [[ -z "$(squeue -h -o '%i' 2>/dev/null)" ]] && break
            sleep 0.2
        done
    fi
fi

stop slurmd
stop slurmctld
stop munged
