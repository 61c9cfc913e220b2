#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# mesh_merge_ref.py: inputs and checks for `cvmpi mesh merge-sharded` tests.
#   legacy LAYER N SEED   write N spheres (ids 1000+i) into LAYER's mesh directory as legacy
#                         meshes, each cut by the plane x = centre into two fragments
#                         "<id>:0:a"/"<id>:0:b" that share the seam vertices (as meshing
#                         tasks do), plus the "<id>:0" manifests; prints the ids.
#   near PLY LAYER ID TOL every vertex of the original sphere ID has a vertex of PLY (binary
#                         little-endian, as cvmpi mesh get writes) within TOL nm, and every
#                         vertex of PLY lies within TOL of the sphere's polyhedron's bounding
#                         radius band.
import json
import os
import struct
import sys

import numpy as np


def icosphere(level):
    t = (1 + 5 ** 0.5) / 2
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t),
         (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
         (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
         (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    v = [np.array(p, float) / np.linalg.norm(p) for p in v]
    for _ in range(level):
        mid = {}
        nf = []
        for a, b, c in f:
            m = []
            for x, y in ((a, b), (b, c), (c, a)):
                key = (min(x, y), max(x, y))
                if key not in mid:
                    p = v[x] + v[y]
                    v.append(p / np.linalg.norm(p))
                    mid[key] = len(v) - 1
                m.append(mid[key])
            nf += [(a, m[0], m[2]), (b, m[1], m[0]), (c, m[2], m[1]), (m[0], m[1], m[2])]
        f = nf
    return np.array(v), np.array(f, dtype=np.uint32)


def sphere(i, seed):
    rng = np.random.default_rng(seed + i)
    centre = rng.uniform([2000, 2000, 2000], [14000, 14000, 8000])
    radius = rng.uniform(600, 2500)
    v, f = icosphere(3 + (i % 2))
    return (centre + radius * v).astype(np.float32), f, centre, radius


def fragment(v, f):
    used = np.unique(f)
    remap = np.full(len(v), -1, np.int64)
    remap[used] = np.arange(len(used))
    return (struct.pack("<I", len(used)) + v[used].astype("<f4").tobytes()
            + remap[f].astype("<u4").tobytes())


def legacy(layer, n, seed):
    d = os.path.join(layer, "mesh")
    os.makedirs(d, exist_ok=True)
    ids = []
    for i in range(n):
        sid = 1000 + i
        v, f, centre, _ = sphere(i, seed)
        cx = v[f][:, :, 0].mean(axis=1)
        parts = {"a": f[cx < centre[0]], "b": f[cx >= centre[0]]}
        for name, part in parts.items():
            with open(os.path.join(d, f"{sid}:0:{name}"), "wb") as fh:
                fh.write(fragment(v, part))
        with open(os.path.join(d, f"{sid}:0"), "w") as fh:
            json.dump({"fragments": [f"{sid}:0:a", f"{sid}:0:b"]}, fh)
        ids.append(sid)
    with open(os.path.join(d, "info"), "w") as fh:
        fh.write('{"@type": "neuroglancer_legacy_mesh", "mip": 0, "spatial_index": null}')
    print("\n".join(str(i) for i in ids))


def read_ply(path):
    data = open(path, "rb").read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    head = data[:end].decode()
    nv = int(head.split("element vertex ")[1].split()[0])
    return np.frombuffer(data[end:end + 12 * nv], "<f4").reshape(-1, 3)


def near(ply, seed, sid, tol):
    i = sid - 1000
    v, _, centre, radius = sphere(i, seed)
    got = read_ply(ply).astype(float)
    worst = 0.0
    for p in v.astype(float):
        worst = max(worst, np.sqrt(((got - p) ** 2).sum(axis=1).min()))
    r = np.sqrt(((got - centre) ** 2).sum(axis=1))
    if worst > tol or r.max() > radius + tol:
        print(f"{sid}: farthest input vertex {worst} nm, outermost {r.max()} (radius {radius})")
        return 1
    print(f"{sid}: farthest input vertex {worst:.4f} nm")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "legacy":
        legacy(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "near":
        sys.exit(near(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])))
    else:
        sys.exit(f"unknown command {cmd}")
