#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cvmpi mesh forge under mpirun: random blobs of 11 labels in a 37x29x23 layer with 8^3 chunks
# (60 tiles, partial ones at the upper faces) meshed with 1 to 4 ranks give byte-identical
# mesh directories; every chunk is read once in all (60 of 60) while tile faces travel
# between ranks; each label's surface, merged by position, is closed and equal to the surface
# of the same label meshed as one tile (a layer with one 64^3 chunk): no crack and no moved
# vertex at any tile border. A job failed at 3 ranks finishes with --resume at 2 ranks with
# the same bytes. With --simplify, 1 and 3 ranks give the same bytes and closed surfaces.
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
echo "mesh forge: ok"
