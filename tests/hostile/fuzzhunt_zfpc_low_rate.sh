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
    section "$dtype, zfpc_rate 0.01 (3 bits a 4-D block)"
    rm -rf L
    run "$CVMPI" create L --type image --dtype $dtype --size 32,32,16 --chunk 32,32,16 \
        --resolution 4,4,40 --encoding zfpc
    [[ $RC == 0 ]] || fail "create"
    "$PY" - L/info <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
info["scales"][0]["zfpc_rate"] = 0.01
json.dump(info, open(sys.argv[1], "w"))
PY
    "$PY" - in.raw $dtype <<'PY'
import numpy as np, sys
x, y, z = np.meshgrid(np.arange(32), np.arange(32), np.arange(16), indexing="ij")
a = (np.sin(x * 0.7) * 1000 + y * 13.25 - z * 7.5).astype(sys.argv[2])
a.ravel(order="F").tofile(sys.argv[1])  # x fastest, as cvmpi reads raw input
PY
    run "$CVMPI" write L --bbox 0,0,0,32,32,16 -i in.raw
    [[ $RC == 0 ]] || fail "write"
    run "$CVMPI" read L --bbox 0,0,0,32,32,16 -o out.npy
    [[ $RC == 0 ]] || fail "read"
    "$PY" - in.raw out.npy $dtype <<'PY' || fail "values"
import numpy as np, sys
want = np.fromfile(sys.argv[1], dtype=sys.argv[3]).reshape(32, 32, 16, 1, order="F")
got = np.load(sys.argv[2])
err = np.abs(got.astype(np.float64) - want.astype(np.float32).astype(np.float64)).max()
if got.shape != want.shape or not err <= 1e-3:
    sys.exit("shape %s, largest error %g" % (got.shape, err))
PY
done
echo "fuzzhunt_zfpc_low_rate: ok"
