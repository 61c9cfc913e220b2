#!/usr/bin/env bash
# zfpc chunks that are damaged, and zfpc parameters that contradict each other: `cvmpi read`
# and `cvmpi write` exit 1 with one line naming what is wrong (a cut chunk, an index running
# past the chunk, a header whose sizes are not the chunk's; two modes at once, an axis list
# that is not four booleans), and nothing is written. Skipped in builds without libzfp.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
"$CVMPI" --version | grep -q zfpc || { echo "codec_zfpc_bad: skipped (no zfpc)"; exit 0; }

run "$CVMPI" create L --type image --dtype float32 --size 20,20,8 --chunk 16,16,8 \
    --resolution 4,4,40 --channels 2 --encoding zfpc
[[ $RC == 0 ]] || fail "create"
np_gen in.raw float32 20,20,8,2 5
run "$CVMPI" write L --bbox 0,0,0,20,20,8 -i in.raw
[[ $RC == 0 ]] || fail "write"
chunk=L/4_4_40/16-20_0-16_0-8
[[ -s $chunk ]] || fail "no zfpc chunk $chunk"
cp "$chunk" good

truncate -s 100 "$chunk"
run "$CVMPI" read L --bbox 16,0,0,20,16,8 -o out.npy
[[ $RC == 1 ]] || fail "a cut chunk must fail"
expect_one_line_error
expect_stderr_contains "16-20_0-16_0-8"
expect_stderr_contains "zfpc: stream 0 (" # its index runs past the cut

cp good "$chunk"
printf '\xff\xff\xff\xff\xff\xff\xff\x7f' | dd of="$chunk" bs=1 seek=31 conv=notrunc 2>/dev/null
run "$CVMPI" read L --bbox 16,0,0,20,16,8 -o out.npy
[[ $RC == 1 ]] || fail "a huge stream size must fail"
expect_one_line_error
expect_stderr_contains "runs past"

cp good "$chunk"
printf '\x10' | dd of="$chunk" bs=1 seek=6 conv=notrunc 2>/dev/null
run "$CVMPI" read L --bbox 16,0,0,20,16,8 -o out.npy
[[ $RC == 1 ]] || fail "a header of another shape must fail"
expect_one_line_error
expect_stderr_contains "zfpc: header x size 16, but the chunk has 4"

cp good "$chunk"
"$PY" - L/info <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
info["scales"][0].update(zfpc_rate=8, zfpc_tolerance=0.5)
json.dump(info, open(sys.argv[1], "w"))
PY
run "$CVMPI" write L --bbox 0,0,0,20,20,8 -i in.raw
[[ $RC == 1 ]] || fail "two modes must fail"
expect_one_line_error
expect_stderr_contains "set only one of zfpc_tolerance, zfpc_rate and zfpc_precision"
expect_same_files good "$chunk"

"$PY" - L/info <<'PY'
import json, sys
info = json.load(open(sys.argv[1]))
del info["scales"][0]["zfpc_tolerance"]
info["scales"][0]["zfpc_correlated_dims"] = [True, True, True]
json.dump(info, open(sys.argv[1], "w"))
PY
run "$CVMPI" write L --bbox 0,0,0,20,20,8 -i in.raw
[[ $RC == 1 ]] || fail "three axes must fail"
expect_one_line_error
expect_stderr_contains "zfpc_correlated_dims must be 4 booleans"
expect_same_files good "$chunk"
echo "codec_zfpc_bad: ok"
