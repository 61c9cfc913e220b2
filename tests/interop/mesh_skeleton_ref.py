#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""mesh_skeleton_ref.py: an independent reader/writer of precomputed meshes and skeletons,
written from the format description (legacy fragments and manifests, the binary skeleton
with the info's vertex attributes, CloudVolume's PLY/OBJ text and SWC rules) with numpy and
the standard library only. It shares no code with cvmpi; mesh_skeleton.sh uses it both ways.

  mesh_skeleton_ref.py mkmesh LAYER SEGID NFRAG SEED      legacy mesh: NFRAG fragments on a
                                                          grid sharing boundary vertices
  mesh_skeleton_ref.py checkply FILE.ply LAYER SEGID...   FILE is the consolidated union
  mesh_skeleton_ref.py checkobj FILE.obj LAYER SEGID      FILE is the plain concatenation
  mesh_skeleton_ref.py mkswc DIR N SEED                   N random trees DIR/<id>.swc
  mesh_skeleton_ref.py checkskel LAYER PATTERN SEGID...   stored skeleton (unsharded or,
                                                          with shard_ref.py, sharded) == the
                                                          SWC file PATTERN with {} = SEGID
  mesh_skeleton_ref.py checkjson FILE.jsonl PATTERN       skeletons decoded by Neuroglancer
                                                          (skeleton_neuroglancer.mjs) == SWC
"""
import gzip
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shard_ref  # noqa: E402  (the independent sharded reader)


def read_maybe_gz(path):
    if os.path.exists(path):
        with open(path, "rb") as f:
            return f.read()
    with gzip.open(path + ".gz", "rb") as f:
        return f.read()


# ---- legacy meshes ---------------------------------------------------------------------------


def encode_fragment(verts, faces):
    return (struct.pack("<I", len(verts)) + np.asarray(verts, "<f4").tobytes() +
            np.asarray(faces, "<u4").tobytes())


def decode_fragment(buf):
    nv = struct.unpack_from("<I", buf, 0)[0]
    assert len(buf) >= 4 + 12 * nv and (len(buf) - 4 - 12 * nv) % 12 == 0
    v = np.frombuffer(buf, "<f4", 3 * nv, 4).reshape(-1, 3)
    f = np.frombuffer(buf, "<u4", offset=4 + 12 * nv).reshape(-1, 3)
    assert (f < nv).all()
    return v, f


def layer_dir(layer, member, default):
    with open(os.path.join(layer, "info")) as f:
        info = json.load(f)
    return os.path.join(layer, info.get(member) or default)


def mesh_of(layer, segid):
    d = layer_dir(layer, "mesh", "mesh")
    manifest = json.loads(read_maybe_gz(os.path.join(d, f"{segid}:0")))
    vs, fs, n = [], [], 0
    for name in manifest["fragments"]:
        v, f = decode_fragment(read_maybe_gz(os.path.join(d, name)))
        vs.append(v)
        fs.append(f + n)
        n += len(v)
    return np.concatenate(vs), np.concatenate(fs)


def consolidate(v, f):
    """CloudVolume's Mesh.consolidate: np.unique over vertex rows and over remapped faces."""
    uv, inv = np.unique(v, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    uf = np.unique(inv[f], axis=0)
    return uv, uf


def cmd_mkmesh(layer, segid, nfrag, seed):
    rng = np.random.default_rng(int(seed))
    d = layer_dir(layer, "mesh", "mesh")
    os.makedirs(d, exist_ok=True)
    names = []
    for i in range(int(nfrag)):
        # A 4x4 grid of quads in the plane z = i/2 of cell i; neighbouring cells share their
        # boundary row of vertices (x = 8*(i+1)).
        g = np.stack(np.meshgrid(np.arange(5), np.arange(5), indexing="ij"), -1).reshape(-1, 2)
        v = np.zeros((25, 3), np.float32)
        v[:, 0] = g[:, 0] * 2 + 8 * i
        v[:, 1] = g[:, 1] * 2
        v[:, 2] = 40 + rng.integers(0, 2, 25) * 0.5 * (g[:, 0] % 4 != 0)
        faces = []
        for a in range(4):
            for b in range(4):
                p = a * 5 + b
                faces += [(p, p + 5, p + 6), (p, p + 6, p + 1)]
        perm = rng.permutation(25)
        inv = np.argsort(perm)
        name = f"{segid}:0:{i}-{i + 1}_0-1_0-1"
        with gzip.open(os.path.join(d, name + ".gz"), "wb") as f:
            f.write(encode_fragment(v[perm], inv[np.array(faces)]))
        names.append(name)
    with open(os.path.join(d, f"{segid}:0"), "w") as f:
        json.dump({"fragments": names}, f)


def read_ply(path):
    with open(path, "rb") as f:
        data = f.read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    head = data[:end].decode().split("\n")
    assert head[1] == "format binary_little_endian 1.0", head
    nv = int(head[2].split()[2])
    nf = int(head[6].split()[2])
    assert head[3:6] == ["property float x", "property float y", "property float z"]
    assert head[7] == "property list int int vertex_indices"
    v = np.frombuffer(data, "<f4", 3 * nv, end).reshape(-1, 3)
    rec = np.frombuffer(data, "<i4", 4 * nf, end + 12 * nv).reshape(-1, 4)
    assert (rec[:, 0] == 3).all() and len(data) == end + 12 * nv + 16 * nf
    return v, rec[:, 1:].astype(np.uint32)


def cmd_checkply(path, layer, *segids):
    parts = [mesh_of(layer, s) for s in segids]
    v = np.concatenate([p[0] for p in parts])
    off = np.cumsum([0] + [len(p[0]) for p in parts])[:-1]
    f = np.concatenate([p[1] + o for p, o in zip(parts, off)])
    want_v, want_f = consolidate(v, f)
    got_v, got_f = read_ply(path)
    assert got_v.shape == want_v.shape, (got_v.shape, want_v.shape)
    assert (got_v == want_v).all(), "vertices differ"
    assert (got_f == want_f).all(), "faces differ"
    print(f"ply ok: {len(got_v)} vertices (of {len(v)}), {len(got_f)} faces")


def cmd_checkobj(path, layer, segid):
    v, f = mesh_of(layer, segid)
    want = "".join(f"v {x:.5f} {y:.5f} {z:.5f}\n" for x, y, z in v.astype(float))
    want += "".join(f"f {a} {b} {c}\n" for a, b, c in (f.astype(np.int64) + 1))
    with open(path) as fh:
        got = fh.read()
    assert got == want, "obj text differs from CloudVolume's to_obj of the concatenation"
    print(f"obj ok: {len(v)} vertices, {len(f)} faces")


# ---- skeletons -------------------------------------------------------------------------------

DTYPES = {"float32": "<f4", "uint8": "u1", "int8": "i1", "uint16": "<u2", "int16": "<i2",
          "uint32": "<u4", "int32": "<i4"}


def decode_skeleton(buf, attrs):
    nv, ne = struct.unpack_from("<II", buf, 0)
    v = np.frombuffer(buf, "<f4", 3 * nv, 8).reshape(-1, 3)
    e = np.frombuffer(buf, "<u4", 2 * ne, 8 + 12 * nv).reshape(-1, 2)
    off = 8 + 12 * nv + 8 * ne
    out = {}
    if off != len(buf):
        for a in attrs:
            dt = np.dtype(DTYPES[a["data_type"]])
            n = nv * a["num_components"]
            out[a["id"]] = np.frombuffer(buf, dt, n, off).reshape(nv, -1)
            off += n * dt.itemsize
    assert off == len(buf), "length mismatch"
    assert (e < nv).all()
    return v, e, out


def parse_swc(text):
    """osteoid's from_swc, written from its description."""
    lines = text.split("\n")
    while lines and (lines[0] == "" or lines[0][0] in "# \t"):
        lines.pop(0)
    rows = [ln.split(" ") for ln in lines if ln != ""]
    index = {int(r[0]): i for i, r in enumerate(rows)}
    v = np.array([[float(x) for x in r[2:5]] for r in rows], np.float32).reshape(-1, 3)
    types = np.array([int(r[1]) for r in rows], np.uint8)
    radius = []
    for r in rows:
        try:
            radius.append(float(r[5]))
        except ValueError:
            radius.append(-1.0)
    edges = [sorted((int(r[0]), int(r[6]))) for r in rows if int(r[6]) >= 0]
    e = np.array([[index[a], index[b]] for a, b in edges], np.uint32).reshape(-1, 2)
    return v, e, {"radius": np.array(radius, np.float32).reshape(-1, 1),
                  "vertex_types": types.reshape(-1, 1)}


def canonical(v, e, attrs):
    """The skeleton as sets: vertices with attributes, edges between positions."""
    vs = sorted(tuple(v[i].tolist()) + tuple(float(attrs[k][i][0]) for k in sorted(attrs))
                for i in range(len(v)))
    es = sorted(tuple(sorted((tuple(v[a].tolist()), tuple(v[b].tolist())))) for a, b in e)
    return vs, es


def cmd_mkswc(folder, n, seed):
    rng = np.random.default_rng(int(seed))
    os.makedirs(folder, exist_ok=True)
    ids = sorted(set(int(x) for x in rng.integers(1, 2**50, int(n))))
    for segid in ids:
        nv = int(rng.integers(2, 40))
        lines = ["# generated"]
        for i in range(nv):
            parent = -1 if i == 0 else int(rng.integers(0, i)) + 1
            x, y, z = rng.integers(0, 4000, 3) * 0.25
            lines.append(f"{i + 1} {int(rng.integers(0, 5))} {x} {y} {z} "
                         f"{float(rng.integers(1, 100)) / 8} {parent}")
        with open(os.path.join(folder, f"{segid}.swc"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print(len(ids))


def cmd_checkskel(layer, pattern, *segids):
    for segid in segids:
        check_one_skeleton(layer, segid, pattern.replace("{}", segid))
    print(f"{len(segids)} skeletons ok")


def check_one_skeleton(layer, segid, swc):
    d = layer_dir(layer, "skeletons", "skeletons")
    with open(os.path.join(d, "info")) as f:
        info = json.load(f)
    attrs = info.get("vertex_attributes") or []
    if info.get("sharding"):
        spec = shard_ref.Spec(json.dumps(info["sharding"]))
        buf = shard_ref.read_key(spec, d, int(segid))
        assert buf is not None, f"{segid} missing from the shards"
    else:
        buf = read_maybe_gz(os.path.join(d, str(segid)))
    v, e, a = decode_skeleton(buf, attrs)
    with open(swc) as f:
        want = parse_swc(f.read())
    assert canonical(v, e, a) == canonical(*want), f"skeleton {segid} differs from {swc}"


def cmd_checkjson(jsonl, pattern):
    n = 0
    with open(jsonl) as fh:
        for line in fh:
            d = json.loads(line)
            assert not d.get("missing"), f"Neuroglancer did not find skeleton {d['id']}"
            v = np.array(d["vertices"], np.float32).reshape(-1, 3)
            e = np.array(d["edges"], np.uint32).reshape(-1, 2)
            a = {"radius": np.array(d["radius"], np.float32).reshape(-1, 1),
                 "vertex_types": np.array(d["vertex_types"], np.uint8).reshape(-1, 1)}
            with open(pattern.replace("{}", d["id"])) as f:
                want = parse_swc(f.read())
            assert canonical(v, e, a) == canonical(*want), f"skeleton {d['id']} differs"
            n += 1
    assert n > 0
    print(f"{n} skeletons decoded by Neuroglancer match")


def main(argv):
    cmds = {"checkjson": cmd_checkjson, "mkmesh": cmd_mkmesh, "checkply": cmd_checkply, "checkobj": cmd_checkobj,
            "mkswc": cmd_mkswc, "checkskel": cmd_checkskel}
    if not argv or argv[0] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    cmds[argv[0]](*argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
