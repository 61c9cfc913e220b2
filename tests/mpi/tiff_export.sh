#!/usr/bin/env bash
# cvmpi export to TIFF: 'DIR/z_*.tif' (one file per z slice) with 1, 2 and 3 ranks gives the
# same files byte for byte, which tifffile reads as the layer's voxels and which import back to
# the same layer (TIFF -> layer -> TIFF -> layer); one FILE.tif equals `read -o FILE.tif`;
# --bbox and a --memory too small for a whole chunk's depth of planes give the same slices;
# --bigtiff writes BigTIFF (tifffile: is_bigtiff) with the same voxels from read and export;
# HDF5-only options are usage errors; an output directory that does not exist fails naming it.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import tifffile" 2> /dev/null ||
    { echo "tiff_export: skipped (no python3-tifffile)"; exit 0; }

/usr/bin/python3 - <<'PY'
import os, numpy as np, tifffile
rng = np.random.default_rng(12)
a = rng.integers(0, 65535, (11, 40, 56)).astype("uint16")
rgb = rng.integers(0, 255, (11, 40, 56, 3)).astype("uint8")
os.mkdir("src_u16"); os.mkdir("src_rgb")
for z in range(11):
    tifffile.imwrite(f"src_u16/z_{z}.tif", a[z], compression="zlib")
    tifffile.imwrite(f"src_rgb/z_{z}.tif", rgb[z], photometric="rgb")
np.save("u16.npy", a); np.save("rgb.npy", rgb)
PY
for s in u16 rgb; do
    "$CVMPI" import "src_$s/z_*.tif" "L_$s" --chunk 16,16,4 --resolution 4,4,40 > /dev/null 2>&1 ||
        fail "import $s"
done

for s in u16 rgb; do
    for n in 1 2 3; do
        mkdir "out_${s}_$n"
        run_np $n export "L_$s" "out_${s}_$n/z_*.tif" > log 2>&1 || { cat log; fail "export $s -n $n"; }
        grep -q "^export: 11 TIFF files (11 pages) written to out_${s}_$n/z_\*.tif" log ||
            { cat log; fail "export summary"; }
    done
    [ "$(digest "out_${s}_1")" = "$(digest "out_${s}_2")" ] || fail "$s: -n 1 and -n 2 differ"
    [ "$(digest "out_${s}_1")" = "$(digest "out_${s}_3")" ] || fail "$s: -n 1 and -n 3 differ"
    /usr/bin/python3 - "$s" <<'PY' || fail "$s: exported slices differ from the source"
import sys, numpy as np, tifffile
s = sys.argv[1]
a = np.load(s + ".npy")
got = np.stack([tifffile.imread(f"out_{s}_1/z_{z}.tif") for z in range(a.shape[0])])
assert got.shape == a.shape and np.array_equal(got, a), (got.shape, a.shape)
PY
    # TIFF -> layer -> TIFF -> layer: the same layer
    run_np 2 import "out_${s}_1/z_*.tif" "back_$s" --chunk 16,16,4 > log 2>&1 ||
        { cat log; fail "import the exported $s"; }
    [ "$(digest "L_$s")" = "$(digest "back_$s")" ] || fail "$s: layer -> TIFF -> layer differs"
done

# one multi-page file: the same bytes as `read -o`, at any rank count
"$CVMPI" read L_rgb -o read.tif > /dev/null || fail "read -o read.tif"
run_np 2 export L_rgb all.tif > log 2>&1 || { cat log; fail "export all.tif"; }
cmp -s read.tif all.tif || fail "export FILE.tif differs from read -o FILE.tif"

# --bbox, and --memory that allows fewer planes than a chunk is deep: same slices
mkdir box small
run_np 2 export L_u16 'box/z_*.tif' --bbox 3,5,2,50,33,9 > log 2>&1 || { cat log; fail "--bbox"; }
/usr/bin/python3 -c 'import numpy as np, tifffile
a = np.load("u16.npy")
got = np.stack([tifffile.imread(f"box/z_{z}.tif") for z in range(2, 9)])
assert np.array_equal(got, a[2:9, 5:33, 3:50])' || fail "--bbox slices"
[ ! -e box/z_1.tif ] && [ ! -e box/z_9.tif ] || fail "--bbox wrote slices outside the box"
run_np 2 export L_u16 'small/z_*.tif' --memory 20K > log 2>&1 || { cat log; fail "--memory 20K"; }
[ "$(digest out_u16_1)" = "$(digest small)" ] || fail "--memory 20K slices differ"

# --bigtiff: BigTIFF however small, from read and export, the same voxels
"$CVMPI" read L_rgb -o big_read.tif --bigtiff > /dev/null || fail "read --bigtiff"
run_np 2 export L_u16 big.tif --bigtiff > log 2>&1 || { cat log; fail "export --bigtiff"; }
mkdir big_slices
run_np 2 export L_u16 'big_slices/z_*.tif' --bigtiff > log 2>&1 || { cat log; fail "export z_* --bigtiff"; }
/usr/bin/python3 - <<'PY' || fail "--bigtiff files"
import numpy as np, tifffile
for name, want in (("big_read.tif", np.load("rgb.npy")), ("big.tif", np.load("u16.npy"))):
    with tifffile.TiffFile(name) as t:
        assert t.is_bigtiff, name + " is not BigTIFF"
        assert np.array_equal(t.asarray(), want), name + ": voxels differ"
with tifffile.TiffFile("read.tif") as t:
    assert not t.is_bigtiff, "read.tif (no --bigtiff) is BigTIFF"
with tifffile.TiffFile("big_slices/z_3.tif") as t:
    assert t.is_bigtiff and np.array_equal(t.asarray(), np.load("u16.npy")[3])
PY
if "$CVMPI" read L_u16 -o x.npy --bigtiff > log 2>&1; then fail "read -o x.npy --bigtiff passed"; fi
grep -q "bigtiff is for TIFF output" log || { cat log; fail "--bigtiff with .npy: message"; }

# HDF5-only options are usage errors; a missing directory fails naming the file
set +e
"$CVMPI" export L_u16 x.tif --gzip 4 > log 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || { cat log; fail "--gzip with TIFF: exit $rc, want 2"; }
grep -q "for HDF5 output, not TIFF" log || { cat log; fail "--gzip with TIFF: message"; }
if run_np 2 export L_u16 'nodir/z_*.tif' > log 2>&1; then fail "export into a missing directory passed"; fi
grep -q "^cvmpi: export nodir/z_\*.tif: cannot create nodir/z_[0-9]*.tif" log || { cat log; fail "missing directory: message"; }
echo "tiff_export: all passed"
