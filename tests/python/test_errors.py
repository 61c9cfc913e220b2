#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every exception class: raised where CloudVolume raises its namesake, a subclass of
cvmpi.Error (and of CloudVolume's built-in base), carrying the C library's message."""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import unittest

import numpy as np

from testlib import HERE, TempDirTest, cvmpi, make_layer


class Errors(TempDirTest):
    def setUp(self):
        super().setUp()
        self.layer = self.path("l")
        make_layer(self.layer, dtype="uint8", size=(64, 64, 16), offset=(0, 0, 0),
                   chunk=(32, 32, 16))
        self.vol = cvmpi.CloudVolume(self.layer)

    def raises(self, cls, bases, message, fn, *args, code=None, **kw):
        """fn(*args, **kw) raises exactly cls with exactly this message (a str), or one
        matching it (a compiled pattern)."""
        with self.assertRaises(cvmpi.Error) as cm:
            fn(*args, **kw)
        e = cm.exception
        self.assertIs(type(e), cls)
        for b in bases:
            self.assertIsInstance(e, b)
        if isinstance(message, str):
            self.assertEqual(str(e), message)
        else:
            self.assertRegex(str(e), message)
        self.assertEqual(str(e), e.message)
        if code is not None:
            self.assertEqual(e.code, code)
        return e

    def test_volume_errors(self):
        url = "file://" + self.layer
        self.raises(cvmpi.InfoUnavailableError, (cvmpi.InfoError,),
                    "no info file at file://%s/none" % self.dir,
                    cvmpi.CloudVolume, self.path("none"), code=-4)
        self.raises(cvmpi.OutOfBoundsError, (ValueError,),
                    "box 60,0,0,70,5,5 is outside the volume bounds 0,0,0,64,64,16 at mip 0",
                    self.vol.download, [60, 0, 0, 70, 5, 5], code=-8)
        self.raises(cvmpi.AlignmentError, (ValueError,),
                    "write to %s: box 0,0,0,5,5,5 is not aligned to the 32x32x16 chunk grid "
                    "(nearest aligned box 0,0,0,32,32,16, or --non-aligned to read-modify-write "
                    "the edge chunks)" % url,
                    self.vol.upload, np.zeros((5, 5, 5), np.uint8), (0, 0, 0), code=-9)
        self.raises(cvmpi.EmptyRequestException, (ValueError,),
                    "%s: the box Bbox([5, 0, 0], [5, 5, 5]) holds no voxel" % self.layer,
                    self.vol.download, [5, 0, 0, 5, 5, 5], code=0)
        self.raises(cvmpi.ScaleUnavailableError, (IndexError,),
                    "mip 1: %s has 1 scale" % self.layer, setattr, self.vol, "mip", 1)
        self.raises(cvmpi.ArgumentError, (ValueError,),
                    "array dtype int16 does not match the layer's uint8",
                    self.vol.upload, np.zeros((32, 32, 16), np.int16), (0, 0, 0))
        os.remove(self.path("l", "4_4_40", "32-64_0-32_0-16"))
        self.raises(cvmpi.EmptyVolumeException, (),
                    "chunk `4_4_40/32-64_0-32_0-16' of %s is missing (use --fill-missing)" % url,
                    self.vol.download, [0, 0, 0, 64, 64, 16], code=-4)
        with open(self.path("l", "4_4_40", "0-32_0-32_0-16"), "r+b") as f:
            f.truncate(100)
        self.raises(cvmpi.DecodingError, (),
                    "read chunk `4_4_40/0-32_0-32_0-16' of %s: raw: expected 16384 bytes for a "
                    "32x32x16 chunk of 1 x uint8, got 100" % url,
                    self.vol.download, [0, 0, 0, 5, 5, 5], code=-5)

    def test_argument_errors(self):
        for kw, message in (
                ({"parallel": 0}, "parallel must be a positive number of threads, got 0"),
                ({"parallel": 1.5}, "parallel must be a positive number of threads, got 1.5"),
                ({"compress": "zstd"},
                 "compress must be None, True, False, 'gzip' or 'br', got 'zstd'"),
                ({"secrets": 5}, "secrets must be a dict or JSON text"),
                ({"secrets": "[1]"}, "secrets: not a JSON object")):
            self.raises(cvmpi.ArgumentError, (ValueError,), message, cvmpi.CloudVolume,
                        self.layer, **kw)
        self.raises(cvmpi.ArgumentError, (ValueError,),
                    "file://%s: box 0,0,0,1099511627776,1099511627776,1099511627776 of "
                    "1.329e+36 bytes does not fit in 64 bits" % self.layer,
                    cvmpi.CloudVolume(self.layer, bounded=False).download,
                    [0, 0, 0, 2**40, 2**40, 2**40], code=-2)
        # the limit is the machine's memory
        self.raises(cvmpi.ArgumentError, (ValueError,), re.compile(
                    "^file://%s: box 0,0,0,1048576,1048576,1024 of 1125899906842624 bytes does "
                    r"not fit in memory \([0-9]+ bytes\)$" % re.escape(self.layer)),
                    cvmpi.CloudVolume(self.layer, bounded=False).download,
                    [0, 0, 0, 2**20, 2**20, 2**10], code=-2)

    def test_storage_error(self):
        with open(self.path("afile"), "w") as f:
            f.write("x")
        info = cvmpi.CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40],
                                                 [0, 0, 0], [64, 64, 16])
        vol = cvmpi.CloudVolume(self.path("afile", "sub"), info=info)
        self.raises(cvmpi.StorageError, (OSError,),
                    "write `info' in file://%s/afile/sub: create directory for "
                    "`%s/afile/sub/info': Not a directory" % (self.dir, self.dir),
                    vol.commit_info, code=-3)

    def test_out_of_memory(self):
        # The library cannot allocate a chunk's decoded bytes (16 MiB) under an address-space
        # limit 8 MiB above the process's size: OutOfMemoryError, a MemoryError.
        big = self.path("big")
        vol = cvmpi.CloudVolume(big, compress="gzip", info=cvmpi.CloudVolume.create_new_info(
            1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [512, 512, 64],
            chunk_size=[512, 512, 64]))
        vol.commit_info()
        vol[:, :, :] = np.ones((512, 512, 64), np.uint8)
        code = textwrap.dedent("""
            import resource, sys
            sys.path.insert(0, %r)
            from testlib import cvmpi
            vol = cvmpi.CloudVolume(%r)
            vol[0:1, 0:1, 0:1]
            with open("/proc/self/status") as f:
                size = [int(l.split()[1]) for l in f if l.startswith("VmSize:")][0] * 1024
            resource.setrlimit(resource.RLIMIT_AS, (size + 8 * 2**20, resource.RLIM_INFINITY))
            try:
                vol[0:1, 0:1, 0:1]
            except cvmpi.OutOfMemoryError as e:
                print(isinstance(e, MemoryError), e.code, e)
            """) % (HERE, big)
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual((p.stdout, p.stderr), (
            "True -1 read chunk `4_4_40/0-512_0-512_0-64' of file://%s: read "
            "`4_4_40/0-512_0-512_0-64' in file://%s: allocate 33554432 bytes\n" % (big, big),
            ""))

    def test_status_map(self):
        # each C status becomes its class, with CloudVolume's built-in base where it has one
        for code, cls, bases in (
                (-1, cvmpi.OutOfMemoryError, (MemoryError,)),
                (-2, cvmpi.ArgumentError, (ValueError,)),
                (-3, cvmpi.StorageError, (OSError,)),
                (-4, cvmpi.NotFoundError, (KeyError,)),
                (-5, cvmpi.DecodingError, ()),
                (-6, cvmpi.UnsupportedFormatError, ()),
                (-7, cvmpi.InfoError, ()),
                (-8, cvmpi.OutOfBoundsError, (ValueError,)),
                (-9, cvmpi.AlignmentError, (ValueError,)),
                (-10, cvmpi.ReadOnlyException, ()),
                (-11, cvmpi.MPIError, ()),
                (-12, cvmpi.HDF5Error, ()),
                (-99, cvmpi.Error, ())):
            self.assertIs(cvmpi.exceptions.for_status(code), cls)
            e = cls("cvmpi: a message", code=code)
            self.assertIsInstance(e, cvmpi.Error)
            for b in bases:
                self.assertIsInstance(e, b)
            self.assertEqual((str(e), e.message, e.code), ("cvmpi: a message",) * 2 + (code,))
        for cls, bases in ((cvmpi.InfoUnavailableError, (cvmpi.InfoError,)),
                           (cvmpi.EmptyVolumeException, ()),
                           (cvmpi.EmptyRequestException, (ValueError,)),
                           (cvmpi.ScaleUnavailableError, (IndexError,)),
                           (cvmpi.MeshMissingError, (ValueError,)),
                           (cvmpi.SkeletonDecodeError, ()),
                           (cvmpi.LibraryNotFoundError, (ImportError,)),
                           (cvmpi.JobError, ())):
            self.assertTrue(issubclass(cls, (cvmpi.Error,) + bases), cls)
            for b in bases:
                self.assertTrue(issubclass(cls, b), (cls, b))

    def test_message_is_the_failing_calls(self):
        # a failure recorded on this thread and never cleared (here planted through the raw
        # library) must not become the message of a later, different failure
        from cvmpi import _lib
        raw = getattr(_lib.lib.cv_secrets_set, "__wrapped__", _lib.lib.cv_secrets_set)
        self.assertNotEqual(raw(b"[1]"), 0)
        self.assertIn("secrets", _lib.last_error()[1])
        self.raises(cvmpi.OutOfBoundsError, (),
                    "box 60,0,0,70,5,5 is outside the volume bounds 0,0,0,64,64,16 at mip 0",
                    self.vol.download, [60, 0, 0, 70, 5, 5])

    def test_info_errors(self):
        with open(self.path("l", "info")) as f:
            info = json.load(f)
        bad = dict(info, data_type="complex64")
        with open(self.path("l", "info"), "w") as f:
            json.dump(bad, f)
        self.raises(cvmpi.InfoError, (), "info `file://%s/info': data_type: unknown data type "
                    '"complex64"' % self.layer, cvmpi.CloudVolume, self.layer, code=-7)
        odd = json.loads(json.dumps(info))
        odd["scales"][0]["encoding"] = "zfpc"
        self.raises(cvmpi.InfoError, (), "info `info': scales[0].encoding: \"zfpc\" with uint8 "
                    "x1: needs float32 or float64", cvmpi.CloudVolume, self.path("x"), info=odd)
        self.raises(cvmpi.ArgumentError, (ValueError,), "data_type 'bool' is not one of uint8, "
                    "int8, uint16, int16, uint32, int32, uint64, int64, float32, float64",
                    cvmpi.CloudVolume.create_new_info, 1, "image", "bool", "raw", [1, 1, 1],
                    [0, 0, 0], [8, 8, 8])

    def test_unsupported_and_read_only(self):
        self.raises(cvmpi.UnsupportedFormatError, (),
                    "bad cloud path `ftp://example/layer': unknown protocol \"ftp\"",
                    cvmpi.CloudVolume,
                    "ftp://example/layer")
        # two redirects: read-only, as CloudVolume
        with open(self.path("l", "info")) as f:
            info = json.load(f)
        for name, to in (("r0", "r1"), ("r1", "l")):
            os.makedirs(self.path(name))
            with open(self.path(name, "info"), "w") as f:
                json.dump(dict(info, redirect="file://" + self.path(to)), f)
        ro = cvmpi.CloudVolume(self.path("r0"))
        np.testing.assert_array_equal(ro[0:2, 0:2, 0:2], self.vol[0:2, 0:2, 0:2])
        self.raises(cvmpi.ReadOnlyException, (), "commit info of file://%s: opened through "
                    "redirects, read-only" % self.layer, ro.commit_info, code=-10)

    def test_library_search_order(self):
        # CVMPI_LIBRARY first, then the package's own directory, then the loader path
        lib = os.path.realpath(cvmpi.library_path)
        shutil.copytree(os.path.dirname(cvmpi.__file__), self.path("pkg", "cvmpi"),
                        ignore=shutil.ignore_patterns("__pycache__", "_installed.py"))
        own = self.path("pkg", "cvmpi", "libcvmpi.so.0")
        shutil.copy(lib, own)
        code = "import cvmpi; print(cvmpi.library_path)"
        base = {k: v for k, v in os.environ.items() if k != "CVMPI_LIBRARY"}
        for extra, want in (({"CVMPI_LIBRARY": lib}, lib), ({}, own)):
            env = dict(base, LD_LIBRARY_PATH="", PYTHONPATH=self.path("pkg"), **extra)
            p = subprocess.run([sys.executable, "-c", code], env=env, cwd=self.dir,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.assertEqual((p.stdout, p.stderr), (want + "\n", ""))

    def test_library_not_found(self):
        env = dict(os.environ, CVMPI_LIBRARY=self.path("nowhere", "libcvmpi.so.0"),
                   LD_LIBRARY_PATH="")
        p = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r); "
                            "import testlib" % HERE], env=env, stderr=subprocess.PIPE, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("cvmpi.exceptions.LibraryNotFoundError: cvmpi: cannot load libcvmpi; "
                      "tried:\n  CVMPI_LIBRARY: %s (no such file)" % env["CVMPI_LIBRARY"],
                      p.stderr)
        self.assertIn("the loader path (LD_LIBRARY_PATH, ld.so.cache): libcvmpi.so.0", p.stderr)
        self.assertIn("set CVMPI_LIBRARY to the path of libcvmpi.so.0", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
