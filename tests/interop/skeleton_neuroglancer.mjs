// SPDX-License-Identifier: BSD-3-Clause
// skeleton_neuroglancer.mjs: read skeletons the way Neuroglancer does (npm neuroglancer 2.41.2,
// in node): the skeleton directory's info gives the vertex attributes and the sharding; sharded
// skeletons come through Neuroglancer's own ShardedKvStore with byte-range reads, unsharded
// ones from "<id>" (or "<id>.gz", as a server would send it decompressed); each is decoded
// with Neuroglancer's decodeSkeletonChunk. For skeleton_neuroglancer.sh.
// Usage: node skeleton_neuroglancer.mjs SKELETON_DIR ID...  -> one JSON line per id on stdout
//   {"id", "vertices": [...], "edges": [...], "<attribute id>": [...]} or {"id", "missing": true}
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { ShardedKvStore } from "neuroglancer/unstable/datasource/precomputed/sharded.js";
import { ShardingHashFunction, DataEncoding } from "neuroglancer/unstable/datasource/precomputed/base.js";
import { handleByteRangeRequestFromUint8Array } from "neuroglancer/unstable/kvstore/byte_range/file_handle.js";
import { decodeSkeletonChunk } from "neuroglancer/unstable/skeleton/decode_precomputed_skeleton.js";
import { DataType } from "neuroglancer/unstable/util/data_type.js";

const [dir, ...ids] = process.argv.slice(2);
const info = JSON.parse(fs.readFileSync(path.join(dir, "info"), "utf8"));
if (info["@type"] !== "neuroglancer_skeletons") throw new Error("not a skeleton info");
const types = { float32: DataType.FLOAT32, uint8: DataType.UINT8, int8: DataType.INT8,
  uint16: DataType.UINT16, int16: DataType.INT16, uint32: DataType.UINT32, int32: DataType.INT32 };
const arrays = { float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array,
  int16: Int16Array, uint32: Uint32Array, int32: Int32Array };
// What Neuroglancer's parseSkeletonMetadata makes of vertex_attributes.
const attrs = new Map();
for (const a of info.vertex_attributes ?? []) {
  attrs.set(a.id, { dataType: types[a.data_type], numComponents: a.num_components });
}

let sharded = null;
if (info.sharding) {
  const s = info.sharding;
  const store = {
    async read(key, options = {}) {
      const p = path.join(dir, key);
      if (!fs.existsSync(p)) return undefined;
      return handleByteRangeRequestFromUint8Array(new Uint8Array(fs.readFileSync(p)), options.byteRange);
    },
    async stat(key) {
      const p = path.join(dir, key);
      return fs.existsSync(p) ? { totalSize: fs.statSync(p).size } : undefined;
    },
    getUrl(key) { return "file://" + path.join(dir, key); },
  };
  const queueManager = new Proxy({ sources: new Set() }, { get: (t, p) => (p in t ? t[p] : () => {}) });
  const chunkManager = { queueManager, addRef() { return this; }, dispose() {} };
  sharded = new ShardedKvStore(chunkManager, { store, path: "" }, {
    hash: s.hash === "identity" ? ShardingHashFunction.IDENTITY : ShardingHashFunction.MURMURHASH3_X86_128,
    preshiftBits: s.preshift_bits, minishardBits: s.minishard_bits, shardBits: s.shard_bits,
    minishardIndexEncoding: s.minishard_index_encoding === "gzip" ? DataEncoding.GZIP : DataEncoding.RAW,
    dataEncoding: s.data_encoding === "gzip" ? DataEncoding.GZIP : DataEncoding.RAW,
  });
}

for (const id of ids) {
  let bytes;
  if (sharded) {
    const r = await sharded.read(BigInt(id), {});
    if (r) bytes = new Uint8Array(await r.response.arrayBuffer());
  } else if (fs.existsSync(path.join(dir, id))) {
    bytes = new Uint8Array(fs.readFileSync(path.join(dir, id)));
  } else if (fs.existsSync(path.join(dir, id + ".gz"))) {
    bytes = new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(dir, id + ".gz"))));
  }
  if (!bytes) {
    console.log(JSON.stringify({ id, missing: true }));
    continue;
  }
  const chunk = {};
  decodeSkeletonChunk(chunk, bytes.slice().buffer, attrs);
  const out = { id, vertices: Array.from(chunk.vertexPositions), edges: Array.from(chunk.indices) };
  let i = 0;
  for (const [name, a] of attrs) {
    const raw = chunk.vertexAttributes[i++];
    const T = arrays[(info.vertex_attributes.find((x) => x.id === name)).data_type];
    out[name] = Array.from(new T(raw.buffer, raw.byteOffset, raw.byteLength / T.BYTES_PER_ELEMENT));
  }
  console.log(JSON.stringify(out));
}
