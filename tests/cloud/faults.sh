#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# faults.sh CVMPI CLOUD_CHECK: the retry loop of src/io/http.c against fault_proxy.py in front
# of s3rver + sigv4_proxy.py. With faults at random (seeded: 503, 429, connection resets after
# the request took effect, bodies cut short, bodies with a flipped byte) a whole-volume write
# and read, raw and gzip, give byte-identical results; the requests in flight back off on
# 429/503; and when retries run out the command fails with exit 1 and one clear line naming
# the URL and the last status.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

start_s3
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
FAULT_PORT=$(free_port)
serve faults "$FAULT_PORT" "$PY" "$HERE/fault_proxy.py" "$FAULT_PORT" \
    "http://127.0.0.1:$S3_PORT" 1234 0.25
FAULTY=s3://http://127.0.0.1:$FAULT_PORT/testbucket
np_gen in.raw $((256 * 256 * 64)) 5

for compress in none gzip; do
    section "whole volume through faults, compress $compress"
    LAYER=vol_$compress
    expect_exit 0 "$CVMPI" create "$FAULTY/$LAYER" --type image --dtype uint8 \
        --size 256,256,64 --chunk 32,32,32 --resolution 4,4,40
    CV_LOG=info expect_exit 0 "$CVMPI" write "$FAULTY/$LAYER" -i in.raw \
        --bbox 0,0,0,256,256,64 --compress "$compress" --threads 16
    grep -q "retry" "$ERR" || fail "no retries were logged"
    cp "$ERR" "write-$LAYER.log"
    CV_LOG=info expect_exit 0 "$CVMPI" read "$FAULTY/$LAYER" -o out.raw --threads 16
    expect_same_files in.raw out.raw
    cat "$ERR" >>"read-$LAYER.log"
    # What is stored is right too: read it again without faults.
    expect_exit 0 "$CVMPI" read "$S3_URL/$LAYER" -o direct.raw --threads 16
    expect_same_files in.raw direct.raw
done
"$PY" - "$FAULT_PORT" <<'EOF' || fail "the fault proxy did not inject every kind of fault"
import json, sys, urllib.request as u
c = json.load(u.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_faults"))
print("   faults:", c)
assert all(c[k] > 0 for k in ("503", "429", "reset", "truncate", "corrupt")), c
EOF
grep -h "does not match its ETag MD5" read-*.log >/dev/null || fail "no corrupt body was caught"
grep -h "server asks to slow down" write-*.log read-*.log >/dev/null ||
    fail "the requests in flight did not back off"

section "retries exhausted: exit 1, one line naming the URL and the last status"
ALWAYS_PORT=$(free_port)
serve always503 "$ALWAYS_PORT" "$PY" "$HERE/fault_proxy.py" "$ALWAYS_PORT" \
    "http://127.0.0.1:$S3_PORT" 1 0 --always 503
CV_HTTP_RETRIES=3 expect_exit 1 "$CVMPI" read "s3://http://127.0.0.1:$ALWAYS_PORT/testbucket/vol_none" \
    -o out.raw
grep -v ": warning: " "$ERR" >errors.txt || true
[[ $(wc -l <errors.txt) == 1 ]] || fail "expected one error line, got: $(cat errors.txt)"
grep -qF "GET \`s3://http://127.0.0.1:$ALWAYS_PORT/testbucket/vol_none/info': HTTP 503 Service Unavailable (SlowDown) (gave up after 4 attempts in " errors.txt ||
    fail "unexpected message: $(cat errors.txt)"
[[ $(grep -c ": warning: " "$ERR") == 3 ]] || fail "expected 3 retry warnings"

section "403 and 404 are not retried"
expect_exit 1 "$CVMPI" info "$S3_URL/nothing-here"
expect_stderr_lacks "retry"
AWS_SECRET_ACCESS_KEY=wrong expect_exit 1 "$CVMPI" info "$S3_URL/vol_none"
expect_stderr_lacks "retry"
echo "PASS ($TEST_NAME)"
