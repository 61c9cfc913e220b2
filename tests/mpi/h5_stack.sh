#!/usr/bin/env bash
# cvmpi import of stacks and sharded layers, and `cvmpi read -o FILE.h5:/DATASET`:
# - a z stack of h5py files of different depths (some chunked+gzip) given as a glob is read in
#   natural order (slice_2 before slice_10) and equals numpy's concatenation; -n 1, 2 and 3 and
#   a list file give byte-identical layers; so do stacks of x,y,z (float64) and c,z,y,x (int16)
#   files;
# - stack files that differ in x/y shape or dtype, a glob without matches, an empty list file:
#   exit 1 with one line naming the file, nothing written;
# - --sharded: shards chosen as for CloudVolume images, -n 1, 2, 3 identical, and the layer read
#   by the independent reader from the spec (tests/interop/precomputed_ref.py) equals the array;
# - read -o FILE.h5:/DATASET: h5py reads the box with the attributes export writes, whole files
#   only, a second dataset goes into the same file, an existing one is refused.
REF=$(cd "$(dirname "$0")/../interop" && pwd)/precomputed_ref.py
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import h5py" 2> /dev/null || { echo "h5_stack: skipped (no python3-h5py)"; exit 0; }

/usr/bin/python3 - <<'PY'
import os, h5py, numpy as np
rng = np.random.default_rng(3)
os.makedirs("stack", exist_ok=True)
parts = []
for i in range(1, 13):  # depths 1..5, so slabs never line up with files or chunks
    a = rng.integers(0, 65536, (1 + i % 5, 45, 38)).astype("uint16")
    with h5py.File("stack/slice_%d.h5" % i, "w") as f:
        kw = {"chunks": (1, 16, 16), "compression": "gzip"} if i % 2 else {}
        d = f.create_dataset("img", data=a, **kw)
        d.attrs["resolution"] = [5, 5, 50]
    parts.append(a)
whole = np.concatenate(parts, axis=0)
np.save("stack.npy", np.transpose(whole[..., None], (2, 1, 0, 3)))
with open("stack/list.txt", "w") as f:  # relative to the list's directory, comments, blanks
    f.write("# natural order\n\n" + "".join(" slice_%d.h5 \n" % i for i in range(1, 13)))
os.makedirs("badshape", exist_ok=True)
os.makedirs("baddtype", exist_ok=True)
for d in ("badshape", "baddtype"):
    with h5py.File(d + "/s_1.h5", "w") as f:
        f["img"] = np.zeros((2, 45, 38), "uint16")
with h5py.File("badshape/s_2.h5", "w") as f:
    f["img"] = np.zeros((2, 44, 38), "uint16")
with h5py.File("baddtype/s_2.h5", "w") as f:
    f["img"] = np.zeros((2, 45, 38), "uint8")
open("empty.txt", "w").write("# nothing\n")
# stacks of x,y,z and c,z,y,x files: z is their last / second axis
os.makedirs("xyz", exist_ok=True)
vols = []
for i, depth in enumerate((3, 7, 2)):
    v = rng.standard_normal((29, 21, depth))  # x, y, z
    with h5py.File("xyz/part_%d.h5" % i, "w") as f:
        f.create_dataset("v", data=v, chunks=(8, 8, 1) if i == 1 else None,
                         compression="gzip" if i == 1 else None)
    vols.append(v)
np.save("xyz.npy", np.concatenate(vols, axis=2)[..., None])
os.makedirs("czyx", exist_ok=True)
vols = []
for i, depth in enumerate((5, 4)):
    v = rng.integers(-30000, 30000, (2, depth, 17, 23)).astype("int16")
    with h5py.File("czyx/c_%d.h5" % i, "w") as f:
        f["v"] = v
    vols.append(v)
np.save("czyx.npy", np.transpose(np.concatenate(vols, axis=1), (3, 2, 1, 0)))
a = rng.integers(0, 1 << 20, (40, 70, 90)).astype("uint32")
with h5py.File("seg.h5", "w") as f:
    f.create_dataset("seg", data=a, chunks=(8, 32, 32), compression="gzip")
np.save("seg.npy", np.asfortranarray(np.transpose(a[..., None], (2, 1, 0, 3))))
PY

# check_layer DIR EXPECTED.npy: `cvmpi read` of the layer equals the array exactly
check_layer() {
    "$CVMPI" read "$1" -o "$1.npy" > /dev/null
    /usr/bin/python3 - "$1.npy" "$2" <<'PY' || fail "voxels of $1 differ from $2"
import sys, numpy as np
r, e = np.load(sys.argv[1]), np.load(sys.argv[2])
assert r.shape == e.shape and r.dtype == e.dtype, (r.shape, e.shape, r.dtype, e.dtype)
assert np.array_equal(r, e), "values differ"
PY
}

for n in 1 2 3; do
    run_np $n import 'stack/slice_*.h5:/img' "S$n" --chunk 16,16,8 --memory 256K > log 2>&1 ||
        { cat log; fail "import stack -n $n"; }
done
[ "$(digest S1)" = "$(digest S2)" ] || fail "stack: -n 1 and -n 2 differ"
[ "$(digest S1)" = "$(digest S3)" ] || fail "stack: -n 1 and -n 3 differ"
check_layer S1 stack.npy
/usr/bin/python3 -c 'import json; s = json.load(open("S1/info"))["scales"][0]
assert s["size"] == [38, 45, 35] and s["resolution"] == [5, 5, 50], s' || fail "stack info"
run_np 2 import @stack/list.txt:/img SL --chunk 16,16,8 --memory 256K > log 2>&1 ||
    { cat log; fail "import @list"; }
[ "$(digest S1)" = "$(digest SL)" ] || fail "a list file and a glob differ"
run_np 2 import 'stack/slice_*.h5:/img' SI --chunk 16,16,8 --memory 256K --independent \
    > log 2>&1 || { cat log; fail "import stack --independent"; }
[ "$(digest S1)" = "$(digest SI)" ] || fail "stack: --independent differs"

# stacks of other axis orders (float64 x,y,z; int16 c,z,y,x)
for n in 1 3; do
    run_np $n import 'xyz/part_*.h5:/v' "X$n" --axes xyz --chunk 8,8,4 --memory 64K --resolution 1,1,1 > log 2>&1 ||
        { cat log; fail "import xyz stack -n $n"; }
    run_np $n import 'czyx/c_*.h5:/v' "C$n" --axes czyx --chunk 8,8,4 --memory 64K --resolution 1,1,1 > log 2>&1 ||
        { cat log; fail "import czyx stack -n $n"; }
done
[ "$(digest X1)" = "$(digest X3)" ] || fail "xyz stack: -n 1 and -n 3 differ"
[ "$(digest C1)" = "$(digest C3)" ] || fail "czyx stack: -n 1 and -n 3 differ"
check_layer X1 xyz.npy
check_layer C1 czyx.npy

# sharded: -n 1, 2, 3 identical, read back by cvmpi and by the reference reader
for n in 1 2 3; do
    run_np $n import seg.h5:/seg "SH$n" --chunk 16,16,8 --sharded --shard-bytes 200K --resolution 1,1,1 \
        --memory 4M > log 2>&1 || { cat log; fail "import --sharded -n $n"; }
done
[ "$(digest SH1)" = "$(digest SH2)" ] || fail "sharded: -n 1 and -n 2 differ"
[ "$(digest SH1)" = "$(digest SH3)" ] || fail "sharded: -n 1 and -n 3 differ"
[ "$(find SH1 -name '*.shard' | wc -l)" -gt 1 ] || fail "want several shard files"
grep -q neuroglancer_uint64_sharded_v1 SH1/info || fail "no sharding in the info"
check_layer SH1 seg.npy
/usr/bin/python3 "$REF" check SH1 seg.npy > log 2>&1 || { cat log; fail "reference reader"; }

# read -o FILE.h5:/DATASET
"$CVMPI" read S1 --bbox 3,4,5,30,41,33 -o cut.h5:/a/b > /dev/null || fail "read -o cut.h5"
"$CVMPI" read SH1 --bbox 0,0,0,90,70,40 -o cut.h5:/seg > /dev/null || fail "read -o second"
/usr/bin/python3 - <<'PY' || fail "read -o cut.h5: contents"
import h5py, numpy as np
e = np.load("stack.npy")[3:30, 4:41, 5:33, 0]
s = np.load("seg.npy")[..., 0]
with h5py.File("cut.h5", "r") as f:
    d = f["/a/b"]
    assert d.dtype == np.uint16 and d.shape == (28, 37, 27), (d.dtype, d.shape)
    assert np.array_equal(d[...], np.transpose(e, (2, 1, 0)))
    assert list(d.attrs["voxel_offset"]) == [3, 4, 5] and list(d.attrs["resolution"]) == [5, 5, 50]
    assert d.attrs["source"].endswith("S1"), d.attrs["source"]
    g = f["/seg"]
    assert g.dtype == np.uint32 and np.array_equal(g[...], np.transpose(s, (2, 1, 0)))
PY
set +e
"$CVMPI" read S1 -o cut.h5:/a/b > out 2> err
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "already has /a/b" err || { cat err; fail "read -o over a dataset"; }
"$CVMPI" read S1 -o nodir/x.h5:/d > out 2> err && fail "read -o into a missing directory"
[ -z "$(ls nodir 2> /dev/null)" ] || fail "a failed read left a file"
ls cut.h5.tmp-* 2> /dev/null && fail "a temporary file was left"

# bad stacks: exit 1, one clear line naming the file, no layer written
bad() { # bad PATTERN ARGS...
    local pattern=$1
    shift
    set +e
    run_np 2 "$@" > out 2> err
    local rc=$?
    set -e
    [ "$rc" = 1 ] || { cat out err; fail "$* exited $rc"; }
    [ "$(grep -c '^cvmpi: ' err)" = 1 ] || { cat err; fail "$*: not one cvmpi line"; }
    grep -q "^cvmpi: .*$pattern" err || { cat err; fail "$*: want '$pattern'"; }
}
bad "stack file badshape/s_2.h5: dataset /img is uint16 2x44x38, badshape/s_1.h5 is uint16 2x45x38" \
    import 'badshape/s_*.h5:/img' BAD
bad "stack file baddtype/s_2.h5: dataset /img is uint8" import 'baddtype/s_*.h5:/img' BAD
bad "no file matches .nothing_\*.h5" import 'nothing_*.h5:/img' BAD
bad "file list empty.txt: names no file" import @empty.txt:/img BAD
bad "open file list .missing.txt" import @missing.txt:/img BAD

[ ! -e BAD ] || fail "a failed import left a layer behind"
echo "h5_stack: ok"
