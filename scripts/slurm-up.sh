#!/usr/bin/env bash
# slurm-up.sh — make sure a throw-away single-node Slurm cluster (munged + slurmctld + slurmd on
# 127.0.0.1) is running, for growline's Slurm tests and CI. Debian 12 (Slurm 22.05), as root, with
# no systemd: the daemons are started directly and scripts/slurm-down.sh stops them by pid file.
#
# Idempotent: when our cluster is already up and its node answers, it returns at once; concurrent
# callers (test files running in parallel) are serialised by a lock file.
#
# On failure it exits non-zero and its LAST stderr line reads
#     slurm unavailable: <reason>
# so a test can skip with that message.
#
# Settings (environment, all optional):
#   GROW_SLURM_DIR        state, spool, logs, pid files      (default /tmp/grow-slurm)
#   GROW_SLURM_CPUS       CPUs the node advertises            (default: max(nproc, 16); the tests'
#                         jobs mostly wait on files, so the node may promise more than the cores)
#   GROW_SLURM_MEM_MB     memory the node advertises          (default: 80% of RAM, at most 16000)
#   GROW_SLURM_PARTITION  partition name                      (default debug)
#   GROW_SLURM_TIMEOUT    seconds to wait for the node        (default 60)
#   GROW_SLURM_SMOKE      1 = run one trivial job first       (default 1; the first job after a
#                         start costs ~3 s, better paid here than inside a test)
set -euo pipefail

DIR=${GROW_SLURM_DIR:-/tmp/grow-slurm}
PART=${GROW_SLURM_PARTITION:-debug}
TIMEOUT=${GROW_SLURM_TIMEOUT:-60}
SMOKE=${GROW_SLURM_SMOKE:-1}
CONF=/etc/slurm/slurm.conf
MARK="# written by growline scripts/slurm-up.sh (throw-away test cluster)"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export SLURM_CONF=$CONF

log() { echo "[slurm-up] $*" >&2; }
unavailable() {
  # the daemons' own logs say why they would not start (only once we tried to start them)
  if [ "${STARTING:-0}" = 1 ]; then
    for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" /var/log/munge/munged.log; do
      [ -s "$f" ] && { echo "----- last lines of $f -----" >&2; tail -n 15 "$f" >&2 || true; }
    done
  fi
  # never leave half-started daemons behind
  [ "${STARTED:-0}" = 1 ] && GROW_SLURM_DIR="$DIR" "$HERE/slurm-down.sh" >/dev/null 2>&1 || true
  echo "slurm unavailable: $*" >&2
  exit 1
}
alive() { [ -s "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" = "$2" ]; }
node_state() { sinfo -h -N -o %T 2>/dev/null | head -n 1 || true; }

[ "$(id -u)" = 0 ] || unavailable "scripts/slurm-up.sh must run as root (it installs packages and starts munged as user munge)"
command -v flock >/dev/null || unavailable "flock (util-linux) is missing"
mkdir -p "$DIR"
exec 9>"$DIR.lock"
flock -w 300 9 || unavailable "another slurm-up.sh holds $DIR.lock for more than 300 s"

# ------------------------------------------------------------ already up?
if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF" && alive "$DIR/slurmctld.pid" slurmctld && alive "$DIR/slurmd.pid" slurmd; then
  case "$(node_state)" in
    idle|mixed|allocated|completing) log "already up ($(node_state)); conf=$CONF dir=$DIR"; exit 0 ;;
  esac
  log "daemons run but the node is '$(node_state)': restarting"
fi

# ---------------------------------------------------------------- install
missing=0
for b in slurmctld slurmd sbatch scontrol sinfo munged munge; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing=1
done
if [ "$missing" = 1 ]; then
  command -v apt-get >/dev/null || unavailable "Slurm is not installed and there is no apt-get to install it"
  log "installing slurmctld slurmd slurm-client munge with apt-get (log: $DIR/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q -o DPkg::Lock::Timeout=300 update >"$DIR/apt.log" 2>&1 \
    || log "apt-get update failed; trying the install with the current package lists"
  apt-get -y -q -o DPkg::Lock::Timeout=300 install --no-install-recommends \
    slurmctld slurmd slurm-client munge >>"$DIR/apt.log" 2>&1 \
    || { tail -n 20 "$DIR/apt.log" >&2; unavailable "apt-get install slurmctld slurmd slurm-client munge failed (see $DIR/apt.log)"; }
fi

# ------------------------------------------- stop a previous instance of ours
GROW_SLURM_DIR="$DIR" "$HERE/slurm-down.sh" >/dev/null 2>&1 9>&- || true
if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  unavailable "$CONF exists and was not written by scripts/slurm-up.sh; refusing to overwrite a real cluster's config"
fi
rm -rf "$DIR/state" "$DIR/spool" "$DIR/log"
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
for p in 6817 6818; do
  if command -v ss >/dev/null && ss -Hltn "sport = :$p" | grep -q .; then
    unavailable "TCP port $p is already in use (another Slurm?)"
  fi
done

# ------------------------------------------------------------------- munge
STARTING=1
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "reusing the munged that is already running"
else
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  # munged refuses to run as root when its directories belong to munge ("Logfile is insecure")
  # 9>&-: daemons must not inherit the lock, or they would hold it for as long as they run
  runuser -u munge -- /usr/sbin/munged 9>&- || unavailable "munged failed to start"
  STARTED=1
  cp /run/munge/munged.pid "$DIR/munged.pid"   # slurm-down.sh stops only a munged we started
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null 2>&1 || unavailable "munge credential round trip fails"
fi

# ------------------------------------------------------------------ config
NODE=$(hostname -s 2>/dev/null || true); NODE=${NODE:-localhost}
NPROC=$(nproc)
CPUS=${GROW_SLURM_CPUS:-$(( NPROC > 16 ? NPROC : 16 ))}
MEM_TOTAL=$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)
MEM=${GROW_SLURM_MEM_MB:-$(( MEM_TOTAL * 8 / 10 ))}
[ -z "${GROW_SLURM_MEM_MB:-}" ] && [ "$MEM" -gt 16000 ] && MEM=16000
DEFMEM=$(( MEM / CPUS )); [ "$DEFMEM" -gt 1024 ] && DEFMEM=1024

mkdir -p /etc/slurm
cat >"$CONF" <<EOF
$MARK
ClusterName=grow
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# no cgroups here: plain process tracking, no task binding, no memory enforcement
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# sacct needs accounting; this keeps one line per finished job instead
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
# the default batch_sched_delay=3 adds ~3 s before every job starts
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# without DefMemPerCPU a job with no --mem takes the whole node, so jobs would run one at a time
DefMemPerCPU=$DEFMEM
# reject impossible requests (too many CPUs, GPUs we do not have) at submit time, not pend forever
EnforcePartLimits=ALL
# the node may advertise more CPUs/memory than the hardware has
SlurmdParameters=config_overrides
ReturnToService=2
# finished jobs stay visible to scontrol for an hour, so a slow poller still sees the final state
MinJobAge=3600
KillWait=5
InactiveLimit=0
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=$PART Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# ----------------------------------------------------------------- daemons
STARTED=1
/usr/sbin/slurmctld -f "$CONF" 9>&- || unavailable "slurmctld failed to start"
/usr/sbin/slurmd -f "$CONF" -N "$NODE" 9>&- || unavailable "slurmd failed to start"

deadline=$(( $(date +%s) + TIMEOUT ))
state=""
while :; do
  if ! alive "$DIR/slurmctld.pid" slurmctld || ! alive "$DIR/slurmd.pid" slurmd; then
    sleep 0.3   # pid files appear a moment after the daemons fork
    alive "$DIR/slurmctld.pid" slurmctld || unavailable "slurmctld exited (see $DIR/log/slurmctld.log)"
    alive "$DIR/slurmd.pid" slurmd || unavailable "slurmd exited (see $DIR/log/slurmd.log)"
  fi
  state=$(node_state)
  [ "$state" = idle ] && break
  case "$state" in drain*|down*|fail*) unavailable "node $NODE is '$state': $(sinfo -h -R 2>/dev/null)" ;; esac
  [ "$(date +%s)" -ge "$deadline" ] && unavailable "node $NODE not idle after ${TIMEOUT}s (state: '${state:-no answer}')"
  sleep 0.2
done

# -------------------------------------------------------------- smoke job
if [ "$SMOKE" = 1 ]; then
  out="$DIR/log/smoke.out"
  jid=$(sbatch --parsable -J grow-smoke -o "$out" --wrap 'echo smoke-ok' 2>&1) || unavailable "sbatch of a smoke job failed: $jid"
  st=""
  while :; do
    st=$(scontrol show job -o "$jid" 2>/dev/null | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2 || true)
    case "$st" in
      COMPLETED) break ;;
      FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|PREEMPTED|DEADLINE) unavailable "smoke job $jid ended $st" ;;
    esac
    [ "$(date +%s)" -ge "$deadline" ] && unavailable "smoke job $jid not done after ${TIMEOUT}s (state: ${st:-unknown})"
    sleep 0.1
  done
  grep -q smoke-ok "$out" || unavailable "smoke job $jid wrote no output to $out"
fi

log "up: node=$NODE cpus=$CPUS mem=${MEM}MB partition=$PART conf=$CONF dir=$DIR"
