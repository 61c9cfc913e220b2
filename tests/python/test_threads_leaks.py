#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Threads and memory: several Python threads reading one volume at once get exact data; the
GIL is released during C calls (a Python thread serving the layer over HTTP answers them);
10,000 reads and failing reads leave the resident set size and the handles' reference counts
where they were."""
import ctypes
import gc
import subprocess
import sys
import textwrap
import threading
import unittest

import numpy as np

from testlib import HERE, TempDirTest, cvmpi, make_layer


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
        # The layer is served over HTTP by a Python thread of this process: the C library's
        # open and read wait for that thread, which can only answer if the GIL is released
        # during the C calls (else they never return: a subprocess with a timeout).
        code = textwrap.dedent("""
            import functools, os, sys, threading
            from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
            import numpy as np
            sys.path.insert(0, %r)
            from testlib import cvmpi
            class Quiet(SimpleHTTPRequestHandler):
                def log_message(self, *args):
                    pass
            root = %r
            srv = ThreadingHTTPServer(("127.0.0.1", 0),
                                      functools.partial(Quiet, directory=root))
            threading.Thread(target=srv.serve_forever, daemon=True).start()
            vol = cvmpi.CloudVolume("http://127.0.0.1:%%d/l" %% srv.server_address[1])
            want = cvmpi.CloudVolume(os.path.join(root, "l"))[:, :, :]
            ok = np.array_equal(vol[:, :, :], want)
            srv.shutdown()
            print("same" if ok else "differs")
            """) % (HERE, self.dir)
        layer = cvmpi.CloudVolume(self.path("l"), compress=False)  # http does not probe .gz
        layer[:, :, :] = self.full
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "same\n", ""))
        # and the functions are called through a CDLL, which releases the GIL (not a PyDLL)
        from cvmpi import _lib
        self.assertEqual(_lib.lib._func_flags_ & ctypes._FUNCFLAG_PYTHONAPI, 0)


class OneBuffer(TempDirTest):
    def test_read_fills_one_python_buffer(self):
        # A 64 MiB read raises the peak resident size by the array, not twice it: the library
        # decodes into the array NumPy allocated (measured in a fresh process).
        layer = self.path("big")
        vol = cvmpi.CloudVolume(layer, compress=False, info=cvmpi.CloudVolume.create_new_info(
            1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [512, 512, 256],
            chunk_size=[128, 128, 64]))
        vol.commit_info()
        vol[:, :, :] = np.arange(512 * 512 * 256, dtype=np.uint32).astype(np.uint8).reshape(
            (512, 512, 256), order="F")
        code = textwrap.dedent("""
            import sys
            import numpy as np
            sys.path.insert(0, %r)
            from testlib import cvmpi
            def hwm():
                with open("/proc/self/status") as f:
                    return [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0] * 1024
            vol = cvmpi.CloudVolume(%r, parallel=1)
            vol[0:128, 0:128, 0:64]
            before = hwm()
            img = vol[:, :, :]
            grown = hwm() - before
            ok = img.flags.owndata and img.flags.f_contiguous and img.base is None
            same = bool(img[300, 7, 200, 0] == (300 + 512 * 7 + 512 * 512 * 200) %% 256)
            print(ok, same, round(grown / img.nbytes, 2))
            """) % (HERE, layer)
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        self.assertEqual(p.stderr, "")
        ok, same, ratio = p.stdout.split()
        self.assertEqual((ok, same), ("True", "True"))
        self.assertLess(float(ratio), 1.25, "peak RSS grew by %s x the array" % ratio)


class Leaks(TempDirTest):
    def test_ten_thousand_reads(self):
        layer = self.path("l")
        full = make_layer(layer, dtype="uint8", size=(64, 64, 16), offset=(0, 0, 0),
                          chunk=(32, 32, 16), seed=8)
        vol = cvmpi.CloudVolume(layer)
        refs = sys.getrefcount(vol)

        def reads(n):
            for i in range(n):
                img = vol[i % 32:i % 32 + 16, 0:16, 0:8]
                assert np.array_equal(img, full[i % 32:i % 32 + 16, 0:16, 0:8]), i
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
