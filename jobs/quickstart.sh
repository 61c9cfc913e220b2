#!/usr/bin/env bash
# The README's first command: install packages, build cvmpi, and run the sample job on a
# generated volume: create a local layer, write a synthetic 256x256x64 uint8 stack into it,
# read it back, check it, and print a summary.
# (Later: an HDF5 stack imported and downsampled under mpirun.)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then bash .ci/install-deps.sh; else sudo bash .ci/install-deps.sh; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
CVMPI=$PWD/build/src/cvmpi
out=${1:-$PWD/sample}
rm -rf "$out" && mkdir -p "$out"

# A synthetic microscope-like stack: smooth blobs plus noise, x fastest.
/usr/bin/python3 - "$out/stack.npy" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(7)
x, y, z = np.meshgrid(np.arange(256), np.arange(256), np.arange(64), indexing="ij")
img = 120 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0) + 40 * np.sin(z / 9.0)
img += rng.normal(0, 8, img.shape)
np.save(sys.argv[1], np.asfortranarray(np.clip(img, 0, 255).astype(np.uint8)[..., None]))
PY

"$CVMPI" create "file://$out/layer" --type image --dtype uint8 --size 256,256,64 \
  --resolution 4,4,40 --chunk 64,64,32
"$CVMPI" write "file://$out/layer" --bbox 0,0,0,256,256,64 -i "$out/stack.npy"
"$CVMPI" read "file://$out/layer" -o "$out/readback.npy"
cmp "$out/stack.npy" "$out/readback.npy"
"$CVMPI" info "file://$out/layer"
"$CVMPI" exists "file://$out/layer"
echo "sample job done: layer at file://$out/layer, read back identical to the input"
