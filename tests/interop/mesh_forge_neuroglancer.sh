#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# mesh_forge_neuroglancer.sh: the legacy meshes `cvmpi mesh forge` writes, read by Neuroglancer
# (npm neuroglancer 2.41.2 in node: decodeManifestChunk and the precomputed decodeFragmentChunk)
# and by the independent mesh_forge_ref.py: for every label of the test shapes Neuroglancer
# finds the manifest, decodes every fragment, and counts the triangles and encloses the volume
# the reference reader does (the boxes' exact values); an id without a mesh is missing.
# Usage: mesh_forge_neuroglancer.sh CVMPI SOURCE_DIR WORK_DIR
# Exit 0 pass, 1 fail, 77 skip (no node/npm or registry). $CV_NG_DIR reuses an install.
set -eu
CVMPI=$1
SRC=$2
WORK=$3
PY=${CV_PYTHON:-/usr/bin/python3}
NG=${CV_NG_DIR:-$WORK/node}
REF="$SRC/../integration/mesh_forge_ref.py"

. "$SRC/ng_node.sh"
ng_node_install "$NG" "$SRC"
cp "$SRC/mesh_forge_neuroglancer.mjs" "$NG/"

rm -rf "$WORK/case"
mkdir -p "$WORK/case"
cd "$WORK/case"
"$PY" "$REF" shapes shapes.npy >/dev/null
"$CVMPI" create seg --type segmentation --dtype uint64 --size 96,80,64 --offset 5,-7,3 \
    --resolution 4,6,40 --chunk 16,16,16 >/dev/null
"$CVMPI" write seg --bbox 5,-7,3,101,73,67 -i shapes.npy
"$CVMPI" mesh forge seg >/dev/null
"$PY" "$REF" check seg mesh_mip_0_err_0 4,6,40 >ref.jsonl || { echo "FAIL: reference check"; exit 1; }
(cd "$NG" && node mesh_forge_neuroglancer.mjs "$WORK/case/seg/mesh_mip_0_err_0" 4,6,40 \
    1 2 3 4 5 6 9 8) >ng.jsonl || { echo "FAIL: Neuroglancer could not read the meshes"; exit 1; }
"$PY" - ref.jsonl ng.jsonl <<'PY'
import json, sys
ref = {d["label"]: d for d in map(json.loads, open(sys.argv[1]))}
ng = {int(d["id"]): d for d in map(json.loads, open(sys.argv[2]))}
assert ng[8] == {"id": "8", "missing": True}, ng[8]
for label, r in ref.items():
    n = ng[label]
    assert (n["fragments"], n["faces"]) == (r["fragments"], r["faces"]), (n, r)
    assert abs(n["volume"] - r["volume"]) < 1e-3, (n, r)
assert ng[2]["volume"] == 1662.666667, ng[2]  # the 10x12x14 box: 1680 - 33/2 - 5/6
print(f"{len(ref)} meshes read by Neuroglancer")
PY
