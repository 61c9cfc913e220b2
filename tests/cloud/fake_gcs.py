#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# fake_gcs.py: a small stand-in for Google Cloud Storage's JSON API plus the OAuth2 token
# endpoint of the service-account JWT-bearer flow, written for the cvmpi cloud tests (the
# firebase-tools emulator is ~300 MB). In memory, 127.0.0.1 only, Debian python3 + cryptography.
#
#   fake_gcs.py PORT SA_KEY.json [--require-auth] [--token-lifetime S] [--page-size N]
#
# Token endpoint: POST /token (grant_type jwt-bearer; the RS256 assertion is verified against
# the key in SA_KEY.json: iss = client_email, aud = token_uri, scope, iat/exp). Storage:
#   POST /upload/storage/v1/b/B/o?uploadType=media&name=K | uploadType=multipart (md5Hash checked)
#   GET  /storage/v1/b/B/o/K?alt=media   (Range -> 206; x-goog-hash; gzip objects are sent as
#        stored to clients accepting gzip and decompressed ("transcoded") for the others)
#   GET  /storage/v1/b/B/o/K             metadata JSON
#   DELETE /storage/v1/b/B/o/K           204 / 404
#   POST /batch/storage/v1               multipart/mixed of application/http sub-requests (at
#        most 100, DELETE /storage/v1/b/B/o/K only), answered multipart/mixed with each part's
#        Content-ID as <response-ID>; the sizes of the batches are kept in _stats "batch_sizes"
#   GET  /storage/v1/b/B/o?prefix=&delimiter=&maxResults=&pageToken=   items/prefixes/nextPageToken
#   GET  /_stats                          {"tokens": granted, "unauthorized": 401s sent,
#                                          "uploads": objects stored, "deletes": objects deleted,
#                                          "single_deletes": DELETE requests, "batches": ...}
#   GET  /_config?transcode=always|auto   transcode gzip objects for every client, or as GCS does
# Resumable uploads (resumable_* below):
#   POST /upload/storage/v1/b/B/o?uploadType=resumable  metadata JSON -> 200, Location: session
#   PUT  SESSION  Content-Range "bytes A-B/*" (a chunk: A = the bytes held, a multiple of
#        256 KiB long; 308 with Range "bytes=0-N") or "bytes A-B/TOTAL" (the last: the object
#        is made, 200 with its metadata); anything else is 400 and the session stays as it was
#   DELETE SESSION                        cancels it (499); no object is made
#   _stats: "resumable_sessions" started, "resumable_chunks" kept, "resumable_open" neither
#   finished nor cancelled, "resumable_cancelled", "chunk_sizes"; GET /_config?fail_chunk=K
#   answers 500 to every PUT of a session's K-th chunk (0: none)
#   GET  /_seed?bucket=B&prefix=P&n=N      store objects P0 .. P(N-1) holding their own names
#   GET  /_config?page_size=N              listing pages of N names from now on
#   GET  /_config?fail=NAME:STATUS:TIMES  answer the next TIMES batch deletes of NAME with STATUS
#   GET  /_config?batch_answer=MODE        the next batch answer is broken: truncated, noboundary
#                                          (no boundary in its Content-Type) or huge (64 MiB)
# With --require-auth every storage request needs "Authorization: Bearer <unexpired token>".
import base64
import gzip
import hashlib
import json
import random
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

args = sys.argv[1:]
PORT = int(args[0])
SA = json.load(open(args[1]))
REQUIRE_AUTH = "--require-auth" in args
LIFETIME = int(args[args.index("--token-lifetime") + 1]) if "--token-lifetime" in args else 3600
PAGE = int(args[args.index("--page-size") + 1]) if "--page-size" in args else 1000
PUB = serialization.load_pem_private_key(SA["private_key"].encode(), None).public_key()

lock = threading.Lock()
objects = {}  # (bucket, name) -> dict(data, contentType, contentEncoding, generation)
tokens = {}   # token -> expiry (epoch seconds)
stats = {"tokens": 0, "unauthorized": 0, "requests": 0, "bad_jwt": 0, "uploads": 0, "deletes": 0,
         "single_deletes": 0, "batches": 0, "batch_sizes": []}
config = {"transcode": "auto"}  # "always": decompress gzip objects even for gzip clients
sessions = {}  # resumable upload id -> dict(bucket, name, data, chunks, contentType, ...)
fail = {}  # object name -> [status, times] for batch sub-requests
BATCH_MAX = 100


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


CRC_TABLE = _crc_table()


try:  # C speed for large objects (resumable uploads); the table otherwise
    import crcmod.predefined
    FAST_CRC32C = crcmod.predefined.mkCrcFun("crc-32c")
except ImportError:
    FAST_CRC32C = None


def crc32c(data):
    if FAST_CRC32C:
        return FAST_CRC32C(data)
    crc, table = 0xFFFFFFFF, CRC_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def hashes_of(data):
    return "crc32c=%s,md5=%s" % (base64.b64encode(crc32c(data).to_bytes(4, "big")).decode(),
                                 base64.b64encode(hashlib.md5(data).digest()).decode())


def meta(bucket, name, o):
    return {
        "kind": "storage#object", "bucket": bucket, "name": name, "size": str(len(o["data"])),
        "contentType": o["contentType"], "generation": str(o["generation"]),
        "md5Hash": base64.b64encode(hashlib.md5(o["data"]).digest()).decode(),
        "etag": "CJ%dEAE=" % o["generation"], "storageClass": "STANDARD",
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(o["updated"])),
        **({"contentEncoding": o["contentEncoding"]} if o["contentEncoding"] else {}),
    }


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, code, msg):
        self.reply(code, {"error": {"code": code, "message": msg}})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorized(self):
        if not REQUIRE_AUTH:
            return True
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        with lock:
            ok = tok is not None and tokens.get(tok, 0) > time.time()
            if not ok:
                stats["unauthorized"] += 1
        if not ok:
            self.error(401, "Invalid Credentials" if tok else "Anonymous caller")
        return ok

    # ---- OAuth2 --------------------------------------------------------------------------
    def token(self):
        form = dict(urllib.parse.parse_qsl(self.body().decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self.reply(400, {"error": "unsupported_grant_type"})
        try:
            h64, c64, s64 = form["assertion"].split(".")
            hdr, claims = json.loads(b64d(h64)), json.loads(b64d(c64))
            assert hdr.get("alg") == "RS256", "alg must be RS256"
            PUB.verify(b64d(s64), f"{h64}.{c64}".encode(), padding.PKCS1v15(), hashes.SHA256())
            now = time.time()
            assert claims["iss"] == SA["client_email"], "iss must be client_email"
            assert claims["aud"] == SA["token_uri"], "aud must equal token_uri"
            assert "devstorage" in claims.get("scope", ""), "scope missing"
            assert claims["iat"] - 300 <= now <= claims["exp"], "iat/exp"
            assert claims["exp"] - claims["iat"] <= 3600, "exp - iat > 3600"
        except Exception as e:  # noqa: BLE001 - any failure is an invalid grant
            with lock:
                stats["bad_jwt"] += 1
            return self.reply(400, {"error": "invalid_grant",
                                    "error_description": f"{type(e).__name__}: {e}"})
        with lock:
            stats["tokens"] += 1
            tok = f"fake-token-{stats['tokens']}"
            tokens[tok] = time.time() + LIFETIME
        self.reply(200, {"access_token": tok, "expires_in": LIFETIME, "token_type": "Bearer"})

    # ---- storage -------------------------------------------------------------------------
    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        parts = u.path.split("/")
        return u.path, parts, q

    def do_POST(self):
        path, parts, q = self.route()
        if path == "/token":
            return self.token()
        with lock:
            stats["requests"] += 1
        if not self.authorized():
            self.body()
            return
        if path == "/batch/storage/v1":
            return self.batch(self.body())
        # /upload/storage/v1/b/B/o
        if len(parts) != 7 or parts[1:4] != ["upload", "storage", "v1"] or parts[4] != "b":
            self.body()
            return self.error(404, "no such route")
        bucket, data = parts[5], self.body()
        kind = q.get("uploadType")
        if kind == "media":
            name = q.get("name")
            info = {"contentType": self.headers.get("Content-Type", "application/octet-stream"),
                    "contentEncoding": q.get("contentEncoding", "")}
        elif kind == "resumable":
            return self.resumable_start(bucket, data)
        elif kind == "multipart":
            ctype = self.headers.get("Content-Type", "")
            if "boundary=" not in ctype:
                return self.error(400, "multipart upload without boundary")
            boundary = ctype.split("boundary=", 1)[1].strip('"').encode()
            chunks = data.split(b"--" + boundary)
            if len(chunks) < 4 or not chunks[-1].startswith(b"--"):
                return self.error(400, "malformed multipart body")
            parts_ = []
            for c in chunks[1:-1]:
                head, _, payload = c.partition(b"\r\n\r\n")
                assert payload.endswith(b"\r\n")
                parts_.append(payload[:-2])
            md = json.loads(parts_[0])
            name, data = md.get("name"), parts_[1]
            info = {"contentType": md.get("contentType", "application/octet-stream"),
                    "contentEncoding": md.get("contentEncoding", "")}
            if "md5Hash" in md:
                got = base64.b64encode(hashlib.md5(data).digest()).decode()
                if got != md["md5Hash"]:
                    return self.error(400, "Provided MD5 hash does not match the data")
        else:
            return self.error(400, f"uploadType {kind} not supported here")
        if not name:
            return self.error(400, "no object name")
        with lock:
            gen = objects.get((bucket, name), {}).get("generation", 0) + 1
            objects[(bucket, name)] = dict(info, data=data, generation=gen, hash=hashes_of(data),
                                           updated=time.time())
            stats["uploads"] += 1
            m = meta(bucket, name, objects[(bucket, name)])
        self.reply(200, m)

    def object_name(self, parts):
        # /storage/v1/b/B/o/NAME (NAME percent-encoded, '/' as %2F)
        if len(parts) < 7 or parts[1:3] != ["storage", "v1"] or parts[3] != "b" or parts[5] != "o":
            return None, None
        return parts[4], urllib.parse.unquote("/".join(parts[6:]))

    def do_GET(self):
        path, parts, q = self.route()
        if path == "/_stats":
            with lock:
                return self.reply(200, dict(stats))
        if path == "/_seed":
            with lock:
                for i in range(int(q["n"])):
                    name = q["prefix"] + str(i)
                    objects[(q["bucket"], name)] = dict(
                        data=name.encode(), contentType="text/plain", contentEncoding="",
                        generation=1, hash=hashes_of(name.encode()), updated=time.time())
            return self.reply(200, {})
        if path == "/_config":
            if "fail" in q:
                name, status, times = q.pop("fail").rsplit(":", 2)
                with lock:
                    fail[name] = [int(status), int(times)]
            config.update(q)
            return self.reply(200, config)
        with lock:
            stats["requests"] += 1
        if not self.authorized():
            return
        if len(parts) == 6 and parts[1:4] == ["storage", "v1", "b"] and parts[5] == "o":
            return self.list(parts[4], q)
        bucket, name = self.object_name(parts)
        if name is None:
            return self.error(404, "no such route")
        with lock:
            o = objects.get((bucket, name))
        if o is None:
            return self.error(404, f"No such object: {bucket}/{name}")
        if q.get("alt") != "media":
            return self.reply(200, meta(bucket, name, o))
        data, enc = o["data"], o["contentEncoding"]
        hdrs = [("x-goog-hash", o["hash"]),
                ("x-goog-stored-content-encoding", enc or "identity"),
                ("x-goog-generation", str(o["generation"]))]
        accepts = "gzip" in self.headers.get("Accept-Encoding", "") and config["transcode"] != "always"
        if enc == "gzip" and not accepts:
            # Decompressive transcoding: the stored hashes do not cover this body, and Range
            # is ignored.
            return self.reply(200, gzip.decompress(data), o["contentType"], hdrs)
        if enc:
            hdrs.append(("Content-Encoding", enc))
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            first = int(a)
            last = min(int(b), len(data) - 1) if b else len(data) - 1
            if first >= len(data):
                return self.reply(416, b"", o["contentType"],
                                  [("Content-Range", f"bytes */{len(data)}")])
            hdrs.append(("Content-Range", f"bytes {first}-{last}/{len(data)}"))
            return self.reply(206, data[first:last + 1], o["contentType"], hdrs)
        self.reply(200, data, o["contentType"], hdrs)

    def list(self, bucket, q):
        prefix, delim = q.get("prefix", ""), q.get("delimiter", "")
        page = int(config.get("page_size", PAGE))
        size = min(int(q.get("maxResults", page)), page)
        after = base64.urlsafe_b64decode(q["pageToken"]).decode() if q.get("pageToken") else None
        with lock:
            names = sorted(n for (b, n) in objects if b == bucket and n.startswith(prefix))
        items, prefixes, last = [], set(), None
        for n in names:
            if after is not None and n <= after:
                continue
            if len(items) + len(prefixes) >= size:
                break
            rest = n[len(prefix):]
            if delim and delim in rest:
                prefixes.add(prefix + rest.split(delim, 1)[0] + delim)
            else:
                with lock:
                    o = objects.get((bucket, n))
                if o is not None:
                    items.append(meta(bucket, n, o))
            last = n
        out = {"kind": "storage#objects"}
        if items:
            out["items"] = items
        if prefixes:
            out["prefixes"] = sorted(prefixes)
        if last is not None and names and last != names[-1]:
            out["nextPageToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        self.reply(200, out)

    def do_DELETE(self):
        _, parts, q = self.route()
        if "upload_id" in q:
            return self.resumable_cancel(q)
        with lock:
            stats["requests"] += 1
        if not self.authorized():
            return
        bucket, name = self.object_name(parts)
        with lock:
            stats["single_deletes"] += 1
            found = objects.pop((bucket, name), None) is not None
            stats["deletes"] += found
        if not found:
            return self.error(404, f"No such object: {bucket}/{name}")
        self.reply(204, b"", "text/plain")


    # ---- resumable uploads ----------------------------------------------------------------
    def resumable_count(self, what, n=1):
        with lock:
            stats[what] = stats.get(what, 0) + n
            stats["resumable_open"] = len(sessions)

    def resumable_start(self, bucket, data):
        md = json.loads(data or b"{}")
        name = md.get("name") or urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get(
            "name", [None])[0]
        if not name:
            return self.error(400, "no object name")
        sid = "%032x" % random.getrandbits(128)
        with lock:
            sessions[sid] = {"bucket": bucket, "name": name, "data": bytearray(), "chunks": 0,
                             "contentType": md.get("contentType") or self.headers.get(
                                 "X-Upload-Content-Type", "application/octet-stream"),
                             "contentEncoding": md.get("contentEncoding", "")}
        self.resumable_count("resumable_sessions")
        where = "http://%s/upload/storage/v1/b/%s/o?uploadType=resumable&upload_id=%s" % (
            self.headers.get("Host"), bucket, sid)
        self.reply(200, b"", "text/plain", [("Location", where)])

    def do_PUT(self):
        _, _, q = self.route()
        data = self.body()
        with lock:
            stats["requests"] += 1
        if not self.authorized():
            return
        with lock:
            sess = sessions.get(q.get("upload_id", ""))
        if sess is None:
            return self.error(404, "no such upload session")
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", self.headers.get("Content-Range", ""))
        if not m or int(m[2]) - int(m[1]) + 1 != len(data):
            return self.error(400, "Content-Range does not describe the body")
        first, total = int(m[1]), None if m[3] == "*" else int(m[3])
        if first != len(sess["data"]):
            return self.error(400, "chunk starts at %d, %d bytes are held" % (first, len(sess["data"])))
        if total is None and len(data) % (256 * 1024):
            return self.error(400, "a chunk other than the last must be a multiple of 256 KiB")
        if total is not None and first + len(data) != total:
            return self.error(400, "the last chunk does not end at the total size")
        if sess["chunks"] + 1 == int(config.get("fail_chunk", 0)):
            return self.error(500, "injected failure of chunk %d" % (sess["chunks"] + 1))
        with lock:
            sess["data"] += data
            sess["chunks"] += 1
            stats.setdefault("chunk_sizes", []).append(len(data))
        self.resumable_count("resumable_chunks")
        if total is None:
            return self.reply(308, b"", "text/plain", [("Range", "bytes=0-%d" % (first + len(data) - 1))])
        bucket, name, whole = sess["bucket"], sess["name"], bytes(sess["data"])
        with lock:
            sessions.pop(q["upload_id"], None)
            gen = objects.get((bucket, name), {}).get("generation", 0) + 1
            objects[(bucket, name)] = dict(contentType=sess["contentType"],
                                           contentEncoding=sess["contentEncoding"], data=whole,
                                           generation=gen, hash=hashes_of(whole),
                                           updated=time.time())
            stats["uploads"] += 1
            m = meta(bucket, name, objects[(bucket, name)])
        self.resumable_count("resumable_done")
        self.reply(200, m)

    def resumable_cancel(self, q):
        with lock:
            stats["requests"] += 1
        if not self.authorized():
            return
        with lock:
            found = sessions.pop(q["upload_id"], None) is not None
        if not found:
            return self.error(404, "no such upload session")
        self.resumable_count("resumable_cancelled")
        self.reply(499, {"error": {"code": 499, "message": "Client Closed Request"}})
    def batch(self, data):
        """The JSON API batch endpoint, parsed as GCS would: each part an application/http
        request; the answer's parts in the same order, Content-ID <response-ID>."""
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/mixed") or "boundary=" not in ctype:
            return self.error(400, "batch without multipart/mixed boundary")
        boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip('"').encode()
        chunks = data.split(b"--" + boundary)
        if len(chunks) < 3 or chunks[0] != b"" or not chunks[-1].startswith(b"--"):
            return self.error(400, "malformed batch body")
        answers = []
        for c in chunks[1:-1]:
            assert c.startswith(b"\r\n") and c.endswith(b"\r\n"), c
            head, _, http = c[2:-2].partition(b"\r\n\r\n")
            mime = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
            if mime.get(b"Content-Type") != b"application/http":
                return self.error(400, "a batch part is not application/http")
            line, _, rest = http.partition(b"\r\n")
            method, target, version = line.decode().split(" ")
            if version != "HTTP/1.1" or rest != b"\r\n":
                return self.error(400, f"bad sub-request {line!r}")
            parts = urllib.parse.urlsplit(target).path.split("/")
            bucket, name = self.object_name(parts)
            if method != "DELETE" or name is None:
                return self.error(400, f"sub-request {method} {target} not supported here")
            answers.append((mime.get(b"Content-ID", b"").decode(), bucket, name))
        if len(answers) > BATCH_MAX:
            return self.error(400, f"Too many requests in the batch ({len(answers)})")
        with lock:
            stats["batches"] += 1
            stats["batch_sizes"].append(len(answers))
            mode = config.pop("batch_answer", "")
        out = []
        for cid, bucket, name in answers:
            with lock:
                f = fail.get(name)
                if f and f[1] > 0:
                    f[1] -= 1
                    code = f[0]
                elif mode:
                    code = 204  # the answer is broken: nothing was done
                else:
                    found = objects.pop((bucket, name), None) is not None
                    stats["deletes"] += found
                    code = 204 if found else 404
            body = b"" if code == 204 else json.dumps(
                {"error": {"code": code, "message": f"fake {code} for {name}"}}).encode()
            rid = "<response-%s>" % cid.strip("<>") if cid else ""
            out.append(b"Content-Type: application/http\r\n" +
                       (b"Content-ID: %s\r\n" % rid.encode() if rid else b"") +
                       b"\r\nHTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % (code, len(body)) + body)
        sep = b"batch_fake_b0undary"
        text = b"".join(b"--" + sep + b"\r\n" + o + b"\r\n" for o in out) + b"--" + sep + b"--\r\n"
        kind = "multipart/mixed; boundary=" + sep.decode()
        if mode == "truncated":
            text = text[:len(text) // 2]
        elif mode == "noboundary":
            kind = "multipart/mixed"
        elif mode == "huge":
            text = b"--" + sep + b"\r\n" + b"x" * (64 << 20)
        self.reply(200, text, kind)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


Server(("127.0.0.1", PORT), H).serve_forever()
