#!/usr/bin/env bash
# A job does what its options say or refuses (one process, no mpirun): transfer copies every
# scale and its destination declares exactly those; options contradicting an existing
# destination scale exit 2; --level on write/downsample/transfer changes the gzip effort, never
# the voxels, and the default is level 9 (CloudFiles' bytes).
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
# transfer and downsample start MPI (one rank); LeakSanitizer would report Open MPI's own leaks
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

scales() {
    "$PY" -c 'import json, sys
print(",".join(s["key"] for s in json.load(open(sys.argv[1] + "/info"))["scales"]))' "$1"
}
same_voxels() { # same_voxels A MIP_A B MIP_B
    "$CVMPI" read "$1" --mip "$2" -o ra.npy
    "$CVMPI" read "$3" --mip "$4" -o rb.npy
    expect_same_files ra.npy rb.npy
}
layer_digest() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

section "a 3-scale source"
"$CVMPI" create L --type image --dtype uint8 --size 64,64,8 --resolution 4,4,40 --chunk 32,32,8 > /dev/null
"$PY" -c 'import numpy as np
a = np.random.default_rng(3).integers(0, 256, (64, 64, 8, 1)).astype("uint8")
np.save("a.npy", np.asfortranarray(a))'
"$CVMPI" write L --bbox 0,0,0,64,64,8 -i a.npy
"$CVMPI" -q downsample L --num-mips 2 > /dev/null

section "transfer: every scale, exactly those declared"
"$CVMPI" -q transfer L ALL > /dev/null
[ "$(scales ALL)" = "4_4_40,8_8_40,16_16_40" ] || fail "ALL has $(scales ALL)"
for m in 0 1 2; do same_voxels L $m ALL $m; done
"$CVMPI" -q transfer L ONE --mip 2 > /dev/null
[ "$(scales ONE)" = "16_16_40" ] || fail "ONE has $(scales ONE)"
same_voxels L 2 ONE 0

section "transfer: a conflicting option exits 2 and names flag, scale and value"
expect_exit 2 "$CVMPI" transfer L ONE --mip 2 --encoding png
expect_one_line_error
expect_stderr_contains "cvmpi: transfer: --encoding png conflicts with scale 16_16_40 of file://$WORK/ONE, which has encoding raw"
[ "$(scales ONE)" = "16_16_40" ] || fail "a refused transfer changed ONE: $(scales ONE)"

section "write --level"
"$CVMPI" create W1 --type image --dtype uint8 --size 64,64,8 --resolution 4,4,40 --chunk 32,32,8 > /dev/null
cp -r W1 W9
cp -r W1 WD
"$CVMPI" write W1 --bbox 0,0,0,64,64,8 -i a.npy --level 1
"$CVMPI" write W9 --bbox 0,0,0,64,64,8 -i a.npy --level 9
"$CVMPI" write WD --bbox 0,0,0,64,64,8 -i a.npy
[ "$(layer_digest W9)" = "$(layer_digest WD)" ] || fail "--level 9 differs from the default"
[ "$(layer_digest W1)" != "$(layer_digest WD)" ] || fail "--level 1 wrote level 9's bytes"
for f in W1/4_4_40/*.gz; do gzip -t "$f" || fail "$f is not valid gzip"; done
same_voxels W1 0 WD 0
expect_exit 2 "$CVMPI" write W1 --bbox 0,0,0,64,64,8 -i a.npy --compress none --level 1
expect_stderr_contains "--level 1 needs gzip or br: --compress none has no levels"
expect_exit 2 "$CVMPI" write W1 --bbox 0,0,0,64,64,8 -i a.npy --level 99
expect_stderr_contains "bad --level \`99' (gzip 0..12, br 0..11)"
"$CVMPI" create J --type image --dtype uint8 --size 64,64,8 --resolution 4,4,40 --chunk 32,32,8 \
    --encoding jpeg > /dev/null
expect_exit 2 "$CVMPI" write J --bbox 0,0,0,64,64,8 -i a.npy --level 1
expect_one_line_error
expect_stderr_contains "cvmpi: --level 1: the chunks of scale 4_4_40 (encoding jpeg) are written without transport compression; give --compress gzip or br"
expect_files J info

section "downsample --level"
cp -r W1 D1
run "$CVMPI" downsample D1 --num-mips 1 --level 1
[ "$RC" = 0 ] || { cat "$ERR"; fail "downsample --level 1"; }
grep -qF "; compress gzip level 1" "$OUT" || fail "downsample summary: $(cat "$OUT")"
"$CVMPI" -q downsample WD --num-mips 1 > /dev/null
same_voxels D1 1 WD 1
echo "job_flags: ok"
