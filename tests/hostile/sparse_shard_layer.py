#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""sparse_shard_layer.py DIR BITS [raw|gzip] [--no-shard]: a 64x64x32 uint8 image in 32^3
chunks (Morton codes 0..3), identity hash, minishard_bits BITS, one shard, data_encoding raw
or gzip; unless --no-shard, its file DIR/1_1_1/0.shard holds each chunk in its own minishard,
with only the first four entries of the shard index written, so the index is sparse whatever
BITS is. Also writes, in the working directory, expected.raw (the volume, x fastest) and
chunk3.raw (chunk 3 decoded), and DIR.stored (the bytes the chunks take in the shard)."""
import gzip
import json
import os
import struct
import sys

args = [a for a in sys.argv[1:] if a != "--no-shard"]
d, bits = args[0], int(args[1])
enc = args[2] if len(args) > 2 else "raw"
os.makedirs(f"{d}/1_1_1", exist_ok=True)
info = {"@type": "neuroglancer_multiscale_volume", "data_type": "uint8", "num_channels": 1,
        "type": "image", "scales": [{
            "chunk_sizes": [[32, 32, 32]], "encoding": "raw", "key": "1_1_1",
            "resolution": [1, 1, 1], "size": [64, 64, 32], "voxel_offset": [0, 0, 0],
            "sharding": {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0,
                         "hash": "identity", "minishard_bits": bits, "shard_bits": 0,
                         "minishard_index_encoding": "raw", "data_encoding": enc}}]}
json.dump(info, open(f"{d}/info", "w"))
vol = bytes((x * 7 + y * 3 + z) % 251 for z in range(32) for y in range(64) for x in range(64))
open("expected.raw", "wb").write(vol)
chunks = [b"".join(vol[z * 4096 + (cy * 32 + y) * 64 + cx * 32:][:32]
                   for z in range(32) for y in range(32))
          for cy in range(2) for cx in range(2)]  # Morton code cx | cy << 1
open("chunk3.raw", "wb").write(chunks[3])
if enc == "gzip":
    chunks = [gzip.compress(c, compresslevel=6, mtime=0) for c in chunks]
starts = [sum(len(c) for c in chunks[:k]) for k in range(4)]
data = b"".join(chunks)
if "--no-shard" not in sys.argv:
    with open(f"{d}/1_1_1/0.shard", "wb") as f:
        for k in range(4):
            f.seek(16 * k)
            f.write(struct.pack("<2Q", len(data) + 24 * k, len(data) + 24 * k + 24))
        f.seek(16 << bits)
        f.write(data)
        for k in range(4):  # one entry per minishard: its deltas are absolute
            f.write(struct.pack("<3Q", k, starts[k], len(chunks[k])))
open(f"{d}.stored", "w").write(str(len(data)))
