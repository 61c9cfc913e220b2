// SPDX-License-Identifier: BSD-3-Clause
// mesh_forge_neuroglancer.mjs: read legacy meshes the way Neuroglancer does (npm neuroglancer
// 2.41.2, in node): the manifest "<id>:0" through decodeManifestChunk, each fragment it names
// ("<name>", or "<name>.gz" decompressed as a server would send it) through the precomputed
// backend's decodeFragmentChunk. For mesh_forge_neuroglancer.sh.
// Usage: node mesh_forge_neuroglancer.mjs MESH_DIR RX,RY,RZ ID...  -> one JSON line per id:
//   {"id", "fragments", "faces", "volume"} (volume: signed, in voxels, from the decoded
//   float32 positions divided by the resolution) or {"id", "missing": true}
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

// The precomputed backend sizes a worker pool from navigator, which node 20 does not have.
globalThis.navigator ??= { hardwareConcurrency: 2 };
const { decodeFragmentChunk, decodeManifestChunk } = await import(
  "neuroglancer/unstable/datasource/precomputed/backend.js");

const [dir, resText, ...ids] = process.argv.slice(2);
const res = resText.split(",").map(Number);
function readObject(name) {
  const p = path.join(dir, name);
  if (fs.existsSync(p)) return fs.readFileSync(p);
  if (fs.existsSync(p + ".gz")) return zlib.gunzipSync(fs.readFileSync(p + ".gz"));
  return undefined;
}
for (const id of ids) {
  const manifest = readObject(`${id}:0`);
  if (!manifest) {
    console.log(JSON.stringify({ id, missing: true }));
    continue;
  }
  const chunk = {};
  decodeManifestChunk(chunk, JSON.parse(manifest.toString("utf8")));
  let faces = 0, volume = 0;
  for (const name of chunk.fragmentIds) {
    const bytes = readObject(name);
    if (!bytes) throw new Error(`${id}: fragment ${name} missing`);
    const frag = {};
    decodeFragmentChunk(frag, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    const v = frag.meshData.vertexPositions, f = frag.meshData.indices;
    faces += f.length / 3;
    const p = (i, d) => v[3 * i + d] / res[d];
    for (let t = 0; t < f.length; t += 3) {
      const [a, b, c] = [f[t], f[t + 1], f[t + 2]];
      volume += (p(a, 0) * (p(b, 1) * p(c, 2) - p(b, 2) * p(c, 1)) -
                 p(a, 1) * (p(b, 0) * p(c, 2) - p(b, 2) * p(c, 0)) +
                 p(a, 2) * (p(b, 0) * p(c, 1) - p(b, 1) * p(c, 0))) / 6;
    }
  }
  console.log(JSON.stringify({ id, fragments: chunk.fragmentIds.length, faces,
                               volume: Math.round(volume * 1e6) / 1e6 }));
}
