#!/usr/bin/env bash
# Copied from the tested recipe (ENVIRONMENT.md); used by ci/slurm_test.sh.
# single-node Slurm 22.05 + slurmdbd/MariaDB; needs root and: apt-get install -y munge slurm-wlm slurmdbd mariadb-server
set -euo pipefail
SLURM_DIR=${SLURM_DIR:-/var/lib/slurm-ci}; CLUSTER=${CLUSTER:-ci}
HOST=$(hostname -s); NCPU=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo) - 4096 ))
mkdir -p "$SLURM_DIR"/{state,spool} /etc/slurm
getent hosts "$HOST" >/dev/null || echo "127.0.0.1 $HOST" >> /etc/hosts
# munge
[ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
mkdir -p /run/munge && chown munge:munge /run/munge
munge -n >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged
for i in $(seq 50); do munge -n | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
# MariaDB (Debian postinst already initialised /var/lib/mysql)
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
if ! mariadb-admin ping >/dev/null 2>&1; then
  nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 >"$SLURM_DIR/mariadb.log" 2>&1 &
  for i in $(seq 120); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$SLURM_DIR/slurmdbd.log
PidFile=$SLURM_DIR/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
CONF
chmod 600 /etc/slurm/slurmdbd.conf
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
NodeName=$HOST CPUs=$NCPU RealMemory=$MEM_MB State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
/usr/sbin/slurmdbd
for i in $(seq 120); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -n list cluster format=cluster%40 | grep -qw "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER"
/usr/sbin/slurmctld -i
/usr/sbin/slurmd
for i in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.5; done
sinfo
