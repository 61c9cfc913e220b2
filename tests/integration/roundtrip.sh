#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# roundtrip.sh CVMPI: create layers of several types (sizes not multiples of the chunk size,
# negative offsets), write generated data, read it back whole and in sub-boxes as raw and .npy,
# check transport compression file names, `info --json`, and exists/delete output.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# chunk_names XRANGES YRANGES ZRANGES SUFFIX: every "x_y_z" name of the listed ranges.
chunk_names()
{
    local x y z
    for x in $1; do
        for y in $2; do
            for z in $3; do
                echo "${x}_${y}_${z}$4"
            done
        done
    done
}

# roundtrip NAME DTYPE CHANNELS TYPE SIZE OFFSET CHUNK COMPRESS XR YR ZR SUFFIX: create a
# layer, write random data, check the stored file names, read back everything.
roundtrip()
{
    local name=$1 dtype=$2 ch=$3 type=$4 size=$5 offset=$6 chunk=$7 compress=$8
    local xr=$9 yr=${10} zr=${11} suffix=${12}
    section "$name: $dtype x$ch $type size $size offset $offset chunk $chunk compress $compress"
    IFS=, read -r sx sy sz <<<"$size"
    IFS=, read -r ox oy oz <<<"$offset"
    local shape=$sx,$sy,$sz,$ch
    local bbox=$ox,$oy,$oz,$((ox + sx)),$((oy + sy)),$((oz + sz))

    expect_exit 0 "$CVMPI" create "$name" --type "$type" --dtype "$dtype" --channels "$ch" \
        --size "$size" --offset "$offset" --chunk "$chunk" --resolution 4,4,40
    expect_stdout "created file://$WORK/$name (1 scale)"
    expect_files "$name" info

    # info --json prints exactly the stored info bytes.
    expect_exit 0 "$CVMPI" info --json "$name"
    expect_same_files "$OUT" "$name/info"
    expect_exit 0 "$CVMPI" info "$name"
    grep -qF "data type: $dtype x $ch channel" "$OUT" || fail "info summary lacks the data type"

    expect_exit 0 "$CVMPI" exists "$name"
    local total
    total=$(chunk_names "$xr" "$yr" "$zr" "" | wc -l)
    expect_stdout "0/$total chunks present"

    np_gen "$name.in" "$dtype" "$shape" 7
    local copt=()
    [[ $compress == default ]] || copt=(--compress "$compress")
    expect_exit 0 "$CVMPI" write "$name" --bbox "$bbox" -i "$name.in" --format raw "${copt[@]}"
    [[ ! -s $OUT && ! -s $ERR ]] || fail "write printed something"
    # shellcheck disable=SC2046
    expect_files "$name/4_4_40" $(chunk_names "$xr" "$yr" "$zr" "$suffix")
    expect_no_temp_files "$name"

    expect_exit 0 "$CVMPI" exists "$name"
    expect_stdout "$total/$total chunks present"

    # Whole volume, raw and .npy; the default box is the whole volume.
    expect_exit 0 "$CVMPI" read "$name" -o "$name.out" --format raw
    expect_same_files "$name.in" "$name.out"
    expect_exit 0 "$CVMPI" read "$name" --bbox "$bbox" -o "$name.npy"
    np_check_npy "$name.npy" "$name.in" "$dtype" "$shape"
    expect_exit 0 "$CVMPI" read "$name" -o -
    expect_same_files "$OUT" "$name.in"
    expect_no_temp_files .
}

# read_sub NAME DTYPE SHAPE OFFSET REL_BOX: read a sub-box (given relative to the volume
# origin) and compare with the same box cut from the input array.
read_sub()
{
    local name=$1 dtype=$2 shape=$3 offset=$4 rel=$5
    IFS=, read -r ox oy oz <<<"$offset"
    IFS=, read -r x0 y0 z0 x1 y1 z1 <<<"$rel"
    local abs=$((ox + x0)),$((oy + y0)),$((oz + z0)),$((ox + x1)),$((oy + y1)),$((oz + z1))
    IFS=, read -r _ _ _ ch <<<"$shape"
    np_sub "$name.in" "$name.want" "$dtype" "$shape" "$rel"
    expect_exit 0 "$CVMPI" read "$name" --bbox "$abs" -o "$name.sub" --format raw
    expect_same_files "$name.want" "$name.sub"
    expect_exit 0 "$CVMPI" read "$name" --bbox "$abs" -o "$name.sub.npy"
    np_check_npy "$name.sub.npy" "$name.want" "$dtype" "$((x1 - x0)),$((y1 - y0)),$((z1 - z0)),$ch"
    rm -f "$name.want" "$name.sub" "$name.sub.npy"
}

# ---- uint8, one channel, default (gzip) compression, negative offset ----------------------
roundtrip u8 uint8 1 image 70,45,19 -10,-3,-20 32,16,8 default \
    "-10-22 22-54 54-60" "-3-13 13-29 29-42" "-20--12 -12--4 -4--1" .gz
for rel in 0,0,0,70,45,19 0,0,0,1,1,1 69,44,18,70,45,19 5,6,7,9,10,11 31,15,7,33,17,9 \
    10,0,3,70,45,4 0,20,0,70,21,19 40,10,2,64,45,19; do
    read_sub u8 uint8 70,45,19,1 -10,-3,-20 "$rel"
done

# ---- uint16, two channels, no compression, exact file names ------------------------------
roundtrip u16 uint16 2 image 33,17,9 0,0,0 16,16,4 none \
    "0-16 16-32 32-33" "0-16 16-17" "0-4 4-8 8-9" ""
for rel in 0,0,0,33,17,9 15,15,3,18,17,6 32,16,8,33,17,9 1,2,3,30,10,4; do
    read_sub u16 uint16 33,17,9,2 0,0,0 "$rel"
done

# ---- float32 with brotli ------------------------------------------------------------------
roundtrip f32 float32 1 image 20,20,20 3,-4,5 8,8,8 br \
    "3-11 11-19 19-23" "-4-4 4-12 12-16" "5-13 13-21 21-25" .br
read_sub f32 float32 20,20,20,1 3,-4,5 2,3,4,19,20,17

# ---- uint64 segmentation, explicit gzip --------------------------------------------------
roundtrip u64 uint64 1 segmentation 50,30,7 -100,-60,-7 25,16,7 gzip \
    "-100--75 -75--50" "-60--44 -44--30" "-7-0" .gz
read_sub u64 uint64 50,30,7,1 -100,-60,-7 24,15,0,26,17,7

# ---- rewriting with another compression replaces every variant ---------------------------
section "recompress u16 with gzip, then brotli, then none"
for c in gzip:.gz br:.br none:; do
    expect_exit 0 "$CVMPI" write u16 --bbox 0,0,0,33,17,9 -i u16.in --format raw --compress "${c%%:*}"
    # shellcheck disable=SC2046
    expect_files u16/4_4_40 $(chunk_names "0-16 16-32 32-33" "0-16 16-17" "0-4 4-8 8-9" "${c#*:}")
    expect_exit 0 "$CVMPI" read u16 -o u16.out --format raw
    expect_same_files u16.in u16.out
done

# ---- aligned writes of parts, from standard input ----------------------------------------
section "aligned partial writes (ending at the volume edge), input from stdin"
np_gen u8.in2 uint8 70,45,19,1 99
np_sub u8.in2 part1 uint8 70,45,19,1 0,0,0,32,45,19
np_sub u8.in2 part2 uint8 70,45,19,1 32,0,0,70,45,8
np_sub u8.in2 part3 uint8 70,45,19,1 32,0,8,70,45,19
expect_exit 0 "$CVMPI" write u8 --bbox -10,-3,-20,22,42,-1 -i - <part1
expect_exit 0 "$CVMPI" write u8 --bbox 22,-3,-20,60,42,-12 -i part2 --format raw --compress none
expect_exit 0 "$CVMPI" write u8 --bbox 22,-3,-12,60,42,-1 -i part3 --format raw
expect_exit 0 "$CVMPI" read u8 -o u8.out --format raw
expect_same_files u8.in2 u8.out
# The middle part went uncompressed, the rest gzip.
[[ -f u8/4_4_40/22-54_-3-13_-20--12 && ! -e u8/4_4_40/22-54_-3-13_-20--12.gz ]] ||
    fail "--compress none did not store 22-54_-3-13_-20--12 plainly"
[[ -f u8/4_4_40/22-54_-3-13_-12--4.gz && ! -e u8/4_4_40/22-54_-3-13_-12--4 ]] ||
    fail "default compression did not store 22-54_-3-13_-12--4.gz"

# ---- exists / delete ----------------------------------------------------------------------
section "exists and delete"
expect_exit 0 "$CVMPI" exists u8 --bbox -10,-3,-20,22,13,-12
expect_stdout "1/1 chunks present"
expect_exit 0 "$CVMPI" exists u8 --bbox 0,0,-5,1,1,-4
expect_stdout "1/1 chunks present"
expect_exit 0 "$CVMPI" exists u8 --bbox 21,12,-13,23,14,-11
expect_stdout "8/8 chunks present"
expect_exit 0 "$CVMPI" delete u8 --bbox 22,-3,-20,60,13,-12
expect_stdout "deleted 2 of 2 chunks"
# (The chunks part2 wrote are uncompressed.)
# shellcheck disable=SC2046
expect_files u8/4_4_40 $(chunk_names "-10-22 22-54 54-60" "-3-13 13-29 29-42" "-20--12 -12--4 -4--1" .gz |
    grep -v -e '^22-54_-3-13_-20--12' -e '^54-60_-3-13_-20--12' |
    sed -E 's/^((22-54|54-60)_.*_-20--12)\.gz$/\1/')
expect_exit 0 "$CVMPI" exists u8
expect_stdout "25/27 chunks present"
expect_exit 0 "$CVMPI" exists u8 --bbox 21,12,-13,23,14,-11
expect_stdout "7/8 chunks present"
# Deleting again: nothing left to delete in that box.
expect_exit 0 "$CVMPI" delete u8 --bbox 22,-3,-20,60,13,-12
expect_stdout "deleted 0 of 2 chunks"
# Deleting removes every compressed variant: a plain and a .gz copy of the same chunk.
cp u8/4_4_40/-10-22_-3-13_-20--12.gz u8/4_4_40/-10-22_-3-13_-20--12.br
expect_exit 0 "$CVMPI" delete u8 --bbox -10,-3,-20,22,13,-12
expect_stdout "deleted 1 of 1 chunks"
expect_no_file u8/4_4_40/-10-22_-3-13_-20--12.gz
expect_no_file u8/4_4_40/-10-22_-3-13_-20--12.br
# Missing chunks read as zeros with --fill-missing.
expect_exit 0 "$CVMPI" read u8 --fill-missing -o u8.out --format raw
"$PY" -c '
import sys, numpy as np
a = np.fromfile(sys.argv[1], np.uint8).reshape((70, 45, 19), order="F")
b = np.fromfile(sys.argv[2], np.uint8).reshape((70, 45, 19), order="F")
b[:, :16, :8] = 0
sys.exit(0 if np.array_equal(a, b) else "fill-missing read differs")' u8.out u8.in2 ||
    fail "read with --fill-missing after delete"
expect_exit 1 "$CVMPI" read u8 -o u8.out2 --format raw
expect_one_line_error
expect_stderr_contains "is missing"
expect_no_file u8.out2

# A delete box must be chunk aligned.
expect_exit 1 "$CVMPI" delete u8 --bbox -10,-3,-20,21,13,-12
expect_one_line_error
expect_stderr_contains "not aligned"

expect_no_temp_files .
echo "roundtrip: all checks passed"
