#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_sched.sh: the scheduler's cost per task (bench_sched, empty tasks) at 2, 4 and 8 ranks
# (oversubscribed when the machine has fewer cores), dynamic and static schedules. With
# `--baseline PATH`, a bench_sched built from another revision runs alternately in the same
# run (its lines are labelled "baseline"). One TSV line per measurement, the fastest of --runs
# (see bench_sched.c for the columns). `--quick` runs 2000 tasks once at 2 ranks for CTest
# (label bench). Never fails on speed.
set -eu

usage() {
    echo "usage: $0 --bench PATH [--baseline PATH] [--quick] [--tasks N] [--runs N] [--ranks \"2 4 8\"]" >&2
    exit 2
}

BENCH= BASELINE= TASKS=200000 RUNS=3 RANKS="2 4 8" QUICK=
while [ $# -gt 0 ]; do
    case $1 in
    --bench) BENCH=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --tasks) TASKS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --quick) QUICK=1; TASKS=2000; RUNS=1; RANKS=2; shift ;;
    *) usage ;;
    esac
done
[ -n "$BENCH" ] || usage

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_mpi_yield_when_idle=1

printf 'build\tschedule\tranks\ttasks\twall_s\twall_us_per_task\trank_us_per_task\n'
for n in $RANKS; do
    for label in current baseline; do
        bin=$BENCH
        [ "$label" = current ] || bin=$BASELINE
        [ -n "$bin" ] || continue
        best=
        i=0
        while [ "$i" -lt "$RUNS" ]; do
            mpirun -n "$n" "$bin" --tasks "$TASKS" | tail -n +2 > run.tsv.$$
            best=$( (printf '%s\n' "$best"; cat run.tsv.$$) | awk -F'\t' 'NF {
                if (!($1 in t) || $4 < t[$1]) { t[$1] = $4; line[$1] = $0 } }
                END { for (k in line) print line[k] }')
            i=$((i + 1))
        done
        rm -f run.tsv.$$
        printf '%s\n' "$best" | sort | sed "s/^/$label\t/"
    done
done
[ -z "$QUICK" ] || echo "bench_sched: ok"
