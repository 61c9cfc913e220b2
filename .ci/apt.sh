# shellcheck shell=bash
# Shared by install-build-deps.sh and install-test-deps.sh: install the Debian packages in the
# caller's array PKGS (Debian 12).
#   --list   print the package names, one a line, and exit (no root needed)
# As root the packages are installed with apt-get (one `apt-get update` per run; installing
# what is already there changes nothing). Not root: the script re-runs itself with sudo when
# sudo exists, otherwise prints the package list and exits 1.
set -euo pipefail
apt_main() {
  if [[ ${1:-} == --list ]]; then
    printf '%s\n' "${PKGS[@]}"
    exit 0
  elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--list]" >&2
    exit 2
  fi
  if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null; then
      exec sudo bash "$0"
    fi
    echo "$(basename "$0"): installing needs root (no sudo here); as root run:" >&2
    echo "  apt-get install ${PKGS[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # install-deps.sh runs both scripts after one update and says so with CVMPI_APT_UPDATED=1.
  if [[ ${CVMPI_APT_UPDATED:-} != 1 ]]; then
    apt-get update -q -o DPkg::Lock::Timeout=600
  fi
  apt-get install -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends "${PKGS[@]}"
}
