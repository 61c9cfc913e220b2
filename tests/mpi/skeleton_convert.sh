#!/usr/bin/env bash
# cvmpi skeleton convert under mpirun: 600 random SWC trees into a sharded skeleton directory
# (8 shards) with 1, 2 and 3 ranks give byte-identical shard files, each written once, and
# every skeleton reads back equal to its SWC through the independent reference reader; with
# --sharded on a fresh layer CloudVolume's hashed parameters are chosen; unsharded conversion
# writes one gzip'd file per id; a malformed SWC fails on every rank with one message.
SRC=$(cd "$(dirname "$0")/../interop" && pwd)
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
"$PY" "$SRC/mesh_skeleton_ref.py" mkswc swc 600 21 > /dev/null
ids=$(cd swc && ls | sed 's/\.swc$//' | sort -n)
info='{"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}, {"id": "vertex_types", "data_type": "uint8", "num_components": 1}], "sharding": {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128", "minishard_bits": 2, "shard_bits": 3, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}}'
for n in 1 2 3; do
    "$CVMPI" create l$n --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8 >/dev/null
    mkdir -p l$n/skeletons
    echo "$info" > l$n/skeletons/info
    run_np $n skeleton convert swc l$n > log$n 2>&1 || { cat log$n; fail "convert -n $n"; }
    grep -q "converted 600 skeletons .* into 8 shard files with $n ranks" log$n ||
        { cat log$n; fail "summary -n $n"; }
done
[ "$(ls l1/skeletons | grep -c '\.shard$')" = 8 ] || fail "8 shard files expected"
for n in 2 3; do
    for f in $(cd l1/skeletons && ls); do
        cmp -s l1/skeletons/$f l$n/skeletons/$f || fail "$f differs between 1 and $n ranks"
    done
done
# shellcheck disable=SC2086
"$PY" "$SRC/mesh_skeleton_ref.py" checkskel l2 "swc/{}.swc" $ids > /dev/null || fail "reference read"
"$CVMPI" skeleton ls l3 > ls.txt
[ "$(cat ls.txt)" = "$ids" ] || fail "skeleton ls after convert"

"$CVMPI" create fresh --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8 >/dev/null
run_np 2 skeleton convert swc fresh --sharded > log 2>&1 || { cat log; fail "convert --sharded"; }
grep -q '"hash": "murmurhash3_x86_128"' fresh/skeletons/info || fail "sharding not chosen"
"$CVMPI" create plain --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8 >/dev/null
run_np 2 skeleton convert swc plain > log 2>&1 || { cat log; fail "convert unsharded"; }
[ "$(ls plain/skeletons | grep -c '\.gz$')" = 600 ] || fail "600 gzip'd skeletons expected"
# shellcheck disable=SC2086
"$PY" "$SRC/mesh_skeleton_ref.py" checkskel plain "swc/{}.swc" $ids > /dev/null || fail "unsharded"

printf '1 0 0 0 0 1 -1\n2 0 1 0 0 1\n' > swc/123.swc
set +e
run_np 2 skeleton convert swc l1 > log 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || { cat log; fail "bad SWC exited $rc"; }
[ "$(grep -c 'swc/123.swc line 2' log)" = 1 ] || { cat log; fail "one message naming the file"; }
echo "skeleton convert: ok"
