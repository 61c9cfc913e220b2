#!/usr/bin/env bash
# `cvmpi verify` must not read an absent chunk as zeros unless asked: a chunk a crashed job
# never wrote is reported as "missing in A" or "missing in B" with its key (exit 1);
# --fill-missing reads absent chunks as background on both sides.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

"$CVMPI" create a --type image --dtype uint8 --size 64,64,32 --resolution 4,4,40 \
    --chunk 32,32,32 >/dev/null
"$PY" -c "
import numpy as np
x = np.random.default_rng(3).integers(0, 255, (64, 64, 32, 1)).astype('uint8')
x[:32, :32] = 0  # one all-black chunk
np.save('a.npy', np.asfortranarray(x))"
"$CVMPI" write a --bbox 0,0,0,64,64,32 -i a.npy
cp -r a b
rm b/4_4_40/0-32_0-32_0-32.gz # the black chunk: zeros if read as background
summary() { grep -qF "verify: 4 tasks, $1 differ, 0 could not be read" "$OUT" || fail "want $1 differing"; }

run "$CVMPI" verify a b --memory 1M
[[ $RC == 1 ]] || fail "a missing chunk must be a difference (exit $RC)"
summary 1
grep -qF "missing in B: chunk \`4_4_40/0-32_0-32_0-32' of file://$WORK/b" "$OUT" ||
    fail "the missing chunk is not named"
run "$CVMPI" verify b a --memory 1M
[[ $RC == 1 ]] || fail "swapped: exit $RC"
grep -qF "missing in A: chunk \`4_4_40/0-32_0-32_0-32' of file://$WORK/b" "$OUT" ||
    fail "missing in A not named"
run "$CVMPI" verify a b --memory 1M --strict-missing
[[ $RC == 1 ]] || fail "--strict-missing (the default) exit $RC"

section "--fill-missing: background on both sides"
run "$CVMPI" verify a b --memory 1M --fill-missing
[[ $RC == 0 ]] || fail "--fill-missing: a black chunk read as background differs"
summary 0
rm b/4_4_40/32-64_0-32_0-32.gz # not black
run "$CVMPI" verify a b --memory 1M --fill-missing
[[ $RC == 1 ]] || fail "--fill-missing: a missing non-black chunk must differ"
grep -qE "voxels differ; first at \(32,0,0\) channel 0: A=[0-9]+ B=0" "$OUT" || fail "first voxel"

section "missing on both sides"
rm a/4_4_40/0-32_0-32_0-32.gz
run "$CVMPI" verify a b --memory 1M --bbox 0,0,0,32,32,32
[[ $RC == 1 ]] || fail "both missing: exit $RC"
grep -qF "missing in A: chunk \`4_4_40/0-32_0-32_0-32' of file://$WORK/a; missing in B: chunk \`4_4_40/0-32_0-32_0-32' of file://$WORK/b" "$OUT" ||
    fail "both sides not named"
echo "verify_missing: ok"
