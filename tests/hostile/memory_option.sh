#!/usr/bin/env bash
# --memory must be a byte count a size_t holds: 1e30 used to overflow the conversion and
# silently become the default budget, 0.1 became 0 (also the default).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

"$CVMPI" create src --type image --dtype uint8 --size 64,64,32 --resolution 4,4,40 \
    --chunk 32,32,32 >/dev/null
for bad in 1e30 1e19 0.1 18446744073709551616; do
    expect_exit 2 "$CVMPI" transfer src out --memory "$bad" --dry-run
    [[ $(head -n 1 "$ERR") == "cvmpi transfer: bad --memory \`$bad': want e.g. 2G, 512M, 1000000" ]] ||
        fail "usage error for $bad"
done
expect_exit 2 "$CVMPI" verify src src --memory 1e30
expect_stderr_contains "bad --memory \`1e30'"
expect_exit 2 "$CVMPI" downsample src --memory 1e30 --num-mips 1
expect_stderr_contains "bad --memory \`1e30'"
expect_exit 0 "$CVMPI" transfer src out --memory 1e6 --dry-run
grep -qF "(budget 1.0 MB)" "$OUT" || fail "--memory 1e6 is not a 1.0 MB budget"
echo "memory_option: ok"
