# SPDX-License-Identifier: BSD-3-Clause
"""Shared helpers of the Python binding's tests: the cvmpi command (CVMPI_TOOL), the
independent reference readers of tests/interop (imported as modules), scratch directories."""
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.normpath(os.path.join(HERE, "..", "interop"))
sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..", "python")))
sys.path.insert(0, INTEROP)

import cvmpi  # noqa: E402,F401  (the tests import it from here)

TOOL = os.environ.get("CVMPI_TOOL", "cvmpi")
PY = sys.executable


def load_ref(name):
    """An independent reader of tests/interop (precomputed_ref, mesh_skeleton_ref...)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(INTEROP, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ref = load_ref("precomputed_ref")


def run(*args, check=True):
    """Run a command; return its CompletedProcess (text)."""
    p = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (args, p.returncode, p.stderr))
    return p


def tool(*args, check=True):
    return run(TOOL, *args, check=check)


def make_layer(path, dtype="uint8", size=(70, 50, 23), offset=(-5, 3, -7), chunk=(32, 32, 16),
               channels=1, seed=1, gzip=False):
    """A random raw layer written by precomputed_ref.py; returns its whole array (X,Y,Z,C)."""
    args = [PY, os.path.join(INTEROP, "precomputed_ref.py"), "make", path, "--dtype", dtype,
            "--size", ",".join(map(str, size)), "--offset", ",".join(map(str, offset)),
            "--chunk", ",".join(map(str, chunk)), "--channels", str(channels),
            "--seed", str(seed)]
    if gzip:
        args.append("--gzip")
    run(*args)
    return np.load(path + ".expected.npy")


def ref_read(path, lo, hi, mip=0):
    """The box [lo, hi) read by the reference reader."""
    scale = ref.Scale(path, ref.load_info(path), mip)
    return scale.read(list(lo), list(hi))[0]


def tool_read(path, lo, hi, mip=0, extra=()):
    """The box read by `cvmpi read` into a .npy file."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.npy")
        tool("read", path, "--mip", mip, "--bbox", ",".join(map(str, list(lo) + list(hi))),
             "-o", out, *extra)
        return np.load(out)


class TempDirTest(unittest.TestCase):
    """Each test gets self.dir, removed afterwards."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="cvmpi-py-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *names):
        return os.path.join(self.dir, *names)

    @contextlib.contextmanager
    def assertRaisesMessage(self, cls, message):
        """The block raises exactly cls (not a subclass) with exactly this message."""
        with self.assertRaises(cls) as cm:
            yield cm
        self.assertIs(type(cm.exception), cls)
        self.assertEqual(str(cm.exception), message)
