#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Every Python module and external command the tests use must come from a Debian package
that the install scripts install (by default .ci/install-deps.sh, .ci/install-build-deps.sh and
.ci/install-test-deps.sh); otherwise CI passes here and fails on a fresh machine.

  check-test-deps.py [--tests DIR ...] [--install FILE ...]

Modules are found in .py files, in Python heredocs and `python3 -c` strings of shell scripts,
and in Python source embedded in C string literals; each is mapped to its package by the table
below or, failing that, by `dpkg -S` on the file /usr/bin/python3 imports it from. Commands are
the names in COMMANDS called by the shell scripts. Exits 1 naming each missing package."""
import argparse
import importlib.util
import os
import re
import subprocess
import sys

# module -> Debian package (a module not listed is looked up with dpkg -S)
MODULES = {
    "numpy": "python3-numpy",
    "h5py": "python3-h5py",
    "PIL": "python3-pil",
    "tifffile": "python3-tifffile",
    "zarr": "python3-zarr",
    "numcodecs": "python3-numcodecs",
    "png": "python3-png",
    "brotli": "python3-brotli",
    "boto3": "python3-boto3",
    "botocore": "python3-botocore",
    "cryptography": "python3-cryptography",
    "crcmod": "python3-crcmod",
}

# command -> Debian package; None for commands of essential packages (always there)
COMMANDS = {
    "mpirun": "openmpi-bin", "mpiexec": "openmpi-bin",
    "srun": "slurm-client", "sbatch": "slurm-client", "sinfo": "slurm-client",
    "scontrol": "slurm-client", "scancel": "slurm-client", "squeue": "slurm-client",
    "slurmctld": "slurmctld", "slurmd": "slurmd", "munged": "munge",
    "nginx": "nginx-light", "openssl": "openssl", "h5dump": "hdf5-tools", "h5ls": "hdf5-tools",
    "node": "nodejs", "npm": "npm", "npx": "npm", "chromium": "chromium", "curl": "curl",
    "git": "git", "clang-format": "clang-format", "cmake": "cmake", "clang": "clang",
    "python3": "python3", "jq": "jq", "xxd": "xxd", "brotli": "brotli", "zstd": "zstd",
    "script": None, "timeout": None, "sha256sum": None, "mktemp": None, "cmp": None,
    "diff": None, "gzip": None, "tar": None, "find": None, "xargs": None,
}

PY_LAUNCHER = r"(?:python3|\$PY\b|\$\{PY\}|\$PYTHON\b|\$\{PYTHON\})"
IMPORT_RE = re.compile(r"^\s*import\s+([\w.]+(?:\s*,\s*[\w.]+)*)|^\s*from\s+(\w+)[\w.]*\s+import\b",
                       re.M)


def python_imports(source):
    """Top-level module names imported by Python source text."""
    names = set()
    for m in IMPORT_RE.finditer(source):
        if m.group(1):
            names.update(part.strip().split(".")[0] for part in m.group(1).split(","))
        else:
            names.add(m.group(2))
    return names


def shell_python(text):
    """Python source inside a shell script: heredocs fed to python, and `python -c` strings."""
    parts = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.search(PY_LAUNCHER + r".*<<-?\s*['\"]?(\w+)['\"]?", lines[i])
        i += 1
        if m:
            end = m.group(1)
            body = []
            while i < len(lines) and lines[i].strip() != end:
                body.append(lines[i])
                i += 1
            parts.append("\n".join(body))
    for m in re.finditer(PY_LAUNCHER + r"[^\n]*?\s-c\s+(\"|')(.*?)(?<!\\)\1", text, re.S):
        parts.append(m.group(2).replace(";", "\n"))
    return parts


def c_python(text):
    """Python embedded in C string literals, one statement per literal."""
    return ["\n".join(re.findall(r"\"((?:\s*import|\s*from)\s[^\"]*)", text))]


SEPARATORS = re.compile(r"\$\(|[|;&(`{]|\b(?:then|do|if|while|until|else|elif)\b|!")
WRAPPERS = re.compile(r"^(?:timeout\s+(?:-\S+\s+)*\S+|command\s+-v|exec|nohup|setsid|"
                      r"env(?:\s+-u\s+\S+|\s+\w+=\S*)*|\w+=\S*)\s+")


def shell_commands(text):
    """The COMMANDS a shell script runs: words in command position (after a separator and
    wrappers such as timeout, env or VAR=value), outside comments."""
    # programs named by their installed path, also when kept in a variable first
    found = {m for m in re.findall(r"/usr/s?bin/([\w.+-]+)", text) if m in COMMANDS}
    for line in text.split("\n"):
        line = re.sub(r"(^|\s)#.*", "", line)
        # text in quotes is not run, unless it holds a command substitution
        line = re.sub(r"\"(?:[^\"\\$]|\\.)*\"|'[^']*'", "''", line)
        for seg in SEPARATORS.split(line):
            seg = seg.strip()
            while True:
                m = WRAPPERS.match(seg)
                if not m:
                    break
                seg = seg[m.end():]
            word = os.path.basename(re.split(r"[\s)]", seg, 1)[0].strip("\"'"))
            if word in COMMANDS:
                found.add(word)
    return found


def module_package(name):
    if name in MODULES:
        return MODULES[name], None
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None, "not importable by %s and not in the table of %s" % (sys.executable,
                                                                         sys.argv[0])
    out = subprocess.run(["dpkg", "-S", os.path.realpath(spec.origin)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        return None, "%s is not from a Debian package" % spec.origin
    return out.stdout.split(":")[0], None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", action="append",
                    help="a directory of tests (repeatable; default tests/ and slurm/local/)")
    ap.add_argument("--install", action="append",
                    help="an install script naming packages (repeatable; default the three in "
                    ".ci/); a missing package is to be added to the last one")
    args = ap.parse_args()
    args.tests = args.tests or [os.path.join(here, "..", d) for d in ("tests", "slurm/local")]
    args.install = args.install or [os.path.join(here, name) for name in (
        "install-deps.sh", "install-build-deps.sh", "install-test-deps.sh")]
    listed = set()
    for script in args.install:
        with open(script) as f:
            listed |= set(re.findall(r"[a-z0-9][a-z0-9.+-]+", re.sub(r"#.*", "", f.read())))
    add_to = args.install[-1]

    # local: the tests' own modules, and the repository's Python package (python/cvmpi)
    modules, commands, local = {}, {}, {"cvmpi"}
    walked = [(top, w) for top in args.tests for w in os.walk(top)]
    for top, (root, _dirs, files) in walked:
        for fn in files:
            path = os.path.join(root, fn)
            rel = os.path.relpath(path, os.path.dirname(os.path.abspath(top)))
            if fn.endswith(".py"):
                local.add(fn[:-3])
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
            except (UnicodeDecodeError, OSError):
                continue
            sources = []
            if fn.endswith(".py"):
                sources = [text]
            elif fn.endswith(".sh"):
                sources = shell_python(text)
                for c in shell_commands(text):
                    commands.setdefault(c, rel)
            elif fn.endswith(".c"):
                sources = c_python(text)
            for src in sources:
                for mod in python_imports(src):
                    modules.setdefault(mod, rel)

    problems = []
    for mod, where in sorted(modules.items()):
        if mod in sys.stdlib_module_names or mod in local or mod == "__future__":
            continue
        pkg, why = module_package(mod)
        if pkg is None:
            problems.append("Python module %s (used in %s): %s" % (mod, where, why))
        elif pkg not in listed:
            problems.append("Python module %s (used in %s) comes from %s: add it to %s" %
                            (mod, where, pkg, add_to))
    for cmd, where in sorted(commands.items()):
        pkg = COMMANDS[cmd]
        if pkg is not None and pkg not in listed:
            problems.append("command %s (used in %s) comes from %s: add it to %s" %
                            (cmd, where, pkg, add_to))
    for p in problems:
        print("check-test-deps: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
