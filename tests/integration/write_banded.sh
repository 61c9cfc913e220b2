#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# write_banded.sh CVMPI: `cvmpi write -i` of raw and x-fastest .npy input goes band by band
# (boxes of whole chunk cells, two kept buffers) instead of through one array the size of the
# box: the chunk files are byte-identical to the whole-box path (a C-order .npy) for bands of
# one cell, rows and planes, boxes off the chunk grid, several channels, files and pipes; a
# short regular file is refused before any write; a pipe that ends early or runs long fails
# naming what was written; and the peak memory no longer grows with the box.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# Save each RAW DTYPE X,Y,Z,C (bytes x fastest, channel slowest) as .npy files: C order of (X,Y,Z,C), which
# goes the whole-box way; Fortran order; and C order of (Z,Y,X,C).
npy_forms()
{
    "$PY" - "$@" <<'PY' || fail "npy_forms $*"
import sys, numpy as np
for k in range(1, len(sys.argv), 3):
    raw, dtype, shape = sys.argv[k], sys.argv[k + 1], [int(s) for s in sys.argv[k + 2].split(",")]
    X, Y, Z, C = shape
    a = np.fromfile(raw, dtype).reshape(C, Z, Y, X)
    xyzc = a.transpose(3, 2, 1, 0)
    base = raw[:-4]
    np.save(base + "_c.npy", np.ascontiguousarray(xyzc))
    np.save(base + "_f.npy", np.asfortranarray(xyzc))
    np.save(base + "_zyx.npy", np.ascontiguousarray(a.transpose(1, 2, 3, 0)))
PY
}

section "layers with random voxels"
expect_exit 0 "$CVMPI" create base_a --type image --dtype uint16 --size 150,100,40 \
    --offset 5,7,3 --resolution 1,1,1 --chunk 32,32,16
head -c $((150 * 100 * 40 * 2)) /dev/urandom > a.raw
expect_exit 0 "$CVMPI" create base_c --type image --dtype uint8 --size 70,50,30 \
    --channels 3 --resolution 1,1,1 --chunk 16,16,8
head -c $((70 * 50 * 30 * 3)) /dev/urandom > c.raw
# the non-aligned boxes read-modify-write chunks that hold data
expect_exit 0 "$CVMPI" write base_a -i a.raw --bbox 5,7,3,155,107,43
expect_exit 0 "$CVMPI" write base_c -i c.raw --bbox 0,0,0,70,50,30

section "banded chunk files are the whole-box path's"
# cells: a 32 KiB (uint16 32x32x16), c 6 KiB (3 x uint8 16x16x8); bands of one cell, of rows,
# of planes, and the default
cases=("a uint16 5,7,3,155,107,43" "a uint16 10,9,4,140,100,40 --non-aligned"
    "a uint16 37,39,19,38,40,20 --non-aligned" "c uint8 0,0,0,70,50,30"
    "c uint8 3,17,1,69,33,29 --non-aligned")
forms=()
i=0
for args in "${cases[@]}"; do
    read -r -a arg <<< "$args"
    layer=${arg[0]} dtype=${arg[1]}
    IFS=, read -r x0 y0 z0 x1 y1 z1 <<< "${arg[2]}"
    channels=1
    [[ $layer == c ]] && channels=3
    i=$((i + 1))
    head -c $(((x1 - x0) * (y1 - y0) * (z1 - z0) * channels * (${dtype#uint} / 8))) \
        /dev/urandom > "s$i.raw"
    forms+=("s$i.raw" "$dtype" "$((x1 - x0)),$((y1 - y0)),$((z1 - z0)),$channels")
done
npy_forms "${forms[@]}"
i=0
for args in "${cases[@]}"; do
    read -r -a arg <<< "$args"
    layer=${arg[0]} box=${arg[2]} extra=("${arg[@]:3}")
    channels=1
    [[ $layer == c ]] && channels=3
    i=$((i + 1))
    cp -r "base_$layer" "ref$i"
    expect_exit 0 "$CVMPI" write "ref$i" -i "s${i}_c.npy" --bbox "$box" "${extra[@]}"
    for band in 1 300000 ""; do
        rm -rf t && cp -r "base_$layer" t
        CVMPI_TEST_WRITE_BAND=$band expect_exit 0 "$CVMPI" write t -i "s$i.raw" --bbox "$box" \
            "${extra[@]}"
        diff -r "ref$i" t >/dev/null || fail "raw, band $band: chunks differ from the whole box"
    done
    # pipes of one channel go in z-bands (of one cell's height with band 1); more channels
    # take the whole-box path
    for band in 1 ""; do
        [[ $channels == 1 || -z $band ]] || continue
        rm -rf t && cp -r "base_$layer" t
        CVMPI_TEST_WRITE_BAND=$band expect_exit 0 "$CVMPI" write t -i - --format raw \
            --bbox "$box" "${extra[@]}" < <(cat "s$i.raw")
        diff -r "ref$i" t >/dev/null || fail "pipe, band $band: chunks differ from the whole box"
    done
    for npy in f zyx; do
        axes=()
        [[ $npy == zyx ]] && axes=(--axes zyx)
        [[ $npy == f || $channels == 1 ]] || continue
        rm -rf t && cp -r "base_$layer" t
        CVMPI_TEST_WRITE_BAND=1 expect_exit 0 "$CVMPI" write t -i "s${i}_$npy.npy" \
            --bbox "$box" "${axes[@]}" "${extra[@]}"
        diff -r "ref$i" t >/dev/null || fail "s${i}_$npy.npy: chunks differ from the whole box"
    done
done

section "a FIFO goes band by band too"
mkfifo fifo
cat s1.raw > fifo &
rm -rf t && cp -r base_a t
CVMPI_TEST_WRITE_BAND=1 expect_exit 0 "$CVMPI" write t -i fifo --bbox 5,7,3,155,107,43
wait
diff -r ref1 t >/dev/null || fail "FIFO: chunks differ from the whole box"

section "chunks of 2^31 - 1 a side: band sizes do not overflow"
expect_exit 0 "$CVMPI" create h --type image --dtype uint64 --size 20,10,6 --resolution 1,1,1 \
    --chunk 2147483647,2147483647,2147483647
head -c $((20 * 10 * 6 * 8)) /dev/urandom > h.raw
for band in 1 ""; do
    CVMPI_TEST_WRITE_BAND=$band expect_exit 0 "$CVMPI" write h -i h.raw --bbox 0,0,0,20,10,6
    expect_exit 0 "$CVMPI" read h -o - --format raw
    expect_same_files h.raw "$OUT"
    CVMPI_TEST_WRITE_BAND=$band expect_exit 0 "$CVMPI" write h -i - --format raw \
        --bbox 0,0,0,20,10,6 < <(cat h.raw)
done

# 64^3 uint8 in 16^3 chunks: with 64 KiB bands a pipe goes in four bands of 16 z
expect_exit 0 "$CVMPI" create e --type image --dtype uint8 --size 64,64,64 --chunk 16,16,16 \
    --resolution 1,1,1
head -c $((64 * 64 * 64)) /dev/urandom > e.raw
chunks_in() { find e/1_1_1 -type f -name "*_$1" | wc -l; }

section "a short regular file is refused before any write"
head -c 200000 e.raw > short.raw
CVMPI_TEST_WRITE_BAND=65536 expect_exit 1 "$CVMPI" write e -i short.raw --bbox 0,0,0,64,64,64
expect_one_line_error
grep -qx "cvmpi: \`short.raw' has 200000 bytes, the box needs 262144" "$ERR" ||
    fail "unexpected error: $(cat "$ERR")"
[[ ! -d e/1_1_1 ]] || fail "chunks written from a short file: $(ls e/1_1_1)"

section "a pipe that ends early fails, naming the chunks it has written"
CVMPI_TEST_WRITE_BAND=65536 expect_exit 1 "$CVMPI" write e -i - --bbox 0,0,0,64,64,64 \
    --compress none < <(head -c 1000 e.raw)
grep -qx "cvmpi: \`standard input' has 1000 bytes, the box needs 262144" "$ERR" ||
    fail "unexpected error: $(cat "$ERR")"
[[ ! -d e/1_1_1 ]] || fail "chunks written from a pipe short in its first band"
CVMPI_TEST_WRITE_BAND=65536 expect_exit 1 "$CVMPI" write e -i - --bbox 0,0,0,64,64,64 \
    --compress none < <(head -c $((64 * 64 * 40)) e.raw)
expect_one_line_error
grep -qx "cvmpi: \`standard input' has 163840 bytes, the box needs 262144 (the box's chunks below z=32 are written)" "$ERR" ||
    fail "unexpected error: $(cat "$ERR")"
[[ $(chunks_in 0-16) == 16 && $(chunks_in 16-32) == 16 && $(chunks_in 32-48) == 0 ]] ||
    fail "chunks written: $(ls e/1_1_1 | tr '\n' ' ')"
expect_exit 0 "$CVMPI" read e --bbox 0,0,0,64,64,32 -o below.raw
expect_same_files below.raw <(head -c $((64 * 64 * 32)) e.raw)
rm -rf e/1_1_1

section "a pipe longer than the box fails before its last band is written"
CVMPI_TEST_WRITE_BAND=65536 expect_exit 1 "$CVMPI" write e -i - --bbox 0,0,0,64,64,64 \
    --compress none < <(cat e.raw e.raw)
grep -qx "cvmpi: \`standard input' has more than the 262144 bytes the box needs (the box's chunks below z=48 are written)" "$ERR" ||
    fail "unexpected error: $(cat "$ERR")"
[[ $(chunks_in 32-48) == 16 && $(chunks_in 48-64) == 0 ]] ||
    fail "chunks written: $(ls e/1_1_1 | tr '\n' ' ')"

section "peak memory does not grow with the box"
if [[ -x /usr/bin/time ]]; then
    # 128 MiB box: one array of it peaked at 143 MB (176 MB under ASan), bands at 45 (67)
    expect_exit 0 "$CVMPI" create z --type image --dtype uint8 --size 512,512,512 \
        --resolution 1,1,1
    truncate -s $((512 * 512 * 512)) zeros.raw
    /usr/bin/time -f %M -o banded.rss "$CVMPI" write z -i zeros.raw --bbox 0,0,0,512,512,512 \
        --compress none
    rss=$(tail -1 banded.rss)
    ((rss < 100 * 1024)) || fail "peak RSS $rss KiB writing a 128 MiB box"
fi
echo "PASS"
