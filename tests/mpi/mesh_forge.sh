#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cvmpi mesh forge under mpirun: random blobs of 11 labels in a 37x29x23 layer with 8^3 chunks
# (60 tiles, partial ones at the upper faces) meshed with 1 to 4 ranks give byte-identical
# mesh directories; every chunk is read once in all (60 of 60) while tile faces travel
# between ranks; each label's surface, merged by position, is closed and equal to the surface
# of the same label meshed as one tile (a layer with one 64^3 chunk): no crack and no moved
# vertex at any tile border. A job failed at 3 ranks finishes with --resume at 2 ranks with
# the same bytes. With --simplify, 1 and 3 ranks give the same bytes and closed surfaces.
# --sharded (one pass, fragments sent to the shard owners) writes, with 1, 2 and 3 ranks, the
# same shard files and mesh info, byte for byte, as forge then merge-sharded with the same
# options; a job failed at one shard file resumes at 2 ranks without rebuilding the others.
SRC=$(cd "$(dirname "$0")/../integration" && pwd)
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
REF="$SRC/mesh_forge_ref.py"
M=mesh_mip_0_err_0
"$PY" "$REF" random blobs.npy 37 29 23 5
layer() { # layer NAME CHUNK
    "$CVMPI" create "$1" --type segmentation --dtype uint32 --size 37,29,23 --offset 3,0,-4 \
        --resolution 8,8,30 --chunk "$2" > /dev/null
    /usr/bin/python3 -c "import numpy as np; np.save('b32.npy', np.load('blobs.npy').astype(np.uint32))"
    "$CVMPI" write "$1" --bbox 3,0,-4,40,29,19 -i b32.npy
}
layer whole 64,64,64
"$CVMPI" mesh forge whole > log || { cat log; fail "one tile"; }
grep -q '^mesh forge: 1 tiles' log || { cat log; fail "one tile expected"; }
"$PY" "$REF" check whole $M 8,8,30 --digest | sed 's/"fragments": [0-9]*, //' > whole.jsonl ||
    fail "one tile: not closed"
for n in 1 2 3 4; do
    layer l$n 8,8,8
    run_np $n mesh forge l$n > log$n 2>&1 || { cat log$n; fail "forge -n $n"; }
    grep -q "^mesh forge: 60 tiles (0 written before), .* 11 meshes in $M/" log$n ||
        { cat log$n; fail "summary -n $n"; }
    grep -q '^mesh forge: 60 of 60 chunks read' log$n || { cat log$n; fail "chunks read -n $n"; }
    if [ $n -gt 1 ]; then
        grep -q 'chunks read ([0-9]* bytes), [1-9][0-9]* bytes of tile faces sent' log$n ||
            { cat log$n; fail "no faces sent between $n ranks"; }
    fi
    digest l$n/$M > d$n
    [ $n = 1 ] || cmp -s d1 d$n || fail "output of $n ranks differs from 1 rank's"
done
"$PY" "$REF" check l3 $M 8,8,30 --digest | sed 's/"fragments": [0-9]*, //' > tiles.jsonl ||
    fail "tiles: not closed"
diff whole.jsonl tiles.jsonl || fail "tiled surfaces differ from the one-tile surfaces"

# Simplified fragments are the same bytes whatever the rank count too.
for n in 1 3; do
    layer s$n 8,8,8
    run_np $n mesh forge s$n --simplify 12 > log 2>&1 || { cat log; fail "simplify -n $n"; }
    digest s$n/mesh_mip_0_err_12 > sd$n
done
cmp -s sd1 sd3 || fail "simplified output of 3 ranks differs from 1 rank's"
"$PY" "$REF" check s3 mesh_mip_0_err_12 8,8,30 > /dev/null || fail "simplified: not closed"

layer again 8,8,8
mkdir -p again/$M
# the fragment of the last tile holding label 1 cannot be written
last=$(cd l1/$M && printf '%s\n' 1:0:* | sort -t: -k3 | tail -1)
mkdir "again/$M/$last"
if run_np 3 mesh forge again > log 2>&1; then fail "a failed write must fail the job"; fi
[ "$(grep -c "cvmpi: .*$last" log)" = 1 ] || { cat log; fail "one message naming the fragment"; }
rmdir "again/$M/$last"
run_np 2 mesh forge again --resume > log 2>&1 || { cat log; fail "resume at 2 ranks"; }
grep -q 'written before' log || { cat log; fail "resume summary"; }
grep -q '(0 written before)' log && { cat log; fail "nothing was resumed"; }
digest again/$M > d5
cmp -s d1 d5 || fail "resumed output differs"

# One pass to sharded multi-resolution meshes = forge, then merge-sharded.
MR="--max-labels-per-shard 4 --min-chunk 4"
cp -r l1 two
run_np 1 mesh merge-sharded two $MR --nlod 2 > log || { cat log; fail "merge-sharded"; }
grep -q '^11 segments: 11 multi-resolution meshes .* in 4 shard files' log || { cat log; fail "4 shards"; }
"$CVMPI" mesh forge l1 --sharded $MR --lods 2 --dry-run --ranks 3 > plan ||
    fail "--sharded --dry-run"
grep -q "^plan: shards: .* (at least one shard per 4 labels), shard s built and written once by rank s mod 3 into $M/ (neuroglancer_multilod_draco, up to 2 coarser levels" plan ||
    { cat plan; fail "--sharded plan"; }
for n in 1 2 3; do
    layer h$n 8,8,8
    run_np $n mesh forge h$n --sharded $MR --lods 2 > log$n 2>&1 || { cat log$n; fail "--sharded -n $n"; }
    grep -q "^mesh forge: 60 tiles, 660 fragments sent to shard owners" log$n ||
        { cat log$n; fail "--sharded fragments -n $n"; }
    grep -q "^mesh forge: 11 labels: 11 multi-resolution meshes (.* bytes) in 4 shard files in $M/ (0 written before), 0 skipped" log$n ||
        { cat log$n; fail "--sharded summary -n $n"; }
    [ "$(ls h$n/$M)" = "$(printf '0.shard\n1.shard\n2.shard\n3.shard\ninfo')" ] ||
        fail "--sharded -n $n: only the shards and the info are written"
    for f in info 0.shard 1.shard 2.shard 3.shard; do
        cmp -s two/$M/$f h$n/$M/$f || fail "--sharded -n $n: $f differs from forge + merge-sharded"
    done
    cmp -s two/info h$n/info || fail "--sharded -n $n: the layer's info differs"
done
layer hr 8,8,8
mkdir -p hr/$M/3.shard
if run_np 3 mesh forge hr --sharded $MR --lods 2 > log 2>&1; then fail "a failed shard write must fail the job"; fi
[ "$(grep -c "cvmpi: .*3\.shard" log)" = 1 ] || { cat log; fail "one message naming the shard"; }
rmdir hr/$M/3.shard
touch -d '2000-01-01' hr/$M/0.shard
run_np 2 mesh forge hr --sharded $MR --lods 2 --resume > log 2>&1 || { cat log; fail "--sharded resume"; }
grep -q "in 1 shard files in $M/ (3 written before)" log || { cat log; fail "--sharded resume summary"; }
[ "$(stat -c %Y hr/$M/0.shard)" = "$(date -d '2000-01-01' +%s)" ] || fail "a written shard was rebuilt"
for f in info 0.shard 1.shard 2.shard 3.shard; do
    cmp -s two/$M/$f hr/$M/$f || fail "resumed --sharded: $f differs"
done
echo "mesh forge: ok"
