#!/usr/bin/env bash
# The README's first command: install packages, build cvmpi, and run the sample job: generate a
# synthetic microscope stack as HDF5 (z,y,x as h5py users write it), import it into a local
# Precomputed layer with 2 MPI ranks and build a 5-level pyramid in the same job
# (`import --downsample 4`), check mip 0 against the stack and mip 1 against a numpy 2x2x1
# average, and print a summary and the command to view the layer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then bash .ci/install-deps.sh; else sudo bash .ci/install-deps.sh; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
CVMPI=$PWD/build/src/cvmpi
out=${1:-$PWD/sample}
rm -rf "$out" && mkdir -p "$out"
# Open MPI refuses root and more ranks than cores unless told; keep ranks on loopback.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader

# A synthetic stack: smooth blobs plus noise, 64 x 256 x 256 (z, y, x), 4x4x40 nm voxels.
/usr/bin/python3 - "$out/stack.h5" <<'PY'
import sys, numpy as np, h5py
rng = np.random.default_rng(7)
z, y, x = np.meshgrid(np.arange(64), np.arange(256), np.arange(256), indexing="ij")
img = 120 + 60 * np.sin(x / 17.0) * np.cos(y / 23.0) + 40 * np.sin(z / 9.0)
img += rng.normal(0, 8, img.shape)
with h5py.File(sys.argv[1], "w") as f:
    d = f.create_dataset("raw", data=np.clip(img, 0, 255).astype(np.uint8), chunks=(16, 64, 64),
                         compression="gzip")
    d.attrs["resolution"] = [4.0, 4.0, 40.0]
PY

mpirun -n 2 "$CVMPI" import "$out/stack.h5:/raw" "file://$out/layer" --chunk 64,64,32 \
  --downsample 4 --journal "$out/journal"
"$CVMPI" read "file://$out/layer" -o "$out/mip0.npy"
"$CVMPI" read "file://$out/layer" --mip 1 -o "$out/mip1.npy"
/usr/bin/python3 - "$out/stack.h5" "$out/mip0.npy" "$out/mip1.npy" <<'PY'
import sys, numpy as np, h5py
stack = h5py.File(sys.argv[1], "r")["raw"][...].transpose(2, 1, 0)  # to x, y, z
back = np.load(sys.argv[2])[..., 0]
assert (back == stack).all(), "the layer differs from the stack"
print("mip 0: identical to the HDF5 stack (%d x %d x %d voxels)" % back.shape)
mip1 = np.load(sys.argv[3])[..., 0]
s = stack.astype(np.uint32)
avg = ((s[0::2, 0::2] + s[1::2, 0::2] + s[0::2, 1::2] + s[1::2, 1::2]) // 4).astype(np.uint8)
assert (mip1 == avg).all(), "mip 1 is not the 2x2x1 average of mip 0"
print("mip 1: equal to numpy's 2x2x1 average of the stack (%d x %d x %d voxels)" % mip1.shape)
PY
"$CVMPI" info "file://$out/layer"
echo "sample job done: layer at file://$out/layer (5 mips)"
echo "view it:  $CVMPI serve $out/layer   # then open the printed Neuroglancer URL, or /view"
