#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sharded_pyramid.sh CVMPI: a fully sharded pyramid in one job.
#  1. `transfer SRC DST --sharded --downsample 2` and `import F.h5:/ds DST --sharded
#     --downsample 2` at -n 1 and -n 3: every scale sharded (the info's sharding objects), shard
#     files byte-identical across rank counts and to the two-step pipeline (`transfer
#     --sharded`, then `downsample --sharded`), each level's voxels equal to the unsharded
#     pipeline's (transfer/import, then plain downsample);
#  2. `transfer --sharding` with --downsample: one object for every scale, or an array of one
#     per scale written (the copied scales first); a wrong count fails naming both;
#  3. `transfer --sharded` of an unsharded 3-scale layer shards every scale (parameters per
#     scale) with the same voxels.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
PY=/usr/bin/python3
SB=(--shard-bytes 60K)

make_source L uint8 200,180,48 0,0,0 32,32,16 > /dev/null

shards() { (cd "$1" && find . -name '*.shard' | sort); }
same_shards() { # same_shards A B: the same shard files, byte for byte
    [ -n "$(shards "$1")" ] || fail "$1 has no shard files"
    [ "$(shards "$1")" = "$(shards "$2")" ] || fail "$1 and $2 have other shard files"
    for f in $(shards "$1"); do cmp "$1/$f" "$2/$f" || fail "$f of $1 and $2 differ"; done
}
same_voxels() { # same_voxels A B MIPS...
    local a=$1 b=$2
    shift 2
    for k in "$@"; do
        "$CVMPI" read "$a" --mip "$k" -o a.npy
        "$CVMPI" read "$b" --mip "$k" -o b.npy
        cmp -s a.npy b.npy || fail "mip $k of $a and $b differ"
    done
}
shardings() { # shardings DIR: per scale "key preshift,minishard,shard bits,hash" or "key -"
    "$PY" -c 'import json, sys
for s in json.load(open(sys.argv[1] + "/info"))["scales"]:
    h = s.get("sharding")
    print(s["key"], "-" if h is None else "%d,%d,%d,%s" % (h["preshift_bits"],
          h["minishard_bits"], h["shard_bits"], h["hash"]))' "$1"
}
WANT="4_4_40 2,0,6,identity
8_8_40 2,0,4,identity
16_16_40 2,0,2,identity"

# 1a. transfer: the unsharded pipeline is the voxel oracle, the two-step sharded one the bytes'
run_np 2 transfer L UN > log 2>&1 || { cat log; fail "transfer"; }
run_np 2 downsample UN --num-mips 2 > log 2>&1 || { cat log; fail "downsample"; }
run_np 2 transfer L TWO --sharded "${SB[@]}" > log 2>&1 || { cat log; fail "transfer --sharded"; }
run_np 2 downsample TWO --num-mips 2 --sharded "${SB[@]}" > log 2>&1 || { cat log; fail "downsample --sharded"; }
for n in 1 3; do
    run_np $n transfer L "T$n" --sharded "${SB[@]}" --downsample 2 > log 2>&1 ||
        { cat log; fail "-n $n transfer --sharded --downsample 2"; }
    [ "$(shardings "T$n")" = "$WANT" ] || fail "-n $n: shardings $(shardings "T$n")"
    [ -z "$(find "T$n" -name '*.gz' -o -name '[0-9]*-[0-9]*_*')" ] || fail "-n $n: unsharded chunks"
    same_voxels UN "T$n" 0 1 2
done
same_shards T1 T3
same_shards T1 TWO

# 1b. import from HDF5 (h5py, z,y,x order) with the same voxels
if "$PY" -c "import h5py" 2> /dev/null; then
    "$PY" - <<'PY'
import h5py, numpy as np
a = np.load("src.npy")[..., 0]
with h5py.File("src.h5", "w") as f:
    f.create_dataset("/raw", data=np.ascontiguousarray(a.transpose(2, 1, 0)))
PY
    IM=(--resolution 4,4,40 --chunk 32,32,16)
    run_np 2 import src.h5:/raw IUN "${IM[@]}" --downsample 2 > log 2>&1 || { cat log; fail "import"; }
    same_voxels UN IUN 0 1 2
    for n in 1 3; do
        run_np $n import src.h5:/raw "I$n" "${IM[@]}" --sharded "${SB[@]}" --downsample 2 > log 2>&1 ||
            { cat log; fail "-n $n import --sharded --downsample 2"; }
        [ "$(shardings "I$n")" = "$WANT" ] || fail "-n $n import: shardings $(shardings "I$n")"
        same_voxels IUN "I$n" 0 1 2
    done
    same_shards I1 I3
    same_shards I1 T1
else
    echo "sharded_pyramid: import skipped (no python3-h5py)"
fi

# 2. --sharding with --downsample: one object for every scale ...
H='{"@type":"neuroglancer_uint64_sharded_v1","hash":"murmurhash3_x86_128","preshift_bits":1,"minishard_bits":1,"shard_bits":2,"minishard_index_encoding":"gzip","data_encoding":"gzip"}'
I='{"@type":"neuroglancer_uint64_sharded_v1","hash":"identity","preshift_bits":0,"minishard_bits":2,"shard_bits":1,"minishard_index_encoding":"gzip","data_encoding":"gzip"}'
run_np 3 transfer L ONE --sharding "$H" --downsample 2 > log 2>&1 || { cat log; fail "--sharding object"; }
[ "$(shardings ONE)" = "4_4_40 1,1,2,murmurhash3_x86_128
8_8_40 1,1,2,murmurhash3_x86_128
16_16_40 1,1,2,murmurhash3_x86_128" ] || fail "--sharding object: $(shardings ONE)"
same_voxels UN ONE 0 1 2
# ... or an array of one per scale written: the copied scale, then the new levels
run_np 3 transfer L ARR --sharding "[$I,$H,$I]" --downsample 2 > log 2>&1 || { cat log; fail "--sharding array"; }
[ "$(shardings ARR)" = "4_4_40 0,2,1,identity
8_8_40 1,1,2,murmurhash3_x86_128
16_16_40 0,2,1,identity" ] || fail "--sharding array: $(shardings ARR)"
same_voxels UN ARR 0 1 2
set +e
run_np 2 transfer L BAD --sharding "[$I,$H]" --downsample 2 > out 2> err
rc=$?
set -e
[ "$rc" = 1 ] || { cat out err; fail "a short --sharding array: exit $rc"; }
grep -qF -- "--sharding: an array of 2 sharding objects for 3 scales (1 copied, 2 new; give one object for every scale, or an array of one per scale)" err ||
    { cat err; fail "a short --sharding array: message"; }
[ ! -e BAD ] || fail "a short --sharding array wrote BAD"

# 3. every scale of an unsharded 3-scale layer, each with its own parameters
run_np 3 transfer UN ALL --sharded "${SB[@]}" > log 2>&1 || { cat log; fail "transfer --sharded of 3 scales"; }
[ "$(shardings ALL)" = "$WANT" ] || fail "3 scales: shardings $(shardings ALL)"
same_voxels UN ALL 0 1 2
run_np 1 transfer UN ALL1 --sharded "${SB[@]}" > log 2>&1 || { cat log; fail "-n 1 transfer --sharded of 3 scales"; }
same_shards ALL ALL1
echo "sharded_pyramid: ok"
