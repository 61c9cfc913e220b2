# SPDX-License-Identifier: BSD-3-Clause
"""The build backend of the cvmpi package (PEP 517, PEP 660), in this tree so that `pip install
./python` needs nothing but pip: with `requires = []` pip's isolated build environment installs
nothing, so the build works offline. The package is pure Python, so a wheel is a zip of the
package's files and the metadata written from pyproject.toml's [project] table.

Entries are sorted and dated SOURCE_DATE_EPOCH (else 1980-01-01), so builds are reproducible."""
import base64
import gzip
import hashlib
import io
import os
import re
import sys
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND = os.path.relpath(os.path.abspath(__file__), ROOT)
TAG = "py3-none-any"
# [project] keys this backend writes into the metadata; any other is refused, not ignored
KNOWN = {"name", "version", "description", "readme", "license", "requires-python",
         "dependencies"}


class BuildError(Exception):
    pass


def _project():
    """pyproject.toml's [project] table, checked."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # get_requires_for_build_* asked for it
        import tomli as tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f).get("project")
    if not isinstance(project, dict):
        raise BuildError("pyproject.toml: no [project] table")
    unknown = sorted(set(project) - KNOWN)
    if unknown:
        raise BuildError("pyproject.toml: [project] key %s is not supported by %s"
                         % (", ".join(unknown), BACKEND))
    for key in ("name", "version"):
        if not isinstance(project.get(key), str) or not project[key]:
            raise BuildError("pyproject.toml: [project] %s must be a non-empty string" % key)
    if not re.fullmatch(r"[A-Za-z0-9]+", project["name"]):
        raise BuildError("pyproject.toml: name %r is not a plain package name" % project["name"])
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", project["version"]):
        raise BuildError("pyproject.toml: version %r is not N.N.N" % project["version"])
    license_ = project.get("license", {})
    if not isinstance(license_, dict) or set(license_) - {"text"}:
        raise BuildError("pyproject.toml: license must be {text = \"...\"}")
    return project


def _metadata(project):
    """The core metadata (METADATA in a wheel, PKG-INFO in an sdist), as bytes."""
    lines = ["Metadata-Version: 2.1", "Name: " + project["name"],
             "Version: " + project["version"]]
    if "description" in project:
        lines.append("Summary: " + project["description"])
    if "text" in project.get("license", {}):
        lines.append("License: " + project["license"]["text"])
    if "requires-python" in project:
        lines.append("Requires-Python: " + project["requires-python"])
    for dep in project.get("dependencies", []):
        lines.append("Requires-Dist: " + dep)
    body = ""
    if "readme" in project:
        if not isinstance(project["readme"], str) or not project["readme"].endswith(".md"):
            raise BuildError("pyproject.toml: readme must name a .md file")
        lines.append("Description-Content-Type: text/markdown")
        with open(os.path.join(ROOT, project["readme"]), encoding="utf-8") as f:
            body = "\n" + f.read()
    return ("\n".join(lines) + "\n" + body).encode("utf-8")


def _package_files(project):
    """(path in the archive, path on disk) of the package: its .py files and a copy of the
    library placed beside them (the package looks for libcvmpi there first)."""
    pkg = os.path.join(ROOT, project["name"])
    names = sorted(n for n in os.listdir(pkg) if n.endswith(".py") or n.startswith("libcvmpi.so"))
    if "__init__.py" not in names:
        raise BuildError("%s has no __init__.py" % pkg)
    return [(project["name"] + "/" + n, os.path.join(pkg, n)) for n in names
            if os.path.isfile(os.path.join(pkg, n))]


def _dist_info(project):
    return "%s-%s.dist-info" % (project["name"], project["version"])


def _epoch():
    """SOURCE_DATE_EPOCH, else (and never before) 1980-01-01, the first date zip can hold."""
    return max(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), 315532800)


def _record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _dist_info_files(project):
    """The .dist-info files but RECORD: {archive path: bytes}."""
    di = _dist_info(project)
    wheel = ("Wheel-Version: 1.0\nGenerator: %s\nRoot-Is-Purelib: true\nTag: %s\n"
             % (os.path.basename(BACKEND)[:-3], TAG))
    return {di + "/METADATA": _metadata(project), di + "/WHEEL": wheel.encode("ascii")}


def _write_wheel(wheel_directory, project, contents):
    """A wheel of contents ({archive path: bytes}) and the .dist-info files; its file name."""
    contents = dict(contents, **_dist_info_files(project))
    record_name = _dist_info(project) + "/RECORD"
    record = "".join("%s,%s,%d\n" % (name, _record_hash(data), len(data))
                     for name, data in sorted(contents.items()))
    contents[record_name] = (record + record_name + ",,\n").encode("utf-8")
    filename = "%s-%s-%s.whl" % (project["name"], project["version"], TAG)
    date_time = time.gmtime(_epoch())[:6]
    path = os.path.join(wheel_directory, filename)
    with zipfile.ZipFile(path + ".part", "w", zipfile.ZIP_DEFLATED) as z:
        # RECORD last, as the wheel spec recommends
        for name in sorted(contents, key=lambda n: (n == record_name, n)):
            info = zipfile.ZipInfo(name, date_time)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, contents[name])
    os.replace(path + ".part", path)
    return filename


def _read(path):
    with open(path, "rb") as f:
        return f.read()


# PEP 517 hooks

def get_requires_for_build_wheel(config_settings=None):
    return [] if sys.version_info >= (3, 11) else ["tomli>=1.1"]


get_requires_for_build_sdist = get_requires_for_build_wheel
get_requires_for_build_editable = get_requires_for_build_wheel


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project = _project()
    for name, data in _dist_info_files(project).items():
        path = os.path.join(metadata_directory, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return _dist_info(project)


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    return _write_wheel(wheel_directory, project,
                        {name: _read(path) for name, path in _package_files(project)})


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """A wheel holding only a .pth file that puts this directory on sys.path (PEP 660)."""
    project = _project()
    _package_files(project)  # the same checks as a wheel's
    pth = "__editable__.%s-%s.pth" % (project["name"], project["version"])
    return _write_wheel(wheel_directory, project, {pth: (ROOT + "\n").encode("utf-8")})


def build_sdist(sdist_directory, config_settings=None):
    project = _project()
    base = "%s-%s" % (project["name"], project["version"])
    files = [("pyproject.toml", os.path.join(ROOT, "pyproject.toml")),
             (BACKEND.replace(os.sep, "/"), os.path.join(ROOT, BACKEND))]
    if "readme" in project:
        files.append((project["readme"], os.path.join(ROOT, project["readme"])))
    files += [(name, path) for name, path in _package_files(project)
              if not os.path.basename(name).startswith("libcvmpi.so")]  # source only
    contents = {name: _read(path) for name, path in files}
    contents["PKG-INFO"] = _metadata(project)
    mtime = _epoch()
    filename = base + ".tar.gz"
    path = os.path.join(sdist_directory, filename)
    with open(path + ".part", "wb") as raw:
        # gzip's own header carries a time too: fixed for reproducible bytes
        with gzip.GzipFile(filename=filename[:-3], mode="wb", fileobj=raw, mtime=mtime) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for name in sorted(contents):
                    info = tarfile.TarInfo(base + "/" + name)
                    info.size, info.mtime, info.mode = len(contents[name]), mtime, 0o644
                    tar.addfile(info, io.BytesIO(contents[name]))
    os.replace(path + ".part", path)
    return filename
