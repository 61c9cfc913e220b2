#!/usr/bin/env bash
# docs/library.md's example program on a layer written here: its printed mean must be numpy's.
#   library_example.sh CVMPI EXAMPLE
set -euo pipefail
CVMPI=${1:?usage: library_example.sh CVMPI EXAMPLE}
EXAMPLE=${2:?usage: library_example.sh CVMPI EXAMPLE}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$CVMPI" create layer --type image --dtype uint8 --size 128,64,32 --resolution 4,4,40 \
    --chunk 32,32,32 > /dev/null
/usr/bin/python3 - <<'PY'
import numpy as np
a = np.random.default_rng(3).integers(0, 256, size=(128, 64, 32, 1)).astype(np.uint8)
np.save("data.npy", np.asfortranarray(a))
with open("expected.txt", "w") as f:
    f.write("mean %.3f of %d voxels\n" % (a[:64].astype(np.float64).mean(), a[:64].size))
PY
"$CVMPI" write layer --bbox 0,0,0,128,64,32 -i data.npy
"$EXAMPLE" "file://$WORK/layer" > got.txt
diff expected.txt got.txt || {
    echo "FAIL: the library example printed the wrong mean" >&2
    exit 1
}
# An error is one line naming the layer.
if "$EXAMPLE" "file://$WORK/absent" 2> err.txt; then
    echo "FAIL: the example read a layer that does not exist" >&2
    exit 1
fi
grep -q "absent" err.txt || {
    echo "FAIL: the error does not name the layer: $(cat err.txt)" >&2
    exit 1
}
echo "library example: $(cat got.txt)"
