#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The disk cache (--cache, docs/cache.md) never serves wrong bytes: a truncated, empty,
# altered or foreign entry, a bad or missing sidecar, a FIFO, a symlink or a directory in an
# entry's place is a miss and the object is fetched again (one request at a counting HTTP
# server); a layer path with `..' is refused before any directory is made; bad cache options
# are usage errors; file:// layers are never cached.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

if ! "$CVMPI" --version | grep -q ' http '; then
    echo "SKIP: this build has no http:// storage"
    exit 0
fi
SERVER_PID=
stop_server() { [[ -z $SERVER_PID ]] || { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }; }
trap 'stop_server; rm -rf "$WORK"' EXIT

count() { "$PY" -c "import urllib.request, sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$PORT/$1').read().decode())"; }
expect_requests()
{
    local got
    got=$(count __count)
    [[ $got == "$1" ]] || fail "expected $1 requests at the server, got $got ($2)"
    count __reset >/dev/null
}

section "a served layer, read once into the cache"
expect_exit 0 "$CVMPI" create L --type image --dtype uint16 --size 32,32,8 --resolution 1,1,1 \
    --chunk 16,16,8
"$PY" -c 'import numpy as np; np.save("a.npy", (np.arange(32 * 32 * 8, dtype=np.uint16) * 7).reshape(32, 32, 8))'
expect_exit 0 "$CVMPI" write L -i a.npy --bbox 0,0,0,32,32,8
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" "$TEST_DIR/../cloud/counting_http.py" "$WORK" "$PORT" >server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do count __count >/dev/null 2>&1 && break; sleep 0.1; done
U=http://127.0.0.1:$PORT/L
D=$WORK/c/http/127.0.0.1:$PORT/L
K=1_1_1/0-16_0-16_0-8
read_box() { expect_exit 0 "$CVMPI" read "$U" --cache="$WORK/c" --cache-info-age 3600 -o "$1"; }
read_box r0.npy
expect_requests 5 "first read"
expect_same_files L/$K.gz "$D/$K.gz"
good=$(cat "$D/$K.cvmeta")

# each case spoils the entry of K, reads the whole box: the voxels are right and K alone is
# fetched again, and the entry is whole afterwards
spoil_case()
{
    section "$1"
    read_box r.npy
    expect_same_files r0.npy r.npy
    expect_requests 1 "$1"
    expect_same_files L/$K.gz "$D/$K.gz"
    [[ $(cat "$D/$K.cvmeta") == "$good" ]] || fail "sidecar not restored after: $1"
}
: >"$D/$K.gz"
spoil_case "zero-length data file"
head -c 100 L/$K.gz >"$D/$K.gz"
spoil_case "truncated data file"
"$PY" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[30] ^= 1; open(sys.argv[1], "wb").write(b)' "$D/$K.gz"
spoil_case "one byte altered, same size"
echo junk >"$D/$K.cvmeta"
spoil_case "sidecar not one"
: >"$D/$K.cvmeta"
spoil_case "empty sidecar"
rm "$D/$K.cvmeta"
spoil_case "no sidecar (an entry CloudVolume wrote)"
rm "$D/$K.gz" && mkfifo "$D/$K.gz"
spoil_case "a FIFO in the entry's place"
rm "$D/$K.gz" && ln -s "$WORK/L/info" "$D/$K.gz"
spoil_case "a symlink in the entry's place"
rm "$D/$K.cvmeta" && mkdir "$D/$K.cvmeta"
section "a directory in the sidecar's place: read without caching"
read_box r.npy
expect_same_files r0.npy r.npy
expect_requests 1 "directory sidecar"
rmdir "$D/$K.cvmeta"
sed 's/ gzip$/ br/' <<<"$good" >"$D/$K.cvmeta"
spoil_case "sidecar naming another encoding"
sed 's/cvmpi-cache 1 [0-9]*/cvmpi-cache 1 99999999999999999999999/' <<<"$good" >"$D/$K.cvmeta"
spoil_case "sidecar with an overflowing size"

section "no temporary files left"
[[ -z $(find "$WORK/c" -name '.cvmpi-cache-tmp-*') ]] || fail "temporary files left behind"

section "a layer path that climbs out of the cache directory"
expect_exit 1 "$CVMPI" read "http://127.0.0.1:$PORT/x/../../L" --cache="$WORK/c2" -o r.npy
expect_one_line_error
expect_stderr_contains "cvmpi: cache: \`http://127.0.0.1:$PORT/x/../../L' has a \`..' part, which would leave the cache directory"
expect_no_file "$WORK/c2"
expect_exit 1 "$CVMPI" cache clear 'gs://bucket/../../..' --cache "$WORK"
expect_stderr_contains "has a \`..' part"
[[ -d $WORK/L ]] || fail "cache clear removed files outside the cache"

section "bad cache options"
expect_exit 2 "$CVMPI" read "$U" --cache-max-age 10 -o r.npy
expect_stderr_contains "cvmpi read: --cache-max-age, --cache-info-age and --cache-bytes need --cache"
expect_exit 2 "$CVMPI" read "$U" --cache= -o r.npy
expect_stderr_contains "--cache= needs a directory"
expect_exit 2 "$CVMPI" read "$U" --cache --cache-bytes 0 -o r.npy
expect_stderr_contains "bad --cache-bytes \`0'"
expect_exit 2 "$CVMPI" read "$U" --cache --cache-max-age -1 -o r.npy
expect_stderr_contains "bad --cache-max-age \`-1'"
expect_exit 2 "$CVMPI" write "$U" --cache -i a.npy --bbox 0,0,0,32,32,8
expect_exit 2 "$CVMPI" cache
expect_stderr_contains "want \`ls', \`du' or \`clear'"

section "a cache directory that cannot be made"
echo file >notadir
expect_exit 1 "$CVMPI" read "$U" --cache="$WORK/notadir" -o r.npy
expect_one_line_error
expect_stderr_contains "cvmpi: cache directory \`$WORK/notadir/http'"

section "file:// layers are never cached"
expect_exit 0 "$CVMPI" read L --cache="$WORK/c3" -o r.npy
expect_no_file "$WORK/c3"
echo PASS
