#!/usr/bin/env bash
# cvmpi import of zarr v2 arrays written by Debian's python3-zarr: compressors none, gzip,
# zlib, zstd, blosc (lz4 with byte shuffle, zstd with bit shuffle); C and F order; |u1 |i1 <u2
# <i2 <u4 >u4 <i4 <u8 <i8 <f4 >f8; fill values for chunks never written (ints, NaN); "." and "/"
# dimension separators; shapes the chunks do not divide; 4-D with channels; --axes. Each imports
# with 1, 2 and 3 ranks to byte-identical layers whose voxels equal the numpy array exactly.
# N5 (n5://): zarr's N5Store (raw, gzip, zlib, zstd, blosc) and blocks written here by the N5
# format's rules, edge blocks cut to the array (as N5's own writers do).
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import zarr, numcodecs" 2> /dev/null ||
    { echo "zarr: skipped (no python3-zarr or python3-numcodecs)"; exit 0; }

/usr/bin/python3 - <<'PY'
import numpy as np, zarr, numcodecs
from numcodecs import Blosc, GZip, Zlib, Zstd
rng = np.random.default_rng(5)
Z, Y, X = 9, 45, 70
def expect(name, a, axes="zyx"):  # array in `axes` order -> layer order (x, y, z, c)
    if a.ndim == 3:
        a, axes = a[..., None], axes + "c"
    elif "c" not in axes:
        axes += "c"
    b = np.transpose(a, [axes.index(c) for c in "xyzc"])
    np.save(name + ".npy", b.astype(b.dtype.newbyteorder("=")))
def ints(dtype, shape=(Z, Y, X)):
    i = np.iinfo(dtype)
    native = np.dtype(dtype).newbyteorder("=")
    return rng.integers(i.min, i.max, shape, endpoint=True, dtype=native).astype(dtype)
def write(name, a, chunks=(4, 16, 32), axes="zyx", skip=(), **kw):
    z = zarr.open(name + ".zarr", mode="w", shape=a.shape, chunks=chunks, dtype=a.dtype, **kw)
    z[:] = a
    store = z.store
    for key in skip:  # chunks never written: fill_value
        del store[key]
    out = np.array(z[:])  # what zarr itself reads back (fill where a chunk is missing)
    if not skip:
        assert np.array_equal(out, a, equal_nan=True)
    expect(name, out, axes)
write("raw_u8", ints("|u1"), compressor=None)
write("raw_i8", ints("|i1"), compressor=None, order="F")
write("gzip_u16", ints("<u2"), compressor=GZip(level=5))
write("zlib_i16", ints("<i2"), compressor=Zlib(level=1), order="F")
write("zstd_u32", ints("<u4"), compressor=Zstd(level=3))
write("be_u32", ints(">u4"), compressor=GZip())
write("blosc_i32", ints("<i4"), compressor=Blosc(cname="lz4", shuffle=Blosc.SHUFFLE))
write("blosc_u64", ints("<u8"), compressor=Blosc(cname="zstd", shuffle=Blosc.BITSHUFFLE),
      order="F")
write("raw_i64", ints("<i8"), compressor=None, dimension_separator="/")
write("f32", rng.standard_normal((Z, Y, X)).astype("<f4"), compressor=Zlib())
write("be_f64", rng.standard_normal((Z, Y, X)).astype(">f8"), compressor=Zstd(),
      dimension_separator="/")
# chunks never written: the fill value (integers, NaN), "." and "/" keys
write("fill_u16", ints("<u2"), fill_value=777, compressor=GZip(), skip=("0.1.0", "2.2.2"))
write("fill_nest", ints("<u2"), fill_value=5, compressor=None, dimension_separator="/",
      skip=("1/0/1",))
write("fill_nan", rng.standard_normal((Z, Y, X)).astype("<f4"), fill_value=np.nan,
      compressor=Blosc(), skip=("1.1.1",))
# odd chunks that divide nothing, one chunk larger than the array
write("odd", ints("<u2", (11, 23, 37)), chunks=(3, 7, 5), compressor=Zstd())
write("big_chunk", ints("<u2", (5, 9, 13)), chunks=(8, 16, 16), compressor=GZip())
# 4-D with channels last (zyxc), and x slowest (xyz) imported with --axes
write("rgb", ints("|u1", (Z, Y, X, 3)), chunks=(4, 16, 32, 3), compressor=Blosc())
write("xyz", ints("<u2", (X, Y, Z)), chunks=(32, 16, 4), axes="xyz", compressor=Zlib())
# N5 through zarr's N5Store: numpy's (z, y, x), stored x first
import warnings, gzip, json, os, struct
from zarr.n5 import N5Store
warnings.simplefilter("ignore")
for name, dt, comp in (("n5_raw", "<u2", None), ("n5_gzip", "<i4", GZip()),
                       ("n5_zlib", "|u1", Zlib()), ("n5_zstd", "<f8", Zstd()),
                       ("n5_blosc", "<u8", Blosc())):
    a = ints(dt) if dt[1] != "f" else rng.standard_normal((Z, Y, X)).astype(dt)
    z = zarr.open(store=N5Store(name), mode="w", shape=a.shape, chunks=(4, 16, 32), dtype=dt,
                  compressor=comp)
    z[:] = a
    expect(name, a)
# N5 blocks by the format's rules: big-endian header (mode 0, 3 dims, the block's own size x
# first), big-endian int16 x fastest, gzip; edge blocks only as large as the array
a = ints("<i2", (11, 23, 37))
block = (5, 7, 3)  # x, y, z
os.mkdir("n5_edges")
json.dump({"dimensions": [37, 23, 11], "blockSize": list(block), "dataType": "int16",
           "compression": {"type": "gzip", "useZlib": False}},
          open("n5_edges/attributes.json", "w"))
for bz in range(0, 11, block[2]):
    for by in range(0, 23, block[1]):
        for bx in range(0, 37, block[0]):
            part = a[bz:bz + block[2], by:by + block[1], bx:bx + block[0]]
            head = struct.pack(">HHIII", 0, 3, part.shape[2], part.shape[1], part.shape[0])
            d = f"n5_edges/{bx // block[0]}/{by // block[1]}"
            os.makedirs(d, exist_ok=True)
            with open(f"{d}/{bz // block[2]}", "wb") as f:
                f.write(head + gzip.compress(part.astype(">i2").tobytes()))
expect("n5_edges", a)
PY

check_layer() { # DIR EXPECTED.npy: `cvmpi read` of the layer equals the array exactly
    "$CVMPI" read "$1" -o "$1.npy" > /dev/null
    /usr/bin/python3 - "$1.npy" "$2" <<'PY' || fail "voxels of $1 differ from $2"
import sys, numpy as np
r, e = np.load(sys.argv[1]), np.load(sys.argv[2])
assert r.shape == e.shape and r.dtype == e.dtype, (r.shape, e.shape, r.dtype, e.dtype)
assert np.array_equal(r, e, equal_nan=True), "values differ"
PY
}

import_all() { # import_all NAME ARGS...: -n 1, 2 and 3 give identical layers equal to NAME.npy
    local name=$1 n src="zarr://$1.zarr"
    shift
    [[ $name != n5_* ]] || src="n5://$name"
    for n in ${RANKS:-1 2 3}; do
        run_np $n import "$src" "L${n}_$name" --chunk 32,16,4 --memory 1M \
            --resolution 4,4,40 "$@" > log 2>&1 || { cat log; fail "import $name -n $n"; }
    done
    for n in ${RANKS:-1 2 3}; do
        [ "$(digest "L1_$name")" = "$(digest "L${n}_$name")" ] || fail "$name: -n 1 and -n $n differ"
    done
    check_layer "L1_$name" "$name.npy"
}

for s in raw_u8 raw_i8 gzip_u16 zlib_i16 zstd_u32 be_u32 blosc_i32 blosc_u64 raw_i64 f32 be_f64 \
    fill_u16 fill_nest fill_nan odd big_chunk rgb; do
    import_all "$s"
done
import_all xyz --axes xyz
for s in n5_raw n5_gzip n5_zlib n5_zstd n5_blosc n5_edges; do
    import_all "$s"
done
grep -q '"data_type": "uint64"' L1_blosc_u64/info || fail "blosc_u64: wrong data_type"
grep -q '"num_channels": 3' L1_rgb/info || fail "rgb: want 3 channels"
# file:// spelled out, and --independent
run_np 2 import "zarr://file://$PWD/gzip_u16.zarr" ind --chunk 32,16,4 --memory 1M \
    --resolution 4,4,40 --independent > log 2>&1 || { cat log; fail "file:// --independent"; }
[ "$(digest L1_gzip_u16)" = "$(digest ind)" ] || fail "--independent differs"

# no resolution: refused naming the array
if "$CVMPI" import zarr://raw_u8.zarr nores > log 2>&1; then fail "import without resolution"; fi
grep -qx "cvmpi: import: zarr array raw_u8.zarr has no resolution cvmpi reads; give --resolution X,Y,Z in nm" log ||
    { cat log; fail "no-resolution message"; }
# --memory too small for one decoded chunk's round: refused naming the zarr chunks
if "$CVMPI" import zarr://gzip_u16.zarr mem --memory 20K --resolution 1,1,1 > log 2>&1; then
    fail "--memory 20K passed"
fi
grep -q "zarr chunks its slab touches), more than the 0.02 MB memory budget (raise --memory)" log ||
    { cat log; fail "--memory message"; }
echo "zarr: all passed"
