#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# non_aligned.sh CVMPI: --non-aligned writes read, paint and rewrite the chunks a box covers
# partly (and leave the others alone); --delete-black deletes chunks that end up all
# background instead of writing them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# Volume: size 50,40,12, offset -5,7,-3, chunks 16,16,8, two uint16 channels. Grid:
#   x: -5-11 11-27 27-43 43-45   y: 7-23 23-39 39-47   z: -3-5 5-9   (24 chunks)
SHAPE=50,40,12,2
BOX=-5,7,-3,45,47,9
create()
{
    expect_exit 0 "$CVMPI" create "$1" --type image --dtype uint16 --channels 2 \
        --size 50,40,12 --offset -5,7,-3 --chunk 16,16,8 --resolution 8,8,40
}
# paint_write LAYER BASE PATCH REL_ORIGIN PATCH_EXTENT OUT [OPTIONS...]: write PATCH at
# REL_ORIGIN (relative to the volume origin) and compute the expected volume OUT.
paint_write()
{
    local layer=$1 base=$2 patch=$3 at=$4 ext=$5 out=$6
    shift 6
    IFS=, read -r x y z <<<"$at"
    IFS=, read -r px py pz <<<"$ext"
    local box=$((x - 5)),$((y + 7)),$((z - 3)),$((x - 5 + px)),$((y + 7 + py)),$((z - 3 + pz))
    expect_exit 0 "$CVMPI" write "$layer" --bbox "$box" -i "$patch" --format raw "$@"
    np_paint "$base" "$patch" "$out" uint16 "$SHAPE" "$at" "$ext"
}
expect_volume()
{
    expect_exit 0 "$CVMPI" read "$1" "${@:3}" -o got.raw
    expect_same_files "$2" got.raw
    rm got.raw
}

section "aligned base, then a non-aligned patch touching 12 border chunks"
create A
np_gen base uint16 "$SHAPE" 1
expect_exit 0 "$CVMPI" write A --bbox "$BOX" -i base --format raw
expect_exit 0 "$CVMPI" exists A
expect_stdout "24/24 chunks present"
cp -r A A.before
np_gen patch1 uint16 34,16,9,2 2
# Refused without --non-aligned, and nothing changes.
expect_exit 1 "$CVMPI" write A --bbox -2,12,-1,32,28,8 -i patch1 --format raw
expect_one_line_error
expect_stderr_contains "aligned"
diff -r A.before A >/dev/null || fail "a refused write changed the layer"
paint_write A base patch1 3,5,2 34,16,9 want1 --non-aligned
expect_volume A want1
# Chunks outside the box are untouched; every chunk the box touches was rewritten.
changed=0
for f in A.before/8_8_40/*; do
    name=${f##*/}
    [[ -f A/8_8_40/$name ]] || fail "chunk $name disappeared"
    if [[ $name == 43-45_* || $name == *_39-47_* ]]; then
        cmp -s "$f" "A/8_8_40/$name" || fail "chunk $name is outside the box but changed"
    else
        cmp -s "$f" "A/8_8_40/$name" && fail "chunk $name is inside the box but did not change"
        changed=$((changed + 1))
    fi
done
[[ $changed == 12 ]] || fail "$changed chunks rewritten, want 12"
# shellcheck disable=SC2046
expect_files A/8_8_40 $(cd A.before/8_8_40 && ls)
expect_no_temp_files A

section "non-aligned patch with fully covered chunks, ending at the volume edge"
np_gen patch2 uint16 40,40,12,2 3
paint_write A want1 patch2 10,0,0 40,40,12 want2 --non-aligned
expect_volume A want2

section "non-aligned patch inside one chunk, and one voxel"
np_gen patch3 uint16 5,6,3,2 4
paint_write A want2 patch3 20,18,1 5,6,3 want3 --non-aligned
expect_volume A want3
np_gen patch4 uint16 1,1,1,2 5
paint_write A want3 patch4 49,39,11 1,1,1 want4 --non-aligned --compress none
expect_volume A want4
[[ -f A/8_8_40/43-45_39-47_5-9 && ! -e A/8_8_40/43-45_39-47_5-9.gz ]] ||
    fail "the rewritten chunk 43-45_39-47_5-9 is not stored uncompressed"

section "an aligned box with --non-aligned is a plain write"
np_gen patch5 uint16 16,16,8,2 6
paint_write A want4 patch5 16,0,0 16,16,8 want5 --non-aligned
expect_volume A want5

section "non-aligned write into an empty layer"
create B
expect_exit 1 "$CVMPI" write B --bbox -2,12,-1,32,28,8 -i patch1 --format raw --non-aligned
expect_one_line_error
expect_stderr_contains "chunk \`8_8_40/"
expect_stderr_contains "missing"
expect_no_temp_files B
np_fill zeros uint16 "$SHAPE" 0
paint_write B zeros patch1 3,5,2 34,16,9 wantB --non-aligned --fill-missing
expect_exit 0 "$CVMPI" exists B
expect_stdout "12/24 chunks present"
expect_volume B wantB --fill-missing

# ---- --delete-black ---------------------------------------------------------------------------
section "--delete-black: an all-zero volume stores nothing"
create C
expect_exit 0 "$CVMPI" write C --bbox "$BOX" -i base --format raw
expect_exit 0 "$CVMPI" exists C
expect_stdout "24/24 chunks present"
expect_exit 0 "$CVMPI" write C --bbox "$BOX" -i zeros --format raw --delete-black
expect_exit 0 "$CVMPI" exists C
expect_stdout "0/24 chunks present"
expect_files C/8_8_40
expect_volume C zeros --fill-missing
# Without --delete-black zeros are stored like anything else.
expect_exit 0 "$CVMPI" write C --bbox "$BOX" -i zeros --format raw
expect_exit 0 "$CVMPI" exists C
expect_stdout "24/24 chunks present"

section "--delete-black on an aligned sub-box deletes exactly its chunks"
expect_exit 0 "$CVMPI" write C --bbox "$BOX" -i base --format raw
np_fill z2 uint16 32,16,8,2 0
paint_write C base z2 16,0,0 32,16,8 wantC1 --delete-black
expect_exit 0 "$CVMPI" exists C
expect_stdout "22/24 chunks present"
expect_no_file C/8_8_40/11-27_7-23_-3-5.gz
expect_no_file C/8_8_40/27-43_7-23_-3-5.gz
expect_volume C wantC1 --fill-missing

section "--delete-black with --non-aligned: a chunk that becomes all zero is deleted"
# Make chunk -5-11_23-39_5-9 hold data only in a small corner, then zero that corner.
np_fill z3 uint16 16,16,4,2 0
paint_write C wantC1 z3 0,16,8 16,16,4 wantC2
np_gen corner uint16 4,4,2,2 8
paint_write C wantC2 corner 2,18,9 4,4,2 wantC3 --non-aligned
expect_exit 0 "$CVMPI" exists C --bbox -5,23,5,11,39,9
expect_stdout "1/1 chunks present"
# Zeroing a box covering the corner and parts of 3 neighbouring chunks: only the chunk left
# all zero goes.
np_fill z4 uint16 16,12,4,2 0
paint_write C wantC3 z4 1,17,7 16,12,4 wantC4 --non-aligned --delete-black
expect_no_file C/8_8_40/-5-11_23-39_5-9.gz
expect_exit 0 "$CVMPI" exists C
expect_stdout "21/24 chunks present"
expect_volume C wantC4 --fill-missing
expect_exit 1 "$CVMPI" read C -o got.raw
expect_one_line_error
expect_stderr_contains "missing"
expect_no_file got.raw

section "--delete-black honours --background"
create D
np_fill sevens uint16 "$SHAPE" 7
expect_exit 0 "$CVMPI" write D --bbox "$BOX" -i sevens --format raw --delete-black --background 7
expect_exit 0 "$CVMPI" exists D
expect_stdout "0/24 chunks present"
expect_volume D sevens --fill-missing --background 7
expect_exit 0 "$CVMPI" write D --bbox "$BOX" -i sevens --format raw --delete-black
expect_exit 0 "$CVMPI" exists D
expect_stdout "24/24 chunks present"

expect_no_temp_files .
echo "non_aligned: all checks passed"
