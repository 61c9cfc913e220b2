#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# shard_zlib.sh CVMPI: shards whose chunks and minishard indexes are zlib streams where the
# sharding says "gzip" (neuroglancer-scripts writes them with zlib.compress) read as the
# older, pako-based Neuroglancer read them, with one warning naming the shard file; the same
# shard with gzip streams reads without a warning; a zlib stream cut short is an error naming
# the shard file and the chunk.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

# make_layer DIR WRAP [CUT]: a 64x32x32 uint8 image in 32^3 chunks (morton codes 0 and 1),
# one shard "0.shard" with one minishard; chunk data and minishard index wrapped by WRAP
# (zlib or gzip); CUT bytes dropped from the end of chunk 1's stream.
make_layer()
{
    "$PY" - "$@" <<'PY'
import gzip, json, os, struct, sys, zlib
d, wrap = sys.argv[1], sys.argv[2]
cut = int(sys.argv[3]) if len(sys.argv) > 3 else 0
pack = (lambda b: zlib.compress(b, 6)) if wrap == "zlib" else (lambda b: gzip.compress(b, mtime=0))
os.makedirs(f"{d}/8_8_40", exist_ok=True)
info = {"@type": "neuroglancer_multiscale_volume", "data_type": "uint8", "num_channels": 1,
        "type": "image", "scales": [{
            "chunk_sizes": [[32, 32, 32]], "encoding": "raw", "key": "8_8_40",
            "resolution": [8, 8, 40], "size": [64, 32, 32], "voxel_offset": [0, 0, 0],
            "sharding": {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0,
                         "hash": "identity", "minishard_bits": 0, "shard_bits": 0,
                         "minishard_index_encoding": "gzip", "data_encoding": "gzip"}}]}
json.dump(info, open(f"{d}/info", "w"))
vol = bytes((x * 7 + y * 3 + z) % 251 for z in range(32) for y in range(32) for x in range(64))
chunks = []
for cx in range(2):  # x-fastest chunk bytes, as the raw encoding stores them
    chunks.append(b"".join(vol[z * 2048 + y * 64 + cx * 32: z * 2048 + y * 64 + cx * 32 + 32]
                           for z in range(32) for y in range(32)))
blobs = [pack(c) for c in chunks]
if cut:
    blobs[1] = blobs[1][:-cut]
index = struct.pack("<6Q", 0, 1, 0, 0, len(blobs[0]), len(blobs[1]))
mini = pack(index)
data = b"".join(blobs)
open(f"{d}/8_8_40/0.shard", "wb").write(struct.pack("<2Q", len(data), len(data) + len(mini))
                                        + data + mini)
open("expected.raw", "wb").write(vol)
PY
}

section "zlib streams: read, one warning naming the shard file"
make_layer zl zlib
expect_exit 0 "$CVMPI" read zl -o zl.raw --format raw
expect_same_files expected.raw zl.raw
[[ $(grep -c "warning" "$ERR") == 1 ]] || fail "want exactly one warning"
expect_stderr_contains "shard \`file://$WORK/zl/8_8_40/0.shard' holds zlib streams where its sharding says gzip"

section "gzip streams: read, no warning"
make_layer gz gzip
expect_exit 0 "$CVMPI" read gz -o gz.raw --format raw
expect_same_files expected.raw gz.raw
[[ ! -s $ERR ]] || fail "a gzip shard gave a warning"

section "a zlib stream cut short: an error naming the shard file and the chunk"
make_layer cut zlib 5
expect_exit 1 "$CVMPI" read cut -o cut.raw --format raw
expect_stderr_contains "shard \`8_8_40/0.shard' in file://$WORK/cut: chunk 1: zlib: corrupt or truncated data"
expect_no_file cut.raw
echo "PASS ($TEST_NAME)"
