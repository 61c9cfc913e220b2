#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""shard_ref.py: an independent reader and writer of the sharded format
neuroglancer_uint64_sharded_v1, written from Neuroglancer's sharded.md (shard index, delta-coded
minishard indexes, murmurhash3_x86_128 from Appleby's description) with nothing but the Python 3
standard library, for sharded_neuroglancer.sh. It shares no code with cvmpi.

  shard_ref.py payloads DIR N SEED          write N payload files DIR/<decimal key>
  shard_ref.py write SHARDS SPEC PAYLOADS [cv|ts]
                                            shard files from the payload files, keys in numeric
                                            order, CloudVolume (default) or TensorStore layout
  shard_ref.py read SHARDS SPEC OUT KEY...  OUT/<key> for each key found; prints MISSING lines
  shard_ref.py fuzzseed OUT SPEC PAYLOADS PROBE
                                            a fuzz_shard_index input: header + the one shard file
SPEC is the "sharding" JSON object; gzip members are written with mtime 0.
"""
import gzip
import json
import os
import random
import struct
import sys

MASK32 = 0xFFFFFFFF
MASK64 = (1 << 64) - 1


def _rotl32(x, r):
    return ((x << r) | (x >> (32 - r))) & MASK32


def _fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    h ^= h >> 16
    return h


def murmurhash3_x86_128(data, seed=0):
    """(h1, h2, h3, h4) of MurmurHash3_x86_128."""
    c = (0x239B961B, 0xAB0E9789, 0x38B34AE5, 0xA1E38B93)
    rot_k = (15, 16, 17, 18)
    rot_h = (19, 17, 15, 13)
    add_h = (0x561CCD1B, 0x0BCAA747, 0x96CD1C35, 0x32AC3B17)
    h = [seed, seed, seed, seed]

    def mix(i, k):
        k = (k * c[i]) & MASK32
        k = _rotl32(k, rot_k[i])
        return (k * c[(i + 1) % 4]) & MASK32

    nblocks = len(data) // 16
    for b in range(nblocks):
        ks = struct.unpack_from("<4I", data, 16 * b)
        for i in range(4):
            h[i] ^= mix(i, ks[i])
            h[i] = _rotl32(h[i], rot_h[i])
            h[i] = (h[i] + h[(i + 1) % 4]) & MASK32
            h[i] = (h[i] * 5 + add_h[i]) & MASK32
    tail = data[16 * nblocks:]
    ks = [0, 0, 0, 0]
    for i, byte in enumerate(tail):
        ks[i // 4] |= byte << (8 * (i % 4))
    for i in range(4):
        if len(tail) > 4 * i:
            h[i] ^= mix(i, ks[i])
    h = [x ^ (len(data) & MASK32) for x in h]
    h[0] = (h[0] + h[1] + h[2] + h[3]) & MASK32
    for i in (1, 2, 3):
        h[i] = (h[i] + h[0]) & MASK32
    h = [_fmix32(x) for x in h]
    h[0] = (h[0] + h[1] + h[2] + h[3]) & MASK32
    for i in (1, 2, 3):
        h[i] = (h[i] + h[0]) & MASK32
    return tuple(h)


class Spec:
    def __init__(self, text):
        d = json.loads(text)
        if d.get("@type") != "neuroglancer_uint64_sharded_v1":
            raise ValueError("bad @type")
        self.preshift = int(d["preshift_bits"])
        self.hash = d["hash"].lower()
        self.minishard_bits = int(d["minishard_bits"])
        self.shard_bits = int(d["shard_bits"])
        self.mi_gzip = d.get("minishard_index_encoding", "raw") == "gzip"
        self.data_gzip = d.get("data_encoding", "raw") == "gzip"
        self.index_bytes = 16 << self.minishard_bits

    def locate(self, key):
        x = key >> self.preshift if self.preshift < 64 else 0
        if self.hash == "murmurhash3_x86_128":
            h1, h2, _, _ = murmurhash3_x86_128(struct.pack("<Q", x))
            x = h1 | h2 << 32
        minishard = x & ((1 << self.minishard_bits) - 1)
        shard = (x >> self.minishard_bits) & ((1 << self.shard_bits) - 1)
        return shard, minishard

    def file_name(self, shard):
        width = (self.shard_bits + 3) // 4
        return format(shard, "x").zfill(width) + ".shard"


def _gzip(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def build_shard(spec, items, layout="cv"):
    """items: list of (key, bytes) of one shard, in the caller's order."""
    groups = {}  # minishard -> [(key, bytes)], in order of first appearance
    for key, value in items:
        groups.setdefault(spec.locate(key)[1], []).append((key, value))
    order = list(groups) if layout == "cv" else sorted(groups)
    index = [(0, 0)] * (1 << spec.minishard_bits)
    data = bytearray()

    def minishard_index(entries):
        ids, starts, sizes = [], [], []
        prev_key = prev_end = 0
        for key, start, end in entries:
            ids.append((key - prev_key) & MASK64)
            starts.append(start - prev_end)
            sizes.append(end - start)
            prev_key, prev_end = key, end
        raw = struct.pack("<%dQ" % (3 * len(entries)), *(ids + starts + sizes))
        return _gzip(raw) if spec.mi_gzip else raw

    ranges = {}
    for m in order:
        entries = []
        for key, value in sorted(groups[m], key=lambda kv: kv[0]):
            payload = _gzip(value) if spec.data_gzip else value
            entries.append((key, len(data), len(data) + len(payload)))
            data += payload
        ranges[m] = entries
        if layout == "ts":
            mi = minishard_index(entries)
            index[m] = (len(data), len(data) + len(mi))
            data += mi
    if layout == "cv":
        for m in order:
            mi = minishard_index(ranges[m])
            index[m] = (len(data), len(data) + len(mi))
            data += mi
    head = b"".join(struct.pack("<2Q", a, b) for a, b in index)
    return head + bytes(data)


def read_key(spec, shard_dir, key):
    """The value of key, or None; uses seeks like range requests."""
    shard, m = spec.locate(key)
    path = os.path.join(shard_dir, spec.file_name(shard))
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        f.seek(16 * m)
        start, end = struct.unpack("<2Q", f.read(16))
        if start == end:
            return None
        f.seek(spec.index_bytes + start)
        mi = f.read(end - start)
        if len(mi) != end - start:
            raise ValueError("%s: minishard index past the end" % path)
        if spec.mi_gzip:
            mi = gzip.decompress(mi)
        if len(mi) % 24:
            raise ValueError("%s: bad minishard index length %d" % (path, len(mi)))
        n = len(mi) // 24
        a = struct.unpack("<%dQ" % (3 * n), mi)
        k = end_prev = 0
        for i in range(n):
            k = (k + a[i]) & MASK64
            start = end_prev + a[n + i]
            end_prev = start + a[2 * n + i]
            if k == key:
                f.seek(spec.index_bytes + start)
                value = f.read(end_prev - start)
                if len(value) != end_prev - start:
                    raise ValueError("%s: chunk %d past the end" % (path, key))
                return gzip.decompress(value) if spec.data_gzip else value
    return None


def load_payloads(folder):
    keys = sorted(int(name) for name in os.listdir(folder))
    items = []
    for key in keys:
        with open(os.path.join(folder, str(key)), "rb") as f:
            items.append((key, f.read()))
    return items


def cmd_payloads(folder, n, seed):
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    keys = set()
    while len(keys) < n:
        kind = rng.randrange(4)
        if kind == 0:
            keys.add(rng.randrange(1 << 12))
        elif kind == 1:
            keys.add(rng.randrange(1 << 64))
        elif kind == 2:
            keys.add(rng.randrange(1 << 32))
        else:
            keys.add(MASK64 - rng.randrange(1000))
    for key in keys:
        size = rng.choice([0, 1, 7, rng.randrange(4096), rng.randrange(40000)])
        if rng.randrange(2):
            value = bytes(rng.randrange(256) for _ in range(size))
        else:
            value = (b"label %d " % key * (size // 8 + 1))[:size]
        with open(os.path.join(folder, str(key)), "wb") as f:
            f.write(value)


def cmd_write(shard_dir, spec_text, folder, layout="cv"):
    spec = Spec(spec_text)
    shards = {}
    for key, value in load_payloads(folder):
        shards.setdefault(spec.locate(key)[0], []).append((key, value))
    os.makedirs(shard_dir, exist_ok=True)
    for shard, items in shards.items():
        with open(os.path.join(shard_dir, spec.file_name(shard)), "wb") as f:
            f.write(build_shard(spec, items, layout))


def cmd_read(shard_dir, spec_text, out, keys):
    spec = Spec(spec_text)
    os.makedirs(out, exist_ok=True)
    for key in keys:
        value = read_key(spec, shard_dir, int(key))
        if value is None:
            print("key %s: MISSING" % key)
            continue
        with open(os.path.join(out, key), "wb") as f:
            f.write(value)


def cmd_fuzzseed(out, spec_text, folder, probe):
    spec = Spec(spec_text)
    if spec.shard_bits != 0 or spec.minishard_bits > 7 or spec.preshift > 64:
        raise ValueError("fuzz_shard_index takes shard_bits 0, minishard_bits <= 7")
    flags = (spec.hash == "murmurhash3_x86_128") | spec.mi_gzip << 1 | spec.data_gzip << 2
    flags |= spec.minishard_bits << 3
    head = bytes([flags, spec.preshift]) + struct.pack("<Q", int(probe))
    with open(out, "wb") as f:
        f.write(head + build_shard(spec, load_payloads(folder)))


def main(argv):
    if len(argv) >= 4 and argv[0] == "payloads":
        cmd_payloads(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) in (4, 5) and argv[0] == "write":
        cmd_write(*argv[1:])
    elif len(argv) >= 4 and argv[0] == "read":
        cmd_read(argv[1], argv[2], argv[3], argv[4:])
    elif len(argv) == 5 and argv[0] == "fuzzseed":
        cmd_fuzzseed(*argv[1:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
