#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_sched.sh: the scheduler's cost per task (bench_sched, empty tasks) at 2, 4 and 8 ranks
# (oversubscribed when the machine has fewer cores), dynamic and static schedules. One TSV line
# per measurement (see bench_sched.c). `--quick` runs 2000 tasks at 2 ranks for CTest (label
# bench). Never fails on speed.
set -eu

usage() {
    echo "usage: $0 --bench PATH/TO/bench_sched [--quick] [--tasks N] [--ranks \"2 4 8\"]" >&2
    exit 2
}

BENCH= TASKS=200000 RANKS="2 4 8" QUICK=
while [ $# -gt 0 ]; do
    case $1 in
    --bench) BENCH=$2; shift 2 ;;
    --tasks) TASKS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --quick) QUICK=1; TASKS=2000; RANKS=2; shift ;;
    *) usage ;;
    esac
done
[ -n "$BENCH" ] || usage

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_mpi_yield_when_idle=1

header=1
for n in $RANKS; do
    out=$(mpirun -n "$n" "$BENCH" --tasks "$TASKS")
    if [ -n "$header" ]; then
        echo "$out"
        header=
    else
        echo "$out" | tail -n +2
    fi
done
[ -z "$QUICK" ] || echo "bench_sched: ok"
