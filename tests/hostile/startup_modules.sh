#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The full program loads its HDF5 and remote-storage modules (libcvmpi-h5.so, libcvmpi-net.so,
# beside it) only when a job needs them: a copy of the program without them still runs local
# jobs, and a job that needs a missing, broken or foreign module fails with one line naming
# the module, exit 1, nothing written, no crash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

FULL=$(dirname "$CVMPI")/../libexec/cvmpi/cvmpi
[[ -x $FULL ]] || fail "no full program at $FULL"
T=$WORK/tree
mkdir -p "$T/bin" "$T/libexec/cvmpi"
cp "$CVMPI" "$T/bin/cvmpi"
cp "$FULL" "$T/libexec/cvmpi/cvmpi"
MOD=$T/libexec/cvmpi

expect_exit 0 "$CVMPI" -q create L --type image --dtype uint8 --size 16,16,4 --resolution 1,1,1 \
    --chunk 16,16,4
head -c 1024 /dev/urandom >block.raw
expect_exit 0 "$CVMPI" -q write L -i block.raw --bbox 0,0,0,16,16,4

section "local jobs need no module"
expect_exit 0 "$T/bin/cvmpi" -q transfer L "file://$WORK/L2"
expect_exit 0 "$T/bin/cvmpi" read L2 -o back.raw --bbox 0,0,0,16,16,4
expect_same_files block.raw back.raw
expect_exit 0 "$T/bin/cvmpi" --version

section "a missing module"
expect_exit 1 "$T/bin/cvmpi" read L -o cut.h5:/main --bbox 0,0,0,16,16,4
expect_one_line_error
expect_stderr_contains "cvmpi: cannot load the module libcvmpi-h5.so (needed for HDF5 files): $MOD/libcvmpi-h5.so: cannot open shared object file: No such file or directory"
expect_no_file cut.h5
if [[ -e $(dirname "$FULL")/libcvmpi-net.so ]]; then
    expect_exit 1 "$T/bin/cvmpi" ls s3://bucket/prefix/
    expect_one_line_error
    expect_stderr_contains "cannot load the module libcvmpi-net.so (needed for gs://, s3://, http(s):// and boss:// storage): $MOD/libcvmpi-net.so: cannot open shared object file"
fi

section "a module that is not a shared object"
echo "not a module" >"$MOD/libcvmpi-h5.so"
expect_exit 1 "$T/bin/cvmpi" read L -o cut.h5:/main --bbox 0,0,0,16,16,4
expect_one_line_error
expect_stderr_contains "cvmpi: cannot load the module libcvmpi-h5.so (needed for HDF5 files): $MOD/libcvmpi-h5.so: "
expect_no_file cut.h5

section "a module without the function asked for"
cp "$(dirname "$FULL")/libcvmpi-h5.so" "$MOD/libcvmpi-h5.so"
expect_exit 0 "$T/bin/cvmpi" read L -o cut.h5:/main --bbox 0,0,0,16,16,4
if [[ -e $(dirname "$FULL")/libcvmpi-net.so ]]; then
    cp "$(dirname "$FULL")/libcvmpi-h5.so" "$MOD/libcvmpi-net.so"
    expect_exit 1 "$T/bin/cvmpi" ls s3://bucket/prefix/
    expect_one_line_error
    expect_stderr_contains "the module libcvmpi-net.so has no cv_store_s3: it is not from this build of cvmpi"
fi
echo OK
