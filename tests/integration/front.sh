#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# front.sh CVMPI: `cvmpi` is a front that runs `info` of a local layer itself, without loading
# MPI, HDF5, libcurl & co., and hands every other command line to the full program
# (../libexec/cvmpi/cvmpi beside it). Both must answer exactly alike.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

FULL=$(dirname "$CVMPI")/../libexec/cvmpi/cvmpi
[[ -x $FULL ]] || fail "no full program at $FULL"

section "the front links none of the heavy libraries"
run readelf -d "$CVMPI"
for lib in libmpi libhdf5 libcurl libcrypto libjxl libfpzip libdraco libmicrohttpd libstdc++; do
    grep -q "Shared library: \[${lib}[._-]" "$OUT" && fail "the front needs $lib"
done
run readelf -d "$FULL"
grep -q 'Shared library: \[libmpi' "$OUT" || fail "the full program does not link MPI"

section "front and full program print the same"
expect_exit 0 "$CVMPI" create "file://$WORK/l" --type segmentation --dtype uint64 \
    --size 70,64,20 --resolution 4,4,40 --chunk 32,32,16 --encoding compressed_segmentation \
    --mesh mesh --max-mip 1
same()
{
    local code=$1
    shift
    expect_exit "$code" "$CVMPI" "$@"
    cp "$OUT" front.out
    cp "$ERR" front.err
    expect_exit "$code" "$FULL" "$@"
    cmp -s front.out "$OUT" || fail "stdout of '$*' differs: $(diff front.out "$OUT" | head -5)"
    cmp -s front.err "$ERR" || fail "stderr of '$*' differs: $(diff front.err "$ERR" | head -5)"
}
same 0 info "file://$WORK/l"
same 0 info "$WORK/l" --json
same 0 -v info --json "$WORK/l"
same 0 -q info "$WORK/l"
same 1 info "$WORK/missing"
same 2 info
same 2 info "$WORK/l" "$WORK/l"
same 2 info --bogus "$WORK/l"
same 0 info --help
same 0 --version
same 0 --help
same 2 bogus
same 0 exists "$WORK/l"
[[ $(cat front.out) == "$(cat "$OUT")" && -s front.out ]] || fail "exists printed nothing"
grep -q 'layer:     file://' <("$CVMPI" info "$WORK/l") || fail "info printed no layer line"

section "a layer the front cannot open goes to the full program (an info redirecting to s3)"
mkdir redir
/usr/bin/python3 -c "
import json, sys
d = json.load(open(sys.argv[1] + '/l/info'))
d['redirect'] = 's3://http://127.0.0.1:1/b/l'
json.dump(d, open(sys.argv[1] + '/redir/info', 'w'))" "$WORK"
CV_HTTP_RETRIES=0 expect_exit 1 "$CVMPI" info "$WORK/redir"
expect_one_line_error
expect_stderr_contains "cvmpi: GET \`s3://http://127.0.0.1:1/b/l/info': "

section "a front without its full program says so"
mkdir alone
cp "$CVMPI" alone/cvmpi
expect_exit 0 alone/cvmpi info "$WORK/l"
expect_exit 1 alone/cvmpi --version
expect_one_line_error
expect_stderr_contains "cvmpi: cannot run the full program $WORK/alone/../libexec/cvmpi/cvmpi: No such file or directory"

echo "PASS"
