#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_exchange.sh: re-chunking as exchange rounds against the same re-chunking as independent
# tasks. A 512x512x256 uint8 layer (64^3 chunks, raw) re-chunked to 96x96x40 with
# `--compress none --threads 1` by 2 ranks, as rounds (--memory 12000K: a box aligned to both
# grids does not fit) and as tasks (--memory 512M), in interleaved runs (the order alternates)
# so both see the same load. Per run: the slowest rank's wall_seconds (--report) and the CPU
# seconds (user + sys) of both ranks (/usr/bin/time around each rank). Prints one TSV line per
# run, then the medians of the per-run ratios: speed of rounds / speed of tasks (task wall ÷
# round wall; 1 = as fast) and CPU of rounds / CPU of tasks, with the load average before and
# after. `--quick` (CTest, label bench): 256x256x128, --memory 8000K (16 rounds), one run each. Never fails
# on speed; fails when a job fails or the two outputs differ.
set -euo pipefail

usage() {
    echo "usage: $0 --cvmpi PATH [--runs N] [--quick] [--dir DIR]" >&2
    exit 2
}
CVMPI='' RUNS=5 SIZE=512,512,256 XMEMORY=12000K PARENT=${TMPDIR:-/tmp}
while [[ $# -gt 0 ]]; do
    case $1 in
    --cvmpi) CVMPI=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --dir) PARENT=$2; shift 2 ;;
    --quick) RUNS=1 SIZE=256,256,128 XMEMORY=8000K; shift ;;
    *) usage ;;
    esac
done
[[ -n $CVMPI && $RUNS -ge 1 ]] || usage
CVMPI=$(realpath "$CVMPI")
command -v mpirun > /dev/null || { echo "bench_exchange: mpirun not installed; skipped"; exit 0; }
[[ -x /usr/bin/time ]] || { echo "bench_exchange: /usr/bin/time not installed; skipped"; exit 0; }
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
export CV_LOG=${CV_LOG:-warn}

W=$(mktemp -d "$PARENT/cvmpi-bench-exchange-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
IFS=, read -r SX SY SZ <<< "$SIZE"
"$CVMPI" -q create "file://$W/src" --type image --dtype uint8 --size "$SIZE" \
    --resolution 1,1,1 --chunk 64,64,64 > /dev/null
# Raw chunks: the voxel values do not change the work, random bytes will do.
head -c $((SX * SY * SZ)) /dev/urandom |
    "$CVMPI" -q write "file://$W/src" --bbox "0,0,0,$SX,$SY,$SZ" -i - --compress none
cat > "$W/rank.sh" << 'RANK'
#!/bin/sh
exec /usr/bin/time -f '%U %S' -o "$CPU_PREFIX.${OMPI_COMM_WORLD_RANK:-0}" "$@"
RANK
export CPU_PREFIX=$W/cpu

plan=$(mpirun -n 2 "$CVMPI" transfer "file://$W/src" "file://$W/plan" --chunk-size 96,96,40 \
    --threads 1 --memory "$XMEMORY" --dry-run 2> /dev/null | head -n 1)
[[ $plan == *"exchange rounds"* ]] || {
    echo "bench_exchange: --memory $XMEMORY did not force the exchange: $plan" >&2
    exit 1
}

# run PATH MEMORY: one timed job; prints "wall_s cpu_s"
run() {
    rm -rf "${W:?}/$1" "$W/journal.$1" "$W"/cpu.*
    mpirun -n 2 sh "$W/rank.sh" "$CVMPI" -q transfer "file://$W/src" "file://$W/$1" \
        --chunk-size 96,96,40 --compress none --threads 1 --memory "$2" \
        --journal "$W/journal.$1" --report "$W/report.$1.json" > "$W/log.$1" 2>&1 || {
        cat "$W/log.$1" >&2
        echo "bench_exchange: the $1 job failed" >&2
        exit 1
    }
    local wall cpu
    wall=$($PY -c 'import json, sys
print(max(r["wall_seconds"] for r in json.load(open(sys.argv[1]))["ranks"]))' \
        "$W/report.$1.json")
    cpu=$(cat "$W"/cpu.* | awk '{ s += $1 + $2 } END { print s }')
    echo "$wall $cpu"
}

echo "# bench_exchange: ${SIZE} uint8, 64^3 -> 96x96x40 raw, 2 ranks, --threads 1;" \
    "rounds: --memory $XMEMORY ($(cut -d' ' -f2-4 <<< "$plan")), tasks: --memory 512M"
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'run\ttasks_wall_s\trounds_wall_s\ttasks_cpu_s\trounds_cpu_s\tspeed_ratio\tcpu_ratio\n'
: > "$W/ratios"
for i in $(seq "$RUNS"); do
    if ((i % 2)); then
        r=$(run rounds "$XMEMORY")
        t=$(run tasks 512M)
    else
        t=$(run tasks 512M)
        r=$(run rounds "$XMEMORY")
    fi
    read -r tw tc <<< "$t"
    read -r rw rc <<< "$r"
    line=$(awk -v tw="$tw" -v rw="$rw" -v tc="$tc" -v rc="$rc" \
        'BEGIN { printf "%.3f\t%.3f\t%.2f\t%.2f\t%.3f\t%.3f", tw, rw, tc, rc, tw / rw, rc / tc }')
    printf '%d\t%s\n' "$i" "$line"
    cut -f5,6 <<< "$line" >> "$W/ratios"
done
# Same bytes both ways (untimed).
if ! diff -r "$W/rounds" "$W/tasks" > /dev/null; then
    echo "bench_exchange: the rounds and the tasks wrote different layers" >&2
    exit 1
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "rounds / tasks, median of $RUNS: speed $(cut -f1 "$W/ratios" | median)x," \
    "CPU $(cut -f2 "$W/ratios" | median)x"
