// SPDX-License-Identifier: BSD-3-Clause
// multires_neuroglancer.mjs: read multi-resolution meshes the way Neuroglancer does (npm
// neuroglancer 2.41.2) in node: the manifest through ShardedKvStore.readWithShardInfo (sharded)
// or "<id>.index", checked as decodeMultiscaleManifestChunk checks it (length rule, Z-order of
// every level with Neuroglancer's zorder3LessThan), each fragment fetched by the byte range
// downloadFragment computes and decoded by Neuroglancer's own Draco module
// (decodeDracoPartitioned; levels above 0 split into octants, which fails if a triangle
// crosses a child boundary).
// Usage: node multires_neuroglancer.mjs MESH_DIR OUT ID...
//   writes OUT/<id>.<lod>.json = {"triangles": n, "vertices": [x, y, z, ...]} (placed in nm by
//   the spec's formula and the info's transform, one entry per decoded vertex) and prints one
//   line per id; exits 1 on any error. Must sit next to the node_modules holding neuroglancer.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ShardedKvStore } from "neuroglancer/unstable/datasource/precomputed/sharded.js";
import { ShardingHashFunction, DataEncoding } from "neuroglancer/unstable/datasource/precomputed/base.js";
import { handleByteRangeRequestFromUint8Array } from "neuroglancer/unstable/kvstore/byte_range/file_handle.js";
import { decodeDracoPartitioned } from "neuroglancer/unstable/mesh/draco/index.js";
import { zorder3LessThan } from "neuroglancer/unstable/util/zorder.js";

// The Draco module fetches its .wasm next to itself: serve file: URLs from disk.
const realFetch = globalThis.fetch;
globalThis.fetch = async (url, init) => {
  const u = new URL(url);
  if (u.protocol !== "file:") return realFetch(url, init);
  return new Response(fs.readFileSync(fileURLToPath(u)), { headers: { "content-type": "application/wasm" } });
};

const [meshDir, outDir, ...ids] = process.argv.slice(2);
const info = JSON.parse(fs.readFileSync(path.join(meshDir, "info"), "utf8"));
if (info["@type"] !== "neuroglancer_multilod_draco") throw new Error(`@type ${info["@type"]}`);
const bits = info.vertex_quantization_bits;
const transform = info.transform;
const store = {
  async read(key, options = {}) {
    const p = path.join(meshDir, key);
    if (!fs.existsSync(p)) return undefined;
    return handleByteRangeRequestFromUint8Array(new Uint8Array(fs.readFileSync(p)), options.byteRange);
  },
  async stat(key) {
    const p = path.join(meshDir, key);
    return fs.existsSync(p) ? { totalSize: fs.statSync(p).size } : undefined;
  },
  getUrl(key) {
    return "file://" + path.join(meshDir, key);
  },
};
let sharded;
if (info.sharding) {
  const s = info.sharding;
  const queueManager = new Proxy({ sources: new Set() }, { get: (t, p) => (p in t ? t[p] : () => {}) });
  const chunkManager = { queueManager, addRef() { return this; }, dispose() {} };
  sharded = new ShardedKvStore(chunkManager, { store, path: "" }, {
    hash: s.hash.toLowerCase() === "identity" ? ShardingHashFunction.IDENTITY : ShardingHashFunction.MURMURHASH3_X86_128,
    preshiftBits: s.preshift_bits,
    minishardBits: s.minishard_bits,
    shardBits: s.shard_bits,
    minishardIndexEncoding: s.minishard_index_encoding === "gzip" ? DataEncoding.GZIP : DataEncoding.RAW,
    dataEncoding: s.data_encoding === "gzip" ? DataEncoding.GZIP : DataEncoding.RAW,
  });
}

fs.mkdirSync(outDir, { recursive: true });
for (const id of ids) {
  let manifestBytes, shardInfo;
  if (sharded) {
    const r = await sharded.readWithShardInfo(BigInt(id), {});
    if (!r) throw new Error(`${id}: not in the shards`);
    manifestBytes = await r.response.response.arrayBuffer();
    shardInfo = r.shardInfo;
  } else {
    manifestBytes = new Uint8Array(fs.readFileSync(path.join(meshDir, `${id}.index`))).slice().buffer;
  }
  const dv = new DataView(manifestBytes);
  if (manifestBytes.byteLength < 28 || manifestBytes.byteLength % 4 !== 0) throw new Error(`${id}: Invalid index file size`);
  const f32 = (o) => dv.getFloat32(o, true), u32 = (o) => dv.getUint32(o, true);
  const chunkShape = [f32(0), f32(4), f32(8)], origin = [f32(12), f32(16), f32(20)];
  const lods = u32(24);
  let o = 28;
  const scales = [], offsets = [], counts = [];
  for (let l = 0; l < lods; l++) scales.push(f32(o + 4 * l));
  o += 4 * lods;
  for (let l = 0; l < lods; l++) offsets.push([f32(o + 12 * l), f32(o + 12 * l + 4), f32(o + 12 * l + 8)]);
  o += 12 * lods;
  for (let l = 0; l < lods; l++) counts.push(u32(o + 4 * l));
  o += 4 * lods;
  const total = counts.reduce((a, b) => a + b, 0);
  if (manifestBytes.byteLength !== o + 16 * total) throw new Error(`${id}: Invalid index file size for ${lods} lods and ${total} total fragments`);
  const frags = [];
  let dataSize = 0;
  for (let l = 0; l < lods; l++) {
    const n = counts[l];
    for (let i = 0; i < n; i++) {
      const p = [u32(o + 4 * i), u32(o + 4 * (n + i)), u32(o + 4 * (2 * n + i))];
      const size = u32(o + 4 * (3 * n + i));
      if (i > 0) {
        const q = frags[frags.length - 1].pos;
        if (!zorder3LessThan(q[0], q[1], q[2], p[0], p[1], p[2])) throw new Error(`${id}: lod ${l} fragment ${i} out of Z-order`);
      }
      frags.push({ lod: l, pos: p, start: dataSize, size });
      dataSize += size;
    }
    o += 16 * n;
  }
  const qmax = 2 ** bits - 1;
  const perLod = Array.from({ length: lods }, () => ({ triangles: 0, vertices: [] }));
  for (const f of frags) {
    if (f.size === 0) continue;
    // downloadFragment's byte range
    let buf;
    if (sharded) {
      const start = shardInfo.offset - dataSize + f.start;
      const r = await store.read(shardInfo.shardPath, { byteRange: { offset: start, length: f.size } });
      buf = new Uint8Array(await r.response.arrayBuffer());
    } else {
      const r = await store.read(`${id}`, { byteRange: { offset: f.start, length: f.size } });
      buf = new Uint8Array(await r.response.arrayBuffer());
    }
    const mesh = await decodeDracoPartitioned(buf, bits, f.lod !== 0);
    const out = perLod[f.lod];
    out.triangles += mesh.indices.length / 3;
    // Neuroglancer gives each triangle of a level above 0 to the first octant all three
    // corners fit (a coordinate below 2^(bits-1) fits only the lower half, above it only the
    // upper, equal both): a triangle that fits none crosses a child boundary.
    const half = 2 ** (bits - 1);
    for (let t = 0; f.lod !== 0 && t < mesh.indices.length; t += 3) {
      for (let d = 0; d < 3; d++) {
        const c = [0, 1, 2].map((k) => mesh.vertexPositions[3 * mesh.indices[t + k] + d]);
        if (Math.min(...c) < half && Math.max(...c) > half) {
          throw new Error(`${id}: lod ${f.lod} fragment at ${f.pos}: a triangle crosses a child boundary (axis ${d})`);
        }
      }
    }
    const scale = 2 ** f.lod;
    for (let v = 0; v < mesh.vertexPositions.length / 3; v++) {
      const m = [0, 1, 2].map((d) => origin[d] + offsets[f.lod][d] + chunkShape[d] * scale * (f.pos[d] + mesh.vertexPositions[3 * v + d] / qmax));
      for (let r = 0; r < 3; r++) {
        out.vertices.push(transform[4 * r] * m[0] + transform[4 * r + 1] * m[1] + transform[4 * r + 2] * m[2] + transform[4 * r + 3]);
      }
    }
  }
  for (let l = 0; l < lods; l++) fs.writeFileSync(path.join(outDir, `${id}.${l}.json`), JSON.stringify(perLod[l]));
  console.log(`${id}: ${lods} lods, ${frags.length} fragments, triangles ${perLod.map((x) => x.triangles).join(" ")}`);
}
