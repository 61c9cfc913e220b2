#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every exception class: raised where CloudVolume raises its namesake, a subclass of
cvmpi.Error (and of CloudVolume's built-in base), carrying the C library's message."""
import json
import os
import subprocess
import sys
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

    def raises(self, cls, bases, pattern, fn, *args, **kw):
        with self.assertRaisesRegex(cls, pattern) as cm:
            fn(*args, **kw)
        e = cm.exception
        self.assertIsInstance(e, cvmpi.Error)
        for b in bases:
            self.assertIsInstance(e, b)
        self.assertEqual(str(e), e.message)
        return e

    def test_volume_errors(self):
        e = self.raises(cvmpi.InfoUnavailableError, (cvmpi.InfoError,),
                        "^no info file at file://%s/none$" % self.dir,
                        cvmpi.CloudVolume, self.path("none"))
        self.assertEqual(e.code, -4)
        self.raises(cvmpi.OutOfBoundsError, (ValueError,),
                    "^box 60,0,0,70,5,5 is outside the volume bounds 0,0,0,64,64,16 at mip 0$",
                    self.vol.download, [60, 0, 0, 70, 5, 5])
        self.raises(cvmpi.AlignmentError, (ValueError,), "is not aligned to the 32x32x16",
                    self.vol.upload, np.zeros((5, 5, 5), np.uint8), (0, 0, 0))
        self.raises(cvmpi.EmptyRequestException, (ValueError,), "holds no voxel",
                    self.vol.download, [5, 0, 0, 5, 5, 5])
        self.raises(cvmpi.ScaleUnavailableError, (IndexError,), "has 1 scale$",
                    setattr, self.vol, "mip", 1)
        self.raises(cvmpi.ArgumentError, (ValueError,), "dtype int16",
                    self.vol.upload, np.zeros((32, 32, 16), np.int16), (0, 0, 0))
        os.remove(self.path("l", "4_4_40", "32-64_0-32_0-16"))
        self.raises(cvmpi.EmptyVolumeException, (), "32-64_0-32_0-16",
                    self.vol.download, [0, 0, 0, 64, 64, 16])
        with open(self.path("l", "4_4_40", "0-32_0-32_0-16"), "r+b") as f:
            f.truncate(100)
        self.raises(cvmpi.DecodingError, (), "0-32_0-32_0-16",
                    self.vol.download, [0, 0, 0, 5, 5, 5])

    def test_message_is_the_failing_calls(self):
        # a failure recorded on this thread and never cleared (here planted through the raw
        # library) must not become the message of a later, different failure
        from cvmpi import _lib
        raw = getattr(_lib.lib.cv_secrets_set, "__wrapped__", _lib.lib.cv_secrets_set)
        self.assertNotEqual(raw(b"[1]"), 0)
        self.assertIn("secrets", _lib.last_error()[1])
        self.raises(cvmpi.OutOfBoundsError, (), "^box 60,0,0,70,5,5 is outside",
                    self.vol.download, [60, 0, 0, 70, 5, 5])

    def test_info_errors(self):
        with open(self.path("l", "info")) as f:
            info = json.load(f)
        bad = dict(info, data_type="complex64")
        with open(self.path("l", "info"), "w") as f:
            json.dump(bad, f)
        self.raises(cvmpi.InfoError, (), "complex64", cvmpi.CloudVolume, self.layer)
        odd = json.loads(json.dumps(info))
        odd["scales"][0]["encoding"] = "zfpc"
        self.raises(cvmpi.Error, (), "zfpc", cvmpi.CloudVolume, self.path("x"), info=odd)
        self.raises(cvmpi.ArgumentError, (ValueError,), "data_type 'bool'",
                    cvmpi.CloudVolume.create_new_info, 1, "image", "bool", "raw", [1, 1, 1],
                    [0, 0, 0], [8, 8, 8])

    def test_unsupported_and_read_only(self):
        self.raises(cvmpi.UnsupportedFormatError, (), "ftp", cvmpi.CloudVolume,
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
        self.raises(cvmpi.ReadOnlyException, (), "read-only", ro.commit_info)

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
