#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""graphene_server.py PORT INFO_JSON TOKEN LOG: a tiny ChunkedGraph (PyChunkedGraph) server for
tests/cloud/graphene.sh, the routes CloudVolume uses (graphene-boss-zfpc spec section 4):

  GET  /segmentation/table/ds/info                         INFO_JSON as given
  POST /segmentation/api/v1/table/ds/roots_binary[?stop_layer=L][&timestamp=T]
                                                           uint64 ids -> uint64 roots
  GET  /segmentation/api/v1/table/ds/node/ROOT/leaves?bounds=B   {"leaf_ids": [...]}
  GET  /segmentation/api/v1/table/ds/l2_chunk_children_binary/CHUNK?as_array=True[&timestamp=T]
                                                           uint64 (l2, supervoxel) pairs
  GET  /meshing/api/v1/table/ds/manifest/ID:0?verify=True[&return_seg_ids=1]  MANIFESTS[ID]
  the same under /segmentation/1.0/ds and /meshing/1.0/ds (legacy API)

Every request must carry "Authorization: Bearer TOKEN" (else 401 with PCG's JSON error body).
Each request is appended to LOG as one JSON line (method, path, query, the headers the tests
check, body as hex). The graph (layer = the top 8 bits): supervoxels SV[1..4] have the L2
parents L2A (SV1, SV2), L2B (SV3) and L2C (SV4), whose L3 parents are L3A (L2A) and L3B (L2B,
L2C), under the roots A (L3A) and B (L3B) now; at timestamps up to 1700000000 (without
stop_layer) SV2 still belonged to B. roots_binary with stop_layer=L answers the lowest parent
at or above layer L. Unknown ids map to 0. The chunk of L2A..L2C (2 << 56) has those pairs;
any other chunk answers 24 bytes (not whole pairs). A file
manifests.json beside INFO_JSON (if present) gives the manifests: {"ID": {...}}. Requests to
/fail/404 and ids 404/500 answer with those statuses."""
import gzip
import json
import os
import struct
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SV = [0, 72057594037927937, 72057594037927938, 72057594037927939, 72057594037927940]
A, B = 288230376151711751, 288230376151711753
BEFORE = {SV[1]: A, SV[2]: B, SV[3]: B, SV[4]: B}
LEAVES = {A: [SV[1], SV[2]], B: [SV[3], SV[4]]}
EARLY = 1700000000
L2A, L2B, L2C = (2 << 56) | 1, (2 << 56) | 2, (2 << 56) | 3
L3A, L3B = (3 << 56) | 1, (3 << 56) | 2
PARENT = {SV[1]: L2A, SV[2]: L2A, SV[3]: L2B, SV[4]: L2C, L2A: L3A, L2B: L3B, L2C: L3B,
          L3A: A, L3B: B}
L2_CHUNK = 2 << 56
L2_CHILDREN = [L2A, SV[1], L2A, SV[2], L2B, SV[3], L2C, SV[4]]


def parent_at(node, stop):
    """The lowest ancestor of node at or above layer stop, or 0 for an unknown node."""
    while node >> 56 < stop:
        if node not in PARENT:
            return 0
        node = PARENT[node]
    return node


PORT, INFO, TOKEN, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
MANIFESTS = os.path.join(os.path.dirname(INFO), "manifests.json")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message):
        self.reply(status, {"timestamp": 0, "duration": 0, "code": status, "message": message})

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        entry = {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "content_type": self.headers.get("Content-Type"),
            "content_encoding": self.headers.get("Content-Encoding"),
            "accept_encoding": self.headers.get("Accept-Encoding"),
            "auth_ok": self.headers.get("Authorization") == "Bearer " + TOKEN,
            "body": body.hex() if len(body) <= 4096 else "%d bytes" % len(body),
        }
        with open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")
        if not entry["auth_ok"]:
            return self.error(401, "Unauthorized: bad or missing token")
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        parts = url.path.strip("/").split("/")
        if url.path == "/segmentation/table/ds/info":
            with open(INFO, "rb") as f:
                return self.reply(200, f.read())
        api = parts[:5] == ["segmentation", "api", "v1", "table", "ds"]
        legacy = parts[:3] == ["segmentation", "1.0", "ds"]
        rest = parts[5:] if api else parts[3:] if legacy else []
        if api and rest == ["roots_binary"] and self.command == "POST":
            if len(body) % 8:
                return self.error(400, "body is not uint64s")
            ts = int(query["timestamp"][0]) if "timestamp" in query else None
            early = ts is not None and ts <= EARLY
            ids = struct.unpack("<%dQ" % (len(body) // 8), body)
            if any(i == 500 for i in ids):
                return self.error(500, "internal error")
            if "stop_layer" in query:
                stop = int(query["stop_layer"][0])
                roots = [parent_at(i, stop) for i in ids]
            else:
                roots = [BEFORE.get(i, 0) if early else parent_at(i, 4) for i in ids]
            out = struct.pack("<%dQ" % len(ids), *roots)
            if os.environ.get("GRAPHENE_SHORT_ROOTS"):
                out = out[:-8]
            return self.reply(200, out, "application/octet-stream")
        if legacy and len(rest) == 3 and rest[0] == "graph" and rest[2] == "root":
            args = json.loads(body or b"{}")
            ts = args.get("timestamp")
            node = int(rest[1])
            root = BEFORE.get(node, 0) if ts is not None and ts <= EARLY else parent_at(node, 4)
            return self.reply(200, struct.pack("<Q", root),
                              "application/octet-stream")
        if api and len(rest) == 2 and rest[0] == "l2_chunk_children_binary":
            pairs = L2_CHILDREN if int(rest[1]) == L2_CHUNK else [1, 2, 3]
            return self.reply(200, struct.pack("<%dQ" % len(pairs), *pairs),
                              "application/octet-stream")
        if api and len(rest) == 3 and rest[0] == "node" and rest[2] == "leaves":
            return self.reply(200, {"leaf_ids": LEAVES.get(int(rest[1]), [])})
        if legacy and len(rest) == 3 and rest[0] == "segment" and rest[2] == "leaves":
            ids = LEAVES.get(int(rest[1]), [])
            return self.reply(200, struct.pack("<%dQ" % len(ids), *ids),
                              "application/octet-stream")
        mesh_api = parts[:5] == ["meshing", "api", "v1", "table", "ds"]
        mesh_legacy = parts[:3] == ["meshing", "1.0", "ds"]
        mrest = parts[5:] if mesh_api else parts[3:] if mesh_legacy else []
        if len(mrest) == 2 and mrest[0] == "manifest" and mrest[1].endswith(":0"):
            segid = mrest[1][:-2]
            manifests = {}
            if os.path.exists(MANIFESTS):
                with open(MANIFESTS) as f:
                    manifests = json.load(f)
            if segid not in manifests:
                return self.error(404, "no mesh for %s" % segid)
            return self.reply(200, manifests[segid])
        return self.error(404, "no route %s" % url.path)

    do_GET = handle_any
    do_POST = handle_any


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
