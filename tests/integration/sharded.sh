#!/usr/bin/env bash
# Sharded volumes through the CLI: create --sharded (CloudVolume's image parameters) and
# --sharding JSON (murmurhash); whole-shard writes read back exactly by cvmpi and by the
# independent reader in tests/interop; partial-shard writes and deletes are refused clearly.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
REF="$TEST_DIR/../interop/precomputed_ref.py"

"$PY" - <<'PY'
import numpy as np
rng = np.random.default_rng(5)
np.save("a.npy", np.asfortranarray(rng.integers(0, 60000, (100, 70, 30, 1)).astype(np.uint16)))
np.save("seg.npy", np.asfortranarray(rng.integers(0, 9, (64, 64, 16, 1)).astype(np.uint64)))
PY
expect_exit 0 "$CVMPI" create img --type image --dtype uint16 --size 100,70,30 --offset 4,-2,1 \
    --resolution 8,8,40 --chunk 16,16,8 --sharded --shard-bytes 40K
grep -q '"hash": "identity"' img/info || fail "identity hash expected"
expect_exit 0 "$CVMPI" write img --bbox 4,-2,1,104,68,31 -i a.npy
[ -z "$(ls img/8_8_40 | grep -v '\.shard$')" ] || fail "non-shard files in a sharded scale"
expect_exit 0 "$CVMPI" read img -o back.npy
cmp a.npy back.npy || fail "sharded read-back differs"
"$PY" "$REF" check img a.npy > /dev/null || fail "reference reader disagrees"
expect_exit 0 "$CVMPI" read img --bbox 10,0,5,50,40,20 -o cut.npy
"$PY" -c "
import numpy as np
a, c = np.load('a.npy'), np.load('cut.npy')
assert (c == a[6:46, 2:42, 4:19]).all()" || fail "sharded sub-box"
expect_exit 0 "$CVMPI" exists img
expect_stdout "140/140 chunks present"

# shard ls / get: every chunk is listed once; key 0 (cell 0,0,0) holds that chunk's raw bytes
expect_exit 0 "$CVMPI" shard ls img
tail -n 1 "$OUT" | grep -q "^24 shard files, 140 entries, 420000 bytes decoded$" ||
    fail "shard ls summary: $(tail -n 1 "$OUT")"
expect_exit 0 "$CVMPI" shard ls img/8_8_40
expect_exit 0 "$CVMPI" shard get img 0 -o key0.bin
expect_exit 0 "$CVMPI" read img --bbox 4,-2,1,20,14,9 -o cell0.raw
cmp key0.bin cell0.raw || fail "shard get 0 is not chunk (0,0,0)"
expect_exit 1 "$CVMPI" shard get img 99999 -o nothing.bin
expect_stderr_contains "no entry with key 99999"
expect_no_file nothing.bin

# a box that covers part of a shard
head -c $((16 * 16 * 8 * 2)) /dev/zero > z.raw
expect_exit 1 "$CVMPI" write img --bbox 4,-2,1,20,14,9 -i z.raw
expect_stderr_contains "sharded writes must cover whole shards"
expect_exit 1 "$CVMPI" delete img --bbox 4,-2,1,20,14,9
expect_stderr_contains "is sharded"

# murmurhash sharding given as JSON: the whole volume in one write
spec='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 2, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "raw"}'
expect_exit 0 "$CVMPI" create seg --type segmentation --dtype uint64 --size 64,64,16 --resolution 4,4,40 \
    --chunk 16,16,16 --sharding "$spec"
expect_exit 0 "$CVMPI" write seg --bbox 0,0,0,64,64,16 -i seg.npy
expect_exit 0 "$CVMPI" read seg -o segback.npy
cmp seg.npy segback.npy || fail "murmurhash sharded read-back differs"
"$PY" "$REF" check seg seg.npy > /dev/null || fail "reference reader disagrees (murmurhash)"
expect_exit 1 "$CVMPI" write seg --bbox 0,0,0,16,16,16 -i z.raw
# transfer --sharded --dry-run: box shards per file and per task, bytes per shard
expect_exit 0 "$CVMPI" create big --type image --dtype uint8 --size 512,512,128 --resolution 4,4,40 \
    --chunk 64,64,64
expect_exit 0 "$CVMPI" transfer big bigs --sharded --shard-bytes 8M --dry-run --memory 1G
grep 'plan: box shards' "$OUT" >box.plan
echo "plan: box shards: 4 shard files of 256x256x128 voxels (8.4 MB decoded each, less at the edges); a task writes 1 whole shard, each file once" >box.want
expect_same_files box.plan box.want
expect_no_file bigs
echo "sharded: ok"
