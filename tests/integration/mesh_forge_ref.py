# SPDX-License-Identifier: BSD-3-Clause
"""mesh_forge_ref.py: shapes with known surfaces for `cvmpi mesh forge`, and an independent
reader of the legacy meshes it writes.

  shapes OUT.npy             the test volume (96x80x64 uint64, x,y,z Fortran order):
                             1 ball r=11, 2 box 10x12x14, 3 torus R=12 r=5, 4 and 5 boxes
                             sharing a face, 6 a 92x6x32 box across many tiles, 9 an 8^3 box
                             in a corner of the volume (touching three of its faces)
  check LAYER MESHDIR RES [--digest]
                             every manifest's fragments (gzip, as on file://) decoded by the
                             spec's layout; per label: fragments merged by vertex position,
                             every edge in exactly two triangles walked once each way
                             (closed, oriented, no cracks at tile borders), no vertex twice
                             in one fragment; prints one JSON line per label with the
                             volume and area in voxel units (positions / resolution) and,
                             with --digest, a hash of the merged surface (the same however
                             the label was cut into fragments)
  random OUT.npy X Y Z SEED  blobs of 12 labels in a zero border, for tiles of odd sizes
"""
import gzip
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np

SHAPE = (96, 80, 64)


def shapes():
    x, y, z = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    a = np.zeros(SHAPE, np.uint64)
    a[(x - 24) ** 2 + (y - 24) ** 2 + (z - 20) ** 2 <= 11**2] = 1
    a[50:60, 10:22, 8:22] = 2
    ring = np.sqrt((x - 70.0) ** 2 + (y - 55.0) ** 2) - 12.0
    a[ring**2 + (z - 40.0) ** 2 <= 5.0**2] = 3
    a[10:20, 50:60, 40:50] = 4
    a[20:28, 50:60, 40:50] = 5
    a[2:94, 2:8, 30:62] = 6
    a[0:8, 72:80, 56:64] = 9
    return a


def read_obj(path):
    if os.path.exists(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def decode(data, what):
    (nv,) = struct.unpack_from("<I", data, 0)
    rest = len(data) - 4 - 12 * nv
    if rest < 0 or rest % 12:
        raise SystemExit(f"{what}: bad length {len(data)} for {nv} vertices")
    v = np.frombuffer(data, "<f4", 3 * nv, 4).reshape(-1, 3)
    f = np.frombuffer(data, "<u4", rest // 4, 4 + 12 * nv).reshape(-1, 3)
    if f.size and f.max() >= nv:
        raise SystemExit(f"{what}: index past the vertices")
    return v, f


def check(layer, meshdir, res):
    d = os.path.join(layer, meshdir)
    labels = sorted(int(n[:-2]) for n in os.listdir(d) if n.endswith(":0"))
    ok = True
    for label in labels:
        with open(os.path.join(d, f"{label}:0")) as fh:
            names = json.load(fh)["fragments"]
        vs, fs, base = [], [], 0
        for n in names:
            v, f = decode(read_obj(os.path.join(d, n)), n)
            if len(np.unique(v, axis=0)) != len(v):
                print(f"label {label}: a vertex twice in {n}", file=sys.stderr)
                ok = False
            vs.append(v)
            fs.append(f + base)
            base += len(v)
        v = np.concatenate(vs)
        f = np.concatenate(fs)
        uniq, inv = np.unique(v, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        f = inv[f]
        directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        pairs = set(map(tuple, directed.tolist()))
        closed = len(pairs) == len(directed) and all((b, a) in pairs for a, b in pairs)
        p = uniq.astype(np.float64) / np.array(res, np.float64)
        a, b, c = p[f[:, 0]], p[f[:, 1]], p[f[:, 2]]
        volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)
        area = float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum() / 2)
        # the surface itself, whatever the fragments: triangles by position, each started at
        # its least vertex (orientation kept), sorted
        rot = np.argmin(f, axis=1)
        canon = np.stack([f[np.arange(len(f)), (rot + k) % 3] for k in range(3)], axis=1)
        canon = canon[np.lexsort(canon.T[::-1])]
        digest = hashlib.sha256(uniq.tobytes() + canon.astype("<u4").tobytes()).hexdigest()[:16]
        line = {"label": label, "fragments": len(names), "vertices": len(uniq),
                "faces": len(f), "closed": closed, "volume": round(volume, 6),
                "area": round(area, 6)}
        if "--digest" in sys.argv:
            line["surface"] = digest
        print(json.dumps(line))
        ok = ok and closed
    return ok


def main():
    if sys.argv[1] == "shapes":
        np.save(sys.argv[2], np.asfortranarray(shapes()))
        counts = np.bincount(shapes().reshape(-1).astype(np.int64))
        print(json.dumps({str(i): int(n) for i, n in enumerate(counts) if n and i}))
    elif sys.argv[1] == "random":
        dims = [int(v) for v in sys.argv[3:6]]
        rng = np.random.default_rng(int(sys.argv[6]))
        a = rng.integers(0, 12, size=dims).astype(np.uint64)
        # smooth blobs: a label holds its 2x2x2 block, then noise at 10 %
        a = np.repeat(np.repeat(np.repeat(a[::2, ::2, ::2], 2, 0), 2, 1), 2, 2)[: dims[0], : dims[1], : dims[2]]
        noise = rng.random(dims) < 0.1
        a[noise] = rng.integers(0, 12, size=int(noise.sum()))
        np.save(sys.argv[2], np.asfortranarray(a))
    elif sys.argv[1] == "check":
        res = [float(r) for r in sys.argv[4].split(",")]
        sys.exit(0 if check(sys.argv[2], sys.argv[3], res) else 1)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
