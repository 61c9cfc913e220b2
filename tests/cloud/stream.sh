#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# stream.sh CVMPI CLOUD_CHECK: shard files larger than --memory reach s3:// and gs:// in parts
# (a multipart upload behind sigv4_proxy.py, a resumable upload on fake_gcs.py; both servers
# check the part rules): `transfer --sharded --downsample 1` under --memory 10M writes a
# 12.6 MB shard byte-identical to the same job on file://, in exactly ceil(size / part) parts
# (5 MiB on S3, its minimum; 4 MiB on GCS), its 2.9 MB mip-1 shard in one request; a part that
# fails beyond the retries is a one-line error, the upload is aborted and no object appears.
# The servers themselves refuse bad sequences (parts under 5 MiB, out of order, unknown
# ETags; chunks off the 256 KiB grid or not where the last ended).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
"$PY" -c 'import cryptography' 2>/dev/null || skip "Debian python3-cryptography is needed"
export CV_UPLOAD_PART_BYTES=4194304 # GCS: 4 MiB chunks; S3 raises it to its 5 MiB minimum

section "the reference on file://"
"$CVMPI" create src --type image --dtype uint8 --size 256,256,192 --resolution 4,4,40 \
    --chunk 64,64,64 >/dev/null
head -c $((256 * 256 * 192)) /dev/urandom >in.raw # incompressible: the shard stays large
expect_exit 0 "$CVMPI" write src --bbox 0,0,0,256,256,192 -i in.raw --compress none
rm in.raw
JOB=(transfer src --sharded --level 1 --downsample 1)
expect_exit 0 "$CVMPI" "${JOB[0]}" "${JOB[1]}" ref "${JOB[@]:2}" --memory 1G
SHARD=4_4_40/0.shard
SMALL=8_8_40/0.shard
size=$(stat -c %s "ref/$SHARD")
((size > 12 * 1024 * 1024)) || fail "the shard must exceed --memory 10M: $size bytes"
((size < 15 * 1024 * 1024)) || fail "the shard must be under three S3 parts: $size bytes"
small=$(stat -c %s "ref/$SMALL")
((small < 4 * 1024 * 1024)) || fail "the mip-1 shard must fit one GCS chunk: $small bytes"

# job URL PLANNED PART_MB: the streamed job (the transfer's plan line PLANNED, the downsample's
# with PART_MB), its shard files read back and compared with the reference.
job()
{
    local url=$1
    expect_exit 0 "$CVMPI" "${JOB[0]}" "${JOB[1]}" "$url" "${JOB[@]:2}" --memory 10M --dry-run
    grep -qxF "$2" "$OUT" || fail "the plan does not stream: $(cat "$OUT")"
    grep -qF "MB per rank to exchange and write them (a shard uploaded chunk by chunk in parts of $3 MB)" "$OUT" ||
        fail "the downsample's plan does not stream: $(cat "$OUT")"
    expect_exit 0 "$CVMPI" -q "${JOB[0]}" "${JOB[1]}" "$url" "${JOB[@]:2}" --memory 10M \
        --journal "j-${url%%:*}"
    for f in $SHARD $SMALL; do
        expect_exit 0 "$CVMPI" cp "$url/$f" "got.${f//\//_}"
        expect_same_files "ref/$f" "got.${f//\//_}"
    done
}

section "s3://: a multipart upload of 3 parts of 5 MiB, the mip-1 shard in one PUT"
start_s3
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
# stats PORT KEY...: the server's counters KEY..., one line each (0 when absent).
stats()
{
    "$PY" - "$@" <<'EOF'
import json, sys, urllib.request as u
s = json.load(u.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_stats"))
print("\n".join(str(s.get(k, 0)) for k in sys.argv[2:]))
EOF
}
job "$S3_URL/streamed" "plan: shard files are laid out from their chunks' sizes and uploaded chunk by chunk in parts of 5.24 MB: an owner holds one chunk and one part of a shard, not the shard" 5.24
MIB=$((1024 * 1024))
got=$(stats "$S3_PORT" 'POST?uploads 200' 'PUT?partNumber 200' part_sizes 'POST?uploadId 200' \
    open_uploads)
[[ $got == "1
3
[$((5 * MIB)), $((5 * MIB)), $((size - 10 * MIB))]
1
0" ]] || fail "want one upload of 3 parts (started, parts, sizes, completed, open): $got"

section "s3://: part 2 fails beyond the retries: a clear error, the upload aborted, no object"
curl -sf "http://127.0.0.1:$S3_PORT/_fail?part=2" >/dev/null
CV_HTTP_RETRIES=1 expect_exit 1 "$CVMPI" "${JOB[0]}" "${JOB[1]}" "$S3_URL/failed" "${JOB[@]:2}" \
    --memory 10M --journal j-failed
expect_stderr_contains "part 2 of a multipart upload: PUT \`$S3_URL/failed/$SHARD': HTTP 500 Internal Server Error (InternalError) (gave up after 2 attempts"
expect_stderr_lacks "S3RVER"
got=$(stats "$S3_PORT" 'DELETE?uploadId 204' open_uploads 'POST?uploadId 200')
[[ $got == "1
0
1" ]] || fail "the upload was not aborted (aborts, open, completed in all): $got"
expect_exit 1 "$CVMPI" cp "$S3_URL/failed/$SHARD" x
expect_stderr_contains "not found"
curl -sf "http://127.0.0.1:$S3_PORT/_fail?part=0" >/dev/null

section "s3://: the proxy refuses bad part sequences as S3 does"
"$PY" - "$S3_PORT" <<'EOF' || fail "the proxy's multipart rules"
import sys, boto3, botocore
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                  aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
def code(**kw):
    try:
        s3.complete_multipart_upload(Bucket="testbucket", Key="bad", **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return "ok"
uid = s3.create_multipart_upload(Bucket="testbucket", Key="bad")["UploadId"]
e1 = s3.upload_part(Bucket="testbucket", Key="bad", UploadId=uid, PartNumber=1, Body=b"a" * 1000)["ETag"]
e2 = s3.upload_part(Bucket="testbucket", Key="bad", UploadId=uid, PartNumber=2, Body=b"b" * 10)["ETag"]
parts = lambda *p: {"UploadId": uid, "MultipartUpload": {"Parts": [{"PartNumber": n, "ETag": e} for n, e in p]}}
assert code(**parts((1, e1), (2, e2))) == "EntityTooSmall"
assert code(**parts((2, e2), (1, e1))) == "InvalidPartOrder"
assert code(**parts((1, e2))) == "InvalidPart"
s3.abort_multipart_upload(Bucket="testbucket", Key="bad", UploadId=uid)
assert code(**parts((1, e1))) == "NoSuchUpload"
assert code(**parts((1, e1))) == "NoSuchUpload"
assert "Contents" not in s3.list_objects_v2(Bucket="testbucket", Prefix="bad")
EOF

section "gs://: a resumable upload in chunks of 4 MiB, the mip-1 shard in one POST"
GCS_PORT=$(free_port)
# The fake needs a service-account key to start; with no secret cvmpi sends no token.
"$PY" - <<'EOF'
import json
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
json.dump({"type": "service_account", "private_key": pem, "client_email": "unused@cvmpi-test",
           "token_uri": "http://127.0.0.1:1/token"}, open("sa.json", "w"))
EOF
serve gcs "$GCS_PORT" "$PY" "$HERE/fake_gcs.py" "$GCS_PORT" sa.json
export CV_GCS_ENDPOINT=http://127.0.0.1:$GCS_PORT
job gs://bucket/streamed "plan: shard files are laid out from their chunks' sizes and uploaded chunk by chunk in parts of 4.19 MB: an owner holds one chunk and one part of a shard, not the shard" 4.19
chunks=$(((size + 4 * MIB - 1) / (4 * MIB)))
got=$(stats "$GCS_PORT" resumable_sessions resumable_chunks resumable_done resumable_open)
[[ $got == "1
$chunks
1
0" ]] || fail "want one session of $chunks chunks (started, chunks, done, open): $got"

section "gs://: chunk 3 fails beyond the retries: a clear error, the session cancelled, no object"
curl -sf "http://127.0.0.1:$GCS_PORT/_config?fail_chunk=3" >/dev/null
CV_HTTP_RETRIES=1 expect_exit 1 "$CVMPI" "${JOB[0]}" "${JOB[1]}" gs://bucket/failed "${JOB[@]:2}" \
    --memory 10M --journal j-gfailed
expect_stderr_contains "PUT \`gs://bucket/failed/$SHARD': HTTP 500 Internal Server Error (injected failure of chunk 3) (gave up after 2 attempts"
got=$(stats "$GCS_PORT" resumable_cancelled resumable_open resumable_done)
[[ $got == "1
0
1" ]] || fail "the session was not cancelled (cancelled, open, done in all): $got"
expect_exit 1 "$CVMPI" cp "gs://bucket/failed/$SHARD" x
expect_stderr_contains "not found"
curl -sf "http://127.0.0.1:$GCS_PORT/_config?fail_chunk=0" >/dev/null

section "gs://: the fake refuses chunks off the 256 KiB grid or out of place"
"$PY" - "$GCS_PORT" <<'EOF' || fail "the fake's resumable rules"
import json, sys, urllib.error, urllib.request as u
base = f"http://127.0.0.1:{sys.argv[1]}"
r = u.urlopen(u.Request(f"{base}/upload/storage/v1/b/bucket/o?uploadType=resumable", method="POST",
                        data=json.dumps({"name": "bad"}).encode()))
session = r.headers["Location"]
def put(data, rng):
    try:
        return u.urlopen(u.Request(session, method="PUT", data=data,
                                   headers={"Content-Range": rng})).status
    except urllib.error.HTTPError as e:
        return e.code
k = 256 * 1024
assert put(b"a" * 1000, "bytes 0-999/*") == 400            # not a multiple of 256 KiB
assert put(b"a" * k, f"bytes 0-{k - 1}/*") == 308
assert put(b"a" * k, f"bytes 0-{k - 1}/*") == 400          # not where the last chunk ended
assert put(b"b" * 10, f"bytes {k}-{k + 9}/{k + 20}") == 400  # does not end at the total
assert put(b"b" * 10, f"bytes {k}-{k + 9}/{k + 10}") == 200
assert u.urlopen(f"{base}/storage/v1/b/bucket/o/bad?alt=media").read() == b"a" * k + b"b" * 10
EOF
echo "PASS ($TEST_NAME)"
