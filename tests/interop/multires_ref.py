#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""multires_ref.py: multi-resolution (neuroglancer_multilod_draco) mesh layers written from
the format description with numpy and the standard library: the mesh info, the binary
manifest (chunk shape, grid origin, LOD scales, vertex offsets, fragment positions [3][n] and
sizes), the fragment data unsharded ("<id>.index" + "<id>") or in one shard file (identity
hash, raw; the minishard entry points at the manifest and the fragment data sits right before
it). Fragments are encoded by Draco's own encoder (draco_tool). The expected vertices follow
the spec's formula, then the info's transform.

  multires_ref.py make LAYER DRACO_TOOL SEGID SHARDED SEED   -> LAYER/expected_<SEGID>.json
  multires_ref.py check OUT.ply EXPECTED.json LOD             triangles equal (as sets)
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

BITS = 10
TRANSFORM = [8, 0, 0, 2, 0, 8, 0, 0, 0, 0, 40, 0]
CHUNK = [64.0, 64.0, 32.0]
ORIGIN = [0.0, 128.0, 0.0]


def place(q, lod, pos, offsets):
    """Stored-model coordinates (float32), then the transform (float32)."""
    s = np.empty((len(q), 3), np.float32)
    for j in range(3):
        s[:, j] = (ORIGIN[j] + offsets[lod][j] + CHUNK[j] * 2.0 ** lod *
                   (pos[j] + q[:, j].astype(np.float64) / (2 ** BITS - 1)))
    t = np.array(TRANSFORM, np.float64).reshape(3, 4)
    m = s.astype(np.float64) @ t[:, :3].T + t[:, 3]
    return m.astype(np.float32)


def make_fragment(rng, tool, work, name, quantize):
    nv = int(rng.integers(4, 12))
    q = rng.integers(0, 2 ** BITS, (nv, 3))
    faces = [(i, (i + 1) % nv, (i + 2) % nv) for i in range(nv - 2)]
    txt = os.path.join(work, name + ".txt")
    with open(txt, "w") as f:
        for p in q:
            f.write("v %d %d %d\n" % tuple(p))
        for t in faces:
            f.write("f %d %d %d\n" % t)
    drc = os.path.join(work, name + ".drc")
    subprocess.run([tool, txt, drc] + (["quantize"] if quantize else []), check=True)
    with open(drc, "rb") as f:
        return q, faces, f.read()


def cmd_make(layer, tool, segid, sharded, seed):
    rng = np.random.default_rng(int(seed))
    sharded = sharded == "1"
    with open(os.path.join(layer, "info")) as f:
        vinfo = json.load(f)
    vinfo["mesh"] = "mesh"
    with open(os.path.join(layer, "info"), "w") as f:
        json.dump(vinfo, f)
    d = os.path.join(layer, "mesh")
    os.makedirs(d, exist_ok=True)
    info = {"@type": "neuroglancer_multilod_draco", "vertex_quantization_bits": BITS,
            "transform": TRANSFORM, "lod_scale_multiplier": 1.0}
    if sharded:
        info["sharding"] = {"@type": "neuroglancer_uint64_sharded_v1", "hash": "identity",
                            "preshift_bits": 0, "minishard_bits": 0, "shard_bits": 0,
                            "minishard_index_encoding": "raw", "data_encoding": "raw"}
    with open(os.path.join(d, "info"), "w") as f:
        json.dump(info, f)
    # LOD 0: three nodes, the middle one empty (size 0); LOD 1: one node.
    lods = [[(0, 0, 0), (1, 0, 0), (0, 1, 1)], [(0, 0, 0)]]
    offsets = [[0.0, 0.0, 0.0], [0.5, 0.0, -1.0]]
    expected = {}
    data = b""
    sizes = []
    for lod, nodes in enumerate(lods):
        tris = []
        sz = []
        for i, pos in enumerate(nodes):
            if lod == 0 and i == 1:
                sz.append(0)
                continue
            q, faces, blob = make_fragment(rng, tool, layer, f"frag_{segid}_{lod}_{i}",
                                           quantize=(i == 2))
            v = place(q, lod, pos, offsets)
            tris += [[v[a].tolist(), v[b].tolist(), v[c].tolist()] for a, b, c in faces]
            sz.append(len(blob))
            data += blob
        expected[str(lod)] = tris
        sizes.append(sz)
    man = struct.pack("<3f3fI", *CHUNK, *ORIGIN, len(lods))
    man += struct.pack("<%df" % len(lods), *[2.0 ** i for i in range(len(lods))])
    man += struct.pack("<%df" % (3 * len(lods)), *[x for o in offsets for x in o])
    man += struct.pack("<%dI" % len(lods), *[len(n) for n in lods])
    for nodes, sz in zip(lods, sizes):
        # Z-order is ascending for these positions already.
        for j in range(3):
            man += struct.pack("<%dI" % len(nodes), *[p[j] for p in nodes])
        man += struct.pack("<%dI" % len(sz), *sz)
    assert len(man) == 28 + 20 * len(lods) + 16 * sum(len(n) for n in lods)
    if sharded:
        # One shard file: index (16 bytes), fragment data, manifest, minishard index.
        mstart = len(data)
        body = data + man
        mini = struct.pack("<3Q", int(segid), mstart, len(man))
        index = struct.pack("<2Q", len(body), len(body) + len(mini))
        with open(os.path.join(d, "0.shard"), "wb") as f:
            f.write(index + body + mini)
    else:
        with open(os.path.join(d, f"{segid}.index"), "wb") as f:
            f.write(man)
        with open(os.path.join(d, str(segid)), "wb") as f:
            f.write(data)
    with open(os.path.join(layer, f"expected_{segid}.json"), "w") as f:
        json.dump(expected, f)


def read_ply(path):
    with open(path, "rb") as f:
        data = f.read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    head = data[:end].decode().split("\n")
    nv, nf = int(head[2].split()[2]), int(head[6].split()[2])
    v = np.frombuffer(data, "<f4", 3 * nv, end).reshape(-1, 3)
    rec = np.frombuffer(data, "<i4", 4 * nf, end + 12 * nv).reshape(-1, 4)
    return v, rec[:, 1:]


def canon(tri):
    """A triangle up to rotation of its corners (orientation kept)."""
    t = [tuple(np.float32(x) for x in p) for p in tri]
    k = t.index(min(t))
    return tuple(t[k:] + t[:k])


def cmd_check(ply, expected, lod):
    with open(expected) as f:
        want = sorted(canon(t) for t in json.load(f)[lod])
    v, faces = read_ply(ply)
    got = sorted(canon([v[a], v[b], v[c]]) for a, b, c in faces)
    assert len(got) == len(want), (len(got), len(want))
    assert got == want, "triangles differ"
    print(f"lod {lod}: {len(got)} triangles placed as the spec says")


def main(argv):
    if argv and argv[0] == "make" and len(argv) == 6:
        cmd_make(*argv[1:])
    elif argv and argv[0] == "check" and len(argv) == 4:
        cmd_check(*argv[1:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
