#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# downsample_sharded_neuroglancer.sh: every level of a pyramid made by `cvmpi downsample
# --sharded` (identity hash, uint8 image) and `--sharding` (murmurhash, uint64
# compressed_segmentation) read with Neuroglancer's own ShardedKvStore (npm neuroglancer 2.41.2,
# through sharded_neuroglancer.mjs): every chunk, keyed by its compressed Morton code, must be
# the bytes plain `cvmpi downsample` stored for it unsharded (the oracle).
# Usage: downsample_sharded_neuroglancer.sh CVMPI SOURCE_DIR WORK_DIR [NODE_DIR]
# Needs /usr/bin/python3 (or $CV_PYTHON) with NumPy; node and npm (Neuroglancer installed on
# first use into $CV_NG_DIR, else NODE_DIR (the one sharded_neuroglancer.sh installs), else
# WORK_DIR/node). Exit 0 pass, 1 fail, 77 skip (no npm).
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
cp "$SRC/sharded_neuroglancer.mjs" "$NG/"

CASES="$WORK/cases"
rm -rf "$CASES"
mkdir -p "$CASES"
cd "$CASES"
fails=0
fail() {
    echo "FAIL: $*"
    fails=$((fails + 1))
}

# The layers: odd sizes, non-zero voxel offsets.
"$CVMPI" create img --type image --dtype uint8 --size 300,260,70 --offset 5,-7,3 \
    --resolution 4,4,40 --chunk 64,64,16 >/dev/null
"$CVMPI" create seg --type segmentation --dtype uint64 --size 130,70,40 --offset -3,7,1 \
    --resolution 8,8,8 --chunk 16,16,8 --encoding compressed_segmentation >/dev/null
"$PY" - <<'EOF'
import numpy as np
rng = np.random.default_rng(7)
np.save("img.npy", np.asfortranarray(rng.integers(0, 256, (300, 260, 70, 1)).astype(np.uint8)))
x, y, z = np.meshgrid(np.arange(130), np.arange(70), np.arange(40), indexing="ij")
a = ((x // 5 + (y // 3) * 7 + (z // 2) * 3) % 11).astype(np.uint64) + np.uint64(1 << 40)
np.save("seg.npy", np.asfortranarray(a[..., None]))
EOF
"$CVMPI" write img --bbox 5,-7,3,305,253,73 -i img.npy
"$CVMPI" write seg --bbox -3,7,1,127,77,41 -i seg.npy
MURMUR='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 2, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
for layer in img seg; do
    cp -r $layer "$layer-sharded"
    "$CVMPI" downsample $layer --num-mips 3 --memory 64M >/dev/null 2>&1 || fail "$layer: downsample"
done
"$CVMPI" downsample img-sharded --num-mips 3 --sharded --shard-bytes 300K --memory 64M >/dev/null 2>&1 ||
    fail "img: downsample --sharded"
"$CVMPI" downsample seg-sharded --num-mips 3 --sharding "$MURMUR" --memory 64M >/dev/null 2>&1 ||
    fail "seg: downsample --sharding"

# Per level: want/<morton code> = the unsharded chunk's stored bytes; then Neuroglancer reads
# every code from the level's shard files.
for layer in img seg; do
    for k in 1 2 3; do
        d="$layer.$k"
        "$PY" - "$layer" "$layer-sharded" "$k" "$d" <<'EOF' || fail "$layer mip $1: oracle"
import gzip, json, os, sys
layer, sharded, k, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = json.load(open(os.path.join(layer, "info")))["scales"][k]
sh = json.load(open(os.path.join(sharded, "info")))["scales"][k]
assert s["key"] == sh["key"] and "sharding" not in s and "sharding" in sh
chunk, off, size = s["chunk_sizes"][0], s["voxel_offset"], s["size"]
grid = [-(-size[d] // chunk[d]) for d in range(3)]
bits = [max(g - 1, 0).bit_length() for g in grid]
def morton(g):  # compressed Morton code (precomputed-sharded: chunk keys)
    code, j = 0, 0
    for i in range(max(bits)):
        for d in range(3):
            if i < bits[d]:
                code |= ((g[d] >> i) & 1) << j
                j += 1
    return code
os.makedirs(os.path.join(out, "want"))
n = 0
for gz in range(grid[2]):
    for gy in range(grid[1]):
        for gx in range(grid[0]):
            g = (gx, gy, gz)
            lo = [off[d] + g[d] * chunk[d] for d in range(3)]
            hi = [min(lo[d] + chunk[d], off[d] + size[d]) for d in range(3)]
            name = "_".join("%d-%d" % (lo[d], hi[d]) for d in range(3))
            path = os.path.join(layer, s["key"], name)
            data = gzip.open(path + ".gz").read() if os.path.exists(path + ".gz") else open(path, "rb").read()
            open(os.path.join(out, "want", str(morton(g))), "wb").write(data)
            n += 1
json.dump(sh["sharding"], open(os.path.join(out, "spec.json"), "w"))
open(os.path.join(out, "key"), "w").write(s["key"])
print("%s mip %d: %d chunks" % (layer, k, n))
EOF
        key=$(cat "$d/key")
        keys=$(ls "$d/want" | sort -n | tr '\n' ' ')
        # shellcheck disable=SC2086
        (cd "$NG" && node sharded_neuroglancer.mjs "$CASES/$layer-sharded/$key" "$(cat "$CASES/$d/spec.json")" \
            "$CASES/$d/ng" $keys) >"$d/ng.txt" 2>&1 || { cat "$d/ng.txt"; fail "$layer mip $k: Neuroglancer read"; }
        diff -r "$d/want" "$d/ng" >/dev/null || fail "$layer mip $k: Neuroglancer's chunks differ from the unsharded pyramid's"
        echo "$layer mip $k ($key): $(echo $keys | wc -w) chunks from $(ls "$layer-sharded/$key" | wc -l) shard files read by Neuroglancer"
    done
done

if [ "$fails" -ne 0 ]; then
    echo "$fails failure(s); files kept in $CASES"
    exit 1
fi
echo "every level of both sharded pyramids reads in Neuroglancer as the unsharded pyramid"
