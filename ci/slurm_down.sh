#!/usr/bin/env bash
# Copied from the tested recipe (ENVIRONMENT.md); used by ci/slurm_test.sh.
# stop the single-node test cluster started by slurm_up.sh (by pid files, never by name)
SLURM_DIR=${SLURM_DIR:-/var/lib/slurm-ci}
scontrol shutdown 2>/dev/null || true                 # slurmctld + slurmd
[ -f "$SLURM_DIR/slurmdbd.pid" ] && kill "$(cat "$SLURM_DIR/slurmdbd.pid")" || true
mariadb-admin shutdown 2>/dev/null || true
[ -f /run/munge/munged.pid ] && kill "$(cat /run/munge/munged.pid)" || true
