#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""python/backend/cvmpi_build.py, the package's PEP 517 build backend, called as pip calls it
(in a fresh interpreter, the backend directory on sys.path, the tree as working directory):
no build requirement; the wheel and its RECORD (check_wheel.py); the metadata hook's files
equal the wheel's; the sdist's file list, and a wheel built from the unpacked sdist identical
byte for byte to one built from the tree (reproducible); a library beside the package goes
into the wheel, not the sdist; the editable wheel's .pth; [project] keys it cannot honour
refused."""
import glob
import json
import os
import shutil
import subprocess
import sys
import tarfile
import unittest
import zipfile

from testlib import HERE, TempDirTest, cvmpi

import check_wheel

PYTHON = os.path.normpath(os.path.join(HERE, "..", "..", "python"))


def copy_tree(dst):
    """The package's source files only (no __pycache__, no stray library)."""
    os.makedirs(os.path.join(dst, "cvmpi"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(PYTHON, name), dst)
    shutil.copytree(os.path.join(PYTHON, "backend"), os.path.join(dst, "backend"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in glob.glob(os.path.join(PYTHON, "cvmpi", "*.py")):
        shutil.copy(path, os.path.join(dst, "cvmpi"))
    return dst


def hook(tree, name, *args, check=True):
    """Call a backend hook as a PEP 517 frontend does; returns its JSON-able result."""
    code = ("import json, sys; sys.path.insert(0, 'backend'); import cvmpi_build; "
            "print(json.dumps(cvmpi_build.%s(*json.loads(sys.argv[1]))))" % name)
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000", PYTHONDONTWRITEBYTECODE="1")
    p = subprocess.run([sys.executable, "-c", code, json.dumps(list(args))], cwd=tree, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not check:
        return p
    if p.returncode != 0:
        raise AssertionError("%s failed: %s" % (name, p.stderr))
    return json.loads(p.stdout)


class Backend(TempDirTest):
    def setUp(self):
        super().setUp()
        self.tree = copy_tree(self.path("tree"))
        os.makedirs(self.path("out"))

    def test_pyproject_names_the_backend_and_no_requirement(self):
        import tomllib
        with open(os.path.join(PYTHON, "pyproject.toml"), "rb") as f:
            meta = tomllib.load(f)
        self.assertEqual(meta["build-system"], {"requires": [], "build-backend": "cvmpi_build",
                                                "backend-path": ["backend"]})
        self.assertEqual(meta["project"]["version"], cvmpi.__version__)
        for name in ("get_requires_for_build_wheel", "get_requires_for_build_sdist",
                     "get_requires_for_build_editable"):
            self.assertEqual(hook(self.tree, name), [])

    def test_wheel_and_metadata(self):
        name = hook(self.tree, "build_wheel", self.path("out"))
        self.assertEqual(name, "cvmpi-0.1.0-py3-none-any.whl")
        whl = self.path("out", name)
        check_wheel.check_wheel(whl, self.tree)
        with zipfile.ZipFile(whl) as z:
            for info in z.infolist():
                self.assertEqual(info.date_time, (2023, 11, 14, 22, 13, 20), info.filename)
                self.assertEqual(info.external_attr >> 16, 0o644, info.filename)
            os.makedirs(self.path("meta"))
            di = hook(self.tree, "prepare_metadata_for_build_wheel", self.path("meta"))
            self.assertEqual(di, "cvmpi-0.1.0.dist-info")
            self.assertEqual(sorted(os.listdir(self.path("meta", di))), ["METADATA", "WHEEL"])
            for f in ("METADATA", "WHEEL"):
                with open(self.path("meta", di, f), "rb") as fh:
                    self.assertEqual(fh.read(), z.read(di + "/" + f), f)

    def test_sdist_rebuilds_the_same_wheel(self):
        name = hook(self.tree, "build_sdist", self.path("out"))
        self.assertEqual(name, "cvmpi-0.1.0.tar.gz")
        with tarfile.open(self.path("out", name)) as tar:
            members = tar.getmembers()
            self.assertEqual(sorted(m.name for m in members), sorted(
                ["cvmpi-0.1.0/" + n for n in ("PKG-INFO", "README.md", "pyproject.toml",
                                              "backend/cvmpi_build.py")] +
                ["cvmpi-0.1.0/cvmpi/" + n for n in os.listdir(os.path.join(self.tree, "cvmpi"))]))
            self.assertEqual(tar.extractfile("cvmpi-0.1.0/PKG-INFO").read(),
                             check_wheel.expected_metadata(self.tree))
            self.assertEqual({(m.mtime, m.mode, m.uid, m.gid) for m in members},
                             {(1700000000, 0o644, 0, 0)})
            tar.extractall(self.path("sdist"))
        os.makedirs(self.path("out2"))
        hook(self.path("sdist", "cvmpi-0.1.0"), "build_wheel", self.path("out2"))
        hook(self.tree, "build_wheel", self.path("out"))
        with open(self.path("out", "cvmpi-0.1.0-py3-none-any.whl"), "rb") as a, \
                open(self.path("out2", "cvmpi-0.1.0-py3-none-any.whl"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        # and the sdist is reproducible too
        os.makedirs(self.path("out3"))
        hook(self.tree, "build_sdist", self.path("out3"))
        with open(self.path("out", name), "rb") as a, open(self.path("out3", name), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_library_beside_the_package(self):
        with open(os.path.join(self.tree, "cvmpi", "libcvmpi.so.0"), "wb") as f:
            f.write(b"\x7fELF not really")
        whl = self.path("out", hook(self.tree, "build_wheel", self.path("out")))
        names = check_wheel.check_wheel(whl, self.tree)
        self.assertIn("cvmpi/libcvmpi.so.0", names)
        with tarfile.open(self.path("out", hook(self.tree, "build_sdist", self.path("out")))) as t:
            self.assertNotIn("cvmpi-0.1.0/cvmpi/libcvmpi.so.0", t.getnames())

    def test_editable(self):
        self.assertEqual(hook(self.tree, "prepare_metadata_for_build_editable",
                              self.path("out")), "cvmpi-0.1.0.dist-info")
        name = hook(self.tree, "build_editable", self.path("out"))
        with zipfile.ZipFile(self.path("out", name)) as z:
            names = check_wheel.check_record(z)
            self.assertEqual(sorted(names), [
                "__editable__.cvmpi-0.1.0.pth", "cvmpi-0.1.0.dist-info/METADATA",
                "cvmpi-0.1.0.dist-info/RECORD", "cvmpi-0.1.0.dist-info/WHEEL"])
            self.assertEqual(z.read("__editable__.cvmpi-0.1.0.pth").decode(),
                             os.path.realpath(self.tree) + "\n")

    def test_refuses_what_it_cannot_honour(self):
        path = os.path.join(self.tree, "pyproject.toml")
        with open(path) as f:
            text = f.read()
        for old, new, message in (
                ('dependencies = ["numpy"]\n',
                 'dependencies = ["numpy"]\nscripts = {x = "cvmpi:x"}\n',
                 "pyproject.toml: [project] key scripts is not supported by "
                 "backend/cvmpi_build.py"),
                ('version = "0.1.0"', 'version = "0.1.0-dev"',
                 "pyproject.toml: version '0.1.0-dev' is not N.N.N"),
                ('license = {text = "BSD-3-Clause"}', 'license = {file = "LICENSE"}',
                 'pyproject.toml: license must be {text = "..."}')):
            with self.subTest(message):
                self.assertIn(old, text)
                with open(path, "w") as f:
                    f.write(text.replace(old, new))
                p = hook(self.tree, "build_wheel", self.path("out"), check=False)
                self.assertEqual(p.returncode, 1)
                self.assertEqual(p.stderr.strip().splitlines()[-1],
                                 "cvmpi_build.BuildError: " + message)
                self.assertEqual(os.listdir(self.path("out")), [])

if __name__ == "__main__":
    unittest.main(verbosity=2)
