#!/usr/bin/env bash
# cvmpi mesh merge-sharded under mpirun: 16 legacy sphere meshes (two fragments each, sharing
# their seam vertices) become sharded multi-resolution meshes; 1, 2 and 3 ranks write
# byte-identical shard files and info; every segment reads back at every level, level 0
# holding every input vertex to within the quantization step; --unsharded writes SEGID and
# SEGID.index with the same meshes; the summary counts segments, meshes and shard files.
SRC=$(cd "$(dirname "$0")/../interop" && pwd)
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
for n in 1 2 3; do
    "$CVMPI" create l$n --type segmentation --dtype uint64 --size 2048,2048,256 \
        --resolution 8,8,40 > /dev/null
    "$PY" "$SRC/mesh_merge_ref.py" legacy l$n 16 5 > ids.txt
    run_np $n mesh merge-sharded l$n --max-labels-per-shard 4 --min-chunk 16 > log$n 2>&1 ||
        { cat log$n; fail "merge-sharded -n $n"; }
    grep -q "^16 segments: 16 multi-resolution meshes (.* bytes) in 4 shard files, 0 skipped, $n ranks" log$n ||
        { cat log$n; fail "summary -n $n"; }
done
[ "$(cd l1/mesh && ls | grep -c '\.shard$')" = 4 ] || fail "4 shard files expected"
for n in 2 3; do
    for f in info 0.shard 1.shard 2.shard 3.shard; do
        cmp -s l1/mesh/$f l$n/mesh/$f || fail "$f differs between 1 and $n ranks"
    done
done
grep -q '"data_encoding": "raw"' l1/mesh/info || fail "multires shards need raw data"
grep -q '"mesh": "mesh"' l1/info || fail "the layer's info names no mesh directory"
"$CVMPI" mesh ls l2 > ls.txt
cmp -s ls.txt ids.txt || fail "mesh ls after merge"
for id in $(cat ids.txt); do
    "$CVMPI" mesh get l2 "$id" --lod 0 -o m0.ply
    "$PY" "$SRC/mesh_merge_ref.py" near m0.ply 5 "$id" 0.1 > /dev/null || fail "lod 0 of $id"
done
"$CVMPI" mesh get l2 1000,1001,1002,1003 --lod 1 -o m1.ply || fail "lod 1"

"$CVMPI" create plain --type segmentation --dtype uint64 --size 2048,2048,256 \
    --resolution 8,8,40 > /dev/null
"$PY" "$SRC/mesh_merge_ref.py" legacy plain 16 5 > /dev/null
run_np 2 mesh merge-sharded plain --unsharded --min-chunk 16 > log 2>&1 ||
    { cat log; fail "merge-sharded --unsharded"; }
grep -q "^16 segments: 16 multi-resolution meshes (.* bytes) in 0 shard files" log ||
    { cat log; fail "unsharded summary"; }
[ -f plain/mesh/1007.index ] && [ -f plain/mesh/1007 ] || fail "SEGID and SEGID.index"
if grep -q sharding plain/mesh/info; then fail "unsharded info has sharding"; fi
for lod in 0 1; do
    "$CVMPI" mesh get plain 1007 --lod $lod -o u.ply
    "$CVMPI" mesh get l1 1007 --lod $lod -o s.ply
    cmp -s u.ply s.ply || fail "sharded and unsharded lod $lod differ"
done
echo "mesh merge-sharded: ok"
