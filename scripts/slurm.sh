#!/usr/bin/env bash
# A one-node SLURM cluster on this host, for the tests of the slurm
# launcher: `scripts/slurm.sh up` writes the configuration, starts munged,
# slurmctld and slurmd, and waits until `srun -N1 -n1 hostname` works;
# `scripts/slurm.sh down` stops them. Needs root and Debian's slurm-wlm and
# munge (scripts/deps.sh installs them). Settings that work with slurm
# 22.05 in a container: no cgroup plugin (proctrack/linuxproc, task/none,
# cgroup.conf autodetect without systemd). batch_sched_delay=0: slurmctld
# otherwise schedules batch jobs at most once per 3 s after a scheduling
# pass, so a job submitted just after another finished waits ~2-3 s; a
# test cluster that runs one job after another should not add that.
set -uo pipefail

up() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm \
           /run/munge /var/lib/munge /var/log/munge /etc/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge 2>/dev/null || true
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=daisytest
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
KillWait=5
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:64
CONF
  cat > /etc/slurm/cgroup.conf <<CONF
CgroupPlugin=autodetect
IgnoreSystemd=yes
CONF
  if ! munge -n </dev/null >/dev/null 2>&1; then
    pkill -x munged; sleep 0.5
    su -s /bin/sh munge -c /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
    for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  stop_daemons
  slurmctld
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
  slurmd
  for _ in $(seq 60); do
    if timeout 5 srun -N1 -n1 hostname >/dev/null 2>&1; then
      echo "slurm: one-node cluster up on $host"
      return 0
    fi
    sleep 1
  done
  echo "slurm: the cluster did not come up" >&2
  tail -n 5 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2
  return 1
}

stop_daemons() {
  pkill -x slurmd; pkill -x slurmctld
  for _ in $(seq 100); do
    pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || break
    sleep 0.1
  done
}

down() {
  scancel --quiet --user root 2>/dev/null
  stop_daemons
  pkill -x munged
  for _ in $(seq 50); do pgrep -x munged >/dev/null || break; sleep 0.1; done
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: scripts/slurm.sh up|down" >&2; exit 2 ;;
esac
