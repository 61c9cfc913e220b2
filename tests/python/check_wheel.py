#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Checks a wheel of the cvmpi package against the wheel format (PEP 427, PEP 376's RECORD)
and this tree's python/: every file but RECORD listed in RECORD with its urlsafe-base64
sha256 and size, RECORD listed with neither, nothing listed that is absent; the package's
files byte for byte those of python/cvmpi; METADATA and WHEEL exactly as pyproject.toml says.
Raises AssertionError naming the first fault.

  check_wheel.py WHEEL [PYTHON_DIR]
PYTHON_DIR is the tree the wheel was built from (default python/); prints the wheel's file
list when it passes."""
import base64
import hashlib
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = os.path.normpath(os.path.join(HERE, "..", "..", "python"))
DIST_INFO = "cvmpi-0.1.0.dist-info"


def expected_metadata(python_dir=PYTHON):
    with open(os.path.join(python_dir, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\nName: cvmpi\nVersion: 0.1.0\n"
            "Summary: Neuroglancer Precomputed volumes with CloudVolume's API, read and written "
            "by libcvmpi\nLicense: BSD-3-Clause\nRequires-Python: >=3.8\nRequires-Dist: numpy\n"
            "Description-Content-Type: text/markdown\n\n" + readme).encode("utf-8")


EXPECTED_WHEEL = (b"Wheel-Version: 1.0\nGenerator: cvmpi_build\nRoot-Is-Purelib: true\n"
                  b"Tag: py3-none-any\n")


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(
        b"=").decode("ascii")


def check_record(z):
    """RECORD against the archive; returns the archive's names."""
    names = z.namelist()
    assert len(set(names)) == len(names), "duplicate entries: %s" % names
    record_name = DIST_INFO + "/RECORD"
    assert record_name in names, "no %s in %s" % (record_name, names)
    rows = z.read(record_name).decode("utf-8").splitlines()
    listed = {}
    for row in rows:
        path, digest, size = row.rsplit(",", 2)
        assert path not in listed, "%s listed twice in RECORD" % path
        listed[path] = (digest, size)
    assert listed.pop(record_name) == ("", ""), "RECORD lists itself with a hash or size"
    assert sorted(listed) == sorted(n for n in names if n != record_name), \
        "RECORD lists %s, the wheel holds %s" % (sorted(listed), sorted(names))
    for path, (digest, size) in listed.items():
        data = z.read(path)
        assert digest == record_hash(data), "%s: RECORD says %s, it is %s" % (
            path, digest, record_hash(data))
        assert size == str(len(data)), "%s: RECORD says %s bytes, it holds %d" % (
            path, size, len(data))
    assert names[-1] == record_name, "RECORD is not the last entry"
    return names


def check_wheel(path, python_dir=PYTHON):
    package_dir = os.path.join(python_dir, "cvmpi")
    assert os.path.basename(path) == "cvmpi-0.1.0-py3-none-any.whl", path
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None, "a corrupt member in %s" % path
        names = check_record(z)
        sources = sorted(n for n in os.listdir(package_dir)
                         if n.endswith(".py") or n.startswith("libcvmpi.so"))
        want = sorted(["cvmpi/" + n for n in sources] +
                      [DIST_INFO + "/" + n for n in ("METADATA", "WHEEL", "RECORD")])
        assert sorted(names) == want, "the wheel holds %s, expected %s" % (sorted(names), want)
        for n in sources:
            with open(os.path.join(package_dir, n), "rb") as f:
                assert z.read("cvmpi/" + n) == f.read(), "cvmpi/%s differs from the tree's" % n
        assert z.read(DIST_INFO + "/METADATA") == expected_metadata(python_dir), \
            "METADATA: %r" % z.read(DIST_INFO + "/METADATA")[:400]
        assert z.read(DIST_INFO + "/WHEEL") == EXPECTED_WHEEL, z.read(DIST_INFO + "/WHEEL")
        return names


if __name__ == "__main__":
    for name in check_wheel(*sys.argv[1:]):
        print(name)
