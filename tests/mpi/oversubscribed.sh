#!/usr/bin/env bash
# Oversubscribed runs (more ranks than cores, and than most jobs' tasks): every MPI job kind at
# -n 16, and at -n 8 where tests/mpi/sched_stragglers.sh does not already run it, writes
# byte-identical output to one process (-n 1; verify: the same report): a plain transfer, a
# re-chunking transfer through exchange rounds (-n 1 does it as tasks: one rank cannot fit a
# round in the budget, as tests/mpi/transfer_exchange.sh explains), transfers into murmurhash
# and identity shards, a downsample whose upper levels go up the reduction tree, an HDF5
# import, verify and skeleton convert. Tiny layers and --threads 1 keep it short on two cores.
SRC=$(cd "$(dirname "$0")/../interop" && pwd)
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
make_source src uint8 128,128,48 0,0,0 32,32,16 > /dev/null

# same NAME N...: each N's output directory NAME-N equals NAME-1, every file byte for byte
same() {
    local name=$1 n
    shift
    for n in "$@"; do
        diff -r "$name-1" "$name-$n" > /dev/null || { diff -rq "$name-1" "$name-$n"; fail "$name: -n $n differs from -n 1"; }
    done
    echo "$name: -n $* equal -n 1"
}
# job NAME N ARGS...: run cvmpi ARGS at -n N, its log in log-NAME-N; -n 1, the reference, is one
# process without mpirun (the same single rank, without mpirun's start-up)
job() {
    local name=$1 n=$2
    shift 2
    launch "$n" "$@" > "log-$name-$n" 2>&1 || { cat "log-$name-$n"; fail "$name at -n $n"; }
}
launch() {
    local n=$1
    shift
    if [ "$n" = 1 ]; then "$CVMPI" "$@"; else run_np "$n" "$@"; fi
}

HASHED='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 1, "shard_bits": 3, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
for n in 1 16; do
    job transfer $n transfer src "transfer-$n" --memory 1M --threads 1
done
same transfer 16
for n in 1 8 16; do
    job hashed $n transfer src "hashed-$n" --sharding "$HASHED" --memory 8M --threads 1
    job identity $n transfer src "identity-$n" --sharded --shard-bytes 200K --chunk-size 32,32,16 \
        --memory 4M --threads 1
done
[ "$(ls hashed-1/4_4_40 | grep -c '\.shard$')" = 8 ] || fail "hashed: want 8 shard files"
[ "$(ls identity-1/4_4_40 | grep -c '\.shard$')" -gt 1 ] || fail "identity: want several shard files"
same hashed 8 16
same identity 8 16

# re-chunking 32x32x16 -> 36x36x24: one aligned task (288x288x48) needs 4 MB; with 3M the
# ranks trade pieces in exchange rounds
job rechunk 1 transfer src rechunk-1 --chunk-size 36,36,24 --memory 5M --threads 1
for n in 8 16; do
    job rechunk $n transfer src "rechunk-$n" --chunk-size 36,36,24 --memory 3M --threads 1
    grep -q "exchange rounds written" "log-rechunk-$n" || { cat "log-rechunk-$n"; fail "rechunk -n $n: no exchange"; }
done
same rechunk 8 16

# downsample: 500K leaves the upper levels to the reduction tree
"$CVMPI" downsample src --num-mips 4 --memory 500K --dry-run | grep -q "(reduction tree)" ||
    fail "downsample: no reduction tree in the plan"
for n in 1 16; do
    cp -r src "downsample-$n"
    job downsample $n downsample "downsample-$n" --num-mips 4 --memory 500K --threads 1
done
same downsample 16

# import from HDF5 (zyx, chunked and gzip'd)
$PY - <<'PY'
import h5py, numpy as np
a = np.load("src.npy")[..., 0]
with h5py.File("src.h5", "w") as f:
    f.create_dataset("raw", data=np.ascontiguousarray(a.T), chunks=(16, 32, 32), compression="gzip")
PY
# 8-plane tasks: at -n 8 each round's box is cut along z into one slab per rank; at -n 16 it is
# fewer planes deep than there are ranks, so it is cut along y
IMPORT=(--resolution 4,4,40 --chunk 32,32,8 --memory 500K --threads 1)
for n in 8 16; do
    "$CVMPI" import src.h5:/raw plan "${IMPORT[@]}" --dry-run --ranks $n > "import-plan-$n"
done
grep -q "each round's box cut along z into 8 slabs" import-plan-8 || { cat import-plan-8; fail "import -n 8: not cut along z"; }
grep -q "each round's box cut along y into 16 slabs" import-plan-16 || { cat import-plan-16; fail "import -n 16: not cut along y"; }
for n in 1 8 16; do
    job import $n import src.h5:/raw "import-$n" "${IMPORT[@]}"
done
same import 8 16
"$CVMPI" read import-1 -o back.npy
cmp src.npy back.npy || fail "import: content differs from the dataset"

# verify: equal layers, then one changed voxel; the same report at every rank count
$PY -c "
import numpy as np
a = np.load('src.npy'); a[100, 50, 20, 0] = 250; np.save('changed.npy', a)"
cp -r transfer-1 changed
"$CVMPI" write changed --bbox 0,0,0,128,128,48 -i changed.npy
for n in 1 8 16; do
    launch $n verify src transfer-1 --memory 1M --threads 1 > "verify-same-$n" 2> /dev/null ||
        fail "verify -n $n: equal layers differ"
    set +e
    launch $n verify src changed --memory 1M --threads 1 > "verify-diff-$n" 2> /dev/null
    rc=$?
    set -e
    [ "$rc" = 1 ] || fail "verify -n $n of different layers: exit $rc"
done
grep -q "1 voxels differ; first at (100,50,20) channel 0: A=[0-9]* B=250" verify-diff-1 ||
    { cat verify-diff-1; fail "verify: the difference is not reported"; }
# the report names the rank that ran each failing task; all else is the same
for n in 8 16; do
    for k in same diff; do
        diff <(sed 's/ (rank [0-9]*):/ (rank R):/' "verify-$k-1") \
            <(sed 's/ (rank [0-9]*):/ (rank R):/' "verify-$k-$n") ||
            fail "verify ($k): the -n $n report differs from -n 1"
    done
done
echo "verify: -n 8 16 report as -n 1"

# skeleton convert into murmurhash shards
"$PY" "$SRC/mesh_skeleton_ref.py" mkswc swc 120 21 > /dev/null
SKEL='{"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}, {"id": "vertex_types", "data_type": "uint8", "num_components": 1}], "sharding": {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128", "minishard_bits": 2, "shard_bits": 3, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}}'
for n in 1 8 16; do
    "$CVMPI" create "skeleton-$n" --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8 > /dev/null
    mkdir -p "skeleton-$n/skeletons"
    echo "$SKEL" > "skeleton-$n/skeletons/info"
    job skeleton $n skeleton convert swc "skeleton-$n"
done
[ "$(ls skeleton-1/skeletons | grep -c '\.shard$')" = 8 ] || fail "skeleton: want 8 shard files"
same skeleton 8 16
echo "oversubscribed: ok"
