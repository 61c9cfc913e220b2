// SPDX-License-Identifier: BSD-3-Clause
// sharded_neuroglancer.mjs: read shard files with Neuroglancer's own ShardedKvStore (npm
// neuroglancer 2.41.2, datasource/precomputed/sharded.js; precomputed-sharded §3.3) in node,
// with no browser, for sharded_neuroglancer.sh. Every read goes through byte-range requests
// on a tiny local kvstore, as over HTTP.
// Usage: node sharded_neuroglancer.mjs SHARDS '<sharding JSON>' OUT KEY...
//   writes OUT/<key> for every key found and prints "key K: MISSING" for the others;
//   the last line counts the ranged reads. Exits 1 on any error (e.g. a corrupt index).
// Must sit next to the node_modules holding neuroglancer (the .sh copies it there).
import fs from "node:fs";
import path from "node:path";
import { ShardedKvStore } from "neuroglancer/unstable/datasource/precomputed/sharded.js";
import { ShardingHashFunction, DataEncoding } from "neuroglancer/unstable/datasource/precomputed/base.js";
import { handleByteRangeRequestFromUint8Array } from "neuroglancer/unstable/kvstore/byte_range/file_handle.js";

const [shardDir, specJson, outDir, ...keys] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node sharded_neuroglancer.mjs SHARDS SPEC OUT KEY...");
  process.exit(2);
}
const spec = JSON.parse(specJson);
const hashes = {
  identity: ShardingHashFunction.IDENTITY,
  murmurhash3_x86_128: ShardingHashFunction.MURMURHASH3_X86_128,
};
// The same fields Neuroglancer's frontend parses out of the info's "sharding" object.
const sharding = {
  hash: hashes[spec.hash.toLowerCase()],
  preshiftBits: spec.preshift_bits,
  minishardBits: spec.minishard_bits,
  shardBits: spec.shard_bits,
  minishardIndexEncoding: spec.minishard_index_encoding === "gzip" ? DataEncoding.GZIP : DataEncoding.RAW,
  dataEncoding: spec.data_encoding === "gzip" ? DataEncoding.GZIP : DataEncoding.RAW,
};

let reads = 0;
// A minimal kvstore over a directory that honours byte ranges like an HTTP server.
const store = {
  async read(key, options = {}) {
    const p = path.join(shardDir, key);
    if (!fs.existsSync(p)) return undefined;
    reads++;
    return handleByteRangeRequestFromUint8Array(new Uint8Array(fs.readFileSync(p)), options.byteRange);
  },
  async stat(key) {
    const p = path.join(shardDir, key);
    return fs.existsSync(p) ? { totalSize: fs.statSync(p).size } : undefined;
  },
  getUrl(key) {
    return "file://" + path.join(shardDir, key);
  },
};
// Only the chunk manager's queue is touched by ShardedKvStore's caches: a stub whose other
// methods are no-ops.
const queueManager = new Proxy({ sources: new Set() }, { get: (t, p) => (p in t ? t[p] : () => {}) });
const chunkManager = { queueManager, addRef() { return this; }, dispose() {} };
const sharded = new ShardedKvStore(chunkManager, { store, path: "" }, sharding);

fs.mkdirSync(outDir, { recursive: true });
let found = 0;
for (const k of keys) {
  const r = await sharded.read(BigInt(k), {});
  if (!r) {
    console.log(`key ${k}: MISSING`);
    continue;
  }
  const buf = new Uint8Array(await r.response.arrayBuffer());
  fs.writeFileSync(path.join(outDir, k), buf);
  found++;
}
console.log(`found ${found} of ${keys.length} keys; ranged reads: ${reads}`);
