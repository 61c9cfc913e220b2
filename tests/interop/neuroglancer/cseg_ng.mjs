// SPDX-License-Identifier: BSD-3-Clause
// cseg_ng.mjs: Neuroglancer's own compressed_segmentation codec (npm neuroglancer 2.41.2,
// sliceview/compressed_segmentation; precomputed-volume spec §5.5) in node, for
// cseg_neuroglancer.sh. Usage: node cseg_ng.mjs JOBS.json, where JOBS.json is a list of
//   {"op": "encode"|"decode", "dtype": "uint32"|"uint64", "size": [x, y, z, c],
//    "block": [bx, by, bz], "input": PATH, "output": PATH}
// encode reads raw labels (x fastest, channel slowest, little-endian) and writes
// Neuroglancer's encoding; decode does the reverse. Exits 1 on the first failure.
import { readFileSync, writeFileSync } from "node:fs";
import { encodeChannels } from "neuroglancer/unstable/sliceview/compressed_segmentation/encode_uint32.js";
import { encodeChannels as encodeChannels64 } from "neuroglancer/unstable/sliceview/compressed_segmentation/encode_uint64.js";
import { decodeChannels } from "neuroglancer/unstable/sliceview/compressed_segmentation/decode_uint32.js";
import { decodeChannels as decodeChannels64 } from "neuroglancer/unstable/sliceview/compressed_segmentation/decode_uint64.js";
import { TypedArrayBuilder } from "neuroglancer/unstable/util/array.js";

if (process.argv.length !== 3) {
  console.error("usage: node cseg_ng.mjs JOBS.json");
  process.exit(2);
}

// A typed-array view of a file's bytes (copied, so the view is aligned); the host is LE.
function readTyped(path, Cls) {
  const bytes = readFileSync(path);
  if (bytes.length % Cls.BYTES_PER_ELEMENT !== 0) {
    throw new Error(`${path}: ${bytes.length} bytes is not a whole number of ${Cls.name} elements`);
  }
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Cls(copy.buffer, 0, bytes.length / Cls.BYTES_PER_ELEMENT);
}

function writeTyped(path, arr) {
  writeFileSync(path, Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength));
}

const jobs = JSON.parse(readFileSync(process.argv[2], "utf8"));
for (const job of jobs) {
  const is64 = job.dtype === "uint64";
  if (!is64 && job.dtype !== "uint32") {
    throw new Error(`bad dtype ${job.dtype}`);
  }
  const size = job.size, block = job.block;
  try {
    if (job.op === "encode") {
      const raw = readTyped(job.input, is64 ? BigUint64Array : Uint32Array);
      const out = new TypedArrayBuilder(Uint32Array);
      (is64 ? encodeChannels64 : encodeChannels)(out, block, raw, size);
      writeTyped(job.output, out.view);
    } else if (job.op === "decode") {
      const enc = readTyped(job.input, Uint32Array);
      const n = size[0] * size[1] * size[2] * size[3];
      const out = is64 ? new BigUint64Array(n) : new Uint32Array(n);
      (is64 ? decodeChannels64 : decodeChannels)(out, enc, 0, size, block);
      writeTyped(job.output, out);
    } else {
      throw new Error(`bad op ${job.op}`);
    }
  } catch (err) {
    console.error(`cseg_ng.mjs: ${job.op} ${job.input}: ${err.stack || err}`);
    process.exit(1);
  }
}
console.log(`cseg_ng.mjs: ${jobs.length} jobs done`);
