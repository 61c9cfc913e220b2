#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Broken answers to a GCS batch delete (cvmpi rm -r gs://): truncated, without a boundary in
# the Content-Type, and 64 MiB long. Each is one clear error line naming the store, exit 1,
# in bounded memory, with nothing reported deleted. Server: ../cloud/fake_gcs.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
"$PY" -c 'import cryptography' 2>/dev/null || { echo "SKIP: python3-cryptography is missing"; exit 0; }

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
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" - sa.json <<'PYEOF'
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
json.dump({"type": "service_account", "private_key": pem, "client_email": "t@x.iam",
           "token_uri": "http://127.0.0.1:1/token"}, open(sys.argv[1], "w"))
PYEOF
"$PY" "$TEST_DIR/../cloud/fake_gcs.py" "$PORT" sa.json >gcs.log 2>&1 &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null && break
    sleep 0.1
done
export CV_GCS_ENDPOINT=http://127.0.0.1:$PORT HOME=$WORK
get()
{
    "$PY" -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$PORT/$1').read().decode())"
}
get "_seed?bucket=bucket&prefix=f/&n=2" >/dev/null

for mode in truncated noboundary huge; do
    section "a $mode batch answer"
    get "_config?batch_answer=$mode" >/dev/null
    if /usr/bin/time -f "%M" -o rss.txt "$CVMPI" rm -r gs://bucket/f >out.txt 2>err.txt; then
        fail "rm -r succeeded"
    fi
    case $mode in
    truncated) want="the batch answer is truncated (no closing \`--batch_fake_b0undary--')" ;;
    noboundary) want="the batch answer is not multipart/mixed with a boundary" ;;
    huge) want="body larger than the 4194304 bytes expected" ;;
    esac
    grep -v "^Command exited" err.txt >errors.txt || true
    [[ $(cat errors.txt) == "cvmpi: delete 2 objects from gs://bucket/f: POST \`gs://bucket/f': $want" ]] ||
        fail "$mode: $(cat err.txt)"
    [[ ! -s out.txt ]] || fail "$mode: printed $(cat out.txt)"
    rss=$(tail -1 rss.txt)
    ((rss < 400000)) || fail "$mode: max RSS $rss KiB"
    echo "   $(cat errors.txt) [max RSS $rss KiB]"
done
section "a good answer then deletes both"
expect_exit 0 "$CVMPI" rm -r gs://bucket/f
[[ $(get _stats) == *'"deletes": 2,'* ]] || fail "not 2 deletes: $(get _stats)"
echo "PASS ($TEST_NAME)"
