#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# fault_proxy.py: a reverse proxy for the cvmpi cloud tests that misbehaves at random (seeded)
# the ways real object stores and networks do, to test the one retry loop of src/io/http.c.
#
#   fault_proxy.py LISTEN_PORT UPSTREAM_URL SEED RATE [--always CODE] [--max-run N]
#
# Each request is passed on unchanged (Host header included, so SigV4 signatures still match)
# and, with probability RATE, one fault is injected instead of the normal answer, chosen
# evenly among: 503 SlowDown (before forwarding), 429 (before forwarding), a connection reset
# (after forwarding: the request took effect but its answer is lost), a body cut short of its
# Content-Length, and a body with one byte flipped (same length; only digests can tell).
# --max-run N: at most N faults in a row for one method+path (default 3), so a client with
# enough retries always gets through and the test does not depend on thread timing.
# --always CODE: answer every request with that status (retry exhaustion tests).
# --hostile MODE --match TEXT: every GET whose path contains TEXT gets, instead of its answer,
#   endless: 200 with no Content-Length and a body that never ends (closed by the client);
#   huge: 200 with Content-Length 1 GiB, then that body at full speed;
#   hang: 200 headers with a Content-Length, then nothing (the client must time out).
# GET /_faults returns counts per fault kind as JSON.
import http.client
import json
import random
import socket
import struct
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
PORT, UPSTREAM = int(args[0]), urllib.parse.urlsplit(args[1])
SEED, RATE = int(args[2]), float(args[3])
ALWAYS = int(args[args.index("--always") + 1]) if "--always" in args else None
MAX_RUN = int(args[args.index("--max-run") + 1]) if "--max-run" in args else 3
HOSTILE = args[args.index("--hostile") + 1] if "--hostile" in args else None
MATCH = args[args.index("--match") + 1] if "--match" in args else ""
KINDS = ["503", "429", "reset", "truncate", "corrupt"]
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "content-length", "date", "server"}

rng = random.Random(SEED)
lock = threading.Lock()
runs = {}
counts = {k: 0 for k in KINDS + ["passed"]}


def pick_fault(key, has_body):
    with lock:
        if runs.get(key, 0) >= MAX_RUN or rng.random() >= RATE:
            runs[key] = 0
            counts["passed"] += 1
            return None
        kinds = KINDS if has_body else KINDS[:3]
        kind = kinds[rng.randrange(len(kinds))]
        runs[key] = runs.get(key, 0) + 1
        counts[kind] += 1
        return kind


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def status_only(self, code, text):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
                '<Message>injected</Message></Error>' % text).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset(self):
        # SO_LINGER with a zero timeout makes close() send a TCP RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def hostile(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if HOSTILE == "endless":
            self.close_connection = True  # the body ends only when the connection does
        else:
            self.send_header("Content-Length", str(1 << 30 if HOSTILE == "huge" else 4096))
        self.end_headers()
        try:
            if HOSTILE == "hang":
                threading.Event().wait(3600)
            block = b"\x5a" * (1 << 16)
            for _ in range((1 << 30) // len(block) if HOSTILE == "huge" else 1 << 40):
                self.wfile.write(block)
        except OSError:
            pass  # the client gave up, as it should

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/_faults":
            with lock:
                data = json.dumps(counts).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if HOSTILE and self.command == "GET" and MATCH in self.path:
            with lock:
                counts["hostile"] = counts.get("hostile", 0) + 1
            return self.hostile()
        if ALWAYS is not None:
            return self.status_only(ALWAYS, "SlowDown" if ALWAYS == 503 else "Injected")
        fault = pick_fault(self.command + " " + self.path, self.command == "GET")
        if fault == "503":
            return self.status_only(503, "SlowDown")
        if fault == "429":
            return self.status_only(429, "TooManyRequests")
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body if body else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        conn.close()
        if fault == "reset":
            return self.reset()
        if fault == "corrupt" and r.status == 200 and data:
            i = len(data) // 2
            data = data[:i] + bytes([data[i] ^ 0x55]) + data[i + 1:]
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        length = len(data) if self.command != "HEAD" else int(r.getheader("Content-Length", 0))
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault == "truncate" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            return self.reset()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


Server(("127.0.0.1", PORT), Proxy).serve_forever()
