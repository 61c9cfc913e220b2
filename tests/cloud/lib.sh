# SPDX-License-Identifier: BSD-3-Clause
# lib.sh: helpers of the cloud storage tests. Source it right after `set -euo pipefail`:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"      ($1 = cvmpi, $2 = cloud_check)
# It sets CVMPI, CHECK, PY (/usr/bin/python3 with Debian's boto3/cryptography), HERE (this
# directory), WORK (a fresh temporary directory and the current directory, removed on exit
# after every server started with `serve` has been stopped by its PID), an empty HOME inside
# WORK (so no real credentials are ever found), and defines:
#   fail MSG                     print "FAIL: MSG" (plus the last command's output) and exit 1
#   skip MSG                     exit 77 (CTest: skipped)
#   run CMD...                   run CMD; stdout/stderr in $OUT/$ERR, status in $RC, time in $SECS
#   expect_exit CODE CMD...      run CMD and fail unless it exits with CODE
#   expect_stderr_contains TEXT / expect_stderr_lacks TEXT
#   free_port                    print a free TCP port on 127.0.0.1
#   serve NAME PORT CMD...       start CMD in the background (log in $WORK/NAME.log), wait until
#                                PORT accepts connections
#   stop NAME                    stop a server started with serve
#   need_s3rver                  make sure npm s3rver is installed under $CV_CLOUD_CACHE
#   start_s3                     s3rver + sigv4_proxy.py; sets S3_PORT (the proxy), S3_UPSTREAM
#                                (s3rver), S3_DATA, S3_URL (s3://http://127.0.0.1:$S3_PORT/testbucket)
# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts sourcing this

CVMPI=${1:?usage: $0 CVMPI CLOUD_CHECK}
CHECK=${2:?usage: $0 CVMPI CLOUD_CHECK}
[[ -x $CVMPI && -x $CHECK ]] || { echo "FAIL: $CVMPI or $CHECK is not an executable" >&2; exit 1; }
CVMPI=$(cd "$(dirname "$CVMPI")" && pwd)/$(basename "$CVMPI")
CHECK=$(cd "$(dirname "$CHECK")" && pwd)/$(basename "$CHECK")
PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmpi-cloud-$TEST_NAME.XXXXXX")
SERVERS=()
cleanup()
{
    local name pid
    for name in "${SERVERS[@]}"; do
        pid=$(cat "$WORK/$name.pid" 2>/dev/null || true)
        if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
    done
    for name in "${SERVERS[@]}"; do
        pid=$(cat "$WORK/$name.pid" 2>/dev/null || true)
        if [[ -n $pid ]]; then wait "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
export HOME=$WORK/home
mkdir -p "$HOME"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_REGION
unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 GOOGLE_APPLICATION_CREDENTIALS STORAGE_EMULATOR_HOST
unset CLOUD_VOLUME_DIR CLOUD_FILES_DIR CV_GCS_ENDPOINT CV_CA_BUNDLE CURL_CA_BUNDLE CV_LOG
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY='*'
# Fast retries for tests; the defaults (8 retries from 100 ms, capped at 20 s) suit real clouds.
export CV_HTTP_BACKOFF_MS=${CV_HTTP_BACKOFF_MS:-20}
export CV_HTTP_BACKOFF_MAX_MS=${CV_HTTP_BACKOFF_MAX_MS:-500}
CAPTURE=$WORK/.capture
mkdir "$CAPTURE"
OUT=$CAPTURE/stdout
ERR=$CAPTURE/stderr
RC=0
SECS=0
LAST_CMD=

fail()
{
    echo "FAIL ($TEST_NAME): $*" >&2
    if [[ -n $LAST_CMD ]]; then
        echo "  last command: $LAST_CMD (exit $RC)" >&2
        [[ -s $OUT ]] && { echo "  stdout:"; sed 's/^/    /' "$OUT" | head -30; } >&2
        [[ -s $ERR ]] && { echo "  stderr:"; sed 's/^/    /' "$ERR" | head -30; } >&2
    fi
    local name
    for name in "${SERVERS[@]}"; do
        [[ -s $WORK/$name.log ]] && { echo "  $name.log:"; tail -20 "$WORK/$name.log" | sed 's/^/    /'; } >&2
    done
    exit 1
}

skip()
{
    echo "SKIP ($TEST_NAME): $*"
    exit 77
}

T_START=$EPOCHREALTIME
section()
{
    awk "BEGIN { printf \"== [%5.1f s] \", $EPOCHREALTIME - $T_START }"
    echo "$*"
}

run()
{
    LAST_CMD="$*"
    local t0=$EPOCHREALTIME
    set +e
    "$@" >"$OUT" 2>"$ERR"
    RC=$?
    set -e
    SECS=$(awk "BEGIN { printf \"%.2f\", $EPOCHREALTIME - $t0 }")
}

expect_exit()
{
    local code=$1
    shift
    run "$@"
    [[ $RC == "$code" ]] || fail "expected exit $code, got $RC"
}

expect_stderr_contains()
{
    grep -qF -- "$1" "$ERR" || fail "stderr does not contain \"$1\""
}

expect_stderr_lacks()
{
    ! grep -qF -- "$1" "$ERR" || fail "stderr contains \"$1\""
}

free_port()
{
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port()
{
    local port=$1 name=$2 i
    for ((i = 0; i < 200; i++)); do
        if "$PY" -c "import socket, sys; socket.create_connection(('127.0.0.1', $port), 0.2)" \
            2>/dev/null; then
            return 0
        fi
        kill -0 "$(cat "$WORK/$name.pid")" 2>/dev/null || fail "$name exited at start"
        sleep 0.05
    done
    fail "$name does not listen on port $port"
}

serve()
{
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    echo $! >"$WORK/$name.pid"
    SERVERS+=("$name")
    wait_port "$port" "$name"
}

stop()
{
    local pid
    pid=$(cat "$WORK/$1.pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

need_s3rver()
{
    CV_CLOUD_CACHE=${CV_CLOUD_CACHE:-${TMPDIR:-/tmp}/cvmpi-cloud-cache}
    S3RVER=$CV_CLOUD_CACHE/node_modules/s3rver/bin/s3rver.js
    [[ -f $S3RVER ]] && return 0
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        skip "node and npm are needed"
    fi
    mkdir -p "$CV_CLOUD_CACHE"
    (
        flock 9
        [[ -f $S3RVER ]] || npm install --prefix "$CV_CLOUD_CACHE" --no-audit --no-fund \
            --loglevel=error s3rver@3.7.1 >"$CV_CLOUD_CACHE/npm.log" 2>&1
    ) 9>"$CV_CLOUD_CACHE/.lock" || skip "npm install s3rver@3.7.1 failed: $(tail -3 "$CV_CLOUD_CACHE/npm.log")"
    [[ -f $S3RVER ]] || skip "s3rver is not installed"
}

start_s3()
{
    need_s3rver
    "$PY" -c 'import boto3, botocore' 2>/dev/null || skip "Debian python3-boto3 is needed"
    local upstream
    upstream=$(free_port)
    S3_UPSTREAM=$upstream
    S3_DATA=$WORK/s3data
    mkdir -p "$S3_DATA"
    # --openssl-legacy-provider: s3rver's paginated ListObjectsV2 needs it on Node 20.
    serve s3rver "$upstream" node --openssl-legacy-provider "$S3RVER" -d "$S3_DATA" \
        -a 127.0.0.1 -p "$upstream" --configure-bucket testbucket --silent
    S3_PORT=$(free_port)
    serve sigv4 "$S3_PORT" "$PY" "$HERE/sigv4_proxy.py" "$S3_PORT" "http://127.0.0.1:$upstream" \
        S3RVER S3RVER
    S3_URL=s3://http://127.0.0.1:$S3_PORT/testbucket
}

# np_gen FILE BYTES SEED: deterministic pseudo-random bytes (compressible, like images).
np_gen()
{
    "$PY" -c '
import random, sys
r = random.Random(int(sys.argv[3]))
n = int(sys.argv[2])
smooth = bytes((i // 7) % 256 for i in range(n // 2))
noise = r.randbytes(n - len(smooth))
open(sys.argv[1], "wb").write(smooth + noise)' "$@"
}

expect_same_files()
{
    cmp -s "$1" "$2" || fail "$1 and $2 differ: $(cmp "$1" "$2" 2>&1 | head -1)"
}

# check_ls_cp LAYER SCALE N_CHUNKS BASE: `cvmpi ls` of a layer written by the caller (one
# level, --recursive, a PREFIX*), then `cvmpi cp` of a gzip object local -> BASE/dir/obj ->
# BASE/dir2/ -> local: the .gz bytes come back unchanged, --compress none and `-` give what
# Python's gzip decodes, and a missing object is a one-line error naming it.
check_ls_cp()
{
    local layer=$1 scale=$2 n=$3 base=$4
    section "ls and cp on $base"
    expect_exit 0 "$CVMPI" ls "$layer"
    [[ $(cat "$OUT") == "$layer/$scale/
$layer/info" ]] || fail "ls $layer"
    expect_exit 0 "$CVMPI" ls --recursive --short "$layer"
    [[ $(wc -l <"$OUT") == $((n + 1)) && $(tail -1 "$OUT") == info ]] || fail "ls -r: $(wc -l <"$OUT") lines"
    grep -qx "$scale/0-64_0-64_0-32" "$OUT" || fail "ls -r lacks $scale/0-64_0-64_0-32"
    expect_exit 0 "$CVMPI" ls "$layer/${scale:0:2}*"
    [[ $(cat "$OUT") == "$layer/$scale/" ]] || fail "ls DIRPREFIX*"
    expect_exit 0 "$CVMPI" ls "$layer/$scale/0-64_0-64*"
    [[ $(head -1 "$OUT") == "$layer/$scale/0-64_0-64_0-32" ]] || fail "ls PREFIX*"
    ! grep -qv "^$layer/$scale/0-64_0-64" "$OUT" || fail "ls PREFIX* lists other names"
    mkdir -p cp_src cp_back
    "$PY" -c "
import gzip, random
data = random.Random(7).randbytes(50000) + bytes(50000)
open('cp_data.bin', 'wb').write(data)
open('cp_src/obj.gz', 'wb').write(gzip.compress(data, mtime=0))"
    expect_exit 0 "$CVMPI" cp cp_src/obj "$base/dir/obj"
    expect_exit 0 "$CVMPI" cp "$base/dir/obj" "$base/dir2/"
    expect_exit 0 "$CVMPI" ls "$base/dir2"
    [[ $(cat "$OUT") == "$base/dir2/obj" ]] || fail "ls after cp"
    expect_exit 0 "$CVMPI" cp "$base/dir2/obj" cp_back
    expect_same_files cp_src/obj.gz cp_back/obj.gz
    expect_exit 0 "$CVMPI" cp "$base/dir2/obj" cp_plain --compress none
    expect_same_files cp_data.bin cp_plain
    expect_exit 0 "$CVMPI" cp "$base/dir/obj" -
    expect_same_files cp_data.bin "$OUT"
    expect_exit 1 "$CVMPI" cp "$base/dir/nothere" cp_x
    expect_stderr_contains "$base/dir/nothere"
    [[ $(wc -l <"$ERR") == 1 && ! -e cp_x ]] || fail "cp of a missing object"
}
