#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# crackle.sh CVMPI: writing crackle (one process, no mpirun). A uint64 segmentation stored as
# compressed_segmentation is transferred to --encoding crackle and reads back voxel for voxel
# (edge chunks clipped, every chunk a gzip'd version-1 crackle stream with the Fortran order
# bit clear, as CloudVolume writes them); a uint32 layer created with --encoding crackle is
# written and read back; a chunk holding the labels of a reference stream is stored byte for
# byte as upstream's encoder makes it (tests/data/crackle).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
# transfer starts MPI (one rank); LeakSanitizer would report Open MPI's own leaks
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
DATA=$TEST_DIR/../data/crackle

same_npy() { # same_npy A B: equal dtype, shape and voxels
    "$PY" - "$1" "$2" <<'PY' || fail "$1 and $2 differ"
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
bad = np.argwhere(a != b)
assert len(bad) == 0, "%d voxels differ, first at %s" % (len(bad), tuple(bad[0]))
PY
}

section "a segmentation: compressed_segmentation to crackle"
"$PY" - <<'PY'
import numpy as np
rng = np.random.default_rng(23)
X, Y, Z = 100, 70, 20
# cells around 40 random points, large labels, and a background of 0
pts = rng.integers(0, (X, Y, Z), (40, 3))
ids = rng.integers(1, 2**50, 40, dtype=np.uint64)
x, y, z = np.meshgrid(np.arange(X), np.arange(Y), np.arange(Z), indexing="ij")
best = np.full((X, Y, Z), np.iinfo(np.int64).max)
a = np.zeros((X, Y, Z), np.uint64)
for p, i in zip(pts, ids):
    d = (x - p[0]) ** 2 + (y - p[1]) ** 2 + 9 * (z - p[2]) ** 2
    a[d < best] = i
    best = np.minimum(best, d)
a[:, :, 5] = 0
a[x + y < 20] = 0
np.save("seg.npy", np.asfortranarray(a[..., None]))
np.save("seg32.npy", np.asfortranarray((a[..., None] % 5000).astype(np.uint32)))
PY
expect_exit 0 "$CVMPI" create seg --type segmentation --dtype uint64 --size 100,70,20 \
    --offset 3,-4,1 --resolution 8,8,40 --chunk 32,32,8 --encoding compressed_segmentation
expect_exit 0 "$CVMPI" write seg --bbox 3,-4,1,103,66,21 -i seg.npy
expect_exit 0 "$CVMPI" -q transfer seg crk --encoding crackle
grep -q '"encoding": "crackle"' crk/info || fail "crk/info: encoding is not crackle"
n=$(find crk/8_8_40 -type f | wc -l)
[ "$n" = 36 ] || fail "crk holds $n chunks, want 4x3x3"
# gzip'd (CloudVolume's default for crackle); version 1, 8-byte labels, bit 7 clear, the
# clipped shape of the corner chunk
"$PY" - crk/8_8_40 <<'PY' || fail "crackle chunks"
import gzip, os, struct, sys
d = sys.argv[1]
names = sorted(os.listdir(d))
assert all(n.endswith(".gz") for n in names), names
for n in names:
    s = gzip.open(os.path.join(d, n)).read()
    assert s[:5] == b"crkl\x01" and s[5] & 0x83 == 0x03 and s[19] == 31, (n, s[:29].hex())
s = gzip.open(os.path.join(d, "99-103_60-66_17-21.gz")).read()
assert struct.unpack("<3I", s[7:19]) == (4, 6, 4), s[7:19].hex()
PY
expect_exit 0 "$CVMPI" read crk -o back.npy
same_npy seg.npy back.npy
expect_exit 0 "$CVMPI" read crk --bbox 10,0,3,90,50,19 -o sub.npy
expect_exit 0 "$CVMPI" read seg --bbox 10,0,3,90,50,19 -o sub_want.npy
same_npy sub_want.npy sub.npy

section "a layer created as crackle, written directly"
expect_exit 0 "$CVMPI" create crk32 --type segmentation --dtype uint32 --size 100,70,20 \
    --resolution 8,8,40 --chunk 64,64,16 --encoding crackle
expect_exit 0 "$CVMPI" write crk32 --bbox 0,0,0,100,70,20 -i seg32.npy
expect_exit 0 "$CVMPI" read crk32 -o back32.npy
same_npy seg32.npy back32.npy

section "a chunk is upstream's stream byte for byte"
expect_exit 0 "$CVMPI" create vor --type segmentation --dtype uint64 --size 40,33,3 \
    --resolution 1,1,1 --chunk 40,33,3 --encoding crackle
expect_exit 0 "$CVMPI" write vor --bbox 0,0,0,40,33,3 -i "$DATA/voronoi_u64_40x33x3.raw" \
    --format raw --compress none
expect_same_files vor/1_1_1/0-40_0-33_0-3 "$DATA/voronoi_u64_40x33x3.crkl"
