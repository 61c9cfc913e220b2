#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""A tiny BossDB REST API on 127.0.0.1 for tests/cloud/boss.sh, as the intern client speaks
it: collection c, experiment e (coordinate frame cf: x 0..70, y 0..40, z 0..20, 4x4x40 nm,
two hierarchy levels, anisotropic) and channel ch (uint16 image). Requests must carry
"Authorization: Token <TOKEN>" (401 otherwise); cutouts must say "Accept: application/blosc"
(406 otherwise) and are answered with the C-order (z,y,x) array as a blosc frame: made by
python3-blosc, or by hand as a "memcpyed" frame (the raw bytes behind a 16-byte header) when
the z range starts at 16. Channel "missing" is a 404. Every request is logged as one line
"METHOD PATH auth=ok|bad accept=..." to the log file.

usage: fake_boss.py PORT TOKEN LOG VOLUME.npy
VOLUME.npy: the mip 0 voxels, shape (z, y, x), uint16. Mip 1 is its 2x2x1 stride-2 sample.
"""
import http.server
import json
import re
import struct
import sys

import blosc
import numpy as np

PORT, TOKEN, LOG, VOLUME = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
MIP0 = np.load(VOLUME)
MIPS = [MIP0, MIP0[:, ::2, ::2].copy()]

EXPERIMENT = {"name": "e", "description": "", "creator": "", "coord_frame": "cf",
              "num_hierarchy_levels": 2, "hierarchy_method": "anisotropic",
              "num_time_samples": 1, "time_step": 0, "time_step_unit": "seconds"}
FRAME = {"name": "cf", "description": "", "x_start": 0, "x_stop": 70, "y_start": 0,
         "y_stop": 40, "z_start": 0, "z_stop": 20, "x_voxel_size": 4, "y_voxel_size": 4,
         "z_voxel_size": 40, "voxel_unit": "nanometers"}
CHANNEL = {"name": "ch", "description": "", "creator": "", "datatype": "uint16",
           "type": "image", "base_resolution": 0, "default_time_sample": 0, "sources": [],
           "related": [], "downsample_status": "NOT_DOWNSAMPLED"}
CUTOUT = re.compile(r"^/v1/cutout/c/e/ch/(\d+)/(\d+):(\d+)/(\d+):(\d+)/(\d+):(\d+)/"
                    r"\?access-mode=no-cache$")


def memcpyed_frame(raw, typesize):
    """c-blosc 1's header (version 2, format 1, flags 0x02 = memcpyed) then the bytes."""
    n = len(raw)
    return struct.pack("<BBBBIII", 2, 1, 0x02, typesize, n, n, 16 + n) + raw


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        auth_ok = self.headers.get("Authorization") == "Token " + TOKEN
        accept = self.headers.get("Accept", "")
        with open(LOG, "a") as f:
            f.write(f"GET {self.path} auth={'ok' if auth_ok else 'bad'} accept={accept}\n")
        if not auth_ok:
            return self.reply(401, b'{"detail":"Invalid token."}')
        meta = {"/v1/collection/c/experiment/e": EXPERIMENT, "/v1/coord/cf": FRAME,
                "/v1/collection/c/experiment/e/channel/ch": CHANNEL}
        if self.path in meta:
            return self.reply(200, json.dumps(meta[self.path]).encode())
        m = CUTOUT.match(self.path)
        if not m:
            return self.reply(404, b'{"detail":"Not found."}')
        if accept != "application/blosc":
            return self.reply(406)
        res, x0, x1, y0, y1, z0, z1 = map(int, m.groups())
        vol = MIPS[res]
        if not (0 <= x0 < x1 <= vol.shape[2] and 0 <= y0 < y1 <= vol.shape[1]
                and 0 <= z0 < z1 <= vol.shape[0]):
            return self.reply(400, b'{"detail":"Bad cutout."}')
        raw = np.ascontiguousarray(vol[z0:z1, y0:y1, x0:x1]).tobytes()
        if z0 == 16:
            frame = memcpyed_frame(raw, 2)
        else:
            frame = blosc.compress(raw, typesize=2)
        self.reply(200, frame, "application/blosc")


http.server.HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
