#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# sigv4_proxy.py: a reverse proxy in front of s3rver (which does not check AWS Signature V4)
# that checks every request as S3 would and forwards only good ones. Written for the cvmpi
# cloud tests with Debian's python3-botocore, an implementation independent of libcurl's.
#
#   sigv4_proxy.py LISTEN_PORT UPSTREAM_URL ACCESS_KEY SECRET_KEY [--token SESSION_TOKEN]
#                  [--region REGION]
#
# Refused with S3's error XML: no or malformed Authorization (403 AccessDenied), unknown key
# (403 InvalidAccessKeyId), bad signature (403 SignatureDoesNotMatch; the canonical request is
# printed on stderr), an x-amz-* header left unsigned (403 AccessDenied), x-amz-date more than
# 15 minutes off (403 RequestTimeTooSkewed), a payload hash that does not match the body
# (400 XAmzContentSHA256Mismatch), a Content-MD5 that does not match (400 BadDigest), and with
# --token a missing or wrong x-amz-security-token (403 InvalidToken). With --region the bucket
# lives in REGION: a request signed for another region gets S3's 400
# AuthorizationHeaderMalformed with an x-amz-bucket-region header. A multi-object delete
# (POST ?delete) without Content-MD5 is refused as S3 does (400 InvalidRequest). GET /_stats
# (unsigned) answers the JSON counts of forwarded requests by method and upstream status
# ("PUT 200", "POST?delete 200", ...), and under "delete_batches" the number of keys in the
# body of each multi-object delete S3 answered with 200.
#
# Multipart uploads (s3rver 3.7.1 neither checks them nor aborts) are done here, as S3 does
# them: POST ?uploads starts one (keeping Content-Type, -Encoding and x-amz-acl), PUT
# ?partNumber=N&uploadId=U keeps part N (1..10000, ETag its MD5), POST ?uploadId=U with the
# CompleteMultipartUpload XML checks the list (ascending part numbers: InvalidPartOrder; parts
# uploaded with those ETags: InvalidPart; every part but the last at least 5 MiB:
# EntityTooSmall; unknown id: NoSuchUpload) and only then PUTs the assembled object upstream,
# DELETE ?uploadId=U aborts (204). Counted in _stats as "POST?uploads 200", "PUT?partNumber
# 200", "POST?uploadId 200", "DELETE?uploadId 204"; "open_uploads" is the number of uploads
# neither completed nor aborted and "part_sizes" the size of each part received.
# GET /_fail?part=K (unsigned) answers 500 to every UploadPart with part number K from then on
# (K = 0: none); GET /_fail?put_delay_ms=N holds every plain PUT N ms before passing it on (a
# copy slow enough to be killed half way, whatever the machine's speed; 0: none).
import base64
import json
import threading
import calendar
import hashlib
import hmac
import http.client
import re
import sys
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

args = sys.argv[1:]
PORT, UPSTREAM, KEY, SECRET = int(args[0]), urllib.parse.urlsplit(args[1]), args[2], args[3]
TOKEN = args[args.index("--token") + 1] if "--token" in args else None
REGION = args[args.index("--region") + 1] if "--region" in args else None
AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/"
                  r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<signed>[^,]+), ?"
                  r"Signature=(?P<sig>[0-9a-f]{64})$")
STATS = {}
STATS_LOCK = threading.Lock()
UPLOADS = {}  # upload id -> {"path": "/bucket/key", "headers": {...}, "parts": {n: bytes}}
FAIL = {"part": 0, "put_delay_ms": 0}
MIN_PART = 5 * 1024 * 1024
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "content-length", "date", "server"}


def canonical_query(qs):
    # What S3 does: decode each name and value, encode all but unreserved characters, sort.
    pairs = []
    for item in qs.split("&"):
        if not item:
            continue
        k, _, v = item.partition("=")
        pairs.append((urllib.parse.quote(urllib.parse.unquote(k), safe="-_.~"),
                      urllib.parse.quote(urllib.parse.unquote(v), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signature(method, path_qs, headers, signed, amz_date, region, service, payload_hash):
    path, _, qs = path_qs.partition("?")
    cq = canonical_query(qs)
    req = AWSRequest(method=method, url="http://" + headers.get("host", "") + path +
                     ("?" + cq if cq else ""))
    for name in signed:
        req.headers[name] = headers.get(name, "")
    if "x-amz-content-sha256" not in req.headers:
        req.headers["x-amz-content-sha256"] = payload_hash
    req.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(KEY, SECRET), service, region)
    creq = signer.canonical_request(req)
    return signer.signature(signer.string_to_sign(req, creq), req), creq


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def refuse(self, status, code, message, region=None):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s'
                '</Message></Error>' % (code, message)).encode()
        self.send_response(status)
        if region:
            self.send_header("x-amz-bucket-region", region)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def check(self, body):
        h = {k.lower(): v for k, v in self.headers.items()}
        m = AUTH.match(h.get("authorization", ""))
        if not m:
            return 403, "AccessDenied", "missing or malformed AWS4-HMAC-SHA256 Authorization"
        if m["key"] != KEY:
            return 403, "InvalidAccessKeyId", "the access key id does not exist"
        if REGION and m["region"] != REGION:
            return 400, "AuthorizationHeaderMalformed", f"the region is wrong; expecting {REGION}", REGION
        signed = m["signed"].split(";")
        unsigned = [k for k in h if k.startswith("x-amz-") and k not in signed]
        if unsigned or "host" not in signed:
            return 403, "AccessDenied", "headers not signed: " + ",".join(unsigned or ["host"])
        amz_date = h.get("x-amz-date", "")
        try:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return 403, "AccessDenied", "bad x-amz-date"
        if abs(t - time.time()) > 900 or amz_date[:8] != m["day"]:
            return 403, "RequestTimeTooSkewed", "request time too skewed"
        payload_hash = h.get("x-amz-content-sha256")
        if payload_hash is None:
            return 400, "InvalidRequest", "missing x-amz-content-sha256"
        if payload_hash != "UNSIGNED-PAYLOAD" and payload_hash != hashlib.sha256(body).hexdigest():
            return 400, "XAmzContentSHA256Mismatch", "payload hash does not match the body"
        want, creq = signature(self.command, self.path, h, signed, amz_date, m["region"],
                               m["service"], payload_hash)
        if not hmac.compare_digest(want, m["sig"]):
            sys.stderr.write("SignatureDoesNotMatch %s %s\n%s\n" % (self.command, self.path, creq))
            sys.stderr.flush()
            return 403, "SignatureDoesNotMatch", "the signature does not match"
        if TOKEN is not None and h.get("x-amz-security-token") != TOKEN:
            return 403, "InvalidToken", "the session token is missing or wrong"
        md5 = h.get("content-md5")
        is_multi_delete = self.command == "POST" and "delete" in [
            item.partition("=")[0] for item in self.path.partition("?")[2].split("&")]
        if is_multi_delete and md5 is None:
            return 400, "InvalidRequest", "Missing required header for this request: Content-MD5"
        if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            return 400, "BadDigest", "Content-MD5 does not match the body"
        return None

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/_stats":
            with STATS_LOCK:
                data = json.dumps(STATS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if self.path.startswith("/_fail?"):
            FAIL.update({k: int(v) for k, v in urllib.parse.parse_qsl(self.path[7:])})
            return self.answer(200, json.dumps(FAIL).encode(), "application/json")
        bad = self.check(body)
        if bad:
            return self.refuse(*bad)
        if self.multipart(body):
            return
        if self.command == "PUT" and FAIL["put_delay_ms"]:
            time.sleep(FAIL["put_delay_ms"] / 1000)
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body if body else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        what = "%s%s %d" % (self.command, "?delete" if self.path.partition("?")[2].startswith(
            "delete") else "", r.status)
        with STATS_LOCK:
            STATS[what] = STATS.get(what, 0) + 1
            if what == "POST?delete 200":
                STATS.setdefault("delete_batches", []).append(body.count(b"<Object><Key>"))
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else
                                                r.getheader("Content-Length", "0")))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    # ---- multipart uploads --------------------------------------------------------------
    def answer(self, status, data=b"", ctype="application/xml", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def count(self, what):
        with STATS_LOCK:
            STATS[what] = STATS.get(what, 0) + 1
            STATS["open_uploads"] = len(UPLOADS)

    def multipart(self, body):
        """Serve a multipart-upload request here; False for any other request."""
        path, _, qs = self.path.partition("?")
        q = dict(urllib.parse.parse_qsl(qs, keep_blank_values=True))
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n'
        if self.command == "POST" and "uploads" in q:
            uid = uuid.uuid4().hex
            keep = {k: v for k, v in self.headers.items()
                    if k.lower() in ("content-type", "content-encoding", "x-amz-acl",
                                     "cache-control")}
            with STATS_LOCK:
                UPLOADS[uid] = {"path": path, "headers": keep, "parts": {}}
            self.count("POST?uploads 200")
            bucket, _, key = path[1:].partition("/")
            self.answer(200, (xml + "<InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s"
                              "</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>" % (
                                  bucket, urllib.parse.unquote(key), uid)).encode())
            return True
        if "uploadId" not in q or self.command not in ("PUT", "POST", "DELETE"):
            return False
        with STATS_LOCK:
            up = UPLOADS.get(q["uploadId"])
        if up is None or up["path"] != path:
            self.refuse(404, "NoSuchUpload", "the specified upload does not exist")
            return True
        if self.command == "PUT":
            n = int(q.get("partNumber", "0"))
            if not 1 <= n <= 10000:
                self.refuse(400, "InvalidArgument", "part number must be 1..10000")
                return True
            if n == FAIL["part"]:
                self.count("PUT?partNumber 500")
                self.refuse(500, "InternalError", "injected failure of part %d" % n)
                return True
            with STATS_LOCK:
                up["parts"][n] = body
                STATS.setdefault("part_sizes", []).append(len(body))
            self.count("PUT?partNumber 200")
            self.answer(200, headers=[("ETag", '"%s"' % hashlib.md5(body).hexdigest())])
            return True
        if self.command == "DELETE":
            with STATS_LOCK:
                UPLOADS.pop(q["uploadId"], None)
            self.count("DELETE?uploadId 204")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        listed = [(int(m[0]), m[1].replace("&quot;", '"').strip('"')) for m in re.findall(
            r"<Part>\s*<PartNumber>(\d+)</PartNumber>\s*<ETag>([^<]*)</ETag>\s*</Part>",
            body.decode("utf-8", "replace"))]
        numbers = [n for n, _ in listed]
        if not listed or numbers != sorted(set(numbers)):
            self.refuse(400, "InvalidPartOrder", "the part list is not in ascending order")
            return True
        for i, (n, etag) in enumerate(listed):
            data = up["parts"].get(n)
            if data is None or hashlib.md5(data).hexdigest() != etag:
                self.refuse(400, "InvalidPart", "part %d was not uploaded with that ETag" % n)
                return True
            if i + 1 < len(listed) and len(data) < MIN_PART:
                self.refuse(400, "EntityTooSmall", "part %d is smaller than 5 MiB" % n)
                return True
        whole = b"".join(up["parts"][n] for n in numbers)
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        conn.request("PUT", path, body=whole, headers=dict(up["headers"],
                                                           **{"Content-Length": str(len(whole))}))
        r = conn.getresponse()
        r.read()
        conn.close()
        if r.status != 200:
            self.refuse(500, "InternalError", "upstream PUT answered %d" % r.status)
            return True
        with STATS_LOCK:
            UPLOADS.pop(q["uploadId"], None)
        self.count("POST?uploadId 200")
        etag = '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(up["parts"][n]).digest()
                                                 for n in numbers)).hexdigest(), len(numbers))
        self.answer(200, (xml + "<CompleteMultipartUploadResult><ETag>%s</ETag>"
                          "</CompleteMultipartUploadResult>" % etag.replace('"', "&quot;")).encode())
        return True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


Server(("127.0.0.1", PORT), Proxy).serve_forever()
