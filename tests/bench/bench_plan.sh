#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_plan.sh: how long the planner takes for N = 10,000 ranks, and its peak memory: the
# `--dry-run --ranks 10000` plans of tests/integration/plan_petavoxel.sh on a 10^15-voxel layer
# (100000^3 uint8 in 64^3 chunks; only its info exists) and an HDF5 dataset of that shape
# (chunked, nothing allocated): transfer, re-chunking transfer (exchange rounds), transfer into
# murmurhash shards, downsample and import. One TSV line per plan: wall seconds and peak RSS
# (/usr/bin/time), the fastest of --runs. Baselines in the same run: `cvmpi info` of the layer
# (process start, no MPI) and the same dry run of a one-chunk layer (MPI start-up too). `--quick` runs each once for CTest (label bench).
# Never fails on speed.
set -eu

usage() {
    echo "usage: $0 --cvmpi PATH [--quick] [--runs N] [--ranks N]" >&2
    exit 2
}

CVMPI= RUNS=3 RANKS=10000
while [ $# -gt 0 ]; do
    case $1 in
    --cvmpi) CVMPI=$(realpath "$2"); shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --quick) RUNS=1; shift ;;
    *) usage ;;
    esac
done
[ -n "$CVMPI" ] || usage
if [ ! -x /usr/bin/time ]; then
    echo "bench_plan: skipped (no /usr/bin/time)"
    exit 0
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$CVMPI" create big --type image --dtype uint8 --size 100000,100000,100000 \
    --resolution 4,4,40 --chunk 64,64,64 > /dev/null
HASHED='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 9, "minishard_bits": 6, "shard_bits": 19, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
HAVE_H5=
if /usr/bin/python3 -c "import h5py" 2> /dev/null; then
    /usr/bin/python3 -c '
import h5py
with h5py.File("big.h5", "w") as f:
    d = f.create_dataset("raw", shape=(100000,) * 3, dtype="uint8", chunks=(64, 64, 64))
    d.attrs["resolution"] = [4, 4, 40]'
    HAVE_H5=1
fi

# plan NAME ARGS...: the fastest of RUNS dry runs, wall seconds and max RSS
plan() {
    name=$1
    shift
    measure "$name" "$RANKS" "$@" --dry-run --ranks "$RANKS"
}
# measure NAME RANKS-COLUMN ARGS...
measure() {
    name=$1 col=$2
    shift 2
    best= rss=
    i=0
    while [ $i -lt "$RUNS" ]; do
        /usr/bin/time -f "%e %M" -o t.txt "$CVMPI" "$@" > plan.txt 2> err.txt ||
            { cat err.txt >&2; echo "bench_plan: $name failed" >&2; exit 1; }
        read -r s kb < t.txt
        if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$s rss=$kb
        fi
        i=$((i + 1))
    done
    printf '%s\t%s\t%s\t%.1f\n' "$name" "$col" "$best" "$(echo "$rss" | awk '{ print $1 / 1024 }')"
}

printf 'plan\tranks\twall_s\tpeak_rss_mb\n'
measure baseline - info big
# the same dry run of a one-chunk layer: process and MPI start-up, no real plan
"$CVMPI" create small --type image --dtype uint8 --size 64,64,64 --resolution 4,4,40 > /dev/null
plan small transfer small out --memory 4G
plan transfer transfer big out --memory 4G
plan rechunk transfer big out --memory 2G --chunk-size 100,100,100
plan hashed transfer big outh --memory 4G --sharding "$HASHED"
plan downsample downsample big --memory 4G
[ -z "$HAVE_H5" ] || plan import import big.h5:/raw outi --memory 4G
