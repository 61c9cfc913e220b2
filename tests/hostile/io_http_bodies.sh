#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# HTTP bodies are bounded by what the object can be: an endless body, a 1 GiB Content-Length
# and an oversized info fail at once with the key named and memory bounded; a hung server is
# given up after --timeout seconds per attempt and --retries retries, the total time reported.
# Servers: python3 -m http.server serving this directory behind ../cloud/fault_proxy.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
PROXY=$TEST_DIR/../cloud/fault_proxy.py

PIDS=()
cleanup()
{
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port()
{
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port()
{
    local i
    for ((i = 0; i < 100; i++)); do
        "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null &&
            return 0
        sleep 0.1
    done
    fail "nothing listens on port $1"
}

expect_exit 0 "$CVMPI" create L --type image --dtype uint8 --size 64,64,64 --chunk 64,64,64 \
    --resolution 1,1,1
head -c 262144 /dev/urandom >in.raw
expect_exit 0 "$CVMPI" write L --bbox 0,0,0,64,64,64 -i in.raw --compress none
UP=$(free_port)
"$PY" -m http.server --bind 127.0.0.1 "$UP" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$UP"

# proxy MODE MATCH: a fault_proxy.py in hostile MODE for paths containing MATCH; sets URL
proxy()
{
    local port
    port=$(free_port)
    "$PY" "$PROXY" "$port" "http://127.0.0.1:$UP" 1 0 --hostile "$1" --match "$2" >/dev/null 2>&1 &
    PIDS+=($!)
    wait_port "$port"
    URL=http://127.0.0.1:$port/L
}

# read_bounded SECONDS ARGS...: `cvmpi read URL ARGS -o out.raw` fails within SECONDS in at
# most 400 MB of memory (ASan builds included); stderr in err.txt.
read_bounded()
{
    local limit=$1
    shift
    local t0=$SECONDS
    if /usr/bin/time -f "%M" -o rss.txt timeout "$limit" "$CVMPI" read "$URL" "$@" -o out.raw \
        >/dev/null 2>err.txt; then
        fail "read $URL succeeded"
    fi
    grep -v "^cvmpi: warning: " err.txt | grep -v "^Command exited" >errors.txt || true
    [[ $(wc -l <errors.txt) == 1 ]] || fail "want one error line, got: $(cat err.txt)"
    grep -q "Command terminated by signal\|^124$" rss.txt && fail "read was killed: $(cat err.txt)"
    local rss
    rss=$(tail -1 rss.txt)
    ((rss < 400000)) || fail "max RSS $rss KiB"
    echo "   $(cat errors.txt) [$((SECONDS - t0)) s, max RSS $rss KiB]"
    expect_no_file out.raw
}

section "endless chunk body (no Content-Length): cut off at the chunk's maximum size"
proxy endless 0-64_0-64_0-64
read_bounded 60 --retries 0
grep -q "^cvmpi: .*GET \`$URL/1_1_1/0-64_0-64_0-64': body larger than the [0-9]* bytes expected" \
    errors.txt || fail "unexpected error: $(cat errors.txt)"

section "1 GiB Content-Length for a 256 KiB chunk: refused before the body is read"
proxy huge 0-64_0-64_0-64
read_bounded 20 --retries 0
grep -q "GET \`$URL/1_1_1/0-64_0-64_0-64': body larger than" errors.txt ||
    fail "unexpected error: $(cat errors.txt)"

section "endless info: cut off at the info limit"
proxy endless /L/info
read_bounded 60 --retries 0
grep -q "GET \`$URL/info': body larger than the [0-9]* bytes expected" errors.txt ||
    fail "unexpected error: $(cat errors.txt)"

section "hung server: --timeout 1 --retries 1 gives up after 2 attempts"
proxy hang 0-64_0-64_0-64
read_bounded 30 --timeout 1 --retries 1
grep -q "GET \`$URL/1_1_1/0-64_0-64_0-64': .* (gave up after 2 attempts in [0-9.]* s)" \
    errors.txt || fail "unexpected error: $(cat errors.txt)"

section "endless shard file answering a Range request with 200: only the range is read"
expect_exit 0 "$CVMPI" create S --type image --dtype uint8 --size 64,64,64 --chunk 32,32,32 \
    --resolution 1,1,1 --sharded
expect_exit 0 "$CVMPI" write S --bbox 0,0,0,64,64,64 -i in.raw
proxy endless .shard
URL=${URL%/L}/S
read_bounded 30 --retries 0
grep -q "of $URL" errors.txt || fail "unexpected error: $(cat errors.txt)"

section "bad values"
expect_exit 2 "$CVMPI" read "$URL" --timeout 0 -o out.raw
expect_stderr_contains "bad --timeout \`0': want seconds, 1 to 86400"
expect_exit 2 "$CVMPI" ls "$URL" --retries -1
expect_stderr_contains "bad --retries \`-1': want 0 to 100"
echo OK
