#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""CloudVolume(secrets=...): a gs:// layer on tests/cloud/fake_gcs.py, which answers only
requests carrying a token granted for its service-account key, is written and read back with
the key given as a dict (and as JSON text), no secret file anywhere; without secrets the open
is anonymous, which the server refuses (StorageError, the library's message). The server
listens on 127.0.0.1 and is stopped by its PID."""
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import unittest
import urllib.request

import numpy as np

from testlib import HERE, TempDirTest, cvmpi

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
except ImportError:
    rsa = None

FAKE_GCS = os.path.normpath(os.path.join(HERE, "..", "cloud", "fake_gcs.py"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipIf(rsa is None, "Debian python3-cryptography is needed")
@unittest.skipUnless(" gs " in cvmpi.library_version, "this libcvmpi has no gs:// storage")
class Secrets(TempDirTest):
    def setUp(self):
        super().setUp()
        port = free_port()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        self.sa = {"type": "service_account", "project_id": "cvmpi-test",
                   "private_key_id": "k1", "private_key": pem,
                   "client_email": "tester@cvmpi-test.iam.gserviceaccount.com",
                   "client_id": "1", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                   "token_uri": "http://127.0.0.1:%d/token" % port}
        with open(self.path("sa.json"), "w") as f:
            json.dump(self.sa, f)
        self.log = open(self.path("gcs.log"), "w")
        self.server = subprocess.Popen([sys.executable, FAKE_GCS, str(port),
                                        self.path("sa.json"), "--require-auth"],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.port = port
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.fail("fake_gcs.py did not start")
        # no secret file: the credentials come from `secrets` only
        self.env = dict(os.environ, CV_GCS_ENDPOINT="http://127.0.0.1:%d" % port,
                        HOME=self.path("home"))
        for k in ("GOOGLE_APPLICATION_CREDENTIALS", "AWS_ACCESS_KEY_ID",
                  "AWS_SECRET_ACCESS_KEY"):
            self.env.pop(k, None)

    def tearDown(self):
        self.server.terminate()
        self.server.wait(timeout=30)
        self.log.close()
        super().tearDown()

    def run_py(self, code):
        """Run code in a fresh interpreter (secrets apply to a whole process) with cvmpi
        imported and the key loaded as `sa`: (exit status, stdout, stderr)."""
        prelude = ("import json, sys\nimport numpy as np\nsys.path.insert(0, %r)\n"
                   "from testlib import cvmpi\nsa = json.load(open('sa.json'))\n" % HERE)
        p = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=self.env,
                           cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    def test_secrets_dict_and_text(self):
        got = self.run_py("""
            info = cvmpi.CloudVolume.create_new_info(1, "image", "uint16", "raw", [4, 4, 40],
                                                     [0, 0, 0], [40, 30, 20],
                                                     chunk_size=[16, 16, 8])
            vol = cvmpi.CloudVolume("gs://bucket/layer", info=info, secrets=sa)
            vol.commit_info()
            a = (np.arange(40 * 30 * 20, dtype=np.uint32) % 65521).astype(np.uint16)
            vol[:, :, :] = a.reshape(40, 30, 20, order="F")
            print(int(vol[:, :, :].astype(np.uint64).sum()))
            """)
        want_sum = int((np.arange(40 * 30 * 20, dtype=np.uint64) % 65521).sum())
        self.assertEqual(got, (0, "%d\n" % want_sum, ""))
        got = self.run_py("""
            vol = cvmpi.CloudVolume("gs://bucket/layer", secrets=json.dumps(sa))
            print(vol.shape.tolist(), int(vol[39, 29, 19][0, 0, 0, 0]))
            """)
        self.assertEqual(got, (0, "[40, 30, 20, 1] %d\n" % ((40 * 30 * 20 - 1) % 65521), ""))
        with urllib.request.urlopen("http://127.0.0.1:%d/_stats" % self.port) as r:
            stats = json.load(r)
        self.assertEqual(stats["unauthorized"], 0)
        self.assertGreaterEqual(stats["tokens"], 2)
        rc, out, err = self.run_py("""
            try:
                cvmpi.CloudVolume("gs://bucket/layer")
            except cvmpi.Error as e:
                print(type(e).__name__, e)
            """)
        self.assertEqual((rc, out, err), (0, "StorageError GET `gs://bucket/layer/info': "
                                             "HTTP 401 Unauthorized (Anonymous caller)\n", ""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
