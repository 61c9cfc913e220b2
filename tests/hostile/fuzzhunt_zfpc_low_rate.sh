#!/usr/bin/env bash
# A zfpc_rate below the bits a float block's exponent takes (9 a block for float32, 12 for
# float64: zfp then codes the block with no bit limit at all) made libzfp write past the buffer
# sized from the rate, and the reader decode such streams from a copy padded for the rate only.
# Found by the codec_zfpc fuzz target. Now `cvmpi write` stores whole streams and `cvmpi read`
# gives the values back (near-lossless, as zfp with no limit is). Skipped without libzfp.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
"$CVMPI" --version | grep -q zfpc || { echo "fuzzhunt_zfpc_low_rate: skipped (no zfpc)"; exit 0; }

for dtype in float32 float64; do
    run "$CVMPI" create $dtype --type image --dtype $dtype --size 32,32,16 --chunk 32,32,16 \
        --resolution 4,4,40 --encoding zfpc
    [[ $RC == 0 ]] || fail "create $dtype"
done
# zfpc_rate 0.01: 3 bits a 4-D block; the input in x-fastest order, as cvmpi reads raw files
"$PY" - <<'PY'
import json
import numpy as np
x, y, z = np.meshgrid(np.arange(32), np.arange(32), np.arange(16), indexing="ij")
for dtype in ("float32", "float64"):
    info = json.load(open(dtype + "/info"))
    info["scales"][0]["zfpc_rate"] = 0.01
    json.dump(info, open(dtype + "/info", "w"))
    a = (np.sin(x * 0.7) * 1000 + y * 13.25 - z * 7.5).astype(dtype)
    a.ravel(order="F").tofile(dtype + ".raw")
PY
for dtype in float32 float64; do
    section "$dtype, zfpc_rate 0.01"
    run "$CVMPI" write $dtype --bbox 0,0,0,32,32,16 -i $dtype.raw
    [[ $RC == 0 ]] || fail "write $dtype"
    run "$CVMPI" read $dtype --bbox 0,0,0,32,32,16 -o $dtype.npy
    [[ $RC == 0 ]] || fail "read $dtype"
done
"$PY" - <<'PY' || fail "values"
import sys
import numpy as np
for dtype in ("float32", "float64"):
    want = np.fromfile(dtype + ".raw", dtype=dtype).reshape(32, 32, 16, 1, order="F")
    got = np.load(dtype + ".npy")
    err = np.abs(got.astype(np.float64) - want.astype(np.float32).astype(np.float64)).max()
    if got.shape != want.shape or not err <= 1e-3:
        sys.exit("%s: shape %s, largest error %g" % (dtype, got.shape, err))
PY
echo "fuzzhunt_zfpc_low_rate: ok"
