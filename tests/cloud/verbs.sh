#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# verbs.sh CVMPI CLOUD_CHECK: the object-store verbs cp -r, rm, du and head against s3rver
# behind sigv4_proxy.py (which counts requests and the keys of each DeleteObjects body) and
# fake_gcs.py (pages of 5 names): byte-identical trees both ways over listings of many pages
# (CV_S3_MAX_KEYS=25), each object PUT once (threads; mpirun -n 1, 2, 3), --resume after objects
# went missing and after kill -9, rm -r of 60 keys in ceil(60/25) DeleteObjects requests
# (CV_DELETE_BATCH=25; s3.sh deletes 1005 keys in batches of 1000), rm without -r refused,
# exact du and head output, a key with `..' refused before anything is copied, and a server
# failing mid-copy: exit 1, one line naming the object, no success line. On gs://, rm -r in
# JSON API batches (60 keys in 1 request, 250 in 100/100/50; a sub-response 404 is fine, a 503
# is retried, a 403 is named); tests/hostile/io_gcs_batch_answers.sh sends broken answers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

start_s3
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
s3_stats()
{
    "$PY" -c "import json, urllib.request as u; s = json.load(u.urlopen('http://127.0.0.1:$S3_PORT/_stats')); print(sum(v for k, v in s.items() if (k + ' ').startswith('$1 ')))"
}
s3_batches()
{
    "$PY" -c "import json, urllib.request as u; print(sorted(json.load(u.urlopen('http://127.0.0.1:$S3_PORT/_stats')).get('delete_batches', []), reverse=True))"
}

# Listings in pages of 25 names, deletes in batches of 25 keys.
export CV_S3_MAX_KEYS=25 CV_DELETE_BATCH=25
# A tree of 60 objects: 57 small ones in many/, a gzip object (stored as b.gz), an info and a
# nested plain object.
"$PY" - <<'EOF'
import gzip, json, os
os.makedirs("tree/many", exist_ok=True)
os.makedirs("tree/a", exist_ok=True)
for i in range(57):
    open(f"tree/many/{i:02d}", "wb").write(b"object %d\n" % i)
open("tree/a/b.gz", "wb").write(gzip.compress(b"gzip payload " * 100, mtime=0))
open("tree/a/c", "wb").write(bytes(range(256)) * 4)
json.dump({"type": "image"}, open("tree/info", "w"))
EOF
TREE_BYTES=$(find tree -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
B_SIZE=$(stat -c %s tree/a/b.gz)

section "cp -r local -> s3: every object PUT once, 16 at a time"
puts=$(s3_stats 'PUT 200')
expect_exit 0 "$CVMPI" cp -r tree "$S3_URL/t1"
[[ $(cat "$OUT") == "copied 60 objects ($TREE_BYTES bytes), 0 already present" ]] ||
    fail "cp -r report"
[[ $(($(s3_stats 'PUT 200') - puts)) == 60 ]] || fail "not 60 PUTs"

section "cp -r s3 -> local over 3 listing pages: byte-identical"
expect_exit 0 "$CVMPI" cp -r "$S3_URL/t1/" back1
diff -r tree back1 >/dev/null || fail "the tree came back different"

section "du: per object, -s, -c, -h"
expect_exit 0 "$CVMPI" du "$S3_URL/t1/a"
[[ $(cat "$OUT") == "$B_SIZE	$S3_URL/t1/a/b
1024	$S3_URL/t1/a/c" ]] || fail "du of a prefix"
expect_exit 0 "$CVMPI" du -s -c "$S3_URL/t1" "$S3_URL/t1/a/c"
[[ $(cat "$OUT") == "$TREE_BYTES	$S3_URL/t1
1024	$S3_URL/t1/a/c
$((TREE_BYTES + 1024))	total" ]] || fail "du -s -c"
expect_exit 0 "$CVMPI" du -s -h "$S3_URL/t1" "$S3_URL/t1/info"
[[ $(cat "$OUT") == "$(awk "BEGIN { printf \"%.2f KiB\", $TREE_BYTES / 1024 }")	$S3_URL/t1
17 Bytes	$S3_URL/t1/info" ]] || fail "du -s -h"
expect_exit 1 "$CVMPI" du "$S3_URL/t1/nothing"
[[ $(cat "$ERR") == "cvmpi: \`$S3_URL/t1/nothing': no such object or directory" ]] || fail "du of nothing"

section "head: S3's metadata as JSON"
expect_exit 0 "$CVMPI" head "$S3_URL/t1/a/b"
"$PY" - "$OUT" "$(md5sum <tree/a/b.gz | cut -c1-32)" "$B_SIZE" <<'EOF' || fail "head output"
import json, re, sys
text = open(sys.argv[1]).read()
d = json.loads(text)
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["Last-Modified"]), d
d["Last-Modified"] = "T"
want = {"Cache-Control": None, "Content-Encoding": "gzip", "Content-Length": int(sys.argv[3]),
        "Content-Md5": None, "Content-Type": "application/octet-stream",
        "ETag": '"%s"' % sys.argv[2], "Last-Modified": "T", "Storage-Class": "STANDARD"}
assert d == want, (d, want)
assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n", text
EOF
expect_exit 0 "$CVMPI" head "$S3_URL/t1/info" "$S3_URL/t1/a/c"
"$PY" -c "
import json, sys
d = json.load(open('$OUT'))
assert list(d) == ['$S3_URL/t1/a/c', '$S3_URL/t1/info'], d
assert d['$S3_URL/t1/info']['Content-Type'] == 'application/json', d
assert d['$S3_URL/t1/a/c']['Content-Length'] == 1024, d" || fail "head of two objects"
expect_exit 1 "$CVMPI" head "$S3_URL/t1/a"
[[ $(cat "$ERR") == "cvmpi: head \`$S3_URL/t1/a': no such object" && ! -s $OUT ]] ||
    fail "head of a prefix"

section "--resume copies only what is missing"
expect_exit 0 "$CVMPI" rm "$S3_URL/t1/many/07" "$S3_URL/t1/many/56" "$S3_URL/t1/a/b"
puts=$(s3_stats 'PUT 200')
expect_exit 0 "$CVMPI" cp -r --resume tree "$S3_URL/t1"
[[ $(cat "$OUT") == "copied 3 objects ($((B_SIZE + 19)) bytes), 57 already present" ]] ||
    fail "resume report"
[[ $(($(s3_stats 'PUT 200') - puts)) == 3 ]] || fail "resume did not PUT exactly 3 objects"

section "kill -9 mid-copy, then --resume: each object PUT once in all"
puts=$(s3_stats 'PUT 200')
# 50 ms a PUT: the 60 objects take 3 s, so the copy is still running when 15 are in
curl -sf "http://127.0.0.1:$S3_PORT/_fail?put_delay_ms=50" >/dev/null
"$CVMPI" cp -r --threads 1 tree "$S3_URL/t2" >killed.out 2>&1 &
pid=$!
for ((i = 0; i < 400 && $(s3_stats 'PUT 200') - puts < 15; i++)); do sleep 0.02; done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
curl -sf "http://127.0.0.1:$S3_PORT/_fail?put_delay_ms=0" >/dev/null
(( $(s3_stats 'PUT 200') - puts < 60 )) || fail "the copy finished before it was killed"
[[ ! -s killed.out ]] || fail "the killed copy printed: $(cat killed.out)"
expect_exit 0 "$CVMPI" cp -r --resume tree "$S3_URL/t2"
[[ $(($(s3_stats 'PUT 200') - puts)) == 60 ]] ||
    fail "$(($(s3_stats 'PUT 200') - puts)) PUTs for 60 objects"
"$PY" -c "
import re, sys
m = re.fullmatch(r'copied (\d+) objects \(\d+ bytes\), (\d+) already present\n', open('$OUT').read())
assert m and int(m[1]) + int(m[2]) == 60 and int(m[2]) >= 15, m" || fail "resume after kill"

section "rm: a prefix without -r is refused, nothing deleted"
expect_exit 1 "$CVMPI" rm "$S3_URL/t2/a/c" "$S3_URL/t2/many"
[[ $(cat "$ERR") == "cvmpi: rm \`$S3_URL/t2/many': a directory (objects are under it); use -r" ]] ||
    fail "rm without -r"
expect_exit 0 "$CVMPI" ls -r --short "$S3_URL/t2"
[[ $(wc -l <"$OUT") == 60 ]] || fail "rm without -r deleted something"

section "rm -r of 60 keys: DeleteObjects batches of 25, 25 and 10, nothing left"
batches=$(s3_stats 'POST?delete 200')
deletes=$(s3_stats DELETE)
expect_exit 0 "$CVMPI" rm -r "$S3_URL/t2"
[[ $(($(s3_stats 'POST?delete 200') - batches)) == 3 ]] || fail "not 3 DeleteObjects requests"
[[ $(s3_stats DELETE) == "$deletes" ]] || fail "single DELETE requests were sent"
[[ $(s3_batches) == *"[25, 25, 10]" ]] || fail "DeleteObjects bodies: $(s3_batches)"
expect_exit 0 "$CVMPI" ls -r "$S3_URL/t2"
[[ ! -s $OUT ]] || fail "rm -r left objects"
expect_exit 1 "$CVMPI" rm "$S3_URL/t2/info"
expect_stderr_contains "no such object or directory"

section "a server failing mid-copy: exit 1, the object named, no success line"
FAULT_PORT=$(free_port)
serve always503 "$FAULT_PORT" "$PY" "$HERE/fault_proxy.py" "$FAULT_PORT" \
    "http://127.0.0.1:$S3_PORT" 1 0 --always 503
CV_HTTP_RETRIES=1 expect_exit 1 "$CVMPI" cp -r tree "s3://http://127.0.0.1:$FAULT_PORT/testbucket/f"
grep -v ": warning: " "$ERR" >errors.txt || true
[[ $(wc -l <errors.txt) == 1 ]] || fail "want one error line: $(cat errors.txt)"
grep -qE "^cvmpi: write \`[a-z/0-9]+' in s3://http://127.0.0.1:$FAULT_PORT/testbucket/f: PUT \`s3://http://127.0.0.1:$FAULT_PORT/testbucket/f/[a-z/0-9]+': HTTP 503 " errors.txt ||
    fail "the error does not name the object: $(cat errors.txt)"
[[ ! -s $OUT ]] || fail "a failed copy printed a report"

if command -v mpirun >/dev/null; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
    export OMPI_MCA_oob_tcp_if_include=lo OMPI_MCA_mpi_yield_when_idle=1
    # Open MPI's libraries leak at exit (tests/mpi/lib.sh).
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
    for n in 1 2 3; do
        section "mpirun -n $n cp -r: each object PUT once"
        puts=$(s3_stats 'PUT 200')
        expect_exit 0 mpirun -n "$n" "$CVMPI" cp -r tree "$S3_URL/mpi$n"
        [[ $(cat "$OUT") == "copied 60 objects ($TREE_BYTES bytes), 0 already present" ]] ||
            fail "mpi report"
        [[ $(($(s3_stats 'PUT 200') - puts)) == 60 ]] || fail "-n $n: not 60 PUTs"
    done
    section "mpirun -n 3: the three copies are the same tree; --resume copies nothing"
    expect_exit 0 mpirun -n 3 "$CVMPI" cp -r "$S3_URL/" back_mpi
    for n in 1 2 3; do
        diff -r tree "back_mpi/mpi$n" >/dev/null || fail "-n $n: the tree differs"
    done
    expect_exit 0 mpirun -n 2 "$CVMPI" cp -r --resume tree "$S3_URL/mpi2"
    [[ $(cat "$OUT") == "copied 0 objects (0 bytes), 60 already present" ]] || fail "mpi resume"
else
    echo "   (mpirun not found: the MPI part is skipped)"
fi

section "gs://: cp -r over pages of 5, du, head, rm -r in one batch request"
unset CV_DELETE_BATCH # GCS's own batches of 100
mkdir -p gtree/many
cp tree/many/0? tree/many/1[01] gtree/many/
GTREE_BYTES=$(find gtree -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
"$PY" -c 'import cryptography' 2>/dev/null || skip "Debian python3-cryptography is needed"
"$PY" - sa.json <<'EOF'
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
json.dump({"type": "service_account", "private_key": pem, "client_email": "t@x.iam",
           "token_uri": "http://127.0.0.1:1/token"}, open(sys.argv[1], "w"))
EOF
GCS_PORT=$(free_port)
serve gcs "$GCS_PORT" "$PY" "$HERE/fake_gcs.py" "$GCS_PORT" sa.json --page-size 5
gcs_stat()
{
    "$PY" -c "import json, urllib.request as u; print(json.load(u.urlopen('http://127.0.0.1:$GCS_PORT/_stats'))['$1'])"
}
export CV_GCS_ENDPOINT=http://127.0.0.1:$GCS_PORT
expect_exit 0 "$CVMPI" cp -r gtree gs://bucket/s
[[ $(gcs_stat uploads) == 12 ]] || fail "not 12 uploads"
expect_exit 0 "$CVMPI" cp -r gs://bucket/s gback
diff -r gtree gback >/dev/null || fail "gs:// tree differs"
expect_exit 0 "$CVMPI" du -s gs://bucket/s
[[ $(cat "$OUT") == "$GTREE_BYTES	gs://bucket/s" ]] || fail "gs du -s"
expect_exit 0 "$CVMPI" head gs://bucket/s/many/09
"$PY" - "$OUT" <<'EOF' || fail "gs head"
import base64, hashlib, json, re, sys
d = json.load(open(sys.argv[1]))
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d.pop("Last-Modified")), d
body = b"object 9\n"
assert d == {"Cache-Control": None, "Content-Encoding": None, "Content-Length": 9,
             "Content-Md5": base64.b64encode(hashlib.md5(body).digest()).decode(),
             "Content-Type": "application/octet-stream", "ETag": "CJ1EAE=",
             "Storage-Class": "STANDARD"}, d
EOF
expect_exit 1 "$CVMPI" rm gs://bucket/s/many
[[ $(gcs_stat deletes) == 0 ]] || fail "rm without -r deleted"
expect_exit 0 "$CVMPI" rm -r gs://bucket/s
[[ $(gcs_stat deletes) == 12 && $(gcs_stat batch_sizes) == "[12]" ]] || fail "not 12 deletes in one batch"
[[ $(gcs_stat single_deletes) == 0 ]] || fail "single DELETE requests were sent"
expect_exit 0 "$CVMPI" ls -r gs://bucket/s
[[ ! -s $OUT ]] || fail "gs rm -r left objects"

section "gs:// rm -r: 60 keys in 1 batch, 250 in 100, 100 and 50"
gcs_batches()
{
    "$PY" -c "import json, urllib.request as u; print(sorted(json.load(u.urlopen('http://127.0.0.1:$GCS_PORT/_stats'))['batch_sizes'][$1:], reverse=True))"
}
gcs_config()
{
    "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$GCS_PORT/_config?$1').read()"
}
gcs_config "page_size=1000"
"$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$GCS_PORT/_seed?bucket=bucket&prefix=b60/&n=60').read(); u.urlopen('http://127.0.0.1:$GCS_PORT/_seed?bucket=bucket&prefix=b250/&n=250').read()"
expect_exit 0 "$CVMPI" rm -r gs://bucket/b60
[[ $(gcs_batches 1) == "[60]" ]] || fail "60 keys: batches $(gcs_batches 1)"
expect_exit 0 "$CVMPI" rm -r gs://bucket/b250
[[ $(gcs_batches 2) == "[100, 100, 50]" ]] || fail "250 keys: batches $(gcs_batches 2)"
[[ $(gcs_stat deletes) == 322 && $(gcs_stat single_deletes) == 0 ]] || fail "$(gcs_stat deletes) deletes"

section "gs:// rm -r: a 404 is already deleted, a 503 is retried, a 403 is named"
expect_exit 0 "$CVMPI" cp -r gtree gs://bucket/f
gcs_config "fail=f/many/03:404:1"
gcs_config "fail=f/many/05:503:2"
expect_exit 0 "$CVMPI" rm -r gs://bucket/f
[[ $(gcs_batches 5) == "[12, 1, 1]" ]] || fail "retries: batches $(gcs_batches 5)"
expect_stderr_contains "DELETE \`gs://bucket/f/many/05': HTTP 503 Service Unavailable (fake 503 for f/many/05); retry 2 of"
expect_exit 0 "$CVMPI" cp -r gtree gs://bucket/f
gcs_config "fail=f/many/07:403:1"
gcs_config "fail=f/many/09:500:99"
CV_HTTP_RETRIES=2 expect_exit 1 "$CVMPI" rm -r gs://bucket/f
grep -v ": warning: " "$ERR" >errors.txt || true
[[ $(cat errors.txt) == "cvmpi: error: DELETE \`gs://bucket/f/many/09': HTTP 500 Internal Server Error (fake 500 for f/many/09)
cvmpi: delete 12 objects from gs://bucket/f: DELETE \`gs://bucket/f/many/07': HTTP 403 Forbidden (fake 403 for f/many/07) (and 1 more key failed)" ]] ||
    fail "sub-request failures: $(cat errors.txt)"
expect_exit 0 "$CVMPI" ls -r --short gs://bucket/f
[[ $(cat "$OUT") == "many/07
many/09" ]] || fail "left after the failures: $(cat "$OUT")"
gcs_config "fail=f/many/09:500:0"

expect_exit 0 "$CVMPI" rm -r gs://bucket/f
gcs_config "page_size=5"
section "gs://: a listed key with a \`..' part stops cp -r and rm -r before anything is done"
"$PY" - "$GCS_PORT" <<'EOF' || fail "upload of the bad key"
import sys, urllib.parse, urllib.request as u
for name, body in (("evil/a", b"fine"), ("evil/x/../../../escape", b"out")):
    q = urllib.parse.urlencode({"uploadType": "media", "name": name})
    u.urlopen(u.Request(f"http://127.0.0.1:{sys.argv[1]}/upload/storage/v1/b/bucket/o?{q}",
                        data=body, method="POST")).read()
EOF
mkdir inside
expect_exit 1 "$CVMPI" cp -r gs://bucket/evil inside/dst
[[ $(cat "$ERR") == "cvmpi: cp -r: object \`x/../../../escape' in gs://bucket/evil has an empty, \`.' or \`..' part; nothing copied" ]] ||
    fail "the bad key was not named"
[[ ! -e inside/dst && ! -e escape && ! -e inside/escape ]] || fail "cp -r wrote something"
expect_exit 1 "$CVMPI" rm -r gs://bucket/evil
expect_stderr_contains "object \`x/../../../escape' in gs://bucket/evil has an empty, \`.' or \`..' part: refused"
[[ $(gcs_stat deletes) == 345 ]] || fail "rm -r deleted something"
echo "PASS ($TEST_NAME)"
