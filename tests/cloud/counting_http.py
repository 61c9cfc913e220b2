# SPDX-License-Identifier: BSD-3-Clause
"""A read-only HTTP server over a directory that counts the GET requests it answers, for the
disk cache tests (tests/cloud/cache.sh, tests/hostile/cache_*.sh, tests/python/test_cache.py).

    python3 counting_http.py ROOT PORT

GET /PATH answers ROOT/PATH, or ROOT/PATH.gz with Content-Encoding: gzip (as a bucket holding
CloudVolume's uploads would); 404 otherwise. GET /__count answers the number of other GETs so
far and GET /__reset sets it to 0; neither is counted. Binds 127.0.0.1 only.
"""
import http.server
import os
import sys
import threading

ROOT = os.path.realpath(sys.argv[1])
COUNT = [0]
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, encoding=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/__count":
            with LOCK:
                self.answer(200, str(COUNT[0]).encode())
            return
        if path == "/__reset":
            with LOCK:
                COUNT[0] = 0
            self.answer(200, b"0")
            return
        with LOCK:
            COUNT[0] += 1
        full = os.path.realpath(os.path.join(ROOT, path.lstrip("/")))
        if not full.startswith(ROOT + os.sep):
            self.answer(404, b"")
            return
        for name, encoding in ((full, None), (full + ".gz", "gzip")):
            if os.path.isfile(name):
                with open(name, "rb") as f:
                    self.answer(200, f.read(), encoding)
                return
        self.answer(404, b"")


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
server.daemon_threads = True
server.serve_forever()
