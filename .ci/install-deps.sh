#!/usr/bin/env bash
# Every Debian 12 package cvmpi needs to build and test (CI runs this): the build
# dependencies (.ci/install-build-deps.sh) and the test services and tools
# (.ci/install-test-deps.sh), after one `apt-get update`. Run as root, or with sudo.
set -euo pipefail
here=$(dirname "$0")
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null; then
    exec sudo bash "$0" "$@"
  fi
  echo "install-deps.sh: installing needs root (no sudo here); as root run:" >&2
  echo "  apt-get install $({ bash "$here/install-build-deps.sh" --list
    bash "$here/install-test-deps.sh" --list; } | paste -sd ' ')" >&2
  exit 1
fi
apt-get update -q -o DPkg::Lock::Timeout=600
CVMPI_APT_UPDATED=1 bash "$here/install-build-deps.sh"
CVMPI_APT_UPDATED=1 bash "$here/install-test-deps.sh"
