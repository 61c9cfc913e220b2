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

# shard ls / get: every chunk is listed once, with the file's bytes and its entries' stored
# bytes as an independent parse of the indexes finds them; --decoded adds up the chunks'
# 420000 voxel bytes; key 0 (cell 0,0,0) holds that chunk's raw bytes
# shard_ls_want LAYER/SCALE [--decoded]: the expected `shard ls` output, from the files.
shard_ls_want()
{
    "$PY" - "$@" <<'PY'
import gzip, json, os, struct, sys
layer, scale = sys.argv[1].split("/")
decoded = len(sys.argv) > 2
spec = [s for s in json.load(open(f"{layer}/info"))["scales"] if s["key"] == scale][0]["sharding"]
ibytes = 16 << spec["minishard_bits"]
tot = [0, 0, 0, 0, 0]
lines = []
for name in sorted(os.listdir(f"{layer}/{scale}")):
    blob = open(f"{layer}/{scale}/{name}", "rb").read()
    n = stored = dec = 0
    for m in range(1 << spec["minishard_bits"]):
        a, b = struct.unpack_from("<2Q", blob, 16 * m)
        if a == b:
            continue
        idx = blob[ibytes + a:ibytes + b]
        if spec.get("minishard_index_encoding", "raw") == "gzip":
            idx = gzip.decompress(idx)
        k = len(idx) // 24
        cols = struct.unpack(f"<{3 * k}Q", idx)
        start = 0
        for i in range(k):
            start += cols[k + i]
            value = blob[ibytes + start:ibytes + start + cols[2 * k + i]]
            if spec.get("data_encoding", "raw") == "gzip":
                value = gzip.decompress(value)
            n, stored, dec = n + 1, stored + cols[2 * k + i], dec + len(value)
            start += cols[2 * k + i]
    tail = f", {dec} decoded)" if decoded else ")"
    lines.append("%-24s %10d entries %14d bytes (%d stored%s" % (name, n, len(blob), stored, tail))
    tot = [tot[0] + 1, tot[1] + n, tot[2] + len(blob), tot[3] + stored, tot[4] + dec]
tail = f", {tot[4]} decoded)" if decoded else ")"
lines.append(f"{tot[0]} shard files, {tot[1]} entries, {tot[2]} bytes ({tot[3]} stored{tail}")
print("\n".join(lines))
PY
}
expect_exit 0 "$CVMPI" shard ls img
expect_stdout "$(shard_ls_want img/8_8_40)"
tail -n 1 "$OUT" | grep -q "^24 shard files, 140 entries, [0-9]* bytes ([0-9]* stored)$" ||
    fail "shard ls summary: $(tail -n 1 "$OUT")"
expect_exit 0 "$CVMPI" shard ls img/8_8_40 --decoded
expect_stdout "$(shard_ls_want img/8_8_40 --decoded)"
tail -n 1 "$OUT" | grep -q "^24 shard files, 140 entries, [0-9]* bytes ([0-9]* stored, 420000 decoded)$" ||
    fail "shard ls --decoded summary: $(tail -n 1 "$OUT")"
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
# gzip minishard indexes, murmurhash: 16 chunks in 4 shard files
expect_exit 0 "$CVMPI" shard ls seg --decoded
expect_stdout "$(shard_ls_want seg/4_4_40 --decoded)"
# raw data: stored = decoded = 16 chunks of 16^3 uint64; the files' bytes hold gzip indexes
sed -E 's/ +[0-9]+ bytes / N bytes /' "$OUT" >seg.ls
printf '%s\n' "0.shard                           5 entries N bytes (163840 stored, 163840 decoded)" \
    "1.shard                           3 entries N bytes (98304 stored, 98304 decoded)" \
    "2.shard                           4 entries N bytes (131072 stored, 131072 decoded)" \
    "3.shard                           4 entries N bytes (131072 stored, 131072 decoded)" \
    "4 shard files, 16 entries, N bytes (524288 stored, 524288 decoded)" >seg.want
expect_same_files seg.ls seg.want
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
