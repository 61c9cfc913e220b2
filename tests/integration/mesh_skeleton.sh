#!/usr/bin/env bash
# Meshes and skeletons through the CLI, checked against the independent reader in
# tests/interop/mesh_skeleton_ref.py: legacy meshes of several fragments written by the
# reference, read fused/separate/deduplicated into .ply/.obj; mesh put/get round trips;
# skeleton put/get/ls with SWC, unsharded and sharded (a hand-written sharded info), with the
# other skeletons of a shard kept; bad input: missing manifests and fragments, truncated
# fragments, malformed SWC, edges past the vertex count -> one-line errors, exit 1, no output.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
REF="$TEST_DIR/../interop/mesh_skeleton_ref.py"

section "legacy meshes"
expect_exit 0 "$CVMPI" create seg --type segmentation --dtype uint64 --size 64,64,16 \
    --resolution 8,8,40
sed -i 's/"type": "segmentation"/"mesh": "mesh_mip_0", "type": "segmentation"/' seg/info
"$PY" "$REF" mkmesh seg 7 5 1
"$PY" "$REF" mkmesh seg 1099511627781 3 2
expect_exit 0 "$CVMPI" mesh ls seg
expect_stdout $'7\n1099511627781'
expect_exit 0 "$CVMPI" mesh get seg 7 -o m7.ply
"$PY" "$REF" checkply m7.ply seg 7 || fail "ply of 7 differs from the reference"
expect_exit 0 "$CVMPI" mesh get seg 7,1099511627781 -o both.ply
"$PY" "$REF" checkply both.ply seg 7 1099511627781 || fail "fused ply differs"
expect_exit 0 "$CVMPI" mesh get seg 7 --no-dedupe -o m7.obj
"$PY" "$REF" checkobj m7.obj seg 7 || fail "obj of 7 differs from the reference"
expect_exit 0 "$CVMPI" mesh get seg 7,1099511627781 --no-fuse -o sep.ply
[[ -f sep.7.ply && -f sep.1099511627781.ply ]] || fail "--no-fuse files missing"
"$PY" "$REF" checkply sep.1099511627781.ply seg 1099511627781 || fail "separate ply differs"

section "mesh put / get"
expect_exit 0 "$CVMPI" mesh put seg 42 m7.obj
[[ "$(cat seg/mesh_mip_0/42:0)" == '{"fragments": ["42:0:1"]}' ]] || fail "manifest of 42"
[[ -f seg/mesh_mip_0/42:0:1.gz ]] || fail "fragment 42:0:1.gz"
expect_exit 0 "$CVMPI" mesh get seg 42 --no-dedupe -o m42.obj
expect_same_files m7.obj m42.obj
expect_exit 0 "$CVMPI" mesh put seg 43 m7.ply
expect_exit 0 "$CVMPI" mesh get seg 43 -o m43.ply
expect_same_files m7.ply m43.ply
# a layer without a mesh member gets one
expect_exit 0 "$CVMPI" create seg2 --type segmentation --dtype uint32 --size 8,8,8 --resolution 4,4,40
expect_exit 0 "$CVMPI" mesh put seg2 5 m7.ply
grep -q '"mesh": "mesh"' seg2/info || fail "mesh member not added"
[[ "$(cat seg2/mesh/info)" == '{"@type": "neuroglancer_legacy_mesh", "spatial_index": null}' ]] ||
    fail "mesh info"

section "mesh bad input"
expect_exit 1 "$CVMPI" mesh get seg 8 -o none.ply
expect_one_line_error
expect_stderr_contains "mesh 8: no manifest"
expect_no_file none.ply
echo '{"fragments": ["7:0:0-1_0-1_0-1", "gone"]}' > seg/mesh_mip_0/9:0
expect_exit 1 "$CVMPI" mesh get seg 9 -o none.ply
expect_one_line_error
expect_stderr_contains "mesh_mip_0/gone' named by manifest"
expect_no_file none.ply
printf '\005\000\000\000\000\000' > seg/mesh_mip_0/short
echo '{"fragments": ["short"]}' > seg/mesh_mip_0/10:0
expect_exit 1 "$CVMPI" mesh get seg 10 -o none.ply
expect_one_line_error
expect_stderr_contains "header says 5 vertices"
printf 'v 0 0 0\nf 1 2 3\n' > bad.obj
expect_exit 1 "$CVMPI" mesh put seg 11 bad.obj
expect_one_line_error
expect_stderr_contains "bad.obj line 2: vertex 2 of 1"
expect_no_file seg/mesh_mip_0/11:0
expect_exit 2 "$CVMPI" mesh get seg 7 -o out.stl
expect_exit 2 "$CVMPI" mesh get seg 7,x -o out.ply

section "skeletons unsharded"
"$PY" "$REF" mkswc swc 12 3 > /dev/null
ids=$(cd swc && ls | sed 's/\.swc$//' | sort -n)
for id in $ids; do
    expect_exit 0 "$CVMPI" skeleton put seg "$id" "swc/$id.swc"
done
grep -q '"skeletons": "skeletons"' seg/info || fail "skeletons member not added"
expect_exit 0 "$CVMPI" skeleton ls seg
expect_stdout "$ids"
# shellcheck disable=SC2086
"$PY" "$REF" checkskel seg "swc/{}.swc" $ids || fail "stored skeletons differ"
for id in $ids; do
    expect_exit 0 "$CVMPI" skeleton get seg "$id" -o "back_$id.swc"
done
# shellcheck disable=SC2086
"$PY" "$REF" checkskel seg "back_{}.swc" $ids || fail "SWC exports differ"
for id in $ids; do
    expect_exit 0 "$CVMPI" skeleton get seg "$id" -o "back_$id.bin"
    cmp -s "back_$id.bin" <(gzip -dc "seg/skeletons/$id.gz") || fail "binary of $id"
done

section "skeletons sharded"
cat > seg2/info.skel <<'JSON'
{"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}, {"id": "vertex_types", "data_type": "uint8", "num_components": 1}], "sharding": {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128", "minishard_bits": 2, "shard_bits": 1, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}}
JSON
mkdir -p seg2/skeletons && mv seg2/info.skel seg2/skeletons/info
for id in $ids; do
    expect_exit 0 "$CVMPI" skeleton put seg2 "$id" "swc/$id.swc"
done
[ -z "$(ls seg2/skeletons | grep -v -e '\.shard$' -e '^info$')" ] || fail "non-shard files"
expect_exit 0 "$CVMPI" skeleton ls seg2
expect_stdout "$ids"
# shellcheck disable=SC2086
"$PY" "$REF" checkskel seg2 "swc/{}.swc" $ids || fail "sharded skeletons differ"

section "skeleton bad input"
expect_exit 1 "$CVMPI" skeleton get seg 3 -o none.swc
expect_one_line_error
expect_stderr_contains "skeleton \`"
expect_no_file none.swc
printf '1 0 0 0 0 1 -1\n2 0 1 0 0 1 7\n' > badparent.swc
expect_exit 1 "$CVMPI" skeleton put seg 3 badparent.swc
expect_one_line_error
expect_stderr_contains "badparent.swc: node 2 has parent 7"
printf '1 0 0 0 0 1 -1\n2 0 1 0 0\n' > short.swc
expect_exit 1 "$CVMPI" skeleton put seg 3 short.swc
expect_one_line_error
expect_stderr_contains "short.swc line 2"
first=$(echo "$ids" | head -n 1)
printf '\002\000\000\000\001\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\002\000\000\000\000\000\000\000' > seg/skeletons/5
expect_exit 1 "$CVMPI" skeleton get seg 5 -o none.swc
expect_one_line_error
expect_stderr_contains "edge 0 names vertex 2 of 2"
expect_no_file none.swc
expect_exit 2 "$CVMPI" skeleton get seg "$first"
expect_no_temp_files .
echo "ok"
