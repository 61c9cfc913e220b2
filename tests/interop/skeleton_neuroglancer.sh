#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# skeleton_neuroglancer.sh: skeletons written by cvmpi, read by Neuroglancer (npm neuroglancer
# 2.41.2 in node: its ShardedKvStore and decodeSkeletonChunk) and by the independent
# mesh_skeleton_ref.py. cvmpi stores random SWC trees (mesh_skeleton_ref.py mkswc) in an
# unsharded layer and in a murmurhash-sharded one with gzip indexes and data; every skeleton
# Neuroglancer decodes must equal its SWC file as a tree (vertices, radius, type, edges).
# Usage: skeleton_neuroglancer.sh CVMPI SOURCE_DIR WORK_DIR
# Exit 0 pass, 1 fail, 77 skip (no node/npm or registry). $CV_NG_DIR reuses an install.
set -eu
CVMPI=$1
SRC=$2
WORK=$3
PY=${CV_PYTHON:-/usr/bin/python3}
NG=${CV_NG_DIR:-$WORK/node}
REF="$SRC/mesh_skeleton_ref.py"

. "$SRC/ng_node.sh"
ng_node_install "$NG" "$SRC"
cp "$SRC/skeleton_neuroglancer.mjs" "$NG/"

rm -rf "$WORK/case"
mkdir -p "$WORK/case"
cd "$WORK/case"
"$PY" "$REF" mkswc swc 40 11 >/dev/null
ids=$(cd swc && ls | sed 's/\.swc$//' | sort -n)

"$CVMPI" create plain --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8
"$CVMPI" create sharded --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8
mkdir -p sharded/skeletons
cat >sharded/skeletons/info <<'JSON'
{"@type": "neuroglancer_skeletons", "transform": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], "vertex_attributes": [{"id": "radius", "data_type": "float32", "num_components": 1}, {"id": "vertex_types", "data_type": "uint8", "num_components": 1}], "sharding": {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "murmurhash3_x86_128", "minishard_bits": 3, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}, "spatial_index": null}
JSON
for id in $ids; do
    "$CVMPI" skeleton put plain "$id" "swc/$id.swc"
    "$CVMPI" skeleton put sharded "$id" "swc/$id.swc"
done
fails=0
for layer in plain sharded; do
    # shellcheck disable=SC2086
    (cd "$NG" && node skeleton_neuroglancer.mjs "$WORK/case/$layer/skeletons" $ids 999) \
        >"$layer.jsonl" || { echo "FAIL: Neuroglancer could not read $layer"; fails=1; continue; }
    grep -q '"id":"999","missing":true' "$layer.jsonl" || { echo "FAIL: $layer: 999 found"; fails=1; }
    grep -v '"missing"' "$layer.jsonl" >"$layer.found.jsonl"
    [ "$(wc -l <"$layer.found.jsonl")" = "$(echo "$ids" | wc -l)" ] ||
        { echo "FAIL: $layer: Neuroglancer missed skeletons"; fails=1; }
    "$PY" "$REF" checkjson "$layer.found.jsonl" "swc/{}.swc" || { echo "FAIL: $layer"; fails=1; }
    # shellcheck disable=SC2086
    "$PY" "$REF" checkskel "$layer" "swc/{}.swc" $ids || { echo "FAIL: $layer (ref)"; fails=1; }
done
echo "$(ls sharded/skeletons | grep -c shard) shard files"
exit $fails
