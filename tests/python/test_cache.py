#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""CloudVolume(cache=...) and CloudVolume(lru_bytes=...) against tests/cloud/counting_http.py,
which counts the GET requests it answers: with cache=PATH a second volume reading the same box
makes no request and the cache holds CloudVolume's layout (PATH/http/HOST:PORT/LAYER/...); with
cache=True the base is CLOUD_VOLUME_CACHE_DIR; with lru_bytes a second read through the same
volume makes no request, and a write through it is read back (the LRU forgets what it wrote
over). The server listens on 127.0.0.1 and is stopped by its PID."""
import os
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

import numpy as np

from testlib import HERE, TempDirTest, cvmpi

SERVER = os.path.normpath(os.path.join(HERE, "..", "cloud", "counting_http.py"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(" http " in cvmpi.library_version, "this libcvmpi has no http:// storage")
class Cache(TempDirTest):
    def setUp(self):
        super().setUp()
        self.data = (np.arange(64 * 64 * 16, dtype=np.uint16) * 3).reshape(64, 64, 16, 1)
        info = cvmpi.CloudVolume.create_new_info(
            num_channels=1, layer_type="image", data_type="uint16", encoding="raw",
            resolution=[4, 4, 40], voxel_offset=[0, 0, 0], chunk_size=[32, 32, 16],
            volume_size=[64, 64, 16])
        v = cvmpi.CloudVolume("file://" + self.path("L"), info=info)
        v.commit_info()
        v[:, :, :] = self.data
        v.close()
        self.port = free_port()
        self.log = open(self.path("server.log"), "w")
        self.server = subprocess.Popen([sys.executable, SERVER, self.dir, str(self.port)],
                                       stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            self.fail("counting_http.py did not start")
        self.url = "http://127.0.0.1:%d/L" % self.port
        self.requests()  # reset

    def tearDown(self):
        self.server.terminate()
        self.server.wait(timeout=30)
        self.log.close()
        super().tearDown()

    def requests(self):
        """GETs answered since the last call."""
        base = "http://127.0.0.1:%d/" % self.port
        n = int(urllib.request.urlopen(base + "__count").read())
        urllib.request.urlopen(base + "__reset").read()
        return n

    def test_cache_path(self):
        cache = self.path("cache")
        v = cvmpi.CloudVolume(self.url, cache=cache, cache_info_age=3600)
        np.testing.assert_array_equal(v[0:64, 0:64, 0:16], self.data)
        v.close()
        self.assertEqual(self.requests(), 5)
        v = cvmpi.CloudVolume(self.url, cache=cache, cache_info_age=3600)
        np.testing.assert_array_equal(v[10:50, 5:40, 2:9], self.data[10:50, 5:40, 2:9])
        v.close()
        self.assertEqual(self.requests(), 0)
        d = os.path.join(cache, "http", "127.0.0.1:%d" % self.port, "L")
        with open(os.path.join(self.dir, "L", "4_4_40", "0-32_0-32_0-16.gz"), "rb") as f:
            want = f.read()
        with open(os.path.join(d, "4_4_40", "0-32_0-32_0-16.gz"), "rb") as f:
            self.assertEqual(f.read(), want)

    def test_cache_true_uses_cloud_volume_cache_dir(self):
        code = ("import cvmpi; v = cvmpi.CloudVolume(%r, cache=True); v[0:32, 0:32, 0:16]"
                % self.url)
        env = dict(os.environ, CLOUD_VOLUME_CACHE_DIR=self.path("cvdir"),
                   PYTHONPATH=os.path.normpath(os.path.join(HERE, "..", "..", "python")))
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        self.assertEqual(self.requests(), 2)
        self.assertTrue(os.path.isfile(self.path(
            "cvdir", "http", "127.0.0.1:%d" % self.port, "L", "4_4_40", "0-32_0-32_0-16.gz")))

    def test_lru_bytes(self):
        v = cvmpi.CloudVolume(self.url, lru_bytes=1 << 20)
        np.testing.assert_array_equal(v[0:40, 0:40, 0:16], self.data[0:40, 0:40, 0:16])
        self.assertEqual(self.requests(), 5)
        np.testing.assert_array_equal(v[20:64, 20:64, 0:16], self.data[20:64, 20:64, 0:16])
        self.assertEqual(self.requests(), 0)
        v.close()
        # writes through a volume drop what its LRU kept
        w = cvmpi.CloudVolume("file://" + self.path("L"), lru_bytes=1 << 20)
        self.assertEqual(int(w[0, 0, 0][0, 0, 0, 0]), 0)
        w[0:32, 0:32, 0:16] = np.full((32, 32, 16, 1), 7, np.uint16)
        self.assertEqual(int(w[0, 0, 0][0, 0, 0, 0]), 7)
        w.close()

    def test_bad_arguments(self):
        for kwargs, message in (
                ({"cache": 3}, "cache must be True, False or a directory, got 3"),
                ({"cache_max_age": 5}, "cache_max_age, cache_info_age and cache_bytes need "
                                       "cache=True or a cache directory"),
                ({"cache": True, "cache_bytes": -1},
                 "cache_bytes must be a byte count >= 0, got -1"),
                ({"lru_bytes": 1.5}, "lru_bytes must be a byte count >= 0, got 1.5")):
            with self.assertRaisesMessage(cvmpi.exceptions.ArgumentError, message):
                cvmpi.CloudVolume(self.url, **kwargs)
        self.assertEqual(self.requests(), 0)


if __name__ == "__main__":
    unittest.main()
