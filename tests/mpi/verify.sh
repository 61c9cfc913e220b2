#!/usr/bin/env bash
# cvmpi verify: identical layers (different encodings and chunk sizes) pass; a changed voxel is
# reported with its absolute coordinates and both values, exit 1.
source "$(dirname "$0")/lib.sh"
make_source src uint16 150,100,30 5,-3,2 64,64,16
run_np 2 transfer src copy --chunk-size 32,32,32 --compress br > /dev/null 2>&1 || fail "transfer"
run_np 3 verify src copy --memory 4M > log 2>&1 || { cat log; fail "identical layers differ"; }
grep -q ", 0 differ" log || fail "summary"
/usr/bin/python3 -c "
import numpy as np; a = np.load('src.npy'); a[100, 50, 20, 0] = 4242; np.save('changed.npy', a)"
"$CVMPI" write copy --bbox 5,-3,2,155,97,32 -i changed.npy
set +e
run_np 2 verify src copy --memory 4M > log 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || { cat log; fail "verify of different layers exited $rc"; }
grep -q "1 voxels differ; first at (105,47,22) channel 0: A=[0-9]* B=4242" log ||
    { cat log; fail "difference not reported exactly"; }
echo "verify: ok"
