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
        bad = self.check(body)
        if bad:
            return self.refuse(*bad)
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


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


Server(("127.0.0.1", PORT), Proxy).serve_forever()
