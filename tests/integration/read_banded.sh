#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# read_banded.sh CVMPI: `cvmpi read` into a raw or .npy file goes band by band (boxes of whole
# chunk cells, one reused buffer, each written at its place in the file) instead of through one
# array the size of the box: the file is byte-identical to the whole-array path (standard
# output), for bands of one cell, rows and planes, boxes off the chunk grid, several channels;
# and the peak memory no longer grows with the box.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

section "layers with random voxels"
expect_exit 0 "$CVMPI" create "file://$WORK/a" --type image --dtype uint16 --size 150,100,40 \
    --offset 5,7,3 --resolution 1,1,1 --chunk 32,32,16
head -c $((150 * 100 * 40 * 2)) /dev/urandom > a.raw
expect_exit 0 "$CVMPI" write "file://$WORK/a" -i a.raw --bbox 5,7,3,155,107,43
expect_exit 0 "$CVMPI" create "file://$WORK/c" --type image --dtype uint8 --size 70,50,30 \
    --channels 3 --resolution 1,1,1 --chunk 16,16,8
head -c $((70 * 50 * 30 * 3)) /dev/urandom > c.raw
expect_exit 0 "$CVMPI" write "file://$WORK/c" -i c.raw --bbox 0,0,0,70,50,30

section "banded files are the whole-array bytes"
# cells: a 16 KiB (uint16 32x32x16), c 6 KiB (3 x uint8 16x16x8); bands of one cell, of
# rows, of planes, and the default
i=0
for args in "a" "a --bbox 10,9,4,140,100,40" "a --bbox 37,39,19,38,40,20" "c" \
    "c --bbox 3,17,1,69,33,29"; do
    read -r -a arg <<< "$args"
    layer=${arg[0]}
    extra=("${arg[@]:1}")
    i=$((i + 1))
    for fmt in raw npy; do
        expect_exit 0 "$CVMPI" read "file://$WORK/$layer" "${extra[@]}" -o - --format $fmt
        cp "$OUT" "std$i.$fmt"
    done
    for band in 1 40000 300000 ""; do
        CVMPI_TEST_READ_BAND=$band expect_exit 0 "$CVMPI" read "file://$WORK/$layer" \
            "${extra[@]}" -o out.raw
        expect_same_files out.raw "std$i.raw"
    done
    expect_exit 0 "$CVMPI" read "file://$WORK/$layer" "${extra[@]}" -o out.npy
    expect_same_files out.npy "std$i.npy"
done
expect_same_files a.raw <("$CVMPI" read "file://$WORK/a" -o - --format raw)
"$CVMPI" read "file://$WORK/a" -o whole.raw
expect_same_files a.raw whole.raw
expect_no_temp_files "$WORK"

section "a failed band leaves no file"
rm "$WORK"/a/1_1_1/69-101_39-71_19-35*
expect_exit 1 "$CVMPI" read "file://$WORK/a" -o fail.raw
expect_one_line_error
expect_no_file fail.raw
expect_no_temp_files "$WORK"

section "peak memory does not grow with the box"
if [[ -x /usr/bin/time ]]; then
    expect_exit 0 "$CVMPI" create "file://$WORK/z" --type image --dtype uint8 --size 512,512,512 \
        --resolution 1,1,1
    truncate -s $((512 * 512 * 512)) zeros.raw
    expect_exit 0 "$CVMPI" write "file://$WORK/z" -i zeros.raw --bbox 0,0,0,512,512,512
    /usr/bin/time -f %M -o banded.rss "$CVMPI" read "file://$WORK/z" -o z.raw
    /usr/bin/time -f %M -o whole.rss sh -c "\"$CVMPI\" read \"file://$WORK/z\" -o - >/dev/null"
    banded=$(tail -1 banded.rss) whole=$(tail -1 whole.rss)
    ((whole - banded > 64 * 1024)) || fail "peak RSS: banded $banded KiB, whole array $whole KiB"
fi
echo "PASS"
