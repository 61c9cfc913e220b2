#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""zfpc chunks written by cvmpi against zfpc containers built here from zfpy (Debian's
python3-zfpy, LLNL zfp 1.0.0's own Python binding) by the zfpc spec's rules:

  header: b"zfpc", version 0, dtype | mode << 3 | c_order << 7, u32 sizes of the (x, y, z, c)
  chunk, correlated-axis bits; index: u64 offset of the first stream, u64 size per stream;
  one zfpy.compress_numpy stream per position of the uncorrelated axes (Fortran order, x
  innermost) of the slice keeping the correlated axes.

Layers of several data types, shapes (edge chunks that are not multiples of 4, one-voxel-thin
chunks), channel counts and every mode are made with `cvmpi create --encoding zfpc` (the
zfpc_* members added to the scale) and `cvmpi write`; each stored chunk must equal the
container built here byte for byte, and `cvmpi read` must give what CloudVolume's decoder
gives (each stream decoded by zfpy into a float32 array, then cast to the layer's type).
`cvmpi transfer --encoding zfpc` of a raw layer must store the same chunks.

usage: zfpc_zfpy.py CVMPI WORKDIR       (exit 77: python3-zfpy is not installed)
"""
import json
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import zfpy
except ImportError:
    print("SKIP: python3-zfpy (or numpy) is not installed")
    sys.exit(77)

CVMPI, WORK = sys.argv[1], sys.argv[2]
TYPE_CODES = {"int32": 1, "int64": 2, "float32": 3, "float64": 4}


def mode_code(tolerance, precision, rate):
    if tolerance > -1:
        return 4
    if precision > -1:
        return 3
    if rate > -1:
        return 2
    return 5


def positions(shape, correlated):
    """Index tuples of every stream's slice, the first uncorrelated axis varying fastest."""
    ranges = [range(1) if correlated[a] else range(shape[a]) for a in range(4)]
    for w in ranges[3]:
        for z in ranges[2]:
            for y in ranges[1]:
                for x in ranges[0]:
                    idx = (x, y, z, w)
                    yield tuple(slice(None) if correlated[a] else idx[a] for a in range(4))


def zfpc_container(chunk, correlated, tolerance=-1.0, precision=-1.0, rate=-1.0):
    """The zfpc bytes of a Fortran-ordered (x, y, z, c) chunk."""
    assert chunk.ndim == 4 and chunk.flags.f_contiguous
    streams = []
    for slc in positions(chunk.shape, correlated):
        part = np.asfortranarray(chunk[slc])
        streams.append(zfpy.compress_numpy(part, tolerance=tolerance, rate=rate,
                                           precision=int(precision), write_header=True))
    c_order = sum(1 for s in chunk.shape if s > 1) <= 1
    head = b"zfpc" + bytes([0, TYPE_CODES[chunk.dtype.name]
                            | mode_code(tolerance, precision, rate) << 3 | c_order << 7])
    head += np.array(chunk.shape, dtype="<u4").tobytes()
    head += bytes([sum(1 << a for a in range(4) if correlated[a])])
    index = [len(head) + 8 * (1 + len(streams))] + [len(s) for s in streams]
    return head + np.array(index, dtype="<u8").tobytes() + b"".join(streams)


def cloudvolume_decode(data, shape, correlated, dtype):
    """What CloudVolume reads from a zfpc chunk: float32 streams, cast to the layer's type."""
    count = 1
    for a in range(4):
        if not correlated[a]:
            count *= shape[a]
    offset = int.from_bytes(data[23:31], "little")
    out = np.zeros(shape, dtype=np.float32, order="F")
    for k, slc in enumerate(positions(shape, correlated)):
        size = int.from_bytes(data[31 + 8 * k:39 + 8 * k], "little")
        out[slc] = zfpy.decompress_numpy(np.frombuffer(data[offset:offset + size], np.uint8))
        offset += size
    assert k + 1 == count
    return out.astype(dtype)


def run(*args):
    subprocess.run([CVMPI, "-q", *args], check=True)


def smooth(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    walk = np.cumsum(rng.normal(size=n)) * 5.3 + 100
    if dtype.startswith("int"):
        walk = np.round(walk * 40)
    return np.asfortranarray(walk.astype(dtype).reshape(shape, order="F"))


CASES = [
    # dtype, size, chunk, channels, scale members
    ("float32", (37, 22, 9), (16, 16, 8), 1, {}),
    ("float64", (21, 13, 6), (8, 8, 4), 2, {"zfpc_rate": 10}),
    ("float32", (18, 9, 5), (16, 4, 4), 3,
     {"zfpc_tolerance": 0.05, "zfpc_correlated_dims": [True, True, True, False]}),
    ("float64", (12, 12, 7), (12, 12, 7), 1,
     {"zfpc_precision": 18, "zfpc_correlated_dims": [True, True, False, True]}),
    ("float32", (9, 1, 17), (4, 1, 16), 2,
     {"zfpc_rate": 6.5, "zfpc_correlated_dims": [True, False, True, False]}),
    ("float32", (1, 1, 16), (1, 1, 16), 1, {}),  # numpy calls it C-contiguous too
    ("float64", (10, 6, 3), (5, 6, 3), 1, {"zfpc_tolerance": 0}),
]


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    checked = 0
    for n, (dtype, size, chunk, channels, members) in enumerate(CASES):
        layer = os.path.join(WORK, f"layer{n}")
        if n == 0:
            run("create", layer, "--type", "image", "--dtype", dtype,
                "--size", ",".join(map(str, size)), "--chunk", ",".join(map(str, chunk)),
                "--resolution", "4,4,40", "--channels", str(channels), "--encoding", "zfpc")
            with open(os.path.join(layer, "info")) as f:
                info = json.load(f)
        else:  # the same info with this case's numbers (one process less per case)
            os.makedirs(layer)
            info["data_type"], info["num_channels"] = dtype, channels
            info["scales"][0]["size"], info["scales"][0]["chunk_sizes"] = list(size), [chunk]
        for k in ("zfpc_rate", "zfpc_precision", "zfpc_tolerance", "zfpc_correlated_dims"):
            info["scales"][0].pop(k, None)
        info["scales"][0].update(members)
        with open(os.path.join(layer, "info"), "w") as f:
            json.dump(info, f)
        data = smooth(size + (channels,), dtype, n)
        np.save(os.path.join(WORK, "in.npy"), data)
        box = "0,0,0," + ",".join(map(str, size))
        run("write", layer, "--bbox", box, "-i", os.path.join(WORK, "in.npy"))
        correlated = members.get("zfpc_correlated_dims", [True] * 4)
        params = {k[5:]: v for k, v in members.items() if k != "zfpc_correlated_dims"}
        key = info["scales"][0]["key"]
        want_read = np.zeros_like(data)
        for x0 in range(0, size[0], chunk[0]):
            for y0 in range(0, size[1], chunk[1]):
                for z0 in range(0, size[2], chunk[2]):
                    x1, y1, z1 = (min(x0 + chunk[0], size[0]), min(y0 + chunk[1], size[1]),
                                  min(z0 + chunk[2], size[2]))
                    piece = np.asfortranarray(data[x0:x1, y0:y1, z0:z1, :])
                    want = zfpc_container(piece, correlated, **params)
                    name = f"{x0}-{x1}_{y0}-{y1}_{z0}-{z1}"
                    with open(os.path.join(layer, key, name), "rb") as f:
                        got = f.read()
                    if got != want:
                        sys.exit(f"FAIL case {n}: chunk {name}: {len(got)} bytes differ from "
                                 f"zfpy's {len(want)}")
                    want_read[x0:x1, y0:y1, z0:z1, :] = cloudvolume_decode(
                        got, piece.shape, correlated, dtype)
                    checked += 1
        out = os.path.join(WORK, "out.npy")
        run("read", layer, "--bbox", box, "-o", out)
        got_read = np.load(out)
        if got_read.ndim == 3:
            got_read = got_read[..., np.newaxis]
        if got_read.dtype != data.dtype or not np.array_equal(got_read, want_read):
            sys.exit(f"FAIL case {n}: cvmpi read differs from CloudVolume's decoding")
    # re-encoding a raw layer to zfpc stores the same chunks (case 0's data and parameters)
    dtype, size, chunk, channels, _ = CASES[0]
    raw = os.path.join(WORK, "raw")
    run("create", raw, "--type", "image", "--dtype", dtype, "--size", ",".join(map(str, size)),
        "--chunk", ",".join(map(str, chunk)), "--resolution", "4,4,40")
    np.save(os.path.join(WORK, "in.npy"), smooth(size + (channels,), dtype, 0))
    run("write", raw, "--bbox", "0,0,0," + ",".join(map(str, size)), "-i",
        os.path.join(WORK, "in.npy"))
    dst = os.path.join(WORK, "transferred")
    run("transfer", raw, dst, "--encoding", "zfpc")
    key = "4_4_40"
    names = sorted(os.listdir(os.path.join(WORK, "layer0", key)))
    if sorted(os.listdir(os.path.join(dst, key))) != names:
        sys.exit("FAIL transfer: other chunk names")
    for name in names:
        with open(os.path.join(dst, key, name), "rb") as a, \
                open(os.path.join(WORK, "layer0", key, name), "rb") as b:
            if a.read() != b.read():
                sys.exit(f"FAIL transfer: chunk {name} differs")
    print(f"ok: {checked} zfpc chunks byte-identical to zfpy's containers, reads as CloudVolume's, "
          f"transfer --encoding zfpc the same")


main()
