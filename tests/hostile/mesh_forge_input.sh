#!/usr/bin/env bash
# `mesh forge` on what it cannot mesh: an image layer (uint8), a segmentation of float32 or of
# two channels, a --bbox outside the volume, a region wider than the vertex keys reach, a mesh
# directory holding multi-resolution meshes, a missing chunk (named; meshed as zeros with
# --fill-missing), a truncated chunk, and bad options: each one line naming the cause, exit 1
# (2 for usage), nothing written. --sharded: its options without it, --legacy with it, a rank
# whose shards' fragments would pass --memory (named, no shard or info written), a
# multi-resolution directory.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

seg() { # seg NAME DTYPE [SIZE]
    "$CVMPI" create "$1" --type segmentation --dtype "$2" --size "${3:-32,32,32}" \
        --resolution 4,4,40 --chunk 16,16,16 > /dev/null
}

"$CVMPI" create img --type image --dtype uint8 --size 32,32,32 --resolution 4,4,40 > /dev/null
run "$CVMPI" mesh forge img
[[ $RC == 1 ]] || fail "image layer accepted"
expect_one_line_error
expect_stderr_contains "mesh forge: img is an image layer; meshes are made from segmentation layers"
expect_no_file img/mesh_mip_0_err_0

"$CVMPI" create f32 --type image --dtype float32 --size 32,32,32 --resolution 4,4,40 > /dev/null
sed -i 's/"type": "image"/"type": "segmentation"/' f32/info
run "$CVMPI" mesh forge f32
[[ $RC == 1 ]] || fail "float32 accepted"
expect_one_line_error
expect_stderr_contains "mesh forge: f32 holds float32 voxels; segmentation labels must be uint8, uint16, uint32 or uint64"

"$CVMPI" create two --type image --dtype uint32 --channels 2 --size 32,32,32 \
    --resolution 4,4,40 > /dev/null
sed -i 's/"type": "image"/"type": "segmentation"/' two/info
run "$CVMPI" mesh forge two
[[ $RC == 1 ]] || fail "two channels accepted"
expect_one_line_error
expect_stderr_contains "two/info': num_channels: must be 1 for segmentation (got 2)"

seg s uint64
run "$CVMPI" mesh forge s --bbox 100,0,0,120,10,10 --fill-missing
[[ $RC == 1 ]] || fail "bbox outside accepted"
expect_one_line_error
expect_stderr_contains "mesh forge: --bbox 100,0,0,120,10,10 lies outside the volume (0,0,0,32,32,32 at mip 0)"
run "$CVMPI" mesh forge s --bbox 1,2,3
[[ $RC == 2 ]] || fail "malformed bbox"
run "$CVMPI" mesh forge s --dust -3
[[ $RC == 2 ]] || fail "negative dust"
expect_stderr_contains "bad --dust \`-3'"
run "$CVMPI" mesh forge s extra
[[ $RC == 2 ]] || fail "extra argument"
run "$CVMPI" mesh forge s --resume --dry-run
[[ $RC == 2 ]] || fail "--resume --dry-run"

seg wide uint8 1048575,1,1
run "$CVMPI" mesh forge wide --dry-run
[[ $RC == 1 ]] || fail "region past the vertex keys accepted"
expect_stderr_contains "mesh forge: the region is 1048575 voxels along x, more than 1048574 (mesh it in parts with --bbox)"

# No chunk written: named, nothing left behind; --fill-missing meshes zeros (no meshes).
run "$CVMPI" mesh forge s
[[ $RC == 1 ]] || fail "missing chunks accepted"
expect_one_line_error
expect_stderr_contains "tile 0 (0,0,0,16,16,16)"
expect_stderr_contains "0-16_0-16_0-16"
[[ -z $(find s/mesh_mip_0_err_0 -name '*:0*' 2>/dev/null) ]] || fail "fragments written"
run "$CVMPI" mesh forge s --fill-missing
[[ $RC == 0 ]] || fail "--fill-missing"
grep -q ' 0 fragments, 0 meshes' "$OUT" || fail "zeros make no mesh: $(cat "$OUT")"

# A truncated chunk.
seg t uint16
head -c 65536 /dev/urandom > r.bin
"$CVMPI" write t --bbox 0,0,0,32,32,32 -i r.bin
chunk=$(find t/4_4_40 -type f | sort | head -1)
truncate -s 7 "$chunk"
run "$CVMPI" mesh forge t
[[ $RC == 1 ]] || fail "truncated chunk accepted"
expect_one_line_error
expect_stderr_contains "$(basename "${chunk%.gz}")"

# A multi-resolution mesh directory is not overwritten with legacy meshes.
seg mr uint64
mkdir -p mr/mesh
echo '{"@type": "neuroglancer_multilod_draco", "vertex_quantization_bits": 10, "transform": [1,0,0,0,0,1,0,0,0,0,1,0], "lod_scale_multiplier": 1.0}' > mr/mesh/info
sed -i 's/"type": "segmentation"/"mesh": "mesh", "type": "segmentation"/' mr/info
run "$CVMPI" mesh forge mr --fill-missing
[[ $RC == 1 ]] || fail "multires directory accepted"
expect_one_line_error
expect_stderr_contains "mr/mesh/info is a multi-resolution mesh directory (neuroglancer_multilod_draco); forge writes legacy meshes"
run "$CVMPI" mesh forge mr --fill-missing --sharded
[[ $RC == 1 ]] || fail "multires directory accepted by --sharded"
expect_stderr_contains "mr/mesh/info is a multi-resolution mesh directory (neuroglancer_multilod_draco); forge --sharded writes a new one, not over one already made"

run "$CVMPI" mesh forge s --lods 2
[[ $RC == 2 ]] || fail "--lods without --sharded"
expect_stderr_contains "mesh forge: --lods is an option of --sharded"
run "$CVMPI" mesh forge s --legacy --sharded
[[ $RC == 2 ]] || fail "--legacy --sharded"
expect_stderr_contains "mesh forge: --legacy and --sharded do not go together"
run "$CVMPI" mesh forge s --sharded --vqb 12
[[ $RC == 2 ]] || fail "--vqb 12"
expect_stderr_contains "bad --vqb \`12'"

# Random labels: far more fragment bytes than 1 MB.
seg many uint16
"$CVMPI" write many --bbox 0,0,0,32,32,32 -i r.bin
run "$CVMPI" mesh forge many --sharded --memory 1M
[[ $RC == 1 ]] || fail "fragments past --memory accepted"
expect_one_line_error
expect_stderr_contains "mesh forge --sharded: rank 0 would hold "
expect_stderr_contains "bytes of fragments for its shards after tile round 2 of 8, more than --memory 1048576 bytes; run more ranks, give a larger --memory, or mesh with --legacy and then \`mesh merge-sharded'"
[[ -z $(find many/mesh_mip_0_err_0 -name '*.shard') ]] || fail "a shard was written"
grep -q legacy many/mesh_mip_0_err_0/info || fail "the mesh info became multi-resolution"
echo "mesh_forge_input: ok"
