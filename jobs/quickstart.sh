#!/usr/bin/env bash
# The README's first command: build cvmpi and run the sample job: generate a synthetic
# microscope stack as HDF5 (z,y,x as h5py users write it), import it into a local Precomputed
# layer with 2 MPI ranks and build a 5-level pyramid in the same job (`import --downsample 4`),
# check mip 0 against the stack and mip 1 against a numpy 2x2x1 average, and print a summary
# and the command to view the layer.
#
#   bash jobs/quickstart.sh [--build-dir DIR] [--no-build] [OUT]
#
# OUT (default ./sample) receives the stack and the layer. The build runs as the calling user
# in DIR (default ./build; also CVMPI_BUILD_DIR); --no-build uses the cvmpi already built in DIR
# (e.g. a tree another user built). Root is needed only when build dependencies are missing:
# the script then names the missing Debian packages (those of .ci/install-build-deps.sh) and,
# on a terminal, offers to install them (y/N). Without a terminal, or with CI=true, it installs
# them itself when run as root and otherwise exits 1 with the command to run.
set -euo pipefail

usage() {
  echo "usage: bash jobs/quickstart.sh [--build-dir DIR] [--no-build] [OUT]" >&2
  exit 2
}
build=${CVMPI_BUILD_DIR:-}
out=
do_build=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --build-dir) [[ $# -ge 2 ]] || usage; build=$2; shift 2 ;;
    --build-dir=*) build=${1#*=}; shift ;;
    --no-build) do_build=0; shift ;;
    -h | --help) sed -n '8,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "quickstart: unknown option $1" >&2; usage ;;
    *) [[ -z $out ]] || usage; out=$1; shift ;;
  esac
done
# Relative paths are the caller's; the script works from the repository root.
abspath() { if [[ $1 == /* ]]; then echo "$1"; else echo "$PWD/$1"; fi; }
[[ -z $build ]] || build=$(abspath "$build")
[[ -z $out ]] || out=$(abspath "$out")
cd "$(dirname "$0")/.."
build=${build:-$PWD/build}
out=${out:-$PWD/sample}

# The packages of .ci/install-build-deps.sh that dpkg does not show as installed.
missing_packages() {
  local pkg
  for pkg in $(bash .ci/install-build-deps.sh --list); do
    dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii' || echo "$pkg"
  done
}

configure_and_build() {
  command -v cmake >/dev/null && command -v mpicc >/dev/null &&
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$build" -j "$(nproc)"
}

# Configure failed or cmake/mpicc are absent: install what is missing, or say how.
install_missing() {
  if ! command -v dpkg-query >/dev/null; then
    echo "quickstart: cannot build; not a Debian system (no dpkg-query). cvmpi needs (Debian" \
      "names): $(bash .ci/install-build-deps.sh --list | paste -sd ' ')" >&2
    exit 1
  fi
  local missing
  missing=$(missing_packages | tr '\n' ' ')
  missing=${missing% }
  if [[ -z $missing ]]; then
    echo "quickstart: the build failed, but no build dependency is missing (see above)" >&2
    exit 1
  fi
  echo "quickstart: missing Debian packages: $missing" >&2
  echo "quickstart: run: sudo bash .ci/install-build-deps.sh" >&2
  if [[ -t 0 && ${CI:-} != true ]]; then
    local answer
    read -r -p "Run it now? [y/N] " answer
    [[ $answer == [yY]* ]] || exit 1
  elif [[ $(id -u) != 0 ]]; then
    exit 1
  fi
  bash .ci/install-build-deps.sh # as root directly; otherwise it asks sudo
}

if [[ $do_build == 1 ]]; then
  configure_and_build || { install_missing && configure_and_build; }
fi
CVMPI=$build/src/cvmpi
[[ -x $CVMPI ]] || { echo "quickstart: no cvmpi in $build/src (build it first)" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"
# Open MPI refuses root unless told (and only root is told); it refuses more ranks than cores
# unless told; keep ranks on loopback.
if [[ $(id -u) == 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader

# A synthetic stack: smooth blobs plus noise, 64 x 256 x 256 (z, y, x), 4x4x40 nm voxels.
/usr/bin/python3 jobs/make_sample.py "$out/stack.h5"

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
