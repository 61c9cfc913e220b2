#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# multires_neuroglancer.sh: multi-resolution meshes written by `cvmpi mesh merge-sharded`
# (sharded, vqb 16; unsharded, vqb 10) read the way Neuroglancer reads them, in node
# (multires_neuroglancer.mjs: ShardedKvStore, the manifest's length and Z-order rules,
# downloadFragment's byte ranges, Neuroglancer's own Draco decoder with octant partitioning and
# no triangle across a child boundary). For every segment and level, Neuroglancer's triangles
# and placed vertices must be the ones `cvmpi mesh get --no-dedupe` returns. A third case is
# written in one pass by `cvmpi mesh forge --sharded` from a segmentation of known shapes.
# Usage: multires_neuroglancer.sh CVMPI SOURCE_DIR WORK_DIR [NODE_DIR]
# Needs /usr/bin/python3 with NumPy, node and npm (Neuroglancer installed on first use into
# $CV_NG_DIR, else NODE_DIR, else WORK_DIR/node). Exit 0 pass, 1 fail, 77 skip (no npm).
set -eu

if [ $# -ne 3 ] && [ $# -ne 4 ]; then
    echo "usage: $0 CVMPI SOURCE_DIR WORK_DIR [NODE_DIR]" >&2
    exit 2
fi
CVMPI=$1
SRC=$2
WORK=$3
PY=${CV_PYTHON:-/usr/bin/python3}
NG=${CV_NG_DIR:-${4:-$WORK/node}}
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" # MPI singleton (Open MPI's leaks)

mkdir -p "$WORK"
. "$SRC/ng_node.sh"
ng_node_install "$NG" "$SRC"
cp "$SRC/multires_neuroglancer.mjs" "$NG/"

CASES="$WORK/multires"
rm -rf "$CASES"
mkdir -p "$CASES"
cd "$CASES"
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

for case in sharded unsharded forged; do
    dir=$case/mesh
    if [ $case = forged ]; then
        # the shapes of mesh_forge_ref.py (labels 1-6 and 9), 3 shards, levels 0-2
        "$CVMPI" create $case --type segmentation --dtype uint64 --size 96,80,64 \
            --resolution 8,8,40 --chunk 32,32,32 >/dev/null
        "$PY" "$SRC/../integration/mesh_forge_ref.py" shapes shapes.npy
        "$CVMPI" write $case --bbox 0,0,0,96,80,64 -i shapes.npy
        printf '1\n2\n3\n4\n5\n6\n9\n' >ids.txt
        dir=$case/mesh_mip_0_err_0
        "$CVMPI" mesh forge $case --sharded --lods 2 --min-chunk 4 --max-labels-per-shard 3 \
            >log.txt 2>&1 || { cat log.txt; fail "$case: mesh forge --sharded"; continue; }
        grep -q '^mesh forge: 7 labels: 7 multi-resolution meshes (.* bytes) in 4 shard files' \
            log.txt || { cat log.txt; fail "$case: summary"; }
    else
        "$CVMPI" create $case --type segmentation --dtype uint64 --size 2048,2048,256 \
            --resolution 8,8,40 >/dev/null
        "$PY" "$SRC/mesh_merge_ref.py" legacy $case 12 9 >ids.txt
        if [ $case = sharded ]; then
            flags="--max-labels-per-shard 4"
        else
            flags="--unsharded --vqb 10"
        fi
        # shellcheck disable=SC2086
        "$CVMPI" mesh merge-sharded $case --min-chunk 16 --nlod 3 $flags >log.txt 2>&1 ||
            { cat log.txt; fail "$case: merge-sharded"; continue; }
    fi
    # shellcheck disable=SC2046
    if ! node "$NG/multires_neuroglancer.mjs" $dir ng-$case $(cat ids.txt) >ng.txt 2>&1; then
        cat ng.txt
        fail "$case: Neuroglancer could not read the meshes"
        continue
    fi
    cat ng.txt
    for id in $(cat ids.txt); do
        lods=$(sed -n "s/^$id: \([0-9]*\) lods.*/\1/p" ng.txt)
        lod=0
        while [ "$lod" -lt "$lods" ]; do
            "$CVMPI" mesh get $case "$id" --lod $lod --no-dedupe -o cv.ply ||
                fail "$case $id lod $lod: mesh get"
            "$PY" - cv.ply "ng-$case/$id.$lod.json" <<'PY' || fail "$case $id lod $lod differs"
import json, sys
import numpy as np
data = open(sys.argv[1], "rb").read()
end = data.index(b"end_header\n") + len(b"end_header\n")
head = data[:end].decode()
nv = int(head.split("element vertex ")[1].split()[0])
nf = int(head.split("element face ")[1].split()[0])
cv = np.frombuffer(data[end:end + 12 * nv], "<f4").reshape(-1, 3).astype(float)
ng = json.load(open(sys.argv[2]))
ngv = np.array(ng["vertices"], float).reshape(-1, 3)
if nf != ng["triangles"] or len(ngv) != nv:
    sys.exit(f"triangles {nf} vs {ng['triangles']}, vertices {nv} vs {len(ngv)}")
a = cv[np.lexsort(cv.T[::-1])]
b = ngv[np.lexsort(ngv.T[::-1])]
if np.abs(a - b).max() > 1e-3:
    sys.exit(f"vertices differ by {np.abs(a - b).max()} nm")
PY
            lod=$((lod + 1))
        done
    done
done
[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "multi-resolution meshes read by Neuroglancer: ok"
