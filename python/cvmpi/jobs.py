# SPDX-License-Identifier: BSD-3-Clause
"""cvmpi's MPI jobs from Python: transfer, downsample and import_hdf5 run the `cvmpi` tool
under srun (inside a Slurm allocation) or mpirun, and return its JSON report."""
import json
import os
import shutil
import subprocess
import tempfile

from . import _lib
from .exceptions import JobError


def _tool():
    """The cvmpi command: CVMPI_TOOL, beside the library (a build tree), the install's bin
    directory, or PATH."""
    tried = []
    env = os.environ.get("CVMPI_TOOL")
    if env:
        return env
    libdir = os.path.dirname(os.path.realpath(_lib.path)) if os.sep in _lib.path else None
    if libdir:
        for cand in (os.path.join(libdir, "cvmpi"),
                     os.path.join(libdir, os.pardir, "bin", "cvmpi"),
                     os.path.join(libdir, os.pardir, os.pardir, "bin", "cvmpi")):
            cand = os.path.normpath(cand)
            if os.access(cand, os.X_OK) and os.path.isfile(cand):
                return cand
            tried.append(cand)
    found = shutil.which("cvmpi")
    if found:
        return found
    raise JobError("cvmpi: the cvmpi command was not found (tried CVMPI_TOOL, %s and PATH)"
                   % ", ".join(tried), returncode=None)


def _launcher(ranks, launcher):
    if launcher is not None:
        return ([launcher] if isinstance(launcher, str) else list(launcher)) + ["-n", str(ranks)]
    if os.environ.get("SLURM_JOB_ID") and shutil.which("srun"):
        return ["srun", "-n", str(ranks)]
    for name in ("mpirun", "mpiexec"):
        if shutil.which(name):
            return [name, "-n", str(ranks)]
    if ranks == 1:
        return []  # the tool runs as one rank without a launcher
    raise JobError("cvmpi: %d ranks need srun (in a Slurm allocation), mpirun or mpiexec on "
                   "PATH" % ranks, returncode=None)


def _flags(options):
    """--name value for each option: True is a bare flag, False/None leave it out, a sequence
    is comma-joined."""
    out = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            out += [flag, ",".join(str(v) for v in value)]
        else:
            out += [flag, str(value)]
    return out


def run(command, args, ranks=1, launcher=None, progress=False, **options):
    """Run `cvmpi COMMAND ARGS... --OPTIONS` on `ranks` ranks; return its report (a dict).
    A failure raises JobError with the tool's message, exit status, stderr and report."""
    ranks = int(ranks)
    if ranks < 1:
        raise JobError("cvmpi: ranks must be at least 1, got %d" % ranks, returncode=None)
    with tempfile.TemporaryDirectory(prefix="cvmpi-job-") as tmp:
        report_path = os.path.join(tmp, "report.json")
        cmd = _launcher(ranks, launcher) + [_tool(), command] + [os.fspath(a) for a in args] \
            + _flags(options) + ["--report", report_path,
                                 "--progress" if progress else "--no-progress"]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        report = None
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        ours = [ln for ln in lines if ln.startswith("cvmpi")]
        message = (ours or lines or ["cvmpi %s: exit status %d" % (command, proc.returncode)])[0]
        raise JobError(message, returncode=proc.returncode, stderr=proc.stderr, report=report)
    return report


def transfer(src, dst, ranks=1, **options):
    """`cvmpi transfer SRC DST`: options are the tool's flags (mip=1, encoding="jpeg",
    compress="br", chunk_size=(64, 64, 16), fill_missing=True, sharded=True...)."""
    return run("transfer", [src, dst], ranks=ranks, **options)


def downsample(path, ranks=1, **options):
    """`cvmpi downsample PATH` (num_mips=3, factor=(2, 2, 1), method="mode"...)."""
    return run("downsample", [path], ranks=ranks, **options)


def import_hdf5(src, dst, ranks=1, **options):
    """`cvmpi import FILE.h5:/DATASET DST` (axes="zyx", resolution=(4, 4, 40),
    chunk=(64, 64, 64), downsample=4...)."""
    return run("import", [src, dst], ranks=ranks, **options)
