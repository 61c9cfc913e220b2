#!/usr/bin/env bash
# The petavoxel plan, checked by simulation: `--dry-run --ranks 10000` on a 10^15-voxel
# layer (10^5 x 10^5 x 10^5 uint8 in 64^3 chunks; only its info exists) for a transfer, a
# re-chunking transfer (exchange rounds), a transfer into murmurhash shards, a downsample, a
# sharded downsample, a verify and an import from an HDF5 dataset of that shape (chunked, no
# chunk allocated: a file of a few kB). Each plan's per-rank peak must stay within its --memory
# budget, the figures are the ones the formulas in docs/scale.md give, and each plan prints in
# seconds (it touches no data and walks no chunk grid).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# MPI jobs start Open MPI, whose own allocations LeakSanitizer reports.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

"$CVMPI" create big --type image --dtype uint8 --size 100000,100000,100000 \
    --resolution 4,4,40 --chunk 64,64,64 >/dev/null
cp -r big big2

# plan NAME ARGS...: run a dry run, fail if it takes 20 s or more.
plan() {
    local name=$1 t0 t1
    shift
    t0=$(date +%s)
    run "$CVMPI" "$@" --dry-run --ranks 10000 --threads 4
    t1=$(date +%s)
    [[ $RC == 0 ]] || { cat "$ERR"; fail "$name: dry run failed"; }
    (( t1 - t0 < 20 )) || fail "$name: the plan took $((t1 - t0)) s"
    cp "$OUT" "$name.plan"
}
# within NAME PEAK BUDGET: a planned peak at most its budget (MB, as printed)
within() {
    awk -v p="$2" -v b="$3" 'BEGIN { exit !(p > 0 && p <= b) }' ||
        fail "$1: peak $2 MB over the budget $3 MB"
    echo "$1: peak $2 MB within $3 MB"
}

section "transfer, 10^4 ranks, --memory 4G"
plan transfer transfer big out --memory 4G
grep -qxF "plan: 470596 tasks of 2048x1024x1024 voxels (49x98x98 tasks) over 0,0,0,100000,100000,100000 at mip 0" transfer.plan || fail "transfer: tasks"
grep -qF "expected peak 2150.6 MB per rank (budget 4295.0 MB), 10000 ranks" transfer.plan || fail "transfer: peak"
grep -qxF "plan: per rank: about 48 tasks, 381470 source chunks read (100.0 GB of voxels); journal 14.1 MB in all (30 bytes per finished task)" transfer.plan || fail "transfer: per rank"
within transfer 2150.6 4295.0

section "re-chunking 64^3 -> 100^3 under --memory 2G: exchange rounds"
plan rechunk transfer big out --memory 2G --chunk-size 100,100,100
grep -qxF "plan: 256 exchange rounds over 0,0,0,100000,100000,100000 at mip 0, 10000 ranks" rechunk.plan || fail "rechunk: rounds"
peak=$(sed -n 's/^exchange: expected peak \([0-9.]*\) MB per rank (budget \([0-9.]*\) MB).*/\1 \2/p' rechunk.plan)
within rechunk $peak

section "murmurhash shards (2^19 shard files), --memory 4G"
SPEC='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 9, "minishard_bits": 6, "shard_bits": 19, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
plan hashed transfer big outh --memory 4G --sharding "$SPEC"
grep -qF "plan: hashed shards (murmurhash3_x86_128): 3818360547 chunks in 524288 shard files, up to about 7796 chunks" hashed.plan || fail "hashed: shards"
peak=$(sed -n 's/^plan: a shard owner.s peak about \([0-9.]*\) MB (budget \([0-9.]*\) MB)/\1 \2/p' hashed.plan)
within "hashed shard owner" $peak
grep -qF "plan: per rank: spill files of up to 100.0 GB beside the journal" hashed.plan || fail "hashed: spill"
# one rank could not hold the exchange index of 3.8e9 chunks: the plan says so
run "$CVMPI" transfer big outh --memory 4G --sharding "$SPEC" --dry-run --threads 4
[[ $RC == 1 ]] || fail "hashed on one rank must be refused"
expect_stderr_contains "and 549897.31 MB of exchange index), more than the 4294.97 MB memory budget"

section "downsample, 10^4 ranks, --memory 4G"
plan downsample downsample big --memory 4G
peak=$(sed -n 's/^plan: expected peak \([0-9.]*\) MB per rank (.*budget \([0-9.]*\) MB)/\1 \2/p' downsample.plan)
within downsample $peak
grep -qF "plan: per rank: about 98 tasks and 1 tree nodes" downsample.plan || fail "downsample: per rank"
[[ ! -d big/2_2_1 && $(grep -c '"key"' big/info) == 1 ]] || fail "a dry run changed the info"

section "sharded downsample, 10^4 ranks, --memory 8G: every level's shards"
plan ds_sharded downsample big --sharded --num-mips 5 --memory 8G
peak=$(sed -n 's/^plan: sharded levels: .*; peak \([0-9.]*\) MB per rank (budget \([0-9.]*\) MB)/\1 \2/p' ds_sharded.plan)
within "sharded downsample" $peak
grep -qF "plan: mip 1 (8_8_40) sharded: hash identity, preshift 11, minishard 2, shard 18 bits; 955812012 chunks in 120050 shard files (the objects written)" ds_sharded.plan ||
    fail "sharded downsample: mip 1"
grep -qF "plan: mip 5 (128_128_40) sharded: hash identity, preshift 11, minishard 2, shard 10 bits; 3752763 chunks in 784 shard files (the objects written)" ds_sharded.plan ||
    fail "sharded downsample: mip 5"
[[ ! -d big/8_8_40 && $(grep -c '"key"' big/info) == 1 ]] || fail "a sharded dry run changed the info"

section "verify, 10^4 ranks"
plan verify verify big big2 --memory 4G
peak=$(sed -n 's/.*expected peak \([0-9.]*\) MB per rank (budget \([0-9.]*\) MB).*/\1 \2/p' verify.plan)
within verify $peak

section "import of a 10^5^3 HDF5 dataset, 10^4 ranks, --memory 4G"
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
    /usr/bin/python3 - <<'PY'
import h5py
with h5py.File("big.h5", "w") as f:
    d = f.create_dataset("raw", shape=(100000,) * 3, dtype="uint8", chunks=(64, 64, 64))
    d.attrs["resolution"] = [4, 4, 40]
PY
    (( $(stat -c %s big.h5) < 100000 )) || fail "the empty HDF5 dataset takes $(stat -c %s big.h5) bytes"
    plan import import big.h5:/raw outi --memory 4G
    [[ ! -e outi ]] || fail "import: a dry run created the layer"
    grep -qxF "plan: 1882384 tasks of 1024x1024x512 voxels (98x98x196 tasks) over 0,0,0,100000,100000,100000 at mip 0" import.plan || fail "import: tasks"
    # a round's box (one 512-plane layer of tasks) is cut along y: every rank reads a slab
    grep -qF "plan: 196 rounds of up to 9604 tasks, each round's box cut along y into 10000 slabs;" import.plan || fail "import: rounds"
    peak=$(sed -n 's/.*expected peak \([0-9.]*\) MB per rank (budget \([0-9.]*\) MB).*/\1 \2/p' import.plan)
    within import $peak
    grep -qxF "plan: per rank: about 189 tasks in 196 rounds, 100.0 GB read from the dataset (at most 100.4 GB), exchange up to 100.4 GB sent and 101.5 GB received; journal 56.5 MB in all (30 bytes per finished task)" import.plan || fail "import: per rank"
    plan import_independent import big.h5:/raw outi --memory 4G --independent
    peak=$(sed -n 's/.*expected peak \([0-9.]*\) MB per rank (budget \([0-9.]*\) MB).*/\1 \2/p' import_independent.plan)
    within "import --independent" $peak
    grep -qxF "plan: per rank: about 95 tasks, 102.0 GB read from the dataset, no exchange; journal 28.2 MB in all (30 bytes per finished task)" import_independent.plan || fail "import --independent: per rank"
    run "$CVMPI" import big.h5:/raw outi --ranks 10
    [[ $RC == 2 ]] || fail "import --ranks without --dry-run: exit $RC"
else
    echo "import: skipped (no python3-h5py)"
fi

section "--ranks without --dry-run is a usage error"
run "$CVMPI" transfer big out --ranks 10
[[ $RC == 2 ]] || fail "--ranks without --dry-run: exit $RC"
expect_stderr_contains "--ranks N plans for N ranks: it needs --dry-run"
echo "plan_petavoxel: ok"
