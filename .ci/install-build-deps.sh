#!/usr/bin/env bash
# The Debian 12 packages that building cvmpi and running jobs/quickstart.sh need: compiler,
# CMake, Open MPI with parallel HDF5, the codec libraries, libcurl/OpenSSL, the optional
# libjxl, libfpzip, libzfp, libdraco and libmicrohttpd (features jxl, fpzip, zfp, draco,
# serve), and python3 with numpy and h5py for the sample stack.
#   sudo bash .ci/install-build-deps.sh      install them (as root: without sudo)
#   bash .ci/install-build-deps.sh --list    print the package names
# The test suite needs more: .ci/install-test-deps.sh (.ci/install-deps.sh runs both).
set -euo pipefail
# shellcheck disable=SC2034 # read by apt.sh
PKGS=(
  cmake make gcc g++ pkg-config ca-certificates
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libdeflate-dev libbrotli-dev libzstd-dev libblosc-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libspng-dev libpng-dev libcjson-dev libtiff-dev
  libjxl-dev libfpzip-dev libzfp-dev libdraco-dev libmicrohttpd-dev
  python3 python3-numpy python3-h5py
)
# shellcheck source=.ci/apt.sh
source "$(dirname "$0")/apt.sh"
apt_main "$@"
