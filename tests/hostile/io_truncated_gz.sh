#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A truncated .gz chunk on the copy path (transfer keeps the stored bytes) is reported as a
# truncated or corrupt file naming the chunk, not as a size read from the cut-off bytes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
# The MPI library's own allocations are not freed at exit: leak checks would only see those.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1

expect_exit 0 "$CVMPI" create S --type image --dtype uint8 --size 64,64,64 --chunk 64,64,64 \
    --resolution 1,1,1
head -c 262144 /dev/urandom >in.raw
expect_exit 0 "$CVMPI" write S --bbox 0,0,0,64,64,64 -i in.raw --compress gzip
gz=S/1_1_1/0-64_0-64_0-64.gz
head -c 1000 "$gz" >cut && mv cut "$gz"
expect_exit 1 "$CVMPI" transfer S D
expect_stderr_contains "read chunk \`1_1_1/0-64_0-64_0-64' of file://$WORK/S: the .gz file is truncated or corrupt (1000 bytes; its trailer does not give the chunk's 262144 bytes)"
head -c 10 in.raw >"$gz"
expect_exit 1 "$CVMPI" transfer S D2
expect_stderr_contains "the .gz file is truncated or corrupt (10 bytes, not a gzip stream)"
echo OK
