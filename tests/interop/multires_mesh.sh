#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# multires_mesh.sh: multi-resolution Draco meshes made from the spec (multires_ref.py, with
# fragments from Draco's own encoder: int32 positions and Draco-quantized floats), unsharded
# and sharded; `cvmpi mesh get --lod L` must give exactly the triangles the spec's formula
# places, for every level; a fragment size past the data and a corrupt Draco fragment fail
# with one-line errors. Usage: multires_mesh.sh CVMPI DRACO_TOOL SOURCE_DIR
set -euo pipefail
CVMPI=$1
TOOL=$2
SRC=$3
PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmpi-multires.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

for sharded in 0 1; do
    L=layer$sharded
    "$CVMPI" create $L --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,40
    "$PY" "$SRC/multires_ref.py" make $L "$TOOL" 77 $sharded $((3 + sharded))
    "$CVMPI" mesh ls $L > ls.txt
    [[ "$(cat ls.txt)" == "77" ]] || fail "mesh ls $L: $(cat ls.txt)"
    for lod in 0 1; do
        "$CVMPI" mesh get $L 77 --lod $lod --no-dedupe -o m$lod.ply
        "$PY" "$SRC/multires_ref.py" check m$lod.ply $L/expected_77.json $lod ||
            fail "$L lod $lod"
    done
    if "$CVMPI" mesh get $L 77 --lod 2 -o m2.ply 2>err.txt; then fail "lod 2 accepted"; fi
    grep -q "level of detail 2 of 2" err.txt || fail "lod 2 message: $(cat err.txt)"
done

# Corrupt Draco bytes (unsharded): one line naming the fragment, exit 1, no output.
printf 'DRACOxxxxxxxxxxxxxxxxxxxxx' | dd of=layer0/mesh/77 bs=1 seek=0 conv=notrunc 2>/dev/null
if "$CVMPI" mesh get layer0 77 -o bad.ply 2>err.txt; then fail "corrupt Draco accepted"; fi
[[ $(wc -l < err.txt) == 1 ]] || fail "not one line: $(cat err.txt)"
grep -q "lod 0 fragment 0 in .*layer0/mesh/77'" err.txt || fail "message: $(cat err.txt)"
[[ ! -e bad.ply ]] || fail "partial output"
# Data shorter than the manifest's sizes.
truncate -s 10 layer0/mesh/77
if "$CVMPI" mesh get layer0 77 -o bad.ply 2>err.txt; then fail "short data accepted"; fi
grep -q "ends before the fragments of lod 0" err.txt || fail "message: $(cat err.txt)"
echo ok
