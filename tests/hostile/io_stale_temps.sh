#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Temporary files a killed writer (kill -9) left in a local layer are removed by `cvmpi delete`
# once they are over an hour old; fresh ones may belong to a live write and stay.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

expect_exit 0 "$CVMPI" create S --type image --dtype uint8 --size 64,64,64 --chunk 32,32,32 \
    --resolution 1,1,1
head -c 262144 /dev/urandom >in.raw
expect_exit 0 "$CVMPI" write S --bbox 0,0,0,64,64,64 -i in.raw --compress gzip
old=S/1_1_1/.cvmpi-tmp-4242-0-0-32_0-32_0-32.gz
fresh=S/1_1_1/.cvmpi-tmp-4243-0-32-64_0-32_0-32.gz
printf partial >"$old"
printf partial >"$fresh"
touch -d "2 hours ago" "$old"
expect_exit 0 "$CVMPI" delete S --bbox 0,0,0,32,32,32
expect_stdout "deleted 1 of 1 chunks
removed 1 stale temporary file"
expect_no_file "$old"
[[ -f $fresh ]] || fail "a fresh temporary file was removed"
expect_exit 0 "$CVMPI" exists S --bbox 32,0,0,64,32,32
echo OK
