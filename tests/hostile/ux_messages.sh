#!/usr/bin/env bash
# Messages name what the user types: CLI flags in hints (not library option names), and a
# mistyped command or option gets the closest known one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

expect_error() { # CODE TEXT CMD...: exit CODE, stderr's first line exactly TEXT
    local code=$1 text=$2
    shift 2
    expect_exit "$code" "$@"
    [[ $(head -1 "$ERR") == "$text" ]] || fail "want \"$text\", got \"$(head -1 "$ERR")\""
}

section "mistyped commands and options"
expect_error 2 "cvmpi: unknown command \`tranfser'; did you mean \`transfer'?" "$CVMPI" tranfser a b
expect_error 2 "cvmpi: unknown command \`frobnicate'" "$CVMPI" frobnicate
expect_error 2 "cvmpi: unknown option \`--verbos'; did you mean \`--verbose'?" "$CVMPI" --verbos info x
expect_error 2 "cvmpi read: option \`--fill-mising' is not known; did you mean \`--fill-missing'?" \
    "$CVMPI" read --fill-mising x
# (an MPI command: Open MPI's own leaks are not ours)
expect_error 2 "cvmpi transfer: option \`--skip-exisitng' is not known; did you mean \`--skip-existing'?" \
    env ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "$CVMPI" transfer --skip-exisitng a b
expect_error 2 "cvmpi read: option \`--zzz' is not known" "$CVMPI" read --zzz x
expect_error 2 "cvmpi read: option \`--bbox' needs a value" "$CVMPI" read x --bbox
expect_error 2 "cvmpi read: option \`--fill-missing' takes no value" "$CVMPI" read --fill-missing=1 x
expect_error 2 "cvmpi read: option -x is not known" "$CVMPI" read --fill-missing -xq x
# a value after '=' is never echoed, whatever the option
expect_error 2 "cvmpi read: option \`--secretz' is not known; did you mean \`--secrets'?" \
    "$CVMPI" read --secretz=hunter2 x
grep -q hunter2 "$ERR" && fail "value echoed"

section "hints name the flags"
"$CVMPI" create l --type image --dtype uint8 --size 64,64,8 --resolution 1,1,1 \
    --chunk 32,32,8 > /dev/null
expect_error 1 "cvmpi: chunk \`1_1_1/0-32_0-32_0-8' of file://$WORK/l is missing (use --fill-missing)" \
    "$CVMPI" read l --bbox 0,0,0,32,32,8 -o x.npy
$PY -c "import numpy as np; np.save('a.npy', np.zeros((10, 10, 8, 1), np.uint8))"
expect_error 1 "cvmpi: write to file://$WORK/l: box 0,0,0,10,10,8 is not aligned to the 32x32x8 chunk grid (nearest aligned box 0,0,0,32,32,8, or --non-aligned to read-modify-write the edge chunks)" \
    "$CVMPI" write l --bbox 0,0,0,10,10,8 -i a.npy
expect_error 1 "cvmpi: partial write needs chunk \`1_1_1/0-32_0-32_0-8' of file://$WORK/l, which is missing (use --fill-missing)" \
    "$CVMPI" write l --bbox 0,0,0,10,10,8 -i a.npy --non-aligned
echo "ux_messages: ok"
