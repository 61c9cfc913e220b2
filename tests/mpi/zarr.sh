#!/usr/bin/env bash
# cvmpi import of zarr v2 arrays written by Debian's python3-zarr: compressors none, gzip,
# zlib, zstd, blosc (lz4 with byte shuffle, zstd with bit shuffle); C and F order; |u1 |i1 <u2
# <i2 <u4 >u4 <i4 <u8 <i8 <f4 >f8; fill values for chunks never written (ints, NaN); "." and "/"
# dimension separators; shapes the chunks do not divide; 4-D with channels; --axes. Every array
# imports (one process) to a layer whose voxels equal the numpy array exactly; a few (odd
# chunks, channels, F order, missing chunks, N5 edge blocks, xyz) also with 2 and 3 ranks to
# byte-identical layers.
# N5 (n5://): zarr's N5Store (raw, gzip, zlib, zstd, blosc) and blocks written here by the N5
# format's rules, edge blocks cut to the array (as N5's own writers do).
# Each chunk is loaded once in all (-v's per-rank counts) when zarr chunks match the layer's,
# at 1, 2 and 3 ranks. Remote arrays (zarr://http://, n5://http://) from a local HTTP server:
# each chunk fetched once at 2 ranks, the same layers as from files.
# export zarr://OUT: gzip, blosc and raw; uint16, float32, channels, a --bbox; -n 1 and 2 give
# the same chunk files; python3-zarr reads exactly the layer's voxels in numpy's (z, y, x(, c))
# order, and importing the export gives the layer back (zarr -> layer -> zarr -> layer); an
# interrupted export has no .zarray and --resume finishes it; an existing array and a --memory
# too small for one chunk are refused.
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

import_all() { # import_all NAME RANKS ARGS...: the same layer at each rank count
    local name=$1 ranks=$2 n src="zarr://$1.zarr"
    shift 2
    [[ $name != n5_* ]] || src="n5://$name"
    for n in $ranks; do
        if [ "$n" = 1 ]; then
            "$CVMPI" import "$src" "L1_$name" --chunk 32,16,4 --memory 1M --resolution 4,4,40 \
                "$@" > log 2>&1 || { cat log; fail "import $name"; }
        else
            run_np $n import "$src" "L${n}_$name" --chunk 32,16,4 --memory 1M \
                --resolution 4,4,40 "$@" > log 2>&1 || { cat log; fail "import $name -n $n"; }
            [ "$(digest "L1_$name")" = "$(digest "L${n}_$name")" ] ||
                fail "$name: -n 1 and -n $n differ"
        fi
    done
    "$CVMPI" read "L1_$name" -o "L1_$name.npy" > /dev/null
    checks+=("L1_$name.npy" "$name.npy")
}

checks=()
for s in raw_u8 gzip_u16 zlib_i16 zstd_u32 be_u32 blosc_i32 raw_i64 f32 be_f64 fill_nest \
    fill_nan big_chunk; do
    import_all "$s" 1
done
for s in fill_u16 odd rgb; do
    import_all "$s" "1 2 3"
done
for s in raw_i8 blosc_u64; do # F order
    import_all "$s" "1 2"
done
import_all xyz "1 2" --axes xyz
for s in n5_raw n5_gzip n5_zlib n5_zstd n5_blosc; do
    import_all "$s" 1
done
import_all n5_edges "1 2 3"
/usr/bin/python3 - "${checks[@]}" <<'PY' || fail "imported voxels differ from the arrays"
import sys, numpy as np
args = sys.argv[1:]
for got, want in zip(args[::2], args[1::2]):
    r, e = np.load(got), np.load(want)
    assert r.shape == e.shape and r.dtype == e.dtype, (got, r.shape, e.shape, r.dtype, e.dtype)
    assert np.array_equal(r, e, equal_nan=True), got + ": values differ"
PY
grep -q '"data_type": "uint64"' L1_blosc_u64/info || fail "blosc_u64: wrong data_type"
grep -q '"num_channels": 3' L1_rgb/info || fail "rgb: want 3 channels"
# file:// spelled out, and --independent
run_np 2 import "zarr://file://$PWD/gzip_u16.zarr" ind --chunk 32,16,4 --memory 1M \
    --resolution 4,4,40 --independent > log 2>&1 || { cat log; fail "file:// --independent"; }
[ "$(digest L1_gzip_u16)" = "$(digest ind)" ] || fail "--independent differs"

# each of the 27 chunks of gzip_u16 (4,16,32: the layer's chunks) is loaded once in all, even
# when a round is one chunk deep and the slabs are cut along y or x
loaded() { # the chunks every rank loaded, summed from -v
    sed -n 's/.* \([0-9]*\) zarr chunks loaded on this rank$/\1/p' log | paste -sd+ | bc
}
for n in 1 2 3; do
    launch=(run_np $n)
    [ $n != 1 ] || launch=("$CVMPI")
    "${launch[@]}" -v import zarr://gzip_u16.zarr "count$n" --chunk 32,16,4 --memory 1M \
        --resolution 4,4,40 > log 2>&1 || { cat log; fail "count -n $n"; }
    [ "$(loaded)" = 27 ] || { cat log; fail "-n $n loaded $(loaded) chunks, want 27"; }
    [ "$(digest L1_gzip_u16)" = "$(digest "count$n")" ] || fail "count -n $n differs"
done

# remote: zarr://http://... and n5://http://... from a server on 127.0.0.1
/usr/bin/python3 -u -m http.server 0 --bind 127.0.0.1 > http.log 2>&1 &
http_pid=$!
trap 'kill $http_pid 2> /dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do
    port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' http.log | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || fail "http server did not start"
url=http://127.0.0.1:$port
run_np 2 import "zarr://$url/gzip_u16.zarr" http_gzip --chunk 32,16,4 --memory 1M \
    --resolution 4,4,40 > log 2>&1 || { cat log; fail "import zarr://http://"; }
[ "$(digest L1_gzip_u16)" = "$(digest http_gzip)" ] || fail "zarr over http differs"
gets=$(grep -c '"GET /gzip_u16.zarr/[0-9]' http.log)
[ "$gets" = 27 ] || fail "zarr over http: $gets chunk GETs, want 27 (each once)"
[ "$(grep '"GET /gzip_u16.zarr/[0-9]' http.log | awk '{print $7}' | sort | uniq -d)" = "" ] ||
    fail "zarr over http: a chunk was fetched twice"
run_np 2 import "zarr://$url/fill_u16.zarr" http_fill --chunk 32,16,4 --memory 1M \
    --resolution 4,4,40 > log 2>&1 || { cat log; fail "import zarr://http:// with missing chunks"; }
[ "$(digest L1_fill_u16)" = "$(digest http_fill)" ] || fail "zarr over http (fill) differs"
"$CVMPI" import "n5://$url/n5_edges" http_n5 --chunk 32,16,4 --memory 1M \
    --resolution 4,4,40 > log 2>&1 || { cat log; fail "import n5://http://"; }
[ "$(digest L1_n5_edges)" = "$(digest http_n5)" ] || fail "N5 over http differs"
if "$CVMPI" import "zarr://$url/nothing.zarr" http_none --resolution 1,1,1 > log 2>&1; then
    fail "import of a missing remote array passed"
fi
grep -qx "cvmpi: import: $url/nothing.zarr/.zarray not found (is $url/nothing.zarr a zarr v2 array?)" log ||
    { cat log; fail "missing remote array: message"; }

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

# ---- export zarr://OUT ----
export_both() { # export_both LAYER OUT ARGS...: -n 1 and -n 2 write the same chunk files
    local layer=$1 out=$2
    shift 2
    "$CVMPI" export "$layer" "zarr://$out" "$@" > log 2>&1 || { cat log; fail "export $out"; }
    run_np 2 export "$layer" "zarr://${out}_2" "$@" > log 2>&1 || { cat log; fail "export $out -n 2"; }
    [ "$(digest "$out")" = "$(digest "${out}_2")" ] || fail "export $out: -n 1 and -n 2 differ"
}
export_both L1_gzip_u16 e_gzip.zarr
export_both L1_gzip_u16 e_blosc.zarr --compressor blosc --memory 300K
export_both L1_f32 e_raw.zarr --compressor raw
export_both L1_rgb e_rgb.zarr --gzip 1
export_both L1_odd e_box.zarr --bbox 3,2,1,30,20,10
grep -q "^export: [0-9]* tasks written, 0 skipped, 0 failed of [0-9]* (6 zarr chunks, " log ||
    { cat log; fail "export summary"; }
/usr/bin/python3 - <<'PY' || fail "exported zarr arrays differ from the sources"
import json, numpy as np, zarr
def same(out, want, comp):
    z = zarr.open(out, mode="r")
    assert z.shape == want.shape and z.dtype == want.dtype, (out, z.shape, want.shape, z.dtype)
    assert np.array_equal(z[:], want, equal_nan=True), out + ": voxels differ"
    meta = json.load(open(out + "/.zarray"))
    assert meta["order"] == "C" and meta["fill_value"] == 0, meta
    assert (meta["compressor"] or {}).get("id") == comp, (out, meta["compressor"])
    return z
u16 = zarr.open("gzip_u16.zarr", mode="r")[:]
z = same("e_gzip.zarr", u16, "gzip")
assert z.chunks == (4, 16, 32), z.chunks
attrs = json.load(open("e_gzip.zarr/.zattrs"))
assert attrs["_ARRAY_DIMENSIONS"] == ["z", "y", "x"] and attrs["voxel_offset"] == [0, 0, 0]
assert attrs["resolution"] == [4, 4, 40], attrs
same("e_blosc.zarr", u16, "blosc")
same("e_raw.zarr", zarr.open("f32.zarr", mode="r")[:], None)
z = same("e_rgb.zarr", zarr.open("rgb.zarr", mode="r")[:], "gzip")
assert z.chunks == (4, 16, 32, 3) and json.load(open("e_rgb.zarr/.zarray"))["compressor"]["level"] == 1
same("e_box.zarr", zarr.open("odd.zarr", mode="r")[1:10, 2:20, 3:30], "gzip")
assert json.load(open("e_box.zarr/.zattrs"))["voxel_offset"] == [3, 2, 1]
PY
# zarr -> layer -> zarr -> layer: the same layer
for s in gzip_u16:e_blosc rgb:e_rgb; do
    run_np 2 import "zarr://${s#*:}.zarr" "back_${s%%:*}" --chunk 32,16,4 --memory 1M \
        --resolution 4,4,40 > log 2>&1 || { cat log; fail "import ${s#*:}"; }
    [ "$(digest "L1_${s%%:*}")" = "$(digest "back_${s%%:*}")" ] || fail "$s: round trip differs"
done
# an interrupted export (SIGTERM) leaves no .zarray; --resume finishes it with the same chunks
CVMPI_TEST_TASK_DELAY_MS=150 "$CVMPI" export L1_gzip_u16 zarr://e_resume.zarr > log 2>&1 &
pid=$!
for _ in $(seq 300); do # signals reach the export once it writes
    [ -e e_resume.zarr/0.0.0 ] && break
    sleep 0.05
done
kill -TERM $pid
if wait $pid; then fail "interrupted export exited 0"; fi
grep -q "export interrupted: .* run the same command with --resume to finish" log ||
    { cat log; fail "interrupted export: message"; }
[ ! -e e_resume.zarr/.zarray ] || fail "interrupted export wrote .zarray"
run_np 2 export L1_gzip_u16 zarr://e_resume.zarr --resume > log 2>&1 || { cat log; fail "--resume"; }
grep -q "^export: [0-9]* tasks written, [1-9][0-9]* skipped, 0 failed" log || { cat log; fail "--resume skipped nothing"; }
rm -rf e_resume.zarr/.cvmpi-journal
[ "$(digest e_gzip.zarr)" = "$(digest e_resume.zarr)" ] || fail "resumed export differs"
# an existing array is refused; zarr gets no HDF5 axes
if run_np 2 export L1_gzip_u16 zarr://e_gzip.zarr > log 2>&1; then fail "export over an array passed"; fi
grep -qx "cvmpi: export: zarr://e_gzip.zarr already holds a zarr array (.zarray); remove it or export elsewhere" log ||
    { cat log; fail "existing array: message"; }
if "$CVMPI" export L1_gzip_u16 zarr://tiny.zarr --memory 10K > log 2>&1; then
    fail "export --memory 10K passed"
fi
grep -qx "cvmpi: export: a task of one 32x16x4 chunk needs about 0.02 MB (the chunk read, its copy and encoding on each chunk thread), more than the 0.01 MB memory budget (raise --memory)" log ||
    { cat log; fail "export --memory: message"; }
[ ! -e tiny.zarr ] || fail "a refused export wrote something"
set +e
"$CVMPI" export L1_gzip_u16 zarr://x.zarr --axes xyz > log 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "are for HDF5 output, not zarr" log || { cat log; fail "--axes with zarr"; }
echo "zarr: all passed"
