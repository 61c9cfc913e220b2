#!/usr/bin/env bash
# Transfers with --bbox into murmurhash-sharded scales: every shard with a chunk in the box is
# rewritten by its owner, keeping the chunks of its existing file outside the box.
#  1. half the volume, then the other half, at -n 2 and -n 3: shard files byte-identical to one
#     whole-volume transfer (and, after the first half, not yet equal to it);
#  2. --delete-black over a box that turns chunks black: they leave their shards (a shard left
#     with none of the box's chunks is rewritten too), equal to a whole transfer of the result;
#  3. an existing shard file that is damaged: the job fails naming it, no shard file changes.
source "$(dirname "$0")/lib.sh"
SPEC='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 1, "shard_bits": 3, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
OPTS=(--sharding "$SPEC" --memory 8M --threads 1)
S=4_4_40

# a: no zero voxel; b: a with x < 40 zeroed (chunks 32 wide: one column of black chunks, and one
# half black)
/usr/bin/python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(3)
a = rng.integers(1, 200, size=(128, 96, 64, 1)).astype("uint8")
b = a.copy()
b[:40] = 0
np.save("a.npy", np.asfortranarray(a))
np.save("b.npy", np.asfortranarray(b))
PY
for v in a b; do
    "$CVMPI" create "$v" --type image --dtype uint8 --size 128,96,64 --resolution 4,4,40 \
        --chunk 32,32,16 > /dev/null
    "$CVMPI" write "$v" --bbox 0,0,0,128,96,64 -i "$v.npy"
done
shards() { (cd "$1/$S" && sha256sum *.shard); }

# ---- 1. two halves == one whole transfer ------------------------------------------------
run_np 1 transfer b whole "${OPTS[@]}" > log-whole 2>&1 || { cat log-whole; fail "whole transfer"; }
shards whole > d-whole
[ "$(wc -l < d-whole)" = 8 ] || fail "want 8 shard files, got $(wc -l < d-whole)"
run_np 2 transfer b half-plan "${OPTS[@]}" --bbox 0,0,0,64,96,64 --dry-run > log-plan 2>&1 || { cat log-plan; fail "dry run"; }
grep -qx "plan: --bbox: each shard file with a chunk in the box is read, keeps its chunks outside the box and is written whole again" log-plan ||
    { cat log-plan; fail "the plan does not say what happens to the shards"; }
for n in 2 3; do
    run_np "$n" transfer b "half-$n" "${OPTS[@]}" --bbox 0,0,0,64,96,64 > "log-h1-$n" 2>&1 ||
        { cat "log-h1-$n"; fail "first half, $n ranks"; }
    shards "half-$n" | diff -q d-whole - > /dev/null && fail "$n ranks: the first half alone equals the whole"
    # x 60..100 expands to whole chunks 32..128: the box overlaps the first half's chunks
    run_np "$n" transfer b "half-$n" "${OPTS[@]}" --bbox 60,0,0,100,96,64 > "log-h2-$n" 2>&1 ||
        { cat "log-h2-$n"; fail "second half, $n ranks"; }
    shards "half-$n" | diff d-whole - || fail "$n ranks: two halves differ from one whole transfer"
    [ -z "$(ls -A "half-$n/.cvmpi-journal" 2>/dev/null)" ] || fail "$n ranks: journal left behind"
done
echo "hashed_bbox: halves at -n 2 and -n 3 equal the whole transfer"

# ---- 2. --delete-black over a box: black chunks leave their shards ------------------------
run_np 1 transfer b ref-black "${OPTS[@]}" --delete-black > log-rb 2>&1 || { cat log-rb; fail "ref"; }
run_np 2 transfer a black "${OPTS[@]}" > log-b1 2>&1 || { cat log-b1; fail "a into black"; }
run_np 3 transfer b black "${OPTS[@]}" --delete-black --bbox 0,0,0,40,96,64 > log-b2 2>&1 ||
    { cat log-b2; fail "b's box with --delete-black"; }
shards ref-black | diff - <(shards black) || fail "--delete-black box differs from the whole transfer"
echo "hashed_bbox: --delete-black over a box equals the whole transfer"

# ---- 3. a damaged existing shard: named, nothing written -----------------------------------
cp -r whole bad
victim=$(ls bad/$S/*.shard | head -1)
printf '\377\377\377\377\377\377\377\177' | dd of="$victim" bs=1 seek=0 conv=notrunc 2> /dev/null
shards bad > d-bad
run_np 2 transfer a bad "${OPTS[@]}" --bbox 0,0,0,128,96,16 > log-bad 2>&1 && { cat log-bad; fail "a damaged shard must fail"; }
grep -qF "shard files not written: an existing shard file, whose chunks outside --bbox must be kept, is damaged: shard \`file://$PWD/$victim': minishard 0 index range" log-bad ||
    { cat log-bad; fail "the error must name $victim and say why it is read"; }
grep -qx "cvmpi: transfer: 1 of 12 tasks failed (listed above); fix the cause and rerun with --resume" log-bad ||
    { cat log-bad; fail "exit line"; }
shards bad | diff d-bad - || fail "a shard file changed although the job failed"
echo "hashed_bbox: ok"
