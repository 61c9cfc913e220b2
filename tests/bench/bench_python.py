#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""bench_python.py: reading and writing a 512x512x128 box through the Python binding, the
same calls from C in one process (bench_box, with --bench-box), the cvmpi command (`cvmpi
read`/`write`, one process per run) and, when it can be imported, CloudVolume, on one thread,
same layers, same run. Cases: uint8 raw without transport
compression, uint8 raw gzip (level 9, CloudVolume's default) and uint64
compressed_segmentation (gzip). Writes are of a Fortran-order array (the layout chunks store)
and of the same array in C order (NumPy's default; reordered once before the write). Prints one TSV line per measurement (best of --repeat) and
the binding/tool ratios against the targets (within 10 % of the tool; 3x CloudVolume). Each
tool run is a new process, so the tool's time is also given less its start-up (a 1-voxel read).

  CVMPI_LIBRARY=build/src/libcvmpi.so.0 bench_python.py --tool build/src/cvmpi
      [--bench-box build/tests/bench/bench_box] [--repeat N] [--size X,Y,Z]"""
import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))
import cvmpi  # noqa: E402

try:  # optional: the reference, not a dependency of the tests
    cloudvolume = importlib.import_module("cloudvolume")
except ImportError:
    cloudvolume = None


def image(shape, dtype, seed):
    """Smooth-ish microscopy-like uint8 data, or labels in blocks for segmentation."""
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij", sparse=True)
    if dtype == np.uint8:
        base = (x // 3 + y // 5 + z * 2) % 200
        return np.asfortranarray((base + rng.integers(0, 16, shape)).astype(np.uint8))
    labels = (x // 37) * 1000003 + (y // 29) * 1009 + (z // 11) + 2**40
    return np.asfortranarray(labels.astype(np.uint64))


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--bench-box", help="tests/bench/bench_box: the same calls from C")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", default="512,512,128")
    args = ap.parse_args()
    size = [int(v) for v in args.size.split(",")]
    work = tempfile.mkdtemp(prefix="bench-python-")
    rows, ratios = [], []
    try:
        for name, dtype, encoding, compress in (
                ("uint8 raw", np.uint8, "raw", "none"), ("uint8 raw gzip", np.uint8, "raw", "gzip"),
                ("uint64 cseg gzip", np.uint64, "compressed_segmentation", "gzip")):
            layer = os.path.join(work, name.replace(" ", "_"))
            info = cvmpi.CloudVolume.create_new_info(
                1, "segmentation" if dtype == np.uint64 else "image", np.dtype(dtype).name,
                encoding, [4, 4, 40], [0, 0, 0], size, chunk_size=[64, 64, 64])
            cvmpi.CloudVolume(layer, info=info).commit_info()
            arr = image(size, dtype, 1)
            npy = os.path.join(work, "in.npy")
            np.save(npy, arr)
            carr = np.ascontiguousarray(arr)
            npy_c = os.path.join(work, "in-c.npy")
            np.save(npy_c, carr)
            mb = arr.nbytes / 1e6
            box = "0,0,0,%d,%d,%d" % tuple(size)
            py_compress = False if compress == "none" else compress
            vol = cvmpi.CloudVolume(layer, compress=py_compress, parallel=1)

            def py_write():
                vol[0:size[0], 0:size[1], 0:size[2]] = arr

            def py_write_c():
                vol[0:size[0], 0:size[1], 0:size[2]] = carr

            def tool_write_c():
                subprocess.run([args.tool, "write", layer, "--bbox", box, "-i", npy_c,
                                "--compress", compress, "--threads", "1"], check=True)

            def py_read():
                vol[0:size[0], 0:size[1], 0:size[2]]

            def tool_write():
                subprocess.run([args.tool, "write", layer, "--bbox", box, "-i", npy,
                                "--compress", compress, "--threads", "1"], check=True)

            def tool_read():
                subprocess.run([args.tool, "read", layer, "--bbox", box, "--threads", "1",
                                "-o", "/dev/null", "--format", "raw"], check=True)

            def tool_start():
                subprocess.run([args.tool, "read", layer, "--bbox", "0,0,0,1,1,1",
                                "--fill-missing", "-o", "/dev/null", "--format", "raw"],
                               check=True)

            def c_library(op):
                out = subprocess.run([args.bench_box, layer, box, op, str(args.repeat),
                                      compress], check=True, stdout=subprocess.PIPE, text=True)
                return float(out.stdout)

            got = {}
            startup = best(tool_start, args.repeat)
            got["binding write"] = best(py_write, args.repeat)
            got["tool write"] = best(tool_write, args.repeat)
            got["binding write C-order"] = best(py_write_c, args.repeat)
            got["tool write C-order"] = best(tool_write_c, args.repeat)
            got["binding read"] = best(py_read, args.repeat)
            got["tool read"] = best(tool_read, args.repeat)
            if args.bench_box:
                got["C library write"] = c_library("write")
                got["C library read"] = c_library("read")
                got["C library read-new"] = c_library("read-new")
            if not np.array_equal(vol[0:size[0], 0:size[1], 0:size[2]][..., 0], arr):
                raise SystemExit("bench_python: %s read back differs" % name)
            if cloudvolume is not None:
                cv = cloudvolume.CloudVolume("file://" + layer, compress=py_compress,
                                             parallel=1, progress=False)

                def cv_write():
                    cv[0:size[0], 0:size[1], 0:size[2]] = arr

                def cv_write_c():
                    cv[0:size[0], 0:size[1], 0:size[2]] = carr

                def cv_read():
                    cv[0:size[0], 0:size[1], 0:size[2]]
                got["CloudVolume write"] = best(cv_write, args.repeat)
                got["CloudVolume write C-order"] = best(cv_write_c, args.repeat)
                got["CloudVolume read"] = best(cv_read, args.repeat)
            for what, secs in got.items():
                rows.append((name, what, secs, mb / secs))
            rows.append((name, "tool startup (1-voxel read)", startup, 0.0))
            for op in ("read", "write", "write C-order"):
                if args.bench_box and op != "write C-order":  # C is given Fortran order
                    ratios.append((name, op, "C library",
                                   got["C library " + op] / got["binding " + op]))
                    if op == "read":
                        ratios.append((name, op, "C library, a new buffer per read",
                                       got["C library read-new"] / got["binding read"]))
                ratios.append((name, op, "tool", got["tool " + op] / got["binding " + op]))
                ratios.append((name, op, "tool less its startup",
                               (got["tool " + op] - startup) / got["binding " + op]))
                if cloudvolume is not None:
                    ratios.append((name, op, "CloudVolume",
                                   got["CloudVolume " + op] / got["binding " + op]))
            shutil.rmtree(layer)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("C library read: one buffer reused; read-new: malloc'd for each read, as the binding "
          "allocates its array (NumPy asks for huge pages, malloc does not)")
    print("case\tmeasurement\tseconds\tMB/s")
    for r in rows:
        print("%s\t%s\t%.3f\t%.1f" % r)
    print()
    for name, op, other, ratio in ratios:
        target = 3.0 if other == "CloudVolume" else 0.9
        print("%s %s: binding speed / %s speed = %.2f (target >= %.1f) %s" % (
            name, op, other, ratio, target, "ok" if ratio >= target else "MISSED"))
    if cloudvolume is None:
        print("CloudVolume: not importable here, comparison skipped")


if __name__ == "__main__":
    main()
