#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# gcs.sh CVMPI CLOUD_CHECK: the gs:// backend against fake_gcs.py (the JSON API plus an OAuth2
# token endpoint that verifies the RS256 JWT; every storage request must carry a valid bearer
# token): storage checks with pages of 7 names, a layer written and read by cvmpi, gzip objects
# with and without server-side transcoding, token refresh before expiry, anonymous access to a
# public bucket, the errors for no credentials and for a key the token endpoint does not know,
# and reads through the fault proxy (x-goog-hash catches flipped bytes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
"$PY" -c 'import cryptography' 2>/dev/null || skip "Debian python3-cryptography is needed"

# make_sa FILE PORT: a new service-account key whose token_uri is the fake on PORT.
make_sa()
{
    "$PY" - "$1" "$2" <<'EOF'
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
json.dump({"type": "service_account", "project_id": "cvmpi-test", "private_key_id": "k1",
           "private_key": pem, "client_email": "tester@cvmpi-test.iam.gserviceaccount.com",
           "client_id": "1", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
           "token_uri": f"http://127.0.0.1:{sys.argv[2]}/token"}, open(sys.argv[1], "w"))
EOF
}

stats()
{
    "$PY" -c "import json, urllib.request as u; print(json.load(u.urlopen('http://127.0.0.1:$1/_stats'))['$2'])"
}

GCS_PORT=$(free_port)
make_sa sa.json "$GCS_PORT"
serve gcs "$GCS_PORT" "$PY" "$HERE/fake_gcs.py" "$GCS_PORT" sa.json --require-auth --page-size 7
export CV_GCS_ENDPOINT=http://127.0.0.1:$GCS_PORT
mkdir -p "$HOME/.cloudvolume/secrets"
cp sa.json "$HOME/.cloudvolume/secrets/google-secret.json"

section "storage checks"
CLOUD_URL=gs://bucket/checks CLOUD_LIST_N=60 expect_exit 0 "$CHECK" roundtrip range missing \
    delete threads list
[[ $(stats "$GCS_PORT" unauthorized) == 0 ]] || fail "requests without a valid token were sent"

section "a layer through cvmpi"
LAYER=gs://bucket/ds/img
expect_exit 0 "$CVMPI" create "$LAYER" --type image --dtype uint16 --size 150,130,50 \
    --chunk 64,64,32 --resolution 4,4,40
np_gen in.raw $((150 * 130 * 50 * 2)) 3
expect_exit 0 "$CVMPI" write "$LAYER" -i in.raw --bbox 0,0,0,150,130,50 --threads 16
expect_exit 0 "$CVMPI" read "$LAYER" -o out.raw --threads 16
expect_same_files in.raw out.raw
expect_exit 0 "$CVMPI" exists "$LAYER"
[[ $(cat "$OUT") == "18/18 chunks present" ]] || fail "exists: $(cat "$OUT")"

check_ls_cp "$LAYER" 4_4_40 18 gs://bucket/cp

section "the bucket-prefixed secret wins"
make_sa other.json "$GCS_PORT"
cp other.json "$HOME/.cloudvolume/secrets/google-secret.json"
cp sa.json "$HOME/.cloudvolume/secrets/bucket-google-secret.json"
expect_exit 0 "$CVMPI" info "$LAYER"
rm "$HOME/.cloudvolume/secrets/bucket-google-secret.json"

section "a key the token endpoint does not know: a clear error without the key"
expect_exit 1 "$CVMPI" -v info "$LAYER"
expect_stderr_contains "tester@cvmpi-test.iam.gserviceaccount.com"
expect_stderr_contains "http://127.0.0.1:$GCS_PORT/token"
expect_stderr_contains "invalid_grant"
expect_stderr_lacks "PRIVATE KEY"
expect_stderr_lacks "$(sed -n 's/.*"private_key": "-----BEGIN PRIVATE KEY-----\\n\(.\{40\}\).*/\1/p' other.json)"

section "no credentials: the server wants a bearer token"
rm "$HOME/.cloudvolume/secrets/google-secret.json"
expect_exit 1 "$CVMPI" info "$LAYER"
expect_stderr_contains "$LAYER/info"
expect_stderr_contains "401"
cp sa.json "$HOME/.cloudvolume/secrets/google-secret.json"

section "--secrets FILE: a service-account key given on the command line"
expect_exit 0 "$CVMPI" ls --secrets sa.json "$LAYER"
expect_exit 0 "$CVMPI" cp "$LAYER/info" - --secrets "$(cat sa.json)"
expect_exit 1 "$CVMPI" -v info --secrets other.json "$LAYER"
expect_stderr_contains "invalid_grant"
expect_stderr_lacks "PRIVATE KEY"

section "GOOGLE_APPLICATION_CREDENTIALS when no secret file exists"
mv "$HOME/.cloudvolume/secrets/google-secret.json" adc.json
GOOGLE_APPLICATION_CREDENTIALS=$WORK/adc.json expect_exit 0 "$CVMPI" info "$LAYER"
mv adc.json "$HOME/.cloudvolume/secrets/google-secret.json"

section "gzip objects read right when the server transcodes (and then ignores hashes)"
"$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$GCS_PORT/_config?transcode=always').read()"
expect_exit 0 "$CVMPI" read "$LAYER" -o transcoded.raw
expect_same_files in.raw transcoded.raw
"$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$GCS_PORT/_config?transcode=auto').read()"

section "anonymous access to a public bucket (no secret: no Authorization header)"
PUBLIC_PORT=$(free_port)
serve gcs_public "$PUBLIC_PORT" "$PY" "$HERE/fake_gcs.py" "$PUBLIC_PORT" sa.json
mv "$HOME/.cloudvolume/secrets/google-secret.json" sa-saved.json
CV_GCS_ENDPOINT=http://127.0.0.1:$PUBLIC_PORT CLOUD_URL=gs://public/x \
    expect_exit 0 "$CHECK" roundtrip missing
[[ $(stats "$PUBLIC_PORT" tokens) == 0 ]] || fail "a token was fetched without a secret"
mv sa-saved.json "$HOME/.cloudvolume/secrets/google-secret.json"

section "tokens are refreshed before they expire"
SHORT_PORT=$(free_port)
make_sa short.json "$SHORT_PORT"
serve gcs_short "$SHORT_PORT" "$PY" "$HERE/fake_gcs.py" "$SHORT_PORT" short.json --require-auth \
    --token-lifetime 2
cp short.json "$HOME/.cloudvolume/secrets/short-google-secret.json"
CV_GCS_ENDPOINT=http://127.0.0.1:$SHORT_PORT CLOUD_URL=gs://short/x CLOUD_SLOW_SECS=4 \
    expect_exit 0 "$CHECK" slow
tokens=$(stats "$SHORT_PORT" tokens)
(( tokens >= 3 )) || fail "only $tokens tokens in 4 s with a 2 s lifetime"
[[ $(stats "$SHORT_PORT" unauthorized) == 0 ]] || fail "an expired token was sent"

section "reads through the fault proxy"
FAULT_PORT=$(free_port)
serve faults "$FAULT_PORT" "$PY" "$HERE/fault_proxy.py" "$FAULT_PORT" \
    "http://127.0.0.1:$GCS_PORT" 11 0.4
CV_GCS_ENDPOINT=http://127.0.0.1:$FAULT_PORT expect_exit 0 "$CVMPI" read "$LAYER" -o faulty.raw \
    --threads 8
expect_same_files in.raw faulty.raw
"$PY" -c "
import json, urllib.request as u
c = json.load(u.urlopen('http://127.0.0.1:$FAULT_PORT/_faults'))
assert sum(v for k, v in c.items() if k != 'passed') >= 5, c" || fail "too few faults"
echo "PASS ($TEST_NAME)"
