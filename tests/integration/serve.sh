#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# cvmpi serve against curl: CORS (and the preflight), .gz/.br objects sent under the plain key
# with Content-Encoding (or decoded for clients that do not accept it), byte ranges of shard
# files (206, exact bytes, suffix ranges, 416), HEAD, ETag/If-None-Match (304), paths that
# escape the layer (403), missing keys (404), many parallel requests, the /view page and its
# slice endpoint (and its in-memory LRU: chunk files opened once per chunk, not per slice),
# binding to 127.0.0.1 only, a port in use, and shutdown on SIGINT/SIGTERM.
# Servers bind 127.0.0.1 and are stopped by PID.
set -euo pipefail
source "$(dirname "$0")/lib.sh" "$@"
command -v curl >/dev/null || fail "this test needs curl"

SERVER_PIDS=()
stop_servers() {
    for p in "${SERVER_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap stop_servers EXIT

# start_server NAME ARGS...: run `cvmpi serve ARGS` in the background; sets PID and BASE
start_server() {
    local name=$1
    shift
    "$CVMPI" serve "$@" >"$CAPTURE/$name.out" 2>"$CAPTURE/$name.err" &
    PID=$!
    SERVER_PIDS+=("$PID")
    for _ in $(seq 100); do
        grep -q '^slice viewer:' "$CAPTURE/$name.out" 2>/dev/null && break
        kill -0 "$PID" 2>/dev/null || fail "cvmpi serve $* exited: $(cat "$CAPTURE/$name.err")"
        sleep 0.1
    done
    BASE=$(sed -n 's|^source: *precomputed://||p' "$CAPTURE/$name.out")
    [[ $BASE == http://127.0.0.1:*/ ]] || fail "cvmpi serve printed no 127.0.0.1 URL"
}

# fetch URL [CURL ARGS...]: body in $WORK/body, headers in $WORK/hdr, status in $STATUS
fetch() {
    local url=$1
    shift
    rm -f "$WORK/body" # curl creates no file for an empty body
    STATUS=$(curl -s -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code}' "$@" "$url") ||
        fail "curl $* $url failed"
    touch "$WORK/body"
}
expect_status() {
    [[ $STATUS == "$1" ]] || fail "$2: status $STATUS, want $1 ($(head -c 200 "$WORK/body"))"
}
# header NAME: the value of a response header (last one), without the CR
header() {
    grep -i "^$1:" "$WORK/hdr" | tail -1 | sed 's/^[^:]*: *//' | tr -d '\r'
}
# bytes_of FILE OFFSET LENGTH: those bytes of FILE on stdout
bytes_of() {
    dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=4096 status=none
}
expect_header() {
    [[ "$(header "$1")" == "$2" ]] || fail "header $1 is \"$(header "$1")\", want \"$2\""
}

section "a layer with gzip chunks, brotli chunks and a sharded scale"
"$PY" - <<'EOF'
import numpy as np
a = (np.arange(64 * 64 * 8, dtype=np.uint32) * 2654435761 % 251).astype(np.uint8)
np.save("img.npy", a.reshape(64, 64, 8, order="F"))
EOF
expect_exit 0 "$CVMPI" create lay --type image --dtype uint8 --size 64,64,8 \
    --resolution 8,8,8 --chunk 32,32,8
expect_exit 0 "$CVMPI" write lay --bbox 0,0,0,64,64,8 -i img.npy --compress gzip
# the upper half of the volume again, brotli this time (stale .gz variants are removed)
"$PY" -c "import numpy as np; np.save('top.npy', np.load('img.npy')[:, 32:64, :])"
expect_exit 0 "$CVMPI" write lay --bbox 0,32,0,64,64,8 -i top.npy --compress br
expect_files lay/8_8_8 0-32_0-32_0-8.gz 32-64_0-32_0-8.gz 0-32_32-64_0-8.br 32-64_32-64_0-8.br
expect_exit 0 "$CVMPI" create shd --type image --dtype uint8 --size 64,64,8 \
    --resolution 8,8,8 --chunk 16,16,8 --sharding '{"@type": "neuroglancer_uint64_sharded_v1", "hash": "identity", "preshift_bits": 0, "minishard_bits": 1, "shard_bits": 1, "minishard_index_encoding": "raw", "data_encoding": "raw"}'
expect_exit 0 "$CVMPI" write shd --bbox 0,0,0,64,64,8 -i img.npy
shard=$(cd shd/8_8_8 && ls | grep '\.shard$' | head -1)
[[ -n $shard ]] || fail "no shard file written"
# the raw bytes of each chunk, x fastest (what a decoded chunk must be)
"$PY" - <<'EOF'
import numpy as np
a = np.load("img.npy")
for x0 in (0, 32):
    for y0 in (0, 32):
        a[x0:x0 + 32, y0:y0 + 32, :].ravel(order="F").tofile(f"chunk_{x0}_{y0}.raw")
a[:, :, 3].ravel(order="F").tofile("slice3.raw")
EOF
echo secret >secret.txt
ln -s "$WORK/secret.txt" lay/link_out
ln -s info lay/link_in

section "usage"
expect_exit 0 "$CVMPI" serve --help
grep -q 'precomputed://http://127.0.0.1:1337/' "$OUT" || fail "--help does not show the URL"
expect_exit 2 "$CVMPI" serve lay --port 70000
expect_exit 2 "$CVMPI" serve
expect_exit 1 "$CVMPI" serve "$WORK/nothing-here" --port 0
expect_one_line_error
expect_stderr_contains "nothing-here"
expect_exit 1 "$CVMPI" serve lay --port 0 --bind not-an-address
expect_one_line_error
expect_stderr_contains "not-an-address"

expect_exit 2 "$CVMPI" serve lay --lru-bytes lots
expect_stderr_contains "bad --lru-bytes \`lots': want a size such as 256M"

mkdir badinfo
echo '{"data_type": "uint8", "num_channels": 1' >badinfo/info
expect_exit 1 "$CVMPI" serve badinfo --port 0
expect_one_line_error
expect_stderr_contains "badinfo/info"
mkdir noinfo
expect_exit 1 "$CVMPI" serve noinfo --port 0
expect_one_line_error
expect_stderr_contains "noinfo"

section "start on a free port; printed URLs"
start_server main lay --port 0
PORT=${BASE##*:}
PORT=${PORT%/}
grep -q "^neuroglancer: https://neuroglancer-demo.appspot.com/#!%7B" "$CAPTURE/main.out" ||
    fail "no Neuroglancer state URL printed"
"$PY" - "$CAPTURE/main.out" "$BASE" <<'EOF' || fail "the Neuroglancer state is wrong"
import json, sys, urllib.parse
out, base = open(sys.argv[1]).read(), sys.argv[2]
url = [l for l in out.splitlines() if l.startswith("neuroglancer: ")][0].split("#!", 1)[1]
state = json.loads(urllib.parse.unquote(url))
assert state["layers"] == [{"type": "image", "source": "precomputed://" + base, "name": "lay"}], state
assert state["position"] == [32.0, 32.0, 4.0], state
assert state["dimensions"]["x"] == [8e-9, "m"], state
EOF
# bound to loopback only
if command -v ss >/dev/null; then
    listen=$(ss -Hltn "sport = :$PORT" | awk '{print $4}')
    [[ $listen == "127.0.0.1:$PORT" ]] || fail "listening on \"$listen\", want 127.0.0.1:$PORT only"
fi

section "info: CORS, type, ETag, HEAD, 304"
fetch "${BASE}info" -H 'Origin: http://example.org'
expect_status 200 "GET info"
expect_same_files "$WORK/body" lay/info
expect_header Access-Control-Allow-Origin '*'
expect_header Content-Type application/json
header Access-Control-Expose-Headers | grep -q 'Content-Range' || fail "Content-Range not exposed"
etag=$(header ETag)
[[ $etag == \"*\" ]] || fail "no quoted ETag: \"$etag\""
fetch "${BASE}info" -I
expect_status 200 "HEAD info"
expect_header Content-Length "$(stat -c %s lay/info)"
# curl -I writes the headers where the body would go: no info text may follow them
grep -q data_type "$WORK/body" && fail "HEAD sent a body"
fetch "${BASE}info" -H "If-None-Match: $etag"
expect_status 304 "If-None-Match with the current ETag"
[[ ! -s $WORK/body ]] || fail "304 with a body"
expect_header ETag "$etag"
expect_header Access-Control-Allow-Origin '*'
fetch "${BASE}info" -H 'If-None-Match: "something-else", W/"other"'
expect_status 200 "If-None-Match with other ETags"
# a changed file gets a new ETag
touch -d '2001-01-01' lay/info
fetch "${BASE}info" -H "If-None-Match: $etag"
expect_status 200 "If-None-Match after the file changed"
[[ $(header ETag) != "$etag" ]] || fail "the ETag did not change with the file"

section "CORS preflight"
fetch "${BASE}8_8_8/$shard" -X OPTIONS -H 'Origin: http://example.org' \
    -H 'Access-Control-Request-Method: GET' -H 'Access-Control-Request-Headers: range'
expect_status 204 "OPTIONS"
expect_header Access-Control-Allow-Origin '*'
expect_header Access-Control-Allow-Headers range
header Access-Control-Allow-Methods | grep -q GET || fail "preflight does not allow GET"

section "transport compression under the plain key"
fetch "${BASE}8_8_8/0-32_0-32_0-8" -H 'Accept-Encoding: gzip, deflate, br'
expect_status 200 "gzip chunk"
expect_header Content-Encoding gzip
expect_header Vary Accept-Encoding
expect_same_files "$WORK/body" lay/8_8_8/0-32_0-32_0-8.gz
fetch "${BASE}8_8_8/0-32_32-64_0-8" -H 'Accept-Encoding: gzip, deflate, br'
expect_status 200 "br chunk"
expect_header Content-Encoding br
expect_same_files "$WORK/body" lay/8_8_8/0-32_32-64_0-8.br
# curl --compressed decodes: the chunk's voxels
fetch "${BASE}8_8_8/32-64_32-64_0-8" --compressed
expect_same_files "$WORK/body" chunk_32_32.raw
# a client that accepts neither gets the decoded bytes, no Content-Encoding
for c in 0_0 32_0 0_32 32_32; do
    fetch "${BASE}8_8_8/${c%_*}-$((${c%_*} + 32))_${c#*_}-$((${c#*_} + 32))_0-8" \
        -H 'Accept-Encoding: identity'
    expect_status 200 "chunk $c without compression"
    [[ -z $(header Content-Encoding) ]] || fail "Content-Encoding sent to a client without it"
    expect_same_files "$WORK/body" "chunk_$c.raw"
done
fetch "${BASE}8_8_8/0-32_0-32_0-8.gz"
expect_status 200 "the stored name itself"
expect_same_files "$WORK/body" lay/8_8_8/0-32_0-32_0-8.gz

section "byte ranges of a shard file"
size=$(stat -c %s "shd/8_8_8/$shard")
MAIN=$BASE
start_server shd shd --port 0
SHD=$BASE
SHD_PID=$PID
BASE=$MAIN
fetch "${SHD}8_8_8/$shard" -H 'Range: bytes=10-99'
expect_status 206 "Range 10-99"
expect_header Content-Range "bytes 10-99/$size"
expect_header Content-Length 90
bytes_of "shd/8_8_8/$shard" 10 90 >want.bin
expect_same_files "$WORK/body" want.bin
fetch "${SHD}8_8_8/$shard" -H 'Range: bytes=-16'
expect_status 206 "suffix range"
expect_header Content-Range "bytes $((size - 16))-$((size - 1))/$size"
bytes_of "shd/8_8_8/$shard" $((size - 16)) 16 >want.bin
expect_same_files "$WORK/body" want.bin
fetch "${SHD}8_8_8/$shard" -H "Range: bytes=$((size - 5))-"
expect_status 206 "open range"
bytes_of "shd/8_8_8/$shard" $((size - 5)) 5 >want.bin
expect_same_files "$WORK/body" want.bin
fetch "${SHD}8_8_8/$shard" -H "Range: bytes=$size-"
expect_status 416 "range past the end"
expect_header Content-Range "bytes */$size"
fetch "${SHD}8_8_8/$shard" -H 'Range: bytes=0-1,4-5'
expect_status 200 "several ranges (answered whole)"
expect_same_files "$WORK/body" "shd/8_8_8/$shard"
# many ranged requests in parallel, each exact
curl_pids=()
for i in $(seq 0 63); do
    curl -sf -r "$((i * 7))-$((i * 7 + 99))" -o "part_$i.bin" "${SHD}8_8_8/$shard" &
    curl_pids+=($!)
done
wait_fail=0
for j in "${curl_pids[@]}"; do
    wait "$j" || wait_fail=1
done
[[ $wait_fail == 0 ]] || fail "a parallel ranged request failed"
for i in $(seq 0 63); do
    bytes_of "shd/8_8_8/$shard" $((i * 7)) 100 >want.bin
    expect_same_files "part_$i.bin" want.bin
done

section "many parallel requests on one connection pool"
list=()
for i in $(seq 1 200); do
    list+=(-o "par_$i.gz" "${BASE}8_8_8/0-32_0-32_0-8")
done
curl -sSf --no-progress-meter --parallel --parallel-max 64 -H 'Accept-Encoding: gzip' "${list[@]}" ||
    fail "parallel requests failed"
for i in $(seq 1 200); do
    cmp -s "par_$i.gz" lay/8_8_8/0-32_0-32_0-8.gz || fail "parallel response $i differs"
done

section "paths outside the layer: 403; missing: 404"
fetch "${BASE}../secret.txt" --path-as-is
expect_status 403 "/../"
[[ $(cat "$WORK/body") != secret ]] || fail "leaked a file outside the layer"
fetch "${BASE}%2e%2e/secret.txt" --path-as-is
expect_status 403 "/%2e%2e/"
fetch "${BASE}8_8_8/%2E%2E/%2E%2E/secret.txt" --path-as-is
expect_status 403 "/8_8_8/%2E%2E/%2E%2E/"
fetch "${BASE}8_8_8/..%2f..%2fsecret.txt" --path-as-is
expect_status 403 "..%2f"
fetch "${BASE}info%00.txt" --path-as-is
expect_status 400 "a %00 in the path"
grep -q "refused: the path has a NUL or control byte" "$WORK/body" || fail "400 without a reason"
fetch "${BASE}link_out"
expect_status 403 "a symlink pointing out of the layer"
grep -q refused "$WORK/body" || fail "403 without a reason"
fetch "${BASE}link_in"
expect_status 200 "a symlink inside the layer"
expect_same_files "$WORK/body" lay/info
fetch "${BASE}8_8_8/0-32_0-32_0-16"
expect_status 404 "a missing chunk"
expect_header Access-Control-Allow-Origin '*'
fetch "${BASE}8_8_8"
expect_status 404 "a directory"
fetch "${BASE}info" -X POST
expect_status 405 "POST"

section "/view and /view/slice"
fetch "${BASE}view"
expect_status 200 "/view"
grep -q 'cvmpi slice viewer' "$WORK/body" || fail "/view is not the viewer page"
expect_header Content-Type 'text/html; charset=utf-8'
fetch "${BASE}view/slice?mip=0&z=3"
expect_status 200 "/view/slice"
expect_header X-Cvmpi-Shape 64,64,1
expect_header X-Cvmpi-Dtype uint8
expect_same_files "$WORK/body" slice3.raw
fetch "${BASE}view/slice?mip=8,8,8&z=3"
expect_status 200 "/view/slice with a resolution for the mip"
expect_same_files "$WORK/body" slice3.raw
fetch "${BASE}view/slice?z=8"
expect_status 400 "z outside the volume"
grep -q 'outside' "$WORK/body" || fail "no reason for a bad z"
fetch "${BASE}view/slice?z=abc"
expect_status 400 "z not a number"
fetch "${BASE}view/slice?mip=5&z=1"
expect_status 400 "mip that does not exist"

section "/view/slice through 16 slices of one chunk depth: --lru-bytes"
# 2x2 chunks of 16x16x16 (gzip): one slice reads 4 chunk files. inotify counts the opens of the
# chunk files while 16 slices are fetched one after another; each slice must be exact.
expect_exit 0 "$CVMPI" create deep --type image --dtype uint8 --size 32,32,16 \
    --resolution 8,8,8 --chunk 16,16,16
"$PY" -c 'import numpy as np
np.save("deep.npy", (np.arange(32 * 32 * 16, dtype=np.uint32) % 253).astype(np.uint8).reshape(32, 32, 16, order="F"))'
expect_exit 0 "$CVMPI" write deep --bbox 0,0,0,32,32,16 -i deep.npy
# count_opens BASE: fetch z = 0..15 and print how many times chunk files were opened.
count_opens()
{
    "$PY" - "$1" deep/8_8_8 <<'EOF'
import ctypes, os, struct, sys, urllib.request
import numpy as np
IN_OPEN, IN_CLOSE_NOWRITE = 0x20, 0x10
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
# Closes are watched too so that two opens of one file are never merged into one event.
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[2].encode(), IN_OPEN | IN_CLOSE_NOWRITE) < 0:
    sys.exit("inotify: errno %d" % ctypes.get_errno())
vol = np.load("deep.npy")
for z in range(16):
    body = urllib.request.urlopen("%sview/slice?mip=0&z=%d" % (sys.argv[1], z)).read()
    assert body == vol[:, :, z].tobytes(order="F"), "slice %d differs" % z
opens, buf = 0, b""
while True:
    try:
        buf += os.read(fd, 65536)
    except BlockingIOError:
        break
at = 0
while at < len(buf):
    _, mask, _, size = struct.unpack_from("iIII", buf, at)
    name = buf[at + 16:at + 16 + size].rstrip(b"\0")
    opens += bool(mask & IN_OPEN) and name != b""  # a chunk file, not the directory
    at += 16 + size
print(opens)
EOF
}
start_server nolru deep --port 0 --lru-bytes 0
[[ $(count_opens "$BASE") == 64 ]] || fail "without the LRU: want 64 chunk opens (16 slices x 4)"
kill "$PID"
start_server lru deep --port 0
[[ $(count_opens "$BASE") == 4 ]] || fail "with the default LRU: want 4 chunk opens (1 per chunk)"
kill "$PID"
BASE=$MAIN

section "corrupt chunks: a clear 500, never wrong bytes"
cp -r lay bad
printf 'not gzip at all' >bad/8_8_8/0-32_0-32_0-8.gz
start_server bad bad --port 0
BAD=$BASE
fetch "${BAD}8_8_8/0-32_0-32_0-8" -H 'Accept-Encoding: gzip'
expect_status 200 "a corrupt .gz to a gzip client (stored bytes, as any file server)"
expect_same_files "$WORK/body" bad/8_8_8/0-32_0-32_0-8.gz
fetch "${BAD}8_8_8/0-32_0-32_0-8" -H 'Accept-Encoding: identity'
expect_status 500 "a corrupt .gz decoded for a client without gzip"
grep -q '0-32_0-32_0-8' "$WORK/body" || fail "the 500 does not name the chunk"
fetch "${BAD}view/slice?z=0"
expect_status 500 "a slice through a corrupt chunk"
grep -q '0-32_0-32_0-8' "$WORK/body" || fail "the slice error does not name the chunk"
fetch "${BAD}view/slice?z=0"
expect_status 500 "the same slice again (the server keeps going)"
fetch "${BAD}info"
expect_status 200 "info after the errors"
BASE=$MAIN

section "a port in use"
expect_exit 1 "$CVMPI" serve lay --port "$PORT"
expect_one_line_error
expect_stderr_contains "cannot listen on 127.0.0.1 port $PORT: Address already in use"

section "SIGINT and SIGTERM stop the server cleanly"
kill -INT "$SHD_PID"
for _ in $(seq 50); do kill -0 "$SHD_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SHD_PID" 2>/dev/null && fail "still running after SIGINT"
wait "$SHD_PID" || fail "exit status $? after SIGINT"
grep -q 'stopped (SIGINT)' "$CAPTURE/shd.err" || fail "no stop message after SIGINT"
main_pid=${SERVER_PIDS[0]}
kill -TERM "$main_pid"
wait "$main_pid" || fail "exit status $? after SIGTERM"
grep -q 'stopped (SIGTERM)' "$CAPTURE/main.err" || fail "no stop message after SIGTERM"
# the port is free again
start_server again lay --port "$PORT"
kill -TERM "$PID"
wait "$PID" || fail "restart on the same port"
echo "PASS"
