#!/usr/bin/env bash
# The Debian 12 packages the test suite needs beyond .ci/install-build-deps.sh: clang and
# its sanitizer runtime (the ASan+UBSan build), clang-format (CI's format check), git,
# hdf5-tools, time (peak RSS in benchmarks), the Python modules of the tests (zfpy and blosc:
# zfpc and boss:// reference bytes; pip and venv:
# installing the Python binding offline; wheel: checking its wheel), a one-node Slurm (srun tests),
# nginx with TLS, curl, boto3/botocore/cryptography for the cloud test servers, node + npm for s3rver, and
# headless Chromium for the browser test.
#   sudo bash .ci/install-test-deps.sh      install them (as root: without sudo)
#   bash .ci/install-test-deps.sh --list    print the package names
set -euo pipefail
# shellcheck disable=SC2034 # read by apt.sh
PKGS=(
  clang clang-format libclang-rt-14-dev git hdf5-tools time
  python3-pil python3-tifffile python3-zarr python3-numcodecs python3-png python3-brotli python3-zfpy python3-blosc python3-pip python3-venv python3-wheel
  slurmctld slurmd slurm-client munge
  nginx-light openssl curl python3-boto3 python3-botocore python3-cryptography python3-crcmod
  chromium
)
# node + npm for s3rver; a node that already has npm is kept
command -v npm >/dev/null || PKGS+=(nodejs npm)
# shellcheck source=.ci/apt.sh
source "$(dirname "$0")/apt.sh"
apt_main "$@"
