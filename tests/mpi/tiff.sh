#!/usr/bin/env bash
# cvmpi import of TIFF stacks: files written by Debian's tifffile and PIL (one file per slice as
# a glob and as @list.txt, multi-page and BigTIFF files; striped and tiled, chunky and planar;
# uint8/int8/uint16/int16/uint32/int32/float32 and RGB/RGBA; no compression, deflate (with the
# predictor), LZW, PackBits, zstd, JPEG) import to layers whose voxels equal the arrays (JPEG:
# PIL's own decoding), and striped, tiled, planar, multi-page, BigTIFF, list and JPEG sources
# with 2 and 3 ranks too to byte-identical layers (one process stands for -n 1); OME-XML physical sizes become the
# resolution unless --resolution is given; slices that disagree are refused before anything is
# written; --resume, --memory, --independent, --sharded and --downsample work as with HDF5.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import tifffile, PIL" 2> /dev/null ||
    { echo "tiff: skipped (no python3-tifffile or python3-pil)"; exit 0; }

/usr/bin/python3 - <<'PY'
import os, numpy as np, tifffile
from PIL import Image
rng = np.random.default_rng(3)
Z, Y, X = 9, 45, 70
def expect(name, a):  # (z, y, x[, c]) -> layer order (x, y, z, c)
    b = a if a.ndim == 4 else a[..., None]
    np.save(name + ".npy", np.transpose(b, (2, 1, 0, 3)))
def slices(name, a, **kw):  # one file per z, names that sort naturally, not bytewise
    os.mkdir(name)
    for z in range(a.shape[0]):
        plane = a[z] if kw.get("planarconfig") != "separate" else np.moveaxis(a[z], -1, 0)
        tifffile.imwrite(f"{name}/z_{z}.tif", plane, **kw)
    expect(name, a)
def ints(dtype, shape=(Z, Y, X)):
    i = np.iinfo(dtype)
    return rng.integers(i.min, i.max, shape, endpoint=True).astype(dtype)
slices("u8", ints("uint8"))
slices("i8", ints("int8"), compression="zlib")
slices("u16", ints("uint16"), compression="zlib", predictor=True, rowsperstrip=8)
slices("i16", ints("int16"), tile=(16, 32))
slices("u32", ints("uint32"), compression="zlib", tile=(32, 16))
slices("i32", ints("int32"))
slices("f32", rng.standard_normal((Z, Y, X)).astype("float32"), compression="zlib")
slices("rgb", ints("uint8", (Z, Y, X, 3)), photometric="rgb", compression="zlib")
slices("rgba", ints("uint16", (Z, Y, X, 4)), photometric="rgb", planarconfig="separate",
       extrasamples=["unassalpha"], rowsperstrip=5)
# one multi-page file (tiled), one BigTIFF, an OME-TIFF with physical sizes
a = ints("uint16")
tifffile.imwrite("multi.tif", a, tile=(16, 16), compression="zlib"); expect("multi", a)
tifffile.imwrite("big.tif", a, bigtiff=True, rowsperstrip=3); expect("big", a)
tifffile.imwrite("ome.ome.tif", a, metadata={"axes": "ZYX", "PhysicalSizeX": 0.004,
                 "PhysicalSizeY": 4, "PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 0.04})
expect("ome", a)
# PIL (through its libtiff): LZW, PackBits, deflate, zstd, JPEG (expected: PIL's decoding)
g = ints("uint8")
rgb = ints("uint8", (Z, Y, X, 3))
rgb[..., 1] = (np.add.outer(np.arange(Y), np.arange(X)) % 256)[None]  # JPEG: something smooth
for comp in ("tiff_lzw", "packbits", "tiff_adobe_deflate", "zstd", "jpeg"):
    for kind, arr, mode in (("g", g, "L"), ("rgb", rgb, "RGB")):
        name = f"pil_{comp}_{kind}"
        os.mkdir(name)
        back = []
        for z in range(Z):
            Image.fromarray(arr[z], mode).save(f"{name}/s{z:03d}.tif", compression=comp)
            back.append(np.asarray(Image.open(f"{name}/s{z:03d}.tif")))
        back = np.stack(back)
        if comp != "jpeg":
            assert np.array_equal(back, arr), name
        expect(name, back)
u16 = ints("uint16")
os.mkdir("pil_lzw_u16")
for z in range(Z):
    Image.fromarray(u16[z]).save(f"pil_lzw_u16/s{z}.tif", compression="tiff_lzw")
expect("pil_lzw_u16", u16)
# a list file, relative to its directory, in an order no glob gives
with open("list.txt", "w") as f:
    f.write("# z order\n" + "".join(f"u8/z_{z}.tif\n" for z in range(Z)))
os.system("cp u8.npy list.npy")
# a stack whose slice 4 is a different size, and one whose slice 2 is another dtype
os.mkdir("badsize"); os.mkdir("badtype")
for z in range(5):
    tifffile.imwrite(f"badsize/z_{z}.tif", np.zeros((Y, X + (z == 4)), "uint8"))
    tifffile.imwrite(f"badtype/z_{z}.tif", np.zeros((Y, X), "uint16" if z == 2 else "uint8"))
PY

checks=()
check_layer() { # DIR EXPECTED.npy: `cvmpi read` of the layer, compared by check_all
    "$CVMPI" read "$1" -o "$1.npy" > /dev/null
    checks+=("$1.npy" "$2")
}
check_all() { # every layer noted equals its array exactly
    /usr/bin/python3 - "${checks[@]}" <<'PY' || fail "imported voxels differ from the arrays"
import sys, numpy as np
a = sys.argv[1:]
for got, want in zip(a[::2], a[1::2]):
    r, e = np.load(got), np.load(want)
    assert r.shape == e.shape and r.dtype == e.dtype, (got, r.shape, e.shape, r.dtype, e.dtype)
    assert np.array_equal(r, e, equal_nan=True), got + ": values differ"
PY
    checks=()
}

import_all() { # import_all NAME SRC ARGS...: one process, and -n 2, 3 ($RANKS) give identical
    local name=$1 src=$2 n        # layers equal to NAME.npy
    shift 2
    "$CVMPI" import "$src" "L1_$name" --chunk 32,16,4 --memory 1M "$@" > log 2>&1 ||
        { cat log; fail "import $name"; }
    for n in ${RANKS:-}; do
        run_np $n import "$src" "L${n}_$name" --chunk 32,16,4 --memory 1M "$@" > log 2>&1 ||
            { cat log; fail "import $name -n $n"; }
        [ "$(digest "L1_$name")" = "$(digest "L${n}_$name")" ] || fail "$name: -n 1 and -n $n differ"
    done
    check_layer "L1_$name" "$name.npy"
}

for s in u8 i8 u32 i32 f32 rgb; do
    import_all "$s" "$s/z_*.tif" --resolution 4,4,40
done
for s in u16 i16 rgba; do # strips with the predictor, tiles, planar samples
    RANKS="2 3" import_all "$s" "$s/z_*.tif" --resolution 4,4,40
done
import_all pil_lzw_u16 "pil_lzw_u16/s*.tif" --resolution 4,4,40
for comp in tiff_lzw packbits tiff_adobe_deflate zstd jpeg; do
    for kind in g rgb; do
        ranks=
        [ "$comp$kind" != jpegrgb ] || ranks=2 # YCbCr delivered as RGB
        RANKS=$ranks import_all "pil_${comp}_$kind" "pil_${comp}_$kind/*.tif" --resolution 4,4,40
    done
done
RANKS="2 3" import_all multi multi.tif --resolution 4,4,40
RANKS="2 3" import_all big big.tif --resolution 4,4,40
RANKS=2 import_all list @list.txt --resolution 4,4,40
grep -q '"data_type": "uint8"' L1_u8/info || fail "u8: wrong data_type"
grep -q '"num_channels": 4' L1_rgba/info || fail "rgba: want 4 channels"

# OME-XML physical sizes (um by default; nm when said) are the resolution; --resolution wins.
import_all ome ome.ome.tif
check_all
/usr/bin/python3 - <<'PY' || fail "OME-TIFF resolution"
import json
assert json.load(open("L1_ome/info"))["scales"][0]["resolution"] == [4, 4, 40]
PY
"$CVMPI" import ome.ome.tif ome_res --resolution 8,8,80 > /dev/null 2>&1 || fail "ome --resolution"
/usr/bin/python3 -c 'import json; assert json.load(open("ome_res/info"))["scales"][0]["resolution"] == [8, 8, 80]' ||
    fail "--resolution does not win over OME-XML"
# no resolution anywhere: refused, naming the file
if "$CVMPI" import multi.tif nores > log 2>&1; then fail "import without resolution passed"; fi
grep -qx "cvmpi: import: multi.tif has no OME-XML physical sizes (PhysicalSizeX/Y/Z); give --resolution X,Y,Z in nm" log ||
    { cat log; fail "no-resolution message"; }
# --axes is for HDF5
set +e
"$CVMPI" import multi.tif axes --axes xyz --resolution 1,1,1 > log 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || { cat log; fail "--axes with TIFF: exit $rc, want 2"; }

# Slices that disagree: refused before anything is written, naming the file and page.
for n in 1 2; do
    if run_np $n import 'badsize/z_*.tif' bad_$n --resolution 1,1,1 > log 2>&1; then
        fail "a stack of unequal slices imported"
    fi
    grep -q "^cvmpi: import: badsize/z_4.tif, page 0 is 71x45 uint8, 1 sample per pixel, badsize/z_0.tif page 0 is 70x45 uint8, 1 sample per pixel; every page of the stack must agree$" log ||
        { cat log; fail "unequal slices: message"; }
    [ ! -e bad_$n ] || fail "unequal slices: something was written"
done
if "$CVMPI" import 'badtype/z_*.tif' bad_t --resolution 1,1,1 > log 2>&1; then fail "mixed dtypes imported"; fi
grep -q "badtype/z_2.tif, page 0 is 70x45 uint16" log || { cat log; fail "mixed dtypes: message"; }
[ ! -e bad_t ] || fail "mixed dtypes: something was written"

# --independent, --sharded and --downsample, at 1 and 2 ranks
for n in 1 2; do
    run_np $n import 'u16/z_*.tif' ind_$n --chunk 32,16,4 --memory 1M --independent \
        --resolution 4,4,40 > log 2>&1 || { cat log; fail "--independent -n $n"; }
    [ "$(digest L1_u16)" = "$(digest ind_$n)" ] || fail "--independent -n $n differs"
    run_np $n import 'u16/z_*.tif' shd_$n --chunk 16,16,4 --sharded --downsample 2 \
        --resolution 4,4,40 > log 2>&1 || { cat log; fail "--sharded --downsample -n $n"; }
done
[ "$(digest shd_1)" = "$(digest shd_2)" ] || fail "--sharded --downsample: -n 1 and -n 2 differ"
grep -q '"sharding"' shd_1/info || fail "--sharded: scale 0 not sharded"
[ "$(grep -o '"key"' shd_1/info | wc -l)" = 3 ] || fail "--downsample 2: want 3 scales"
check_layer shd_1 u16.npy
check_all

# --memory: too small for one strip's round is refused, naming the TIFF strips
if "$CVMPI" import 'u16/z_*.tif' mem --memory 20K --resolution 1,1,1 > log 2>&1; then
    fail "--memory 20K passed"
fi
grep -q "TIFF strips its slab touches), more than the 0.02 MB memory budget (raise --memory)" log ||
    { cat log; fail "--memory message"; }

# --resume: a finished job's journal skips everything; a job stopped by SIGTERM (as Slurm
# sends it) finishes the rest, byte-identical
run_np 2 import 'u16/z_*.tif' res --chunk 32,16,4 --memory 1M --resolution 4,4,40 \
    --keep-journal > log 2>&1 || { cat log; fail "import for resume"; }
run_np 2 import 'u16/z_*.tif' res --chunk 32,16,4 --memory 1M --resolution 4,4,40 --resume \
    > log 2>&1 || { cat log; fail "resume"; }
grep -q "^import: 0 tasks written, [1-9][0-9]* skipped, 0 failed" log || { cat log; fail "resume skipped nothing"; }
[ "$(digest L1_u16 | grep -v cvmpi-journal)" = "$(digest res | grep -v cvmpi-journal)" ] ||
    fail "resumed layer differs"
CVMPI_TEST_TASK_DELAY_MS=2000 mpirun -n 2 "$CVMPI" import 'u16/z_*.tif' term --chunk 32,16,4 \
    --memory 1M --resolution 4,4,40 --journal jt > log 2>&1 &
job=$!
for _ in $(seq 1 300); do
    [ "$(cat jt/rank-*.log 2> /dev/null | grep -vc '^cvmpi-journal')" -ge 2 ] && break
    sleep 0.05
done
kill -TERM "$job"
if wait "$job"; then fail "terminated job exited 0"; fi
grep -q -- "--resume" log || { cat log; fail "no resume hint after SIGTERM"; }
run_np 3 import 'u16/z_*.tif' term --chunk 32,16,4 --memory 1M --resolution 4,4,40 --journal jt \
    --resume > log 2>&1 || { cat log; fail "resume after SIGTERM"; }
grep -q "^import: [1-9][0-9]* tasks written, [1-9][0-9]* skipped, 0 failed" log ||
    { cat log; fail "resume after SIGTERM: want some written, some skipped"; }
[ "$(digest L1_u16)" = "$(digest term)" ] || fail "resumed layer differs"
# `read -o cut.tif`: one page per z, channels as samples, OME-XML physical sizes; tifffile reads
# it as the layer's voxels (z, y, x, c), and importing it gives the same layer back. 64-bit
# integers (no OME type): plain pages.
"$CVMPI" read L1_rgb -o cut_rgb.tif > /dev/null || fail "read -o cut_rgb.tif"
"$CVMPI" read L1_u16 --bbox 3,5,2,60,40,7 -o cut_u16.tif > /dev/null || fail "read -o cut_u16.tif"
/usr/bin/python3 - <<'PY' || fail "read -o cut.tif: tifffile disagrees"
import numpy as np, tifffile
rgb = np.transpose(np.load("rgb.npy"), (2, 1, 0, 3))  # back to z, y, x, c
with tifffile.TiffFile("cut_rgb.tif") as t:
    assert t.is_ome and t.series[0].axes == "ZYXS", t.series[0].axes
    assert np.array_equal(t.asarray(), rgb)
u16 = np.transpose(np.load("u16.npy"), (2, 1, 0, 3))[..., 0]
assert np.array_equal(tifffile.imread("cut_u16.tif"), u16[2:7, 5:40, 3:60])
a = np.random.default_rng(8).integers(-2**62, 2**62, (3, 20, 30)).astype("int64")
tifffile.imwrite("i64.tif", a, photometric="minisblack")
np.save("i64.npy", np.transpose(a, (2, 1, 0))[..., None])
PY
"$CVMPI" import cut_rgb.tif back_rgb --chunk 32,16,4 --memory 1M > /dev/null 2>&1 ||
    fail "import cut_rgb.tif"
[ "$(digest L1_rgb)" = "$(digest back_rgb)" ] || fail "rgb: layer -> TIFF -> layer differs"
run_np 2 import i64.tif L_i64 --resolution 1,1,1 > log 2>&1 || { cat log; fail "import int64"; }
check_layer L_i64 i64.npy
check_all
"$CVMPI" read L_i64 -o cut_i64.tif > /dev/null || fail "read -o cut_i64.tif"
/usr/bin/python3 -c 'import numpy as np, tifffile
assert np.array_equal(tifffile.imread("cut_i64.tif"), np.transpose(np.load("i64.npy")[..., 0], (2, 1, 0)))' ||
    fail "int64 cutout"
echo "tiff: all passed"
