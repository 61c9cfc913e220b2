#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# interop.sh CVMPI: cvmpi against tests/interop/precomputed_ref.py, an independent Python +
# NumPy implementation written from the specification.
#   (a) layers written by the reference are read by cvmpi (whole and sub-boxes, raw and .npy);
#   (b) layers created and written by cvmpi from reference-made .npy files (Fortran and C
#       order) are read back by the reference;
#   (c) cvmpi's info file for `create` is byte-identical to the reference's.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

REF=$(cd "$TEST_DIR/../interop" && pwd)/precomputed_ref.py
[[ -f $REF ]] || fail "reference implementation $REF not found"
ref() { "$PY" "$REF" "$@"; }
HAVE_BROTLI=0
"$PY" -c 'import brotli' 2>/dev/null && HAVE_BROTLI=1

# ---- (a) reference writes, cvmpi reads --------------------------------------------------------
# a_case NAME DTYPE CHANNELS TYPE SIZE OFFSET CHUNK GZIP(0/1) NCHUNKS SUBBOX...
a_case()
{
    local name=$1 dtype=$2 ch=$3 type=$4 size=$5 offset=$6 chunk=$7 gz=$8 nchunks=$9
    shift 9
    section "(a) $name: reference writes $dtype x$ch size $size offset $offset chunk $chunk gzip=$gz"
    local gopt=()
    [[ $gz == 1 ]] && gopt=(--gzip)
    run ref make "$name" --dtype "$dtype" --channels "$ch" --type "$type" --size "$size" \
        --offset "$offset" --chunk "$chunk" --seed "${#name}" "${gopt[@]}"
    [[ $RC == 0 ]] || fail "reference make failed"
    run ref check "$name" "$name.expected.npy" --strict
    [[ $RC == 0 ]] || fail "the reference cannot read its own layer"

    # The info cvmpi parses and prints back is the reference's file, byte for byte.
    expect_exit 0 "$CVMPI" info --json "$name"
    expect_same_files "$OUT" "$name/info"
    expect_exit 0 "$CVMPI" exists "$name"
    expect_stdout "$nchunks/$nchunks chunks present"

    # Whole volume and each box, as .npy and raw; one reference run compares them all.
    expect_exit 0 "$CVMPI" read "$name" -o "$name.npy"
    expect_exit 0 "$CVMPI" read "$name" -o "$name.raw"
    local box i=0 outputs=("$name.npy" "$name.raw")
    for box in "$@"; do
        i=$((i + 1))
        expect_exit 0 "$CVMPI" read "$name" --bbox "$box" -o "$name.sub$i.npy"
        expect_exit 0 "$CVMPI" read "$name" --bbox "$box" -o "$name.sub$i.raw"
        outputs+=("$name.sub$i.npy:$box" "$name.sub$i.raw:$box")
    done
    run ref compare "$name.expected.npy" "${outputs[@]}" --origin "$offset"
    [[ $RC == 0 ]] || fail "cvmpi reads differ from the reference's data"
    rm -f "$name".sub*.npy "$name".sub*.raw "$name.npy" "$name.raw"
}

a_case a_u8 uint8 1 image 70,45,19 -10,-3,-20 32,16,8 0 27 \
    -10,-3,-20,-9,-2,-19 59,41,-2,60,42,-1 21,12,-13,23,14,-11 0,0,-10,50,30,-3 -10,10,-20,60,11,-1
a_case a_u16x3 uint16 3 image 33,17,9 5,-7,0 16,16,4 1 18 \
    5,-7,0,38,10,9 20,8,3,22,10,5 6,-6,1,30,9,8 37,9,8,38,10,9
a_case a_f32 float32 1 image 20,21,22 -1,-1,-1 8,8,8 1 27 \
    -1,-1,-1,1,1,1 6,6,6,8,8,8 0,2,4,19,20,21
a_case a_u64 uint64 1 segmentation 50,30,7 -100,60,-7 25,16,7 0 4 \
    -76,75,-7,-74,77,0 -100,60,-7,-50,90,0 -60,70,-5,-51,89,-1
a_case a_i8 int8 1 image 17,9,30 -3,-3,-3 5,4,16 1 24 \
    -3,-3,-3,14,6,27 1,0,12,3,2,14 13,5,26,14,6,27
a_case a_i16x2 int16 2 image 9,10,11 -4,-5,-6 4,4,4 0 27 -4,-5,-6,0,-1,-2 -1,-2,-3,2,3,4
a_case a_u32 uint32 1 segmentation 16,16,16 0,0,0 16,16,16 1 1 3,4,5,10,11,12
a_case a_i32x4 int32 4 image 7,6,5 1000,-1000,0 3,3,3 1 12 1001,-999,1,1006,-995,4

section "(a) gzip from Python's gzip module with a padded tail still reads"
cp a_u16x3/4_4_40/21-37_-7-9_0-4.gz pad.gz
{ cat pad.gz; printf '\0\0\0\0'; } >a_u16x3/4_4_40/21-37_-7-9_0-4.gz
expect_exit 0 "$CVMPI" read a_u16x3 -o a_u16x3.npy
run ref compare a_u16x3.expected.npy a_u16x3.npy --origin 5,-7,0
[[ $RC == 0 ]] || fail "read with a zero-padded gzip chunk differs"
# Two gzip members concatenated: gunzip semantics.
"$PY" -c '
import gzip, sys
data = gzip.decompress(open(sys.argv[1], "rb").read())
half = len(data) // 2
open(sys.argv[2], "wb").write(gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0))
' pad.gz a_u16x3/4_4_40/21-37_-7-9_0-4.gz
expect_exit 0 "$CVMPI" read a_u16x3 -o a_u16x3.npy
run ref compare a_u16x3.expected.npy a_u16x3.npy --origin 5,-7,0
[[ $RC == 0 ]] || fail "read with a two-member gzip chunk differs"

section "(a) missing chunk: the reference and cvmpi agree on --fill-missing zeros"
rm a_u8/4_4_40/22-54_13-29_-12--4
expect_exit 1 "$CVMPI" read a_u8 -o a_u8.npy
expect_one_line_error
expect_stderr_contains "4_4_40/22-54_13-29_-12--4"
expect_no_file a_u8.npy
expect_exit 0 "$CVMPI" read a_u8 --fill-missing -o a_u8.npy
"$PY" -c '
import sys, numpy as np
want = np.load(sys.argv[1]); got = np.load(sys.argv[2])
want[32:64, 16:32, 8:16, :] = 0
sys.exit(0 if np.array_equal(want, got) else "fill-missing read differs")' a_u8.expected.npy a_u8.npy ||
    fail "cvmpi --fill-missing read is wrong"

# ---- (b) cvmpi writes, reference reads ---------------------------------------------------------
# b_case NAME DTYPE CHANNELS TYPE SIZE OFFSET CHUNK ORDER SHAPE COMPRESS
b_case()
{
    local name=$1 dtype=$2 ch=$3 type=$4 size=$5 offset=$6 chunk=$7 order=$8 shape=$9
    local compress=${10}
    section "(b) $name: cvmpi writes $dtype x$ch from a $order-order .npy of shape $shape, compress $compress"
    IFS=, read -r sx sy sz <<<"$size"
    IFS=, read -r ox oy oz <<<"$offset"
    local bbox=$ox,$oy,$oz,$((ox + sx)),$((oy + sy)),$((oz + sz))
    run ref npy "$name.in.npy" --dtype "$dtype" --shape "$shape" --order "$order" --seed 11
    [[ $RC == 0 ]] || fail "reference npy failed"
    expect_exit 0 "$CVMPI" create "$name" --type "$type" --dtype "$dtype" --channels "$ch" \
        --size "$size" --offset "$offset" --chunk "$chunk" --resolution 4,4,40
    local copt=()
    [[ $compress == default ]] || copt=(--compress "$compress")
    expect_exit 0 "$CVMPI" write "$name" --bbox "$bbox" -i "$name.in.npy" "${copt[@]}"
    run ref check "$name" "$name.in.npy" --strict
    [[ $RC == 0 ]] || fail "the reference reads something else than cvmpi wrote"
    # and cvmpi reads back the same thing, in Fortran order
    expect_exit 0 "$CVMPI" read "$name" -o "$name.out.npy"
    run ref compare "$name.in.npy" "$name.out.npy" --origin "$offset"
    [[ $RC == 0 ]] || fail "cvmpi reads back something else than it wrote"
}

b_case b_u8_f uint8 1 image 70,45,19 -10,-3,-20 32,16,8 F 70,45,19,1 default
b_case b_u8_c uint8 1 image 70,45,19 -10,-3,-20 32,16,8 C 70,45,19 none
b_case b_u16x3_c uint16 3 image 33,17,9 5,-7,0 16,16,4 C 33,17,9,3 gzip
b_case b_u16x3_f uint16 3 image 33,17,9 5,-7,0 16,16,4 F 33,17,9,3 none
b_case b_f32_c float32 1 image 20,21,22 -1,-1,-1 8,8,8 C 20,21,22 default
b_case b_u64_f uint64 1 segmentation 50,30,7 -100,60,-7 25,16,7 F 50,30,7 gzip
b_case b_u64_c uint64 1 segmentation 50,30,7 -100,60,-7 25,16,7 C 50,30,7,1 none
b_case b_i8_c int8 1 image 17,9,30 -3,-3,-3 5,4,16 C 17,9,30,1 default
b_case b_i32x2_f int32 2 image 7,6,5 1000,-1000,0 3,3,3 F 7,6,5,2 gzip
if [[ $HAVE_BROTLI == 1 ]]; then
    b_case b_f32_br float32 1 image 20,21,22 -1,-1,-1 8,8,8 F 20,21,22,1 br
else
    echo "(brotli module not installed: the reference does not read .br chunks; skipped)"
fi

section "(b) aligned pieces from C- and Fortran-order files; the reference reads each box"
expect_exit 0 "$CVMPI" create pieces --type image --dtype uint16 --channels 2 --size 40,24,10 \
    --offset -8,0,5 --chunk 16,16,10 --resolution 1,1,1
ref npy p1.npy --dtype uint16 --shape 16,24,10,2 --order C --seed 1
ref npy p2.npy --dtype uint16 --shape 24,16,10,2 --order F --seed 2
ref npy p3.npy --dtype uint16 --shape 24,8,10,2 --order C --seed 3
expect_exit 0 "$CVMPI" write pieces --bbox -8,0,5,8,24,15 -i p1.npy
expect_exit 0 "$CVMPI" write pieces --bbox 8,0,5,32,16,15 -i p2.npy --compress none
expect_exit 0 "$CVMPI" write pieces --bbox 8,16,5,32,24,15 -i p3.npy
for piece in "p1.npy -8,0,5,8,24,15" "p2.npy 8,0,5,32,16,15" "p3.npy 8,16,5,32,24,15"; do
    read -r file box <<<"$piece"
    run ref check pieces "$file" --bbox "$box" --strict
    [[ $RC == 0 ]] || fail "the reference reads something else than cvmpi wrote for $file"
done

section "(b) non-aligned write: the reference sees the painted volume"
ref npy p4.npy --dtype uint16 --shape 23,17,3,2 --order C --seed 4
expect_exit 0 "$CVMPI" write pieces --bbox -3,2,6,20,19,9 -i p4.npy --non-aligned
"$PY" -c '
import numpy as np
full = np.zeros((40, 24, 10, 2), np.uint16, order="F")
full[0:16, :, :] = np.load("p1.npy")
full[16:40, 0:16, :] = np.load("p2.npy")
full[16:40, 16:24, :] = np.load("p3.npy")
full[5:28, 2:19, 1:4] = np.load("p4.npy")
np.save("painted.npy", np.asfortranarray(full))'
run ref check pieces painted.npy --strict
[[ $RC == 0 ]] || fail "the reference disagrees with cvmpi's non-aligned write"

# ---- (c) info files --------------------------------------------------------------------------
# c_case CREATE_OPTIONS...: the same options to both must give byte-identical info files
# (the reference's layer options are a subset of cvmpi create's).
c_case()
{
    section "(c) info for: $*"
    rm -rf c_cvmpi c_ref
    expect_exit 0 "$CVMPI" create c_cvmpi "$@"
    run ref info c_ref "$@"
    [[ $RC == 0 ]] || fail "reference info failed"
    cmp -s c_cvmpi/info c_ref/info || {
        diff c_ref/info c_cvmpi/info >&2 || true
        fail "cvmpi's info differs from CloudVolume formatting (diff: reference < > cvmpi)"
    }
    expect_exit 0 "$CVMPI" info --json c_cvmpi
    expect_same_files "$OUT" c_ref/info
}
c_case --type image --dtype uint8 --size 2048,2048,256 --resolution 4,4,40
c_case --type image --dtype uint8 --size 70,45,19 --offset -10,-3,-20 --chunk 32,16,8 \
    --resolution 4,4,40
c_case --type segmentation --dtype uint64 --size 50,30,7 --offset -100,60,-7 --chunk 25,16,7 \
    --resolution 8,8,40
c_case --type image --dtype float32 --channels 3 --size 20,21,22 --chunk 8,8,8 \
    --resolution 4.5,4.5,40
c_case --type image --dtype uint16 --size 1,1,1 --chunk 1,1,1 --resolution 0.1,1e-05,3.3
c_case --type image --dtype int8 --size 100000,1,3 --offset 1000000000000,-7,0 \
    --chunk 1024,1,1 --resolution 6.000000000000001,1,2
c_case --type image --dtype int32 --channels 4 --size 7,6,5 --resolution 1e22,2.5,1e-7
c_case --type image --dtype int16 --channels 2 --size 9,10,11 --chunk 4,4,4 \
    --resolution 0.3,123456789.125,7

expect_no_temp_files .
echo "interop: all checks passed"
