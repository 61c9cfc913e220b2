#!/usr/bin/env bash
# read/write of a box: --progress draws a bar over its chunks on stderr whatever stderr is,
# ending at N/N; off a terminal nothing by default; --no-progress silences it on a terminal.
# The output files are unchanged by it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
"$CVMPI" create big --type image --dtype uint8 --size 128,128,32 --resolution 1,1,1 \
    --chunk 32,32,16 > /dev/null
$PY -c "import numpy as np; np.save('in.npy', (np.arange(128 * 128 * 32) % 253).astype(np.uint8).reshape(128, 128, 32, 1, order='F'))"

section "--progress"
expect_exit 0 "$CVMPI" write big --bbox 0,0,0,128,128,32 -i in.npy --progress
[[ $(tr '\r' '\n' < "$ERR" | grep -c '^write \[#*\.*\] [0-9]*/32 chunks') -ge 1 ]] || fail "no bar"
[[ $(tr '\r' '\n' < "$ERR" | grep -v '^$' | tail -1) == "write [##############################] 32/32 chunks 100.0% ETA 0:00:00 " ]] ||
    fail "bar does not end at 32/32"
expect_exit 0 "$CVMPI" read big -o out.npy --progress
[[ $(tr '\r' '\n' < "$ERR" | grep -v '^$' | tail -1) == "read [##############################] 32/32 chunks 100.0% ETA 0:00:00 " ]] ||
    fail "read bar does not end at 32/32"
expect_same_files in.npy out.npy

section "off a terminal: nothing; --no-progress on a terminal: nothing"
expect_exit 0 "$CVMPI" read big -o out2.npy
[[ ! -s $ERR ]] || fail "progress off a terminal"
if command -v script > /dev/null; then
    script -qec "'$CVMPI' read big -o out3.npy --no-progress" /dev/null > tty.log || fail "read"
    [[ ! -s tty.log ]] || { cat -A tty.log; fail "--no-progress drew"; }
fi
expect_exit 2 "$CVMPI" read big -o out4.npy --report r.json
expect_stderr_contains "option \`--report' is not known"
echo "ux_box_progress: ok"
