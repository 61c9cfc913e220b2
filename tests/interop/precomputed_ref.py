#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""precomputed_ref.py: an independent reader/writer of unsharded `raw` Neuroglancer
Precomputed volumes, written straight from the specification
(precomputed-volume.md sections 1-4, 5.1 and 6; cloudvolume-conventions.md section 6/7).
It shares no code with cvmpi and needs only Python 3 and NumPy.

Subcommands:
  info  LAYER [layer options]        write only the info file, as CloudVolume's create_new_info
                                     followed by commit_info would
  make  LAYER [layer options] [--seed S] [--gzip]
                                     write the info file and every chunk of a random volume
                                     (raw encoding, clipped edge chunks; --gzip adds the CloudFiles
                                     .gz suffix), and save the whole array as
                                     LAYER.expected.npy (shape X,Y,Z,C, Fortran order)
  check LAYER ARRAY.npy [--mip M] [--bbox X0,Y0,Z0,X1,Y1,Z1] [--strict]
                                     read a box of a layer written by anyone and compare it
                                     exactly with ARRAY; --strict also checks that the scale
                                     directory holds nothing but correctly named chunks
  compare EXPECTED.npy ACTUAL... [--origin X,Y,Z] [--bbox X0,Y0,Z0,X1,Y1,Z1]
                                     compare each ACTUAL (a .npy file, or raw little-endian bytes
                                     in Fortran order) with the box of EXPECTED (whose voxel
                                     [0,0,0] sits at --origin); ACTUAL may be FILE:X0,Y0,Z0,X1,Y1,Z1
                                     to give its own box
  npy   OUT.npy --dtype T --shape X,Y,Z[,C] [--seed S] [--order F|C]
                                     save a random array in the given memory order

Layer options: --dtype T --size X,Y,Z [--offset X,Y,Z] [--chunk X,Y,Z] [--channels C]
               [--resolution X,Y,Z] [--type image|segmentation]

Exit status: 0 success, 1 mismatch or unreadable layer (with a message on stderr), 2 usage.
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np

try:
    import brotli  # optional: only needed for .br chunks
except ImportError:  # pragma: no cover - depends on the host
    brotli = None

DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
          "float32", "float64")
# Storage suffixes probed on read, in the CloudFiles order (precomputed-volume.md section 6).
SUFFIXES = ("", ".gz", ".br", ".zstd", ".xz", ".bz2")


class LayerError(Exception):
    """The layer cannot be read (bad info, missing or corrupt chunk)."""


# ---- small parsers ------------------------------------------------------------------------------

def triple(text, what, minimum=None):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("%s: want X,Y,Z integers, got %r" % (what, text))
    if len(values) != 3:
        raise argparse.ArgumentTypeError("%s: want 3 integers, got %r" % (what, text))
    if minimum is not None and min(values) < minimum:
        raise argparse.ArgumentTypeError("%s: each value must be >= %d" % (what, minimum))
    return values


def box6(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("bbox: want X0,Y0,Z0,X1,Y1,Z1, got %r" % text)
    if len(values) != 6:
        raise argparse.ArgumentTypeError("bbox: want 6 integers, got %r" % text)
    return values[:3], values[3:]


def resolution(text):
    """CloudVolume keeps a resolution as ints when no component has decimals, else as floats
    (precomputed-volume.md 2.5); the key is "_".join(str(r))."""
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("resolution: want X,Y,Z, got %r" % text)
    values = [float(p) for p in parts]
    if all(v.is_integer() for v in values):
        return [int(v) for v in values]
    return values


def little(dtype_name):
    return np.dtype(dtype_name).newbyteorder("<")


# ---- the info file --------------------------------------------------------------------------------

def make_info(args):
    res = args.resolution
    info = {
        "num_channels": args.channels,
        "type": args.type,
        "data_type": args.dtype,
        "scales": [{
            "encoding": "raw",
            "chunk_sizes": [list(args.chunk)],
            "key": "_".join(str(r) for r in res),
            "resolution": list(res),
            "voxel_offset": list(args.offset),
            "size": list(args.size),
        }],
    }
    return info


def info_text(info):
    # CloudVolume: json.dumps(info, sort_keys=True, indent=2, separators=(',', ': ')),
    # no trailing newline, stored uncompressed.
    return json.dumps(info, sort_keys=True, indent=2, separators=(",", ": "))


def write_info(layer, info):
    os.makedirs(layer, exist_ok=True)
    with open(os.path.join(layer, "info"), "w", encoding="utf-8") as f:
        f.write(info_text(info))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def int_list(value, n, where):
    if not isinstance(value, list) or len(value) != n or not all(is_int(v) for v in value):
        raise LayerError("%s: must be a list of %d integers, got %r" % (where, n, value))
    return value


def load_info(layer):
    path = os.path.join(layer, "info")
    try:
        with open(path, "rb") as f:
            info = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise LayerError("%s: no info file" % path)
    except ValueError as e:
        raise LayerError("%s: not valid JSON: %s" % (path, e))
    if not isinstance(info, dict):
        raise LayerError("%s: not a JSON object" % path)
    for member in ("type", "data_type", "num_channels", "scales"):
        if member not in info:
            raise LayerError("%s: %s missing" % (path, member))
    if info["data_type"] not in DTYPES:
        raise LayerError("%s: data_type %r not supported" % (path, info["data_type"]))
    if not is_int(info["num_channels"]) or info["num_channels"] < 1:
        raise LayerError("%s: num_channels must be an integer >= 1" % path)
    if not isinstance(info["scales"], list) or not info["scales"]:
        raise LayerError("%s: scales must be a non-empty list" % path)
    return info


class Scale:
    def __init__(self, layer, info, mip):
        where = "%s/info scales[%d]" % (layer, mip)
        if not 0 <= mip < len(info["scales"]):
            raise LayerError("%s: no such mip" % where)
        s = info["scales"][mip]
        for member in ("key", "size", "resolution", "chunk_sizes", "encoding"):
            if member not in s:
                raise LayerError("%s.%s missing" % (where, member))
        if s["encoding"] != "raw":
            raise LayerError("%s.encoding: only raw is implemented here, got %r"
                             % (where, s["encoding"]))
        # Sharded scales: chunk keys are compressed Morton codes (precomputed-sharded.md),
        # read with the independent shard reader beside this file.
        self.sharding = s.get("sharding")
        self.key = s["key"]
        self.size = int_list(s["size"], 3, where + ".size")
        self.offset = int_list(s.get("voxel_offset", [0, 0, 0]), 3, where + ".voxel_offset")
        if not isinstance(s["chunk_sizes"], list) or not s["chunk_sizes"]:
            raise LayerError("%s.chunk_sizes: must be a non-empty list" % where)
        self.chunk = int_list(s["chunk_sizes"][0], 3, where + ".chunk_sizes[0]")
        if min(self.size) < 1 or min(self.chunk) < 1:
            raise LayerError("%s: size and chunk sizes must be >= 1" % where)
        self.dtype = little(info["data_type"])
        self.channels = info["num_channels"]
        self.dir = os.path.join(layer, self.key)

    def grid(self):
        return [-(-self.size[d] // self.chunk[d]) for d in range(3)]

    def cell_box(self, g):
        """Voxel box [begin, end) of grid cell g: starts at voxel_offset, clipped at the
        upper faces only (precomputed-volume.md section 3)."""
        begin = [self.offset[d] + g[d] * self.chunk[d] for d in range(3)]
        end = [self.offset[d] + min((g[d] + 1) * self.chunk[d], self.size[d]) for d in range(3)]
        return begin, end

    @staticmethod
    def name(begin, end):
        return "_".join("%d-%d" % (begin[d], end[d]) for d in range(3))

    def cells(self, lo, hi):
        """Grid cells meeting the box [lo, hi)."""
        ranges = []
        for d in range(3):
            first = (lo[d] - self.offset[d]) // self.chunk[d]
            last = (hi[d] - 1 - self.offset[d]) // self.chunk[d]
            ranges.append(range(first, last + 1))
        for gz in ranges[2]:
            for gy in ranges[1]:
                for gx in ranges[0]:
                    yield (gx, gy, gz)

    def morton(self, g):
        """Compressed Morton code: bits of x, y, z interleaved while each axis has bits left."""
        grid = self.grid()
        bits = [max(0, (n - 1).bit_length()) for n in grid]
        code, out_bit = 0, 0
        for i in range(max(bits)):
            for d in range(3):
                if i < bits[d]:
                    code |= ((g[d] >> i) & 1) << out_bit
                    out_bit += 1
        return code

    def read_sharded(self, g, begin, end):
        import shard_ref
        spec = shard_ref.Spec(json.dumps(self.sharding))
        data = shard_ref.read_key(spec, self.dir, self.morton(g))
        name = self.name(begin, end)
        if data is None:
            raise LayerError("chunk %s/%s (key %d) is missing from the shards"
                             % (self.key, name, self.morton(g)))
        return data

    def read_chunk(self, g):
        begin, end = self.cell_box(g)
        name = self.name(begin, end)
        if self.sharding:
            data = self.read_sharded(g, begin, end)
            shape = [end[d] - begin[d] for d in range(3)] + [self.channels]
            want = int(np.prod(shape)) * self.dtype.itemsize
            if len(data) != want:
                raise LayerError("sharded chunk %s/%s of %d bytes, want %d" % (self.key, name,
                                                                                len(data), want))
            return begin, end, np.frombuffer(data, dtype=self.dtype).reshape(shape, order="F")
        for suffix in SUFFIXES:
            path = os.path.join(self.dir, name + suffix)
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            if not data:
                raise LayerError("chunk %s/%s is empty (CloudVolume: missing)" % (self.key, name))
            if suffix == ".gz":
                if data[:2] != b"\x1f\x8b":
                    raise LayerError("%s: not in gzip format" % path)
                try:
                    data = gzip.decompress(data)
                except (OSError, EOFError, ValueError) as e:
                    raise LayerError("%s: bad gzip data: %s" % (path, e))
            elif suffix == ".br":
                if brotli is None:
                    raise LayerError("%s: brotli-compressed, and the brotli module is not "
                                     "installed" % path)
                data = brotli.decompress(data)
            elif suffix:
                raise LayerError("%s: %s compression is not implemented here" % (path, suffix))
            shape = [end[d] - begin[d] for d in range(3)] + [self.channels]
            want = int(np.prod(shape)) * self.dtype.itemsize
            if len(data) != want:
                raise LayerError("%s: raw chunk of %d bytes, want %d for shape %s"
                                 % (path, len(data), want, shape))
            return begin, end, np.frombuffer(data, dtype=self.dtype).reshape(shape, order="F")
        raise LayerError("chunk %s/%s is missing (no file %s with any of the suffixes %s)"
                         % (self.key, name, os.path.join(self.dir, name), list(SUFFIXES)))

    def read(self, lo, hi):
        for d in range(3):
            if lo[d] < self.offset[d] or hi[d] > self.offset[d] + self.size[d] or lo[d] >= hi[d]:
                raise LayerError("box %s-%s is empty or outside the volume %s-%s"
                                 % (lo, hi, self.offset,
                                    [self.offset[i] + self.size[i] for i in range(3)]))
        shape = [hi[d] - lo[d] for d in range(3)] + [self.channels]
        out = np.zeros(shape, dtype=self.dtype, order="F")
        n = 0
        for g in self.cells(lo, hi):
            begin, end, a = self.read_chunk(g)
            o_lo = [max(lo[d], begin[d]) for d in range(3)]
            o_hi = [min(hi[d], end[d]) for d in range(3)]
            out[o_lo[0] - lo[0]:o_hi[0] - lo[0], o_lo[1] - lo[1]:o_hi[1] - lo[1],
                o_lo[2] - lo[2]:o_hi[2] - lo[2], :] = \
                a[o_lo[0] - begin[0]:o_hi[0] - begin[0], o_lo[1] - begin[1]:o_hi[1] - begin[1],
                  o_lo[2] - begin[2]:o_hi[2] - begin[2], :]
            n += 1
        return out, n

    def check_names(self):
        """Every file in the scale directory must be one grid cell's name plus at most one
        known suffix, and no cell may be stored twice."""
        problems = []
        names = {}
        grid = self.grid()
        for gz in range(grid[2]):
            for gy in range(grid[1]):
                for gx in range(grid[0]):
                    names[self.name(*self.cell_box((gx, gy, gz)))] = []
        for entry in sorted(os.listdir(self.dir)):
            base, matched = entry, False
            for suffix in SUFFIXES[1:]:
                if entry.endswith(suffix):
                    base = entry[:-len(suffix)]
            if base in names and os.path.isfile(os.path.join(self.dir, entry)):
                names[base].append(entry)
                matched = True
            if not matched:
                problems.append("unexpected file %s/%s" % (self.key, entry))
        for base, found in names.items():
            if len(found) > 1:
                problems.append("chunk %s/%s stored %d times: %s"
                                % (self.key, base, len(found), found))
        return problems


# ---- array comparison --------------------------------------------------------------------------

def as_xyzc(a):
    return a.reshape(a.shape + (1,)) if a.ndim == 3 else a


def diff_report(expected, actual, origin, limit=10):
    """Compare bit patterns (so -0.0 and NaN count exactly); return a list of lines."""
    if expected.dtype.newbyteorder("<") != actual.dtype.newbyteorder("<"):
        return ["dtype differs: expected %s, got %s" % (expected.dtype, actual.dtype)]
    if expected.shape != actual.shape:
        return ["shape differs: expected %s, got %s" % (expected.shape, actual.shape)]
    bits = np.dtype("u%d" % expected.dtype.itemsize)
    e = np.ascontiguousarray(expected).view(bits)
    a = np.ascontiguousarray(actual).view(bits)
    bad = np.argwhere(e != a)
    if not len(bad):
        return []
    lines = ["%d of %d values differ (showing %d):" % (len(bad), e.size, min(limit, len(bad)))]
    for idx in bad[:limit]:
        idx = tuple(int(i) for i in idx)
        where = tuple(origin[d] + idx[d] for d in range(3))
        lines.append("  voxel x,y,z=%s channel %d: expected %r, got %r"
                     % (where, idx[3], expected[idx], actual[idx]))
    return lines


def load_npy(path):
    try:
        return as_xyzc(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as e:
        raise LayerError("%s: cannot load: %s" % (path, e))


# ---- subcommands ----------------------------------------------------------------------------------

def random_array(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        lim = np.iinfo(dt)
        flat = rng.integers(lim.min, lim.max, size=n, dtype=dt, endpoint=True)
    else:
        flat = (rng.standard_normal(n) * 1000).astype(dt)
        special = np.array([-0.0, np.nan, np.inf, -np.inf, 1e-40, 3.5], dtype=dt)
        flat[:min(n, special.size)] = special[:min(n, special.size)]
    return flat.reshape(shape, order="F")


def cmd_info(args):
    write_info(args.layer, make_info(args))
    return 0


def cmd_make(args):
    info = make_info(args)
    write_info(args.layer, info)
    scale = Scale(args.layer, info, 0)
    os.makedirs(scale.dir, exist_ok=True)
    full = random_array(args.dtype, list(args.size) + [args.channels], args.seed)
    grid = scale.grid()
    n = 0
    for gz in range(grid[2]):
        for gy in range(grid[1]):
            for gx in range(grid[0]):
                begin, end = scale.cell_box((gx, gy, gz))
                lo = [begin[d] - scale.offset[d] for d in range(3)]
                hi = [end[d] - scale.offset[d] for d in range(3)]
                part = full[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2], :]
                data = np.asfortranarray(part).astype(scale.dtype).tobytes(order="F")
                name = os.path.join(scale.dir, scale.name(begin, end))
                if args.gzip:
                    data = gzip.compress(data, compresslevel=6, mtime=0)
                    name += ".gz"
                with open(name, "wb") as f:
                    f.write(data)
                n += 1
    np.save(args.layer + ".expected.npy", np.asfortranarray(full))
    print("made %s: %s x%d, %d chunks%s" % (args.layer, args.dtype, args.channels, n,
                                            " (gzip)" if args.gzip else ""))
    return 0


def cmd_check(args):
    info = load_info(args.layer)
    scale = Scale(args.layer, info, args.mip)
    if args.bbox:
        lo, hi = args.bbox
    else:
        lo = list(scale.offset)
        hi = [scale.offset[d] + scale.size[d] for d in range(3)]
    expected = load_npy(args.array)
    problems = []
    if args.strict:
        problems += scale.check_names()
    n = 0
    try:
        actual, n = scale.read(lo, hi)
        problems += diff_report(expected, actual, lo)
    except LayerError as e:
        problems.append(str(e))
    if problems:
        print("MISMATCH: %s box %s-%s vs %s" % (args.layer, lo, hi, args.array), file=sys.stderr)
        for line in problems:
            print("  " + line, file=sys.stderr)
        return 1
    print("OK: %s box %s-%s equals %s (%d chunks)" % (args.layer, lo, hi, args.array, n))
    return 0


def compare_one(expected, expected_path, origin, actual_path, box):
    if box:
        lo, hi = box
    else:
        lo = list(origin)
        hi = [origin[d] + expected.shape[d] for d in range(3)]
    r = [lo[d] - origin[d] for d in range(3)] + [hi[d] - origin[d] for d in range(3)]
    if min(r[:3]) < 0 or any(r[3 + d] > expected.shape[d] for d in range(3)):
        raise LayerError("box %s-%s is not inside %s" % (lo, hi, expected_path))
    want = expected[r[0]:r[3], r[1]:r[4], r[2]:r[5], :]
    if actual_path.endswith(".npy"):
        actual = load_npy(actual_path)
        if not actual.flags.f_contiguous and actual.size > 1:
            return ["%s: not stored in Fortran order" % actual_path]
    else:
        raw = np.fromfile(actual_path, dtype=want.dtype.newbyteorder("<"))
        if raw.size != want.size:
            return ["%s holds %d values, want %d" % (actual_path, raw.size, want.size)]
        actual = raw.reshape(want.shape, order="F")
    problems = diff_report(want, actual, lo)
    if problems:
        problems.insert(0, "%s vs box %s-%s of %s:" % (actual_path, lo, hi, expected_path))
    return problems


def cmd_compare(args):
    expected = load_npy(args.expected)
    problems = []
    for item in args.actual:
        path, box = item, args.bbox
        if ":" in item:
            path, text = item.rsplit(":", 1)
            try:
                box = box6(text)
            except argparse.ArgumentTypeError as e:
                raise LayerError(str(e))
        problems += compare_one(expected, args.expected, args.origin, path, box)
    if problems:
        print("MISMATCH:", file=sys.stderr)
        for line in problems:
            print("  " + line, file=sys.stderr)
        return 1
    return 0


def cmd_npy(args):
    try:
        shape = [int(v) for v in args.shape.split(",")]
    except ValueError:
        shape = []
    if len(shape) not in (3, 4) or min(shape) < 1:
        print("precomputed_ref npy: --shape wants X,Y,Z or X,Y,Z,C", file=sys.stderr)
        return 2
    a = random_array(args.dtype, shape, args.seed).astype(little(args.dtype))
    a = np.asfortranarray(a) if args.order == "F" else np.ascontiguousarray(a)
    np.save(args.out, a)
    return 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def layer_options(q):
        q.add_argument("layer")
        q.add_argument("--dtype", required=True, choices=DTYPES)
        q.add_argument("--size", required=True, type=lambda t: triple(t, "size", 1))
        q.add_argument("--offset", default=[0, 0, 0], type=lambda t: triple(t, "offset"))
        q.add_argument("--chunk", default=[64, 64, 64], type=lambda t: triple(t, "chunk", 1))
        q.add_argument("--channels", default=1, type=int)
        q.add_argument("--resolution", default=[4, 4, 40], type=resolution)
        q.add_argument("--type", default="image", choices=("image", "segmentation"))

    q = sub.add_parser("info")
    layer_options(q)
    q = sub.add_parser("make")
    layer_options(q)
    q.add_argument("--seed", default=0, type=int)
    q.add_argument("--gzip", action="store_true")
    q = sub.add_parser("check")
    q.add_argument("layer")
    q.add_argument("array")
    q.add_argument("--mip", default=0, type=int)
    q.add_argument("--bbox", type=box6)
    q.add_argument("--strict", action="store_true")
    q = sub.add_parser("compare")
    q.add_argument("expected")
    q.add_argument("actual", nargs="+")
    q.add_argument("--origin", default=[0, 0, 0], type=lambda t: triple(t, "origin"))
    q.add_argument("--bbox", type=box6)
    q = sub.add_parser("npy")
    q.add_argument("out")
    q.add_argument("--dtype", required=True, choices=DTYPES)
    q.add_argument("--shape", required=True)
    q.add_argument("--seed", default=0, type=int)
    q.add_argument("--order", default="F", choices=("F", "C"))

    # "--offset -10,-3,-20" would look like an option to argparse: glue such values on.
    valued = {"--dtype", "--size", "--offset", "--chunk", "--channels", "--resolution", "--type",
              "--seed", "--mip", "--bbox", "--origin", "--shape", "--order"}
    glued, i = [], 0
    while i < len(argv):
        if argv[i] in valued and i + 1 < len(argv):
            glued.append(argv[i] + "=" + argv[i + 1])
            i += 2
        else:
            glued.append(argv[i])
            i += 1
    args = p.parse_args(glued)
    try:
        return {"info": cmd_info, "make": cmd_make, "check": cmd_check,
                "compare": cmd_compare, "npy": cmd_npy}[args.cmd](args)
    except LayerError as e:
        print("precomputed_ref: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
