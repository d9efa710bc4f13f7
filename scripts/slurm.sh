#!/usr/bin/env bash
# scripts/slurm.sh — a local one-node Slurm for starve's job views, tests and trials.
#
#   scripts/slurm.sh start    install slurm-wlm and munge when missing (Debian/Ubuntu, root), write
#                             a minimal single-node configuration under $STATE_DIR, start munged,
#                             slurmctld and slurmd, wait until the node takes jobs
#   scripts/slurm.sh status   whether it runs; the node and queue as Slurm sees them
#   scripts/slurm.sh stop     cancel every job, stop the daemons it started (by their pid files),
#                             remove the jobs' cgroups and $STATE_DIR
#   scripts/slurm.sh env      the SLURM_CONF line to export for sbatch/squeue/starve-dump
#
# Everything lives in $STATE_DIR (default /run/starve-slurm): slurm.conf, cgroup.conf, munge's key
# and socket, spool, state, logs and pid files. Nothing under /etc is touched, so it never clashes
# with a site's Slurm; client commands find it through SLURM_CONF=$STATE_DIR/slurm.conf.
#
# The configuration, for a hybrid cgroup host such as this one (v1 controllers + cgroup2 without
# cpu) and for pure cgroup v2 hosts:
#   ProctrackType=proctrack/cgroup   jobs are tracked in the freezer hierarchy (v1) or cgroup2
#   TaskPlugin=task/cgroup           and bound in cpuset; cgroup.conf CgroupPlugin=cgroup/v1 on
#                                    a hybrid host (autodetect picks v1 there as well), v2 otherwise
#   ConstrainCores=no                the jobs' scripts may pin themselves (taskset) to make CPU
#                                    contention on purpose; allocations are still counted by Slurm
#   SelectType=select/cons_tres, SelectTypeParameters=CR_CPU, OverSubscribe=FORCE:8: up to eight
#                                    jobs share each CPU, so several test jobs run at once on 2 CPUs
# With v1, a batch job lives in /sys/fs/cgroup/{freezer,cpuset}/slurm_<node>/uid_<uid>/job_<id>/
# step_batch, not in the cpu/cpuacct hierarchies (docs/jobs.md).
set -euo pipefail

STATE_DIR=${STATE_DIR:-/run/starve-slurm}
SLURMCTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
NODE=$(hostname -s)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'slurm.sh: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

cpus() { nproc --all; }

# Installs what is missing with apt-get (root on Debian/Ubuntu); otherwise says what to install.
ensure_installed() {
  local missing=()
  command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
    && command -v sbatch >/dev/null 2>&1 || missing+=(slurm-wlm)
  command -v munged >/dev/null 2>&1 || missing+=(munge)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    || die "missing ${missing[*]} (install: sudo apt-get install ${missing[*]})"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

cgroup_plugin() {
  # A hybrid host keeps the CPU-side controllers in v1: Slurm must use its v1 plugin there.
  if [ -d /sys/fs/cgroup/freezer ] || [ -d /sys/fs/cgroup/cpuset ]; then echo cgroup/v1; else echo cgroup/v2; fi
}

write_config() {
  mkdir -p "$STATE_DIR"/{state,spool,log,run}
  chmod 0755 "$STATE_DIR"
  cat >"$STATE_DIR/slurm.conf" <<EOF
# Written by starve scripts/slurm.sh: a one-node Slurm for tests and trials.
ClusterName=starve
SlurmctldHost=$NODE
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
AuthInfo=socket=$STATE_DIR/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$NODE CPUs=$(cpus) State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
  cat >"$STATE_DIR/cgroup.conf" <<EOF
# Written by starve scripts/slurm.sh.
CgroupPlugin=$(cgroup_plugin)
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainRAMSpace=no
EOF
}

start_munge() {
  local dir="$STATE_DIR/munge"
  mkdir -p "$dir"
  id munge >/dev/null 2>&1 || die "no user munge (the munge package makes it)"
  if [ ! -s "$dir/munge.key" ]; then
    dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
  fi
  chown -R munge:munge "$dir"
  chmod 0755 "$dir"  # clients of every user reach the socket; the key stays 0400
  chmod 0400 "$dir/munge.key"
  runuser -u munge -- munged --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed" \
    </dev/null >/dev/null 2>&1 || die "munged did not start (see $dir/munged.log)"
}

conf_env() { export SLURM_CONF="$STATE_DIR/slurm.conf"; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_node_ready() {
  local i state
  for i in $(seq 1 60); do
    state=$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null || true)
    case "$state" in idle*|mixed*|allocated*) return 0 ;; esac
    sleep 0.5
  done
  die "node $NODE is not ready (state '${state:-unknown}'; see $STATE_DIR/log)"
}

cmd_start() {
  [ "$(id -u)" = 0 ] || die "start needs root (slurmd runs jobs as their users)"
  ensure_installed
  if running "$STATE_DIR/run/slurmctld.pid"; then say "already running (SLURM_CONF=$STATE_DIR/slurm.conf)"; return 0; fi
  write_config
  conf_env
  running "$STATE_DIR/munge/munged.pid" || start_munge
  # The daemons log to their files; their standard streams must not hold a caller's pipes open.
  slurmctld -c -f "$SLURM_CONF" </dev/null >/dev/null 2>&1 || die "slurmctld did not start (see $STATE_DIR/log/slurmctld.log)"
  slurmd -f "$SLURM_CONF" -N "$NODE" </dev/null >/dev/null 2>&1 || die "slurmd did not start (see $STATE_DIR/log/slurmd.log)"
  wait_node_ready
  say "Slurm is up: node $NODE, $(cpus) CPUs; export SLURM_CONF=$STATE_DIR/slurm.conf"
}

# Sends TERM to the process in pid file $1, then KILL after ~10 s; waits until it is gone.
stop_pidfile() {
  local f=$1 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# The tasks left in this node's job cgroups (slurmstepd and job processes), then the cgroups.
clean_job_cgroups() {
  local h d pid
  for h in /sys/fs/cgroup/freezer /sys/fs/cgroup/cpuset /sys/fs/cgroup/unified /sys/fs/cgroup/memory /sys/fs/cgroup/devices; do
    d="$h/slurm_$NODE"
    [ -d "$d" ] || d="$h/slurm"
    [ -d "$d" ] || continue
    for pid in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    # deepest first; a cgroup goes once its tasks are gone
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      find "$d" -depth -mindepth 0 -type d -exec rmdir {} \; 2>/dev/null || true
      [ -d "$d" ] || break
      sleep 0.2
    done
  done
}

cmd_stop() {
  [ "$(id -u)" = 0 ] || die "stop needs root"
  if [ -f "$STATE_DIR/slurm.conf" ]; then
    conf_env
    if running "$STATE_DIR/run/slurmctld.pid"; then
      scancel --quiet --full --state=RUNNING,PENDING,SUSPENDED -u root 2>/dev/null || true
      scancel --quiet --full --state=RUNNING,PENDING,SUSPENDED 2>/dev/null || true
      for _ in $(seq 1 50); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  stop_pidfile "$STATE_DIR/run/slurmd.pid"
  stop_pidfile "$STATE_DIR/run/slurmctld.pid"
  stop_pidfile "$STATE_DIR/munge/munged.pid"
  # Job cgroups are named by node, not by instance: another slurmd on this host (a site's, or a
  # second instance) shares them, and its jobs must not be killed.
  if [ -n "$(ps -C slurmd -o pid= 2>/dev/null)" ]; then
    say "another slurmd runs on this host: its job cgroups under slurm_$NODE are left alone"
  else
    clean_job_cgroups
  fi
  rm -rf "$STATE_DIR"
  say "Slurm stopped, $STATE_DIR removed"
}

cmd_status() {
  if ! running "$STATE_DIR/run/slurmctld.pid"; then echo "slurm: not running ($STATE_DIR)"; return 3; fi
  conf_env
  echo "slurm: running, SLURM_CONF=$SLURM_CONF"
  for f in munge/munged.pid run/slurmctld.pid run/slurmd.pid; do
    if running "$STATE_DIR/$f"; then echo "  $(basename "$f" .pid) pid $(cat "$STATE_DIR/$f")"; else echo "  $(basename "$f" .pid) not running"; fi
  done
  sinfo -N -o '  node %N cpus %c state %T' | tail -n +2
  squeue -h -o '  job %i %j user %u state %T cpus %C elapsed %M' || true
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export SLURM_CONF=$STATE_DIR/slurm.conf" ;;
  help|-h|--help) usage ;;
  *) usage >&2; exit 2 ;;
esac
