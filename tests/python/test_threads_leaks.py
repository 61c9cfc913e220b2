#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Threads and memory: several Python threads reading one volume at once get exact data; the
GIL is released while C reads (another thread keeps running); 10,000 reads and failing reads
leave the resident set size and the handles' reference counts where they were."""
import gc
import sys
import threading
import time
import unittest

import numpy as np

from testlib import TempDirTest, cvmpi, make_layer


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Threads(TempDirTest):
    def setUp(self):
        super().setUp()
        self.layer = self.path("l")
        self.full = make_layer(self.layer, dtype="uint16", size=(128, 128, 32),
                               offset=(0, 0, 0), chunk=(32, 32, 16), gzip=True, seed=4)
        self.vol = cvmpi.CloudVolume(self.layer)

    def test_concurrent_reads(self):
        errors, rng = [], np.random.default_rng(1)
        boxes = [tuple(int(v) for v in rng.integers(0, 64, 3)) for _ in range(32)]

        def worker(k):
            try:
                for j in range(8):
                    x, y, z = boxes[(k * 8 + j) % len(boxes)]
                    z = z % 16
                    got = self.vol[x:x + 64, y:y + 64, z:z + 16]
                    if not np.array_equal(got, self.full[x:x + 64, y:y + 64, z:z + 16]):
                        errors.append((k, j))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_gil_released_during_reads(self):
        # a counting thread advances while the main thread is inside C reads
        vol = cvmpi.CloudVolume(self.layer, parallel=1)
        count, stop = [0], threading.Event()

        def spin():
            while not stop.is_set():
                count[0] += 1

        old = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        t = threading.Thread(target=spin)
        t.start()
        try:
            deadline = time.monotonic() + 2
            inside = 0
            while time.monotonic() < deadline and inside < 20:
                before = count[0]
                vol[:, :, :]  # ~2 MB of gzip chunks decoded in C
                if count[0] > before:
                    inside += 1
        finally:
            stop.set()
            t.join()
            sys.setswitchinterval(old)
        self.assertGreater(inside, 0)


class Leaks(TempDirTest):
    def test_ten_thousand_reads(self):
        layer = self.path("l")
        make_layer(layer, dtype="uint8", size=(64, 64, 16), offset=(0, 0, 0),
                   chunk=(32, 32, 16), seed=8)
        vol = cvmpi.CloudVolume(layer)
        refs = sys.getrefcount(vol)

        def reads(n):
            for i in range(n):
                img = vol[i % 32:i % 32 + 16, 0:16, 0:8]
                assert img.shape == (16, 16, 8, 1)
                try:
                    vol[60:70, 0:1, 0:1]
                except cvmpi.OutOfBoundsError:
                    pass

        reads(1000)  # warm up: allocator pools, numpy caches
        gc.collect()
        before = rss_kib()
        reads(10000)
        gc.collect()
        grown = rss_kib() - before
        self.assertLess(grown, 2048, "RSS grew by %d KiB over 10,000 reads" % grown)
        self.assertEqual(sys.getrefcount(vol), refs)

    def test_open_close(self):
        layer = self.path("l")
        make_layer(layer, dtype="uint8", size=(32, 32, 16), offset=(0, 0, 0),
                   chunk=(32, 32, 16), seed=8)
        for _ in range(300):
            cvmpi.CloudVolume(layer)[0:4, 0:4, 0:4]
        gc.collect()
        before = rss_kib()
        for _ in range(2000):
            with cvmpi.CloudVolume(layer) as v:
                v[0:4, 0:4, 0:4]
        gc.collect()
        grown = rss_kib() - before
        self.assertLess(grown, 2048, "RSS grew by %d KiB over 2,000 opens" % grown)


if __name__ == "__main__":
    unittest.main(verbosity=2)
