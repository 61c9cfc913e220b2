#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cvmpi mesh merge-sharded on hostile legacy meshes: a fragment the manifest names but storage
# lacks, a segment without triangles, a segment flat in one axis, a vertex past 2^24 voxels,
# a directory already multi-resolution, no legacy meshes, and bad flags. Failures are one line
# naming the segment or file, exit 1 (2 for usage), and leave the mesh info as it was.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # MPI singleton (Open MPI's leaks)
REF="$TEST_DIR/../interop/mesh_merge_ref.py"

layer()
{
    rm -rf "$1"
    "$CVMPI" create "$1" --type segmentation --dtype uint64 --size 2048,2048,256 \
        --resolution 8,8,40 >/dev/null
    "$PY" "$REF" legacy "$1" 3 4 >/dev/null
    cp "$1/mesh/info" info.before
}
# one legacy fragment: uint32 count, float32 vertices, uint32 triangles
fragment()
{
    "$PY" - "$@" <<'PY'
import struct, sys
out, verts, tris = sys.argv[1], eval(sys.argv[2]), eval(sys.argv[3])
with open(out, "wb") as f:
    f.write(struct.pack("<I", len(verts)))
    for v in verts:
        f.write(struct.pack("<3f", *v))
    for t in tris:
        f.write(struct.pack("<3I", *t))
PY
}
manifest()
{
    echo "{\"fragments\": [\"$2:0:x\"]}" >"$1/mesh/$2:0"
}

section "a fragment named by a manifest is missing"
layer L
rm L/mesh/1001:0:b
expect_exit 1 "$CVMPI" mesh merge-sharded L
expect_one_line_error
expect_stderr_contains "mesh 1001: fragment \`file://$WORK/L/mesh/1001:0:b' named by manifest \`mesh/1001:0' is missing"
expect_same_files L/mesh/info info.before

section "no triangles, and flat in z: no mesh, counted as skipped"
layer L
fragment L/mesh/7:0:x "[]" "[]"
manifest L 7
fragment L/mesh/8:0:x "[(0,0,400),(800,0,400),(0,800,400)]" "[(0,1,2)]"
manifest L 8
expect_exit 0 "$CVMPI" mesh merge-sharded L --unsharded
expect_stdout "5 segments: 3 multi-resolution meshes ($(cat L/mesh/1000 L/mesh/1000.index L/mesh/1001 \
    L/mesh/1001.index L/mesh/1002 L/mesh/1002.index | wc -c) bytes) in 0 shard files, 2 skipped, 1 ranks, $(sed -n 's/.*ranks, //p' "$OUT")"
expect_no_file L/mesh/7.index
expect_no_file L/mesh/8.index
expect_exit 1 "$CVMPI" mesh get L 8 -o m.ply
expect_stderr_contains "mesh 8: no manifest"

section "a vertex past 2^24 voxels"
layer L
fragment L/mesh/9:0:x "[(0,0,0),(8,0,0),(0,8,40),(1e30,8,40)]" "[(0,1,2),(1,2,3)]"
manifest L 9
expect_exit 1 "$CVMPI" mesh merge-sharded L
expect_one_line_error
expect_stderr_contains "mesh 9: vertex 3 at 1e+30 nm lies past 2^24 voxels"
expect_same_files L/mesh/info info.before
fragment L/mesh/9:0:x "[(0,0,0),(8,0,0),(0,8,40),(float('nan'),8,40)]" "[(0,1,2),(1,2,3)]"
expect_exit 1 "$CVMPI" mesh merge-sharded L
expect_stderr_contains "mesh 9: vertex 3 at nan nm lies past 2^24 voxels"

section "already multi-resolution; nothing to merge"
layer L
expect_exit 0 "$CVMPI" mesh merge-sharded L
expect_exit 1 "$CVMPI" mesh merge-sharded L
expect_one_line_error
expect_stderr_contains "mesh merge: L/mesh is already multi-resolution"
"$CVMPI" create E --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,40 >/dev/null
expect_exit 1 "$CVMPI" mesh merge-sharded E
expect_one_line_error
expect_stderr_contains "mesh merge: no legacy meshes (\"<id>:0\" manifests) in E/mesh"

section "flags"
expect_exit 2 "$CVMPI" mesh merge-sharded L --vqb 12
expect_stderr_contains "bad --vqb \`12': want 10 or 16"
expect_exit 2 "$CVMPI" mesh merge-sharded L --nlod 11
expect_stderr_contains "bad --nlod \`11': want 0..10"
expect_exit 2 "$CVMPI" mesh merge-sharded L --min-chunk 0
expect_exit 2 "$CVMPI" mesh merge-sharded L --compress-level 11
expect_exit 2 "$CVMPI" mesh merge-sharded L --sharded --unsharded
expect_stderr_contains "--sharded and --unsharded exclude each other"
expect_exit 2 "$CVMPI" mesh merge-sharded L --lod 1
expect_stderr_contains "--lod is not an option of merge-sharded"
expect_exit 2 "$CVMPI" mesh get L 1 -o x.ply --nlod 2
expect_stderr_contains "--nlod is an option of merge-sharded only"
echo OK
