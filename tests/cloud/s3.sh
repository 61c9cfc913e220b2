#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# s3.sh CVMPI CLOUD_CHECK: the s3:// backend against npm s3rver behind sigv4_proxy.py (so a
# wrong signature fails): storage checks (encodings, ranges, 1005 keys listed in two pages and
# 50 in pages of 7), a layer written and read by cvmpi, interop with boto3 both ways, secret
# files (bucket-prefixed first), session tokens, user aliases, region discovery, and the errors
# for a wrong secret, anonymous access and an unreachable endpoint.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

start_s3
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER

section "storage checks (1005 keys deleted in two DeleteObjects requests)"
CLOUD_URL=$S3_URL/checks CLOUD_LIST_N=1005 expect_exit 0 "$CHECK" roundtrip range missing \
    delete threads list
CLOUD_URL=$S3_URL/pages CLOUD_LIST_N=50 CV_S3_MAX_KEYS=7 expect_exit 0 "$CHECK" list

section "a layer through cvmpi (gzip chunks by default)"
LAYER=$S3_URL/ds/img
expect_exit 0 "$CVMPI" create "$LAYER" --type image --dtype uint8 --size 200,180,70 \
    --chunk 64,64,32 --resolution 4,4,40
np_gen in.raw $((200 * 180 * 70)) 1
expect_exit 0 "$CVMPI" write "$LAYER" -i in.raw --bbox 0,0,0,200,180,70 --threads 16
expect_exit 0 "$CVMPI" read "$LAYER" -o out.raw --threads 16
expect_same_files in.raw out.raw
expect_exit 0 "$CVMPI" exists "$LAYER"
[[ $(cat "$OUT") == "36/36 chunks present" ]] || fail "exists: $(cat "$OUT")"

check_ls_cp "$LAYER" 4_4_40 36 "$S3_URL/cp"
"$PY" - "$S3_PORT" <<'EOF' || fail "boto3: cp did not keep Content-Encoding"
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                  aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
for key in ("cp/dir/obj", "cp/dir2/obj"):
    r = s3.head_object(Bucket="testbucket", Key=key)
    assert r.get("ContentEncoding") == "gzip", (key, r.get("ContentEncoding"))
    assert r["ContentType"] == "application/octet-stream", (key, r["ContentType"])
r = s3.list_objects_v2(Bucket="testbucket", Prefix="cp/")
assert [o["Key"] for o in r["Contents"]] == ["cp/dir/obj", "cp/dir2/obj"], r["Contents"]
EOF

section "interop: boto3 reads what cvmpi wrote"
# Download the layer as CloudFiles lays it out on disk (gzip objects as NAME.gz), then read
# that copy with cvmpi from file://.
"$PY" - "$S3_PORT" ds/img copy <<'EOF' || fail "boto3 download"
import os, sys, boto3
port, prefix, dst = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
n = 0
for page in s3.get_paginator("list_objects_v2").paginate(Bucket="testbucket", Prefix=prefix + "/"):
    for o in page.get("Contents", []):
        r = s3.get_object(Bucket="testbucket", Key=o["Key"])
        name = o["Key"][len(prefix) + 1:]
        enc = r.get("ContentEncoding", "")
        if name == "info":
            assert enc == "" and r["ContentType"] == "application/json", (enc, r["ContentType"])
        else:
            assert enc == "gzip", (name, enc)
        path = os.path.join(dst, name + (".gz" if enc == "gzip" else ""))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "wb").write(r["Body"].read())
        n += 1
assert n == 37, n
EOF
expect_exit 0 "$CVMPI" read copy -o copy.raw
expect_same_files in.raw copy.raw

section "interop: cvmpi reads what boto3 wrote"
expect_exit 0 "$CVMPI" create local --type segmentation --dtype uint32 --size 100,90,40 \
    --chunk 32,32,16 --resolution 8,8,40
np_gen seg.raw $((100 * 90 * 40 * 4)) 2
expect_exit 0 "$CVMPI" write local -i seg.raw --bbox 0,0,0,100,90,40 --compress br
"$PY" - "$S3_PORT" local ds/seg <<'EOF' || fail "boto3 upload"
import os, sys, boto3
port, src, prefix = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
for root, _, files in os.walk(src):
    for f in files:
        rel = os.path.relpath(os.path.join(root, f), src)
        extra = {"ContentType": "application/json" if rel == "info" else "application/octet-stream"}
        if rel.endswith(".br"):
            rel, extra["ContentEncoding"] = rel[:-3], "br"
        s3.put_object(Bucket="testbucket", Key=f"{prefix}/{rel}",
                      Body=open(os.path.join(root, f), "rb").read(), **extra)
EOF
expect_exit 0 "$CVMPI" read "$S3_URL/ds/seg" -o seg.out --format raw
expect_same_files seg.raw seg.out

section "wrong secret: a clear error that names the URL and keeps the secret out"
for v in "" -v; do
    AWS_SECRET_ACCESS_KEY=Wr0ngS3cretValue CV_LOG=debug expect_exit 1 "$CVMPI" $v info "$LAYER"
    expect_stderr_contains "$LAYER/info"
    expect_stderr_contains "403"
    expect_stderr_contains "SignatureDoesNotMatch"
    expect_stderr_lacks "Wr0ngS3cretValue"
    expect_stderr_lacks "Signature="
done

section "no credentials: anonymous requests are refused"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; expect_exit 1 "$CVMPI" info "$LAYER"; \
    grep -qF "AccessDenied" "$ERR") || fail "anonymous access was not refused with AccessDenied"

section "secret files: bucket-prefixed first, then aws-secret.json"
(
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    SECRETS=$HOME/.cloudvolume/secrets
    mkdir -p "$SECRETS" "$HOME/.cloudfiles/secrets"
    echo '{"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}' \
        >"$SECRETS/testbucket-aws-secret.json"
    echo '{"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "FileSecretWrong"}' \
        >"$SECRETS/aws-secret.json"
    expect_exit 0 "$CVMPI" info "$LAYER"
    rm "$SECRETS/testbucket-aws-secret.json"
    expect_exit 1 "$CVMPI" info "$LAYER"
    expect_stderr_contains "SignatureDoesNotMatch"
    expect_stderr_lacks "FileSecretWrong"
    # ~/.cloudfiles/secrets is used when ~/.cloudvolume/secrets has nothing
    mv "$SECRETS/aws-secret.json" "$HOME/.cloudfiles/secrets/testbucket-aws-secret.json"
    sed -i 's/FileSecretWrong/S3RVER/' "$HOME/.cloudfiles/secrets/testbucket-aws-secret.json"
    expect_exit 0 "$CVMPI" info "$LAYER"
    rm -r "$HOME/.cloudfiles" "$HOME/.cloudvolume"
) || exit 1

section "--secrets JSON|FILE wins over the secret files and is never printed"
(
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    mkdir -p "$HOME/.cloudvolume/secrets"
    echo '{"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "FileSecretWrong"}' \
        >"$HOME/.cloudvolume/secrets/aws-secret.json"
    expect_exit 0 "$CVMPI" info --secrets \
        '{"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}' "$LAYER"
    echo '{"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}' >opt-secret.json
    expect_exit 0 "$CVMPI" ls --secrets opt-secret.json "$LAYER"
    expect_exit 0 "$CVMPI" read "$LAYER" --secrets="$WORK/opt-secret.json" -o opt.raw --threads 8
    expect_same_files in.raw opt.raw
    for v in "" -v; do
        CV_LOG=debug expect_exit 1 "$CVMPI" $v cp "$LAYER/info" - --secrets \
            '{"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "OptSecretWrong"}'
        expect_stderr_contains "SignatureDoesNotMatch"
        expect_stderr_lacks "OptSecretWrong"
    done
    expect_exit 2 "$CVMPI" info --secrets '{"AWS_SECRET_ACCESS_KEY": "OptSecretBad"' "$LAYER"
    expect_stderr_contains "bad --secrets"
    expect_stderr_lacks "OptSecretBad"
    expect_exit 2 "$CVMPI" info --secretz='{"AWS_SECRET_ACCESS_KEY": "OptSecretBad"}' "$LAYER"
    expect_stderr_lacks "OptSecretBad"
    rm -r "$HOME/.cloudvolume"
) || exit 1

section "user alias from \$CLOUD_FILES_DIR/aliases.json with its own secret file"
(
    unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    export CLOUD_FILES_DIR=$WORK/cf CLOUD_VOLUME_DIR=$WORK/cv
    mkdir -p "$CLOUD_FILES_DIR" "$CLOUD_VOLUME_DIR/secrets"
    echo "{\"lab\": {\"host\": \"s3://http://127.0.0.1:$S3_PORT/\"}}" >"$CLOUD_FILES_DIR/aliases.json"
    echo '{"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}' \
        >"$CLOUD_VOLUME_DIR/secrets/lab-secret.json"
    expect_exit 0 "$CVMPI" read lab://testbucket/ds/img -o alias.raw
    expect_same_files in.raw alias.raw
) || exit 1

section "session token (x-amz-security-token, signed)"
TOKEN_PORT=$(free_port)
serve sigv4tok "$TOKEN_PORT" "$PY" "$HERE/sigv4_proxy.py" "$TOKEN_PORT" \
    "http://127.0.0.1:$S3_UPSTREAM" S3RVER S3RVER --token SessionTok123
TOK_LAYER=s3://http://127.0.0.1:$TOKEN_PORT/testbucket/ds/img
AWS_SESSION_TOKEN=SessionTok123 expect_exit 0 "$CVMPI" read "$TOK_LAYER" -o tok.raw
expect_same_files in.raw tok.raw
expect_exit 1 "$CVMPI" info "$TOK_LAYER"
expect_stderr_contains "InvalidToken"

section "a bucket in another region is found from x-amz-bucket-region"
REGION_PORT=$(free_port)
serve sigv4region "$REGION_PORT" "$PY" "$HERE/sigv4_proxy.py" "$REGION_PORT" \
    "http://127.0.0.1:$S3_UPSTREAM" S3RVER S3RVER --region eu-west-3
CV_LOG=info expect_exit 0 "$CVMPI" read "s3://http://127.0.0.1:$REGION_PORT/testbucket/ds/img" \
    -o region.raw --threads 8
expect_same_files in.raw region.raw
expect_stderr_contains "bucket testbucket is in region eu-west-3"

section "unreachable endpoint: bounded retries, then a clear error"
DEAD=s3://http://127.0.0.1:$(free_port)/testbucket/ds/img
CV_HTTP_RETRIES=2 expect_exit 1 "$CVMPI" info "$DEAD"
expect_stderr_contains "$DEAD/info"
expect_stderr_contains "gave up after 3 attempts"
awk "BEGIN { exit !($SECS < 10) }" || fail "giving up took $SECS s"

section "delete the layer's chunks: one DeleteObjects request with Content-MD5"
# (counted by the proxy per upstream status: s3rver sometimes answers 500 to a first try)
s3_stats()
{
    "$PY" -c "import json, urllib.request as u; s = json.load(u.urlopen('http://127.0.0.1:$S3_PORT/_stats')); print(sum(v for k, v in s.items() if (k + ' ').startswith('$1 ')))"
}
deletes=$(s3_stats DELETE)
batches=$(s3_stats 'POST?delete 200')
expect_exit 0 "$CVMPI" delete "$LAYER" --bbox 0,0,0,200,180,70
now=$(s3_stats 'POST?delete 200')
[[ $now == $((batches + 1)) ]] || fail "not one DeleteObjects request: $batches before, $now after"
[[ $(s3_stats DELETE) == "$deletes" ]] || fail "single DELETE requests were sent"
expect_exit 0 "$CVMPI" exists "$LAYER"
[[ $(cat "$OUT") == "0/36 chunks present" ]] || fail "after delete: $(cat "$OUT")"
echo "PASS ($TEST_NAME)"
