#!/usr/bin/env bash
# slurm-down.sh — stop what scripts/slurm-up.sh started: cancel every job, then stop slurmd,
# slurmctld and (only when slurm-up.sh started it) munged, each by the pid in its pid file, and
# remove the slurm.conf it wrote. Safe to run twice or when nothing runs.
set -uo pipefail
DIR=${GROW_SLURM_DIR:-/tmp/grow-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by growline scripts/slurm-up.sh (throw-away test cluster)"
export SLURM_CONF=$CONF
log() { echo "[slurm-down] $*" >&2; }

# stop PIDFILE COMM: TERM, wait up to 10 s, then KILL. The comm check avoids killing a process that
# reused the pid of a daemon that is long gone.
stop() {
  local pf=$1 comm=$2 pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then rm -f "$pf"; return 0; fi
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$comm ($pid) ignored TERM; sending KILL"; kill -KILL "$pid" 2>/dev/null; sleep 0.2; fi
  log "stopped $comm (pid $pid)"
  rm -f "$pf"
}

if [ -s "$DIR/slurmctld.pid" ] && [ "$(cat "/proc/$(cat "$DIR/slurmctld.pid")/comm" 2>/dev/null)" = slurmctld ]; then
  # cancel jobs first: stopping slurmd does not stop running job steps
  jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null
    for _ in $(seq 150); do   # KillWait=5: TERM, then KILL 5 s later
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi

stop "$DIR/slurmd.pid" slurmd
stop "$DIR/slurmctld.pid" slurmctld
stop "$DIR/munged.pid" munged

left=$(ps -eo pid=,comm= | awk '$2=="slurmstepd"{print $1}' | tr '\n' ' ')
[ -n "${left// /}" ] && log "warning: slurmstepd processes still alive: $left"
if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF"; then rm -f "$CONF"; fi
exit 0
