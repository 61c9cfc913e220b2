#!/usr/bin/env bash
# jobs/quickstart.sh needs no root: run by an unprivileged user (nobody, when the test runs as
# root; otherwise the caller) against the already-built tree (--build-dir, --no-build), the
# sample job produces its layer and its mip 0/1 checks pass, and neither sudo nor apt-get is
# called. With build dependencies missing it names them and the install command and exits 1
# without prompting (no terminal); as root in CI mode it runs the install script instead.
# sudo, apt-get, cmake and dpkg-query are shims on PATH that record their calls.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
BUILD=$(cd "$(dirname "$CVMPI")/.." && pwd) # the build tree holding src/cvmpi
REPO=$TEST_DIR/../..

# The quickstart and the install script it reads, in a copy the user owns.
mkdir -p repo/jobs repo/.ci shim home sample
cp "$REPO/jobs/quickstart.sh" "$REPO/jobs/make_sample.py" repo/jobs/
cp "$REPO/.ci/apt.sh" "$REPO/.ci/install-build-deps.sh" repo/.ci/
: > calls
for cmd in sudo apt-get; do
  printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\n' "$cmd" "$WORK" > "shim/$cmd"
done
chmod +x shim/*

if [[ $(id -u) == 0 ]]; then
  chmod 755 "$WORK"
  chown -R nobody:nogroup repo home sample calls
  as_user() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
else
  as_user() { "$@"; }
fi
# The user's environment: no root permission for Open MPI, a home of its own, the shims first.
quickstart() {
  run as_user env -u OMPI_ALLOW_RUN_AS_ROOT -u OMPI_ALLOW_RUN_AS_ROOT_CONFIRM -u CVMPI_BUILD_DIR \
    HOME="$WORK/home" PATH="$WORK/shim:$PATH" ASAN_OPTIONS=detect_leaks=0 \
    OMPI_MCA_oob_tcp_if_include=lo bash "$WORK/repo/jobs/quickstart.sh" "$@" < /dev/null
}

section "the sample job as $(as_user id -un), using the existing build"
CI=true quickstart --build-dir "$BUILD" --no-build "$WORK/sample/out"
[[ $RC == 0 ]] || fail "the quickstart failed"
grep -qx "mip 0: identical to the HDF5 stack (256 x 256 x 64 voxels)" "$OUT" ||
  fail "no mip 0 check in the output"
grep -qx "mip 1: equal to numpy's 2x2x1 average of the stack (128 x 128 x 64 voxels)" "$OUT" ||
  fail "no mip 1 check in the output"
grep -qx "sample job done: layer at file://$WORK/sample/out/layer (5 mips)" "$OUT" ||
  fail "no summary line"
[[ $("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["scales"]))' \
  sample/out/layer/info) == 5 ]] || fail "the layer does not have 5 scales"
[[ ! -s calls ]] || fail "called: $(cat calls)"

# The same on a terminal (script(1) gives it one), answering ANSWER to the prompt.
quickstart_tty() {
  local answer=$1 args
  shift
  printf -v args ' %q' "$@"
  run as_user env -u OMPI_ALLOW_RUN_AS_ROOT -u OMPI_ALLOW_RUN_AS_ROOT_CONFIRM -u CVMPI_BUILD_DIR \
    -u CI HOME="$WORK/home" PATH="$WORK/shim:$PATH" \
    script -qec "bash $WORK/repo/jobs/quickstart.sh$args" /dev/null <<< "$answer"
}

section "missing build dependencies, not root, no terminal: named, exit 1, no prompt"
# configure fails as it does without MPI; dpkg shows the two MPI packages as not installed
cat > shim/cmake <<'SH'
#!/bin/sh
echo "CMake Error: Could NOT find MPI_C (missing: MPI_C_LIB_NAMES)" >&2
exit 1
SH
cat > shim/dpkg-query <<'SH'
#!/bin/sh
for pkg; do :; done
case $pkg in libopenmpi-dev | libhdf5-openmpi-dev) printf 'un ' ;; *) printf 'ii ' ;; esac
SH
chmod +x shim/cmake shim/dpkg-query
for ci in true ""; do
  CI=$ci quickstart --build-dir "$WORK/build" "$WORK/sample/out"
  [[ $RC == 1 ]] || fail "expected exit 1 with CI='$ci', got $RC"
  grep -qx "quickstart: missing Debian packages: libopenmpi-dev libhdf5-openmpi-dev" "$ERR" ||
    fail "the missing packages are not named"
  grep -qx "quickstart: run: sudo bash .ci/install-build-deps.sh" "$ERR" ||
    fail "the install command is not given"
  if grep -q "Run it now" "$OUT" "$ERR"; then fail "prompted without a terminal"; fi
  [[ ! -s calls ]] || fail "called: $(cat calls)"
done

section "missing build dependencies, not root, on a terminal: asks; no means no"
quickstart_tty n --build-dir "$WORK/build" "$WORK/sample/out"
[[ $RC == 1 ]] || fail "expected exit 1 after answering n, got $RC"
grep -q "quickstart: missing Debian packages: libopenmpi-dev libhdf5-openmpi-dev" "$OUT" ||
  fail "the missing packages are not named"
grep -q "Run it now? \[y/N\]" "$OUT" || fail "no prompt on a terminal"
[[ ! -s calls ]] || fail "called: $(cat calls)"

section "missing build dependencies, not root, on a terminal: yes runs the install with sudo"
quickstart_tty y --build-dir "$WORK/build" "$WORK/sample/out"
[[ $RC == 1 ]] || fail "expected exit 1 (configure still fails), got $RC"
[[ $(cat calls) == "sudo bash .ci/install-build-deps.sh" ]] ||
  fail "expected one call of sudo bash .ci/install-build-deps.sh, got: $(cat calls)"
: > calls

if [[ $(id -u) == 0 ]]; then
  section "missing build dependencies as root in CI: the install script runs, without sudo"
  run env CI=true HOME="$WORK/home" PATH="$WORK/shim:$PATH" \
    bash "$WORK/repo/jobs/quickstart.sh" --build-dir "$WORK/build" "$WORK/sample/out" < /dev/null
  [[ $RC == 1 ]] || fail "expected exit 1 (configure still fails), got $RC"
  grep -q "^apt-get install .* libopenmpi-dev .*libhdf5-openmpi-dev " calls ||
    fail "install-build-deps.sh did not run apt-get install: $(cat calls)"
  if grep -q "^sudo" calls; then fail "sudo called as root"; fi
fi
echo "quickstart: ok"
