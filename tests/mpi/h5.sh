#!/usr/bin/env bash
# cvmpi import/export with parallel HDF5: datasets written by Debian's h5py (several dtypes,
# contiguous and chunked+gzip, 1 and 3 channels, zyx/xyz/czyx/zyxc axes, resolution attributes)
# import to byte-identical layers with 1 and 3 ranks, and 2 for the chunked ones (slab
# exchange and --independent), whose voxels equal the h5py arrays; export read back with h5py
# equals `cvmpi read`; bad input exits 1 with one clear line, writing nothing. One process
# (no mpirun) stands for -n 1, and for the checks of messages and options.
REF=$(cd "$(dirname "$0")/../interop" && pwd)/precomputed_ref.py
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import h5py" 2> /dev/null || { echo "h5: skipped (no python3-h5py)"; exit 0; }

/usr/bin/python3 - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(7)
zyx = (37, 50, 70)
def save(name, a, axes, chunks=None, gzip=False, attrs=None):
    with h5py.File(name + ".h5", "w") as f:
        d = f.create_dataset("/grp/data", data=a, chunks=chunks,
                             compression="gzip" if gzip else None)
        for k, v in (attrs or {}).items():
            d.attrs[k] = v
    # expected layer voxels, x,y,z,c order
    b = a if "c" in axes else a[..., None]
    ax = axes if "c" in axes else axes + "c"
    np.save(name + ".npy", np.transpose(b, [ax.index(c) for c in "xyzc"]))
save("u8", rng.integers(0, 256, zyx).astype("uint8"), "zyx",
     attrs={"resolution": [4, 4, 40]})
save("u16", rng.integers(0, 65536, zyx).astype("uint16"), "zyx", chunks=(8, 16, 16),
     gzip=True, attrs={"element_size_um": [0.04, 0.0045, 0.0045]})
save("f32", rng.standard_normal(zyx[::-1]).astype("float32"), "xyz", chunks=(32, 16, 8))
save("u64", (rng.integers(0, 5, zyx) + (1 << 40)).astype("uint64"), "zyx", chunks=(16, 16, 16),
     gzip=True)
save("rgb", rng.integers(0, 256, zyx + (3,)).astype("uint8"), "zyxc", chunks=(8, 16, 16, 3),
     gzip=True)
save("czyx", rng.integers(0, 4000, (3,) + zyx).astype("uint16"), "czyx")
save("xyzc", rng.standard_normal(zyx[::-1] + (3,)).astype("float32"), "xyzc", chunks=(9, 7, 5, 1),
     gzip=True)
with h5py.File("bad.h5", "w") as f:
    f["compound"] = np.zeros((4, 4, 4), dtype=[("a", "u1"), ("b", "f4")])
    f["flat"] = np.zeros((4, 4), dtype="u1")
# a gzip chunk with garbage in the middle of its deflate stream
with h5py.File("corrupt.h5", "w") as f:
    d = f.create_dataset("g", data=rng.integers(0, 255, (40, 64, 64)).astype("uint8"),
                         chunks=(8, 16, 16), compression="gzip")
    info = d.id.get_chunk_info(5)
with open("corrupt.h5", "r+b") as f:
    f.seek(info.byte_offset + info.size // 2)
    f.write(b"GARBAGE" * 4)
PY

# check_layers DIR EXPECTED.npy ...: `cvmpi read` of each layer equals its array exactly
check_layers() {
    local args=()
    while [ $# -gt 0 ]; do
        "$CVMPI" read "$1" -o "$1.npy" > /dev/null
        args+=("$1.npy" "$2")
        shift 2
    done
    /usr/bin/python3 - "${args[@]}" <<'PY' || fail "imported voxels differ from the arrays"
import sys, numpy as np
a = sys.argv[1:]
for got, want in zip(a[::2], a[1::2]):
    r, e = np.load(got), np.load(want)
    assert r.shape == e.shape and r.dtype == e.dtype, (got, r.shape, e.shape, r.dtype, e.dtype)
    assert np.array_equal(r, e), got + ": values differ"
PY
}

import_both() { # import_both NAME RANKS ARGS...: identical layers at 1 and each of RANKS
    local name=$1 ranks=$2 n
    shift 2
    "$CVMPI" import "$name.h5:/grp/data" "L1_$name" --chunk 32,32,16 --memory 2M "$@" \
        > log 2>&1 || { cat log; fail "import $name"; }
    for n in $ranks; do
        run_np $n import "$name.h5:/grp/data" "L${n}_$name" --chunk 32,32,16 --memory 2M "$@" \
            > log 2>&1 || { cat log; fail "import $name -n $n"; }
        [ "$(digest "L1_$name")" = "$(digest "L${n}_$name")" ] || fail "$name: -n 1 and -n $n differ"
    done
}

import_both u8 3
import_both u16 "2 3" --encoding raw --compress gzip
import_both f32 3 --axes xyz --resolution 8,8,30
import_both u64 3 --resolution 1,1,1
import_both rgb "2 3" --resolution 1,1,1
import_both czyx 3 --axes czyx --resolution 1,1,1
import_both xyzc "2 3" --axes xyzc --resolution 1,1,1
check_layers L1_u8 u8.npy L1_u16 u16.npy L1_f32 f32.npy L1_u64 u64.npy L1_rgb rgb.npy \
    L1_czyx czyx.npy L1_xyzc xyzc.npy

# the reader written from the spec agrees, chunk names and all (--strict)
for name in u8 u16 f32 rgb czyx xyzc; do
    /usr/bin/python3 "$REF" check "L3_$name" "$name.npy" --strict > log 2>&1 ||
        { cat log; fail "reference reader on L3_$name"; }
done

/usr/bin/python3 - <<'PY' || fail "info derived from the datasets"
import json
def info(n):
    return json.load(open("L1_%s/info" % n))
def res(n):
    return info(n)["scales"][0]["resolution"]
assert res("u8") == [4, 4, 40], res("u8")
assert res("u16") == [4.5, 4.5, 40], res("u16")
assert res("f32") == [8, 8, 30], res("f32")
assert res("u64") == [1, 1, 1], res("u64")
assert info("u64")["type"] == "segmentation" and info("u8")["type"] == "image"
assert info("f32")["scales"][0]["size"] == [70, 50, 37]
assert info("rgb")["num_channels"] == 3 and info("czyx")["num_channels"] == 3
assert info("u16")["data_type"] == "uint16" and info("f32")["data_type"] == "float32"
PY

# independent per-task reads (no exchange) give the same layers; so does the old --collective
for name in u16 rgb f32; do
    args=()
    [ "$name" = f32 ] && args=(--axes xyz --resolution 8,8,30)
    [ "$name" = rgb ] && args=(--resolution 1,1,1)
    run_np 3 import "$name.h5:/grp/data" "I3_$name" --chunk 32,32,16 --memory 1M --independent \
        "${args[@]}" > log 2>&1 || { cat log; fail "--independent $name"; }
    [ "$(digest "I3_$name")" = "$(digest "L1_$name")" ] || fail "--independent $name differs"
done
run_np 2 import u16.h5:/grp/data C2_u16 --chunk 32,32,16 --memory 1M --collective > log 2>&1 ||
    { cat log; fail "--collective"; }
[ "$(digest C2_u16)" = "$(digest L1_u16)" ] || fail "--collective differs"

# --resume after a finished import kept with --keep-journal skips every task; a compatible
# existing layer is reused
run_np 2 import u16.h5:/grp/data K_u16 --chunk 32,32,16 --memory 1M --keep-journal > log 2>&1 ||
    { cat log; fail "import --keep-journal"; }
run_np 2 import u16.h5:/grp/data K_u16 --chunk 32,32,16 --memory 1M --resume --keep-journal \
    > log 2>&1 || { cat log; fail "import --resume"; }
grep -q "import: 0 tasks written, [1-9][0-9]* skipped, 0 failed" log || { cat log; fail "resume"; }
rm -r K_u16/.cvmpi-journal
[ "$(digest K_u16)" = "$(digest L3_u16)" ] || fail "resume changed the layer"
"$CVMPI" import u8.h5:/grp/data L1_u16 > log 2>&1 && fail "import into a different layer"
grep -q "exists and differs from the dataset" log || { cat log; fail "no mismatch message"; }

# export: h5py reads back what `cvmpi read` gives (1 and 3 ranks, gzip, xyz, a box)
exports=()
export_check() { # export_check N LAYER DATASET AXES ARGS...: checked by check_exports
    local n=$1 layer=$2 dset=$3 axes=$4
    shift 4
    local launch=(run_np "$n")
    [ "$n" != 1 ] || launch=("$CVMPI")
    "${launch[@]}" export "$layer" "out.h5:$dset" --memory 1M "$@" > log 2>&1 ||
        { cat log; fail "export $layer $dset"; }
    exports+=("$layer $dset $axes $*")
}
check_exports() {
    /usr/bin/python3 - "${exports[@]}" <<'PY' || fail "export"
import sys, h5py, numpy as np
for line in sys.argv[1:]:
  layer, dset, axes, *args = line.split()
  e = np.load(layer + ".npy")
  off = [0, 0, 0]
  if "--bbox" in args:
      b = [int(v) for v in args[args.index("--bbox") + 1].split(",")]
      e = e[b[0]:b[3], b[1]:b[4], b[2]:b[5]]
      off = b[:3]
  with h5py.File("out.h5", "r") as f:
      d = f[dset]
      a = d[...]
      assert list(d.attrs["voxel_offset"]) == off, d.attrs["voxel_offset"]
      assert len(d.attrs["resolution"]) == 3 and d.attrs["source"].endswith(layer), dict(d.attrs)
      if "--gzip" in args:
          assert d.compression == "gzip", d.compression
  b = a if "c" in axes else a[..., None]
  ax = axes if "c" in axes else axes + "c"
  got = np.transpose(b, [ax.index(c) for c in "xyzc"])
  assert got.dtype == e.dtype and got.shape == e.shape, (got.shape, e.shape)
  assert np.array_equal(got, e), "values differ"
PY
}
export_check 1 L1_u16 /u16 zyx
export_check 3 L1_u16 /g/u16z zyx --gzip 4 --chunked 16,16,8
export_check 3 L1_f32 /f32 xyz --axes xyz
export_check 2 L1_rgb /rgb zyxc --gzip 1
export_check 3 L1_u64 /u64box zyx --bbox 5,7,3,61,49,30
export_check 3 L1_czyx /czyx czyx --axes czyx
check_exports

# bad input: exit 1, one clear line, no layer written
bad() { # bad PATTERN ARGS...
    local pattern=$1
    shift
    set +e
    if [ "$1" = "-n2" ]; then
        shift
        run_np 2 "$@" > out 2> err
    else
        "$CVMPI" "$@" > out 2> err
    fi
    local rc=$?
    set -e
    [ "$rc" = 1 ] || { cat out err; fail "$* exited $rc"; }
    [ "$(grep -c '^cvmpi: ' err)" = 1 ] || { cat err; fail "$*: not one cvmpi line"; }
    grep -q "^cvmpi: .*$pattern" err || { cat err; fail "$*: want '$pattern'"; }
}
bad "has no dataset /nope" -n2 import u8.h5:/nope BAD
bad "no such file" import missing.h5:/grp/data BAD
bad "unsupported HDF5 element type (compound" import bad.h5:/compound BAD
bad "has 2 dimensions" import bad.h5:/flat BAD
bad "names 4 axes, but the dataset /grp/data has 3" import u8.h5:/grp/data BAD --axes czyx
bad "bad --axes .zyy." import u8.h5:/grp/data BAD --axes zyy
bad "want FILE.h5:/DATASET" import u8.h5 BAD
[ ! -e BAD ] || fail "a failed import left a layer behind"

# a corrupt HDF5 chunk: the tasks it feeds fail with HDF5's cause, the rest are written, exit 1
set +e
run_np 2 import corrupt.h5:/g CORRUPT --chunk 32,32,8 --resolution 1,1,1 > out 2> err
rc=$?
set -e
[ "$rc" = 1 ] || { cat out err; fail "a corrupt chunk: exit $rc"; }
grep -q "reading /g of corrupt.h5 (box .*) failed: inflate() failed" err || { cat err; fail "no cause"; }
grep -q "^cvmpi: import: [0-9]* of [0-9]* tasks failed (listed above); fix the cause and rerun with --resume" err ||
    { cat err; fail "no summary of the failed tasks"; }
bad "already has /u16" -n2 export L1_u16 out.h5:/u16

# a contiguous dataset stored as its native type is read by the ranks themselves (pread, no HDF5
# read, no slab): same bytes as the slab path (CV_IMPORT_NO_DIRECT=1), which chunked or gzip datasets and
# xyz axes always take; the smaller --memory makes rounds of two tasks, part of a row, so the
# reads are cut in y and x too
for name in u8 czyx f32; do
    axes=zyx res=1,1,1
    mems="1M 150K"
    case $name in czyx) axes=czyx mems="4M 900K" ;; f32) axes=xyz res=8,8,30 mems=1M ;; u8) res=4,4,40 ;; esac
    for mem in $mems; do
        rm -rf "D_$name" "S_$name"
        "$CVMPI" -v import "$name.h5:/grp/data" "D_$name" --chunk 32,32,16 --memory $mem \
            --axes $axes --resolution $res > log 2>&1 ||
            { cat log; fail "import $name direct"; }
        CV_IMPORT_NO_DIRECT=1 "$CVMPI" -v import "$name.h5:/grp/data" "S_$name" --chunk 32,32,16 \
            --memory $mem --axes $axes --resolution $res > log2 2>&1 ||
            { cat log2; fail "import $name not direct"; }
        if [ $name = f32 ]; then
            ! grep -q "read directly" log || fail "$name (chunked, xyz) was read directly"
        else
            grep -q "import: /grp/data of $name.h5 read directly" log || { cat log; fail "$name not direct"; }
        fi
        ! grep -q "read directly" log2 || fail "CV_IMPORT_NO_DIRECT=1 still read $name directly"
        [ "$(digest "D_$name")" = "$(digest "S_$name")" ] || fail "$name $mem: direct and slab layers differ"
        [ "$(digest "D_$name")" = "$(digest "L1_$name")" ] || fail "$name $mem: direct differs from before"
        # several ranks read directly too, each the box of its own tasks (whole rows of a round,
        # or runs of a row), with no slab exchange: the same bytes
        nps=2
        [ "$name $mem" = "u8 150K" ] && nps="2 3"
        for np in $nps; do
            rm -rf "D${np}_$name"
            run_np $np -v import "$name.h5:/grp/data" "D${np}_$name" --chunk 32,32,16 --memory $mem \
                --axes $axes --resolution $res > log 2>&1 || { cat log; fail "import $name -n $np"; }
            if [ $name != f32 ]; then
                [ "$(grep -c "import: /grp/data of $name.h5 read directly" log)" = $np ] ||
                    { cat log; fail "$name -n $np: not every rank read directly"; }
            fi
            [ "$(digest "D${np}_$name")" = "$(digest "D_$name")" ] || fail "$name $mem -n $np: layers differ"
        done
    done
done
# a file cut short inside the dataset's bytes is not read directly: HDF5's read fails, named, exit 1
/usr/bin/python3 - <<'PY2'
import h5py, numpy as np
with h5py.File("short.h5", "w") as f:
    f.create_dataset("d", data=np.arange(64 * 64 * 32, dtype="uint16").reshape(32, 64, 64))
    off = f["d"].id.get_offset()
with open("short.h5", "r+b") as f:
    f.truncate(off + 1000)
with h5py.File("long.h5", "w") as f:
    f.create_dataset("d", data=np.arange(64 * 64 * 64, dtype="uint16").reshape(64, 64, 64))
    open("long.off", "w").write(str(f["d"].id.get_offset()))
PY2
set +e
"$CVMPI" import short.h5:/d SHORT --chunk 32,32,16 --resolution 1,1,1 > out 2> err
rc=$?
set -e
[ "$rc" = 1 ] || { cat out err; fail "a truncated file: exit $rc"; }
grep -q "short.h5" err || { cat err; fail "a truncated file: error does not name it"; }
# ... and a file cut short while a direct import runs (rounds slowed down; cut after the first
# chunk is written): the later rounds' tasks fail naming the file, exit 1, no crash
set +e
CVMPI_TEST_TASK_DELAY_MS=100 "$CVMPI" -v import long.h5:/d LONG --chunk 16,16,16 --memory 80K --resolution 1,1,1 \
    > out 2> err &
pid=$!
for _ in $(seq 100); do
    [ -n "$(find LONG -name '*-*_*-*_*-*' 2> /dev/null | head -1)" ] && break
    sleep 0.1
done
/usr/bin/python3 -c "import os; os.truncate('long.h5', int(open('long.off').read()) + 1000)"
wait $pid
rc=$?
set -e
[ "$rc" = 1 ] || { cat out err; fail "a file cut short mid-import: exit $rc"; }
grep -q "long.h5 ends at byte .*, inside dataset /d: the file was cut short" err ||
    { cat out err; fail "a file cut short mid-import: error does not name it"; }

# An explicit --resolution wins over the dataset's attribute; a dataset with neither is an error
# that says how to give one (never a silent 1,1,1)
"$CVMPI" import u8.h5:/grp/data RES --resolution 8,8,40 > log 2>&1 || { cat log; fail "--resolution"; }
/usr/bin/python3 -c 'import json; r = json.load(open("RES/info"))["scales"][0]["resolution"]
assert r == [8, 8, 40], r' || fail "--resolution did not win over the attribute"
set +e
"$CVMPI" import u64.h5:/grp/data NORES > out 2> err
rc=$?
set -e
[ "$rc" = 1 ] || { cat out err; fail "no resolution: exit $rc"; }
grep -qF "cvmpi: import: dataset /grp/data of u64.h5 has no resolution attribute (\`resolution', x,y,z nm, or \`element_size_um'); give --resolution X,Y,Z in nm" err ||
    { cat err; fail "no resolution: error text"; }
[ ! -e NORES ] || fail "no resolution: a layer was created"
# options that contradict an existing layer: exit 2, nothing written
import_usage() { # import_usage TEXT ARGS...
    local text=$1
    shift
    set +e
    "$CVMPI" import "$@" > out 2> err
    local rc=$?
    set -e
    [ "$rc" = 2 ] || { cat out err; fail "import $*: exit $rc, want 2"; }
    grep -qF -- "$text" err || { cat err; fail "import $*: want '$text'"; }
}
before=$(digest L1_u8)
import_usage "import: --encoding jpeg conflicts with scale 4_4_40 of file://$PWD/L1_u8, which has encoding raw" \
    u8.h5:/grp/data L1_u8 --chunk 32,32,16 --encoding jpeg
import_usage "import: --resolution 8,8,40 conflicts with scale 4_4_40 of file://$PWD/L1_u8, which has resolution 4,4,40" \
    u8.h5:/grp/data L1_u8 --chunk 32,32,16 --resolution 8,8,40
import_usage "import: --chunk 64,64,16 conflicts with scale 4_4_40 of file://$PWD/L1_u8, which has chunk size 32,32,16" \
    u8.h5:/grp/data L1_u8 --chunk 64,64,16
import_usage "import: --sharded conflicts with scale 4_4_40 of file://$PWD/L1_u8, which is unsharded" \
    u8.h5:/grp/data L1_u8 --chunk 32,32,16 --sharded
import_usage "--level 2 needs gzip or br: --compress none has no levels" \
    u8.h5:/grp/data LV --compress none --level 2
[ "$(digest L1_u8)" = "$before" ] || fail "a refused import changed the layer"
# --level 1: other gzip bytes, the same voxels; the summary names the level
"$CVMPI" import u8.h5:/grp/data LV1 --chunk 32,32,16 --memory 1M --level 1 > log 2>&1 ||
    { cat log; fail "import --level 1"; }
grep -q "compress gzip level 1$" log || { cat log; fail "import summary: level"; }
[ "$(digest LV1)" != "$(digest L1_u8)" ] || fail "--level 1 wrote level 9's bytes"
check_layers LV1 u8.npy
"$CVMPI" import u8.h5:/grp/data LV9 --chunk 32,32,16 --memory 1M --level 9 > log 2>&1 ||
    { cat log; fail "import --level 9"; }
[ "$(digest LV9)" = "$(digest L1_u8)" ] || fail "--level 9 is not the default"
echo "h5: ok"
