#!/usr/bin/env bash
# Install every Debian package cvmpi needs to build and test (Debian 12). Run as root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  apt-get install -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends "$@"
}
apt-get update -q -o DPkg::Lock::Timeout=600
apt_install cmake make gcc clang clang-format libclang-rt-14-dev pkg-config ca-certificates git \
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools \
  libcurl4-openssl-dev libssl-dev zlib1g-dev libdeflate-dev libbrotli-dev \
  libturbojpeg0-dev libjpeg62-turbo-dev libspng-dev libpng-dev libcjson-dev libcmocka-dev \
  libfpzip-dev \
  libjxl-dev \
  libmicrohttpd-dev \
  libdraco-dev \
  python3 python3-numpy python3-pil python3-png python3-h5py python3-brotli
# a one-node Slurm for the srun tests
apt_install slurmctld slurmd slurm-client munge
# cloud storage tests (tests/cloud): nginx with TLS and gzip_static, boto3/botocore and
# cryptography for the test servers, curl, node + npm for s3rver (kept if a node with npm is present)
apt_install nginx-light python3-boto3 python3-botocore python3-cryptography openssl curl
command -v npm >/dev/null || apt_install nodejs npm
# the browser test (tests/browser): headless Chromium driven by npm playwright-core
apt_install chromium
