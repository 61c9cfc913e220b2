#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_serve.sh: `cvmpi serve` throughput as a browser loads a layer. A 512x512x64 uint8 layer
# (64^3 chunks, raw, uncompressed: 256 KiB objects) is fetched ROUNDS times over with curl,
# 32 requests in flight, plus 2000 requests for the small `info` file (requests per second).
# Same-run baselines: nginx (Debian nginx-light, sendfile on, 2 workers) serving the same
# directory with the same curl command, and `cat` of the same files (no HTTP at all). Both
# servers on 127.0.0.1, stopped by PID; measured alternately, the best of 3 runs each. One TSV line per measurement (git rev, what, MB/s or
# requests/s), then the ratios. `--quick` makes it small for CTest (label bench); never fails
# on speed, only when a response is wrong.
set -Eeuo pipefail
# A failure names its line (CTest showed one run, under load, fail with no output at all).
trap 'echo "bench_serve.sh: line $LINENO failed (exit $?)" >&2' ERR

usage() {
    echo "usage: $0 --cvmpi PATH [--quick] [--rounds N] [--dir DIR]" >&2
    exit 2
}
CVMPI=""
ROUNDS=16
N_INFO=2000
REPEAT=3
QUICK=0
PARENT=${TMPDIR:-/tmp}
while [[ $# -gt 0 ]]; do
    case "$1" in
    --cvmpi) CVMPI=$2; shift ;;
    --quick) QUICK=1 ROUNDS=2 N_INFO=200 REPEAT=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    *) usage ;;
    esac
    shift
done
[[ -x $CVMPI ]] || usage
CVMPI=$(realpath "$CVMPI") # the work happens in a temporary directory
PY=${CV_PYTHON:-/usr/bin/python3}
REV=$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)
WORK=$(mktemp -d "$PARENT/bench_serve.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

"$PY" -c "
import numpy as np
rng = np.random.default_rng(1)
np.save('vol.npy', rng.integers(0, 256, size=(512, 512, 64), dtype=np.uint8))"
"$CVMPI" create layer --type image --dtype uint8 --size 512,512,64 --resolution 8,8,8 \
    --chunk 64,64,64 >/dev/null
"$CVMPI" write layer --bbox 0,0,0,512,512,64 -i vol.npy --compress none >/dev/null
rm vol.npy
KEYS=$(cd layer && find 8_8_8 -type f | sort)
N_KEYS=$(echo "$KEYS" | wc -l)
BYTES=$(cd layer && du -cb $KEYS | tail -1 | cut -f1)

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.3f\", ($1) }" </dev/null; }
# fetch_all BASE: every chunk ROUNDS times, 32 in flight; prints the seconds taken
fetch_all() {
    local base=$1 args=() r k
    for r in $(seq "$ROUNDS"); do
        for k in $KEYS; do
            args+=(-o "/dev/null" "$base$k")
        done
    done
    local t0
    t0=$(now)
    curl -sSf --no-progress-meter --parallel --parallel-max 32 "${args[@]}"
    calc "$(now) - $t0"
}
# fetch_info BASE: N_INFO requests for info, 32 in flight; prints the seconds taken
fetch_info() {
    local base=$1 args=() i
    for i in $(seq "$N_INFO"); do
        args+=(-o /dev/null "${base}info")
    done
    local t0
    t0=$(now)
    curl -sSf --no-progress-meter --parallel --parallel-max 32 "${args[@]}"
    calc "$(now) - $t0"
}
free_port() {
    "$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}

# ---- cvmpi serve ----
"$CVMPI" serve layer --port 0 >serve.out 2>serve.err &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^source:' serve.out 2>/dev/null && break; sleep 0.1; done
CV=$(sed -n 's|^source: *precomputed://||p' serve.out)
# correctness first: one chunk byte for byte
first=$(echo "$KEYS" | head -1)
curl -sSf -o check.bin "$CV$first"
cmp -s check.bin "layer/$first" || { echo "FAIL: cvmpi serve sent wrong bytes" >&2; exit 1; }

# ---- nginx, the same files ----
t_ng="" i_ng=""
if command -v nginx >/dev/null; then
    port=$(free_port)
    mkdir -p ngx
    cat >ngx/nginx.conf <<EOF
$([[ $(id -u) == 0 ]] && echo "user root;")
worker_processes 2;
daemon off;
pid $WORK/ngx/nginx.pid;
error_log $WORK/ngx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $WORK/ngx/body;
    proxy_temp_path $WORK/ngx/proxy;
    fastcgi_temp_path $WORK/ngx/fastcgi;
    uwsgi_temp_path $WORK/ngx/uwsgi;
    scgi_temp_path $WORK/ngx/scgi;
    server {
        listen 127.0.0.1:$port;
        root $WORK/layer;
        location / { add_header Access-Control-Allow-Origin *; }
    }
}
EOF
    nginx -c "$WORK/ngx/nginx.conf" -e "$WORK/ngx/error.log" &
    PIDS+=($!)
    for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/info" && break; sleep 0.1; done
    NG=http://127.0.0.1:$port/
fi

# Alternate the servers, best of REPEAT each: the machine may be busy with other work.
min() { awk "BEGIN { a = $1; b = $2; print (a == \"\" || b < a) ? b : a }"; }
fetch_all "$CV" >/dev/null # warm-up
[[ -n ${NG:-} ]] && fetch_all "$NG" >/dev/null
t_cv="" i_cv=""
for _ in $(seq "$REPEAT"); do
    t_cv=$(min "${t_cv:-1e9}" "$(fetch_all "$CV")")
    i_cv=$(min "${i_cv:-1e9}" "$(fetch_info "$CV")")
    if [[ -n ${NG:-} ]]; then
        t_ng=$(min "${t_ng:-1e9}" "$(fetch_all "$NG")")
        i_ng=$(min "${i_ng:-1e9}" "$(fetch_info "$NG")")
    fi
done

# ---- cat, no HTTP ----
t0=$(now)
for r in $(seq "$ROUNDS"); do (cd layer && cat $KEYS >/dev/null); done
t_cat=$(calc "$(now) - $t0")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

mbs() { awk "BEGIN { printf \"%.0f\", $BYTES * $ROUNDS / $1 / 1e6 }"; }
rps() { awk "BEGIN { printf \"%.0f\", $N_INFO / $1 }"; }
printf 'rev\twhat\tvalue\n'
printf '%s\tcvmpi serve chunks (%d x %d x 256 KiB, 32 in flight)\t%s MB/s\n' "$REV" "$ROUNDS" "$N_KEYS" "$(mbs "$t_cv")"
printf '%s\tcvmpi serve info requests\t%s req/s\n' "$REV" "$(rps "$i_cv")"
if [[ -n $t_ng ]]; then
    printf '%s\tnginx chunks\t%s MB/s\n' "$REV" "$(mbs "$t_ng")"
    printf '%s\tnginx info requests\t%s req/s\n' "$REV" "$(rps "$i_ng")"
fi
printf '%s\tcat of the chunk files\t%s MB/s\n' "$REV" "$(mbs "$t_cat")"
if [[ -n $t_ng ]]; then
    echo "summary: cvmpi serve $(calc "$t_ng / $t_cv") x nginx for chunks," \
        "$(calc "$i_ng / $i_cv") x nginx for small requests" \
        "$([[ $QUICK == 1 ]] && echo '(quick mode: too small to compare)')"
fi
