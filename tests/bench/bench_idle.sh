#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_idle.sh: the CPU a rank with nothing to do takes while another works. A 2-rank
# `cvmpi transfer` of a one-task layer whose task takes --seconds (CVMPI_TEST_TASK_DELAY_MS):
# one rank runs the task, the other waits for it (scheduler, final collectives, MPI_Finalize).
# Each rank's CPU (utime+stime of /proc/PID/stat) is sampled over the middle of the wait and
# printed as a TSV line per rank, the idle one marked. OMPI_MCA_mpi_yield_when_idle is left
# unset, so cvmpi's own default applies. `--quick` (CTest, label bench) waits 1 s. Never fails
# on CPU use.
set -euo pipefail

usage() {
    echo "usage: $0 --cvmpi PATH [--seconds S] [--quick]" >&2
    exit 2
}
CVMPI= SECONDS_BUSY=4
while [[ $# -gt 0 ]]; do
    case $1 in
    --cvmpi) CVMPI=$2; shift 2 ;;
    --seconds) SECONDS_BUSY=$2; shift 2 ;;
    --quick) SECONDS_BUSY=1; shift ;;
    *) usage ;;
    esac
done
[[ -n $CVMPI ]] || usage
CVMPI=$(realpath "$CVMPI")
command -v mpirun > /dev/null || { echo "bench_idle: mpirun not installed; skipped"; exit 0; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
unset OMPI_MCA_mpi_yield_when_idle
WORK=$(mktemp -d)
MPIRUN_PID=
cleanup() {
    [[ -z $MPIRUN_PID ]] || kill "$MPIRUN_PID" 2> /dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
"$CVMPI" create src --type image --dtype uint8 --size 64,64,16 --resolution 1,1,1 \
    --chunk 64,64,16 > /dev/null

ticks() { # utime+stime of PID, in clock ticks
    local f
    f=$(cat "/proc/$1/stat") || return 1
    f=${f##*) } # past "pid (comm) "
    read -r -a a <<< "$f"
    echo $((a[11] + a[12]))
}
ranks_of() { # the cvmpi processes mpirun $1 started
    ps -o pid= -o comm= --ppid "$1" | awk '$2 == "cvmpi" { print $1 }'
}

ms=$(awk -v s="$SECONDS_BUSY" 'BEGIN { printf "%d", s * 1000 }')
CVMPI_TEST_TASK_DELAY_MS=$ms mpirun -n 2 "$CVMPI" transfer src dst --fill-missing \
    --no-progress > log 2>&1 &
MPIRUN_PID=$!
pids=()
for _ in $(seq 200); do
    mapfile -t pids < <(ranks_of "$MPIRUN_PID")
    [[ ${#pids[@]} -eq 2 ]] && break
    sleep 0.05
done
[[ ${#pids[@]} -eq 2 ]] || { cat log; echo "bench_idle: did not find 2 ranks" >&2; exit 1; }
# Skip MPI_Init and the plan; stop before the task ends.
window=$(awk -v s="$SECONDS_BUSY" 'BEGIN { print s * 0.6 }')
sleep "$(awk -v s="$SECONDS_BUSY" 'BEGIN { print s * 0.2 }')"
t0=() t1=()
for p in "${pids[@]}"; do t0+=("$(ticks "$p")"); done
sleep "$window"
for p in "${pids[@]}"; do t1+=("$(ticks "$p")"); done
wait "$MPIRUN_PID" || { cat log; echo "bench_idle: the job failed" >&2; exit 1; }
MPIRUN_PID=
hz=$(getconf CLK_TCK)
printf 'process\tcpu_s\twall_s\tcpu_percent\n'
for i in 0 1; do
    awk -v d=$((t1[i] - t0[i])) -v hz="$hz" -v w="$window" -v i="$i" \
        'BEGIN { printf "rank_process_%d\t%.2f\t%.2f\t%.1f\n", i, d / hz, w, 100 * d / hz / w }'
done
echo "bench_idle: both ranks wait (one inside its task's sleep, one for it); see docs/performance.md"
