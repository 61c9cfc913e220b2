#!/usr/bin/env bash
# .ci/check-test-deps.py: a test that imports a module or runs a command whose Debian package
# the install scripts (.ci/install-{deps,build-deps,test-deps}.sh) do not install fails the
# check, naming both; the repository's own tests pass it. ($1, the cvmpi binary, is not used.)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
CHECK=$TEST_DIR/../../.ci/check-test-deps.py
[[ -x /usr/bin/dpkg ]] || { echo "dpkg not available: skipped"; exit 0; }

mkdir -p fake/py fake/sh fake/c
printf 'apt_install python3 python3-numpy openmpi-bin\n' > install.sh

section "the repository's tests"
expect_exit 0 "$PY" "$CHECK"

section "everything listed"
printf 'import os, sys\nimport numpy as np\n' > fake/py/ok.py
printf '#!/bin/bash\nmpirun -n 2 true\n' > fake/sh/ok.sh
expect_exit 0 "$PY" "$CHECK" --tests fake --install install.sh

section "an unlisted module in a .py file"
printf 'from h5py import File\n' > fake/py/bad.py
expect_exit 1 "$PY" "$CHECK" --tests fake --install install.sh
expect_stderr_contains "check-test-deps: Python module h5py (used in fake/py/bad.py) comes from python3-h5py: add it to install.sh"
rm fake/py/bad.py

section "an unlisted module in python3 -c and in a heredoc"
printf '#!/bin/bash\n"$PY" -c "import PIL.Image; print(1)"\n' > fake/sh/c.sh
expect_exit 1 "$PY" "$CHECK" --tests fake --install install.sh
expect_stderr_contains "Python module PIL (used in fake/sh/c.sh) comes from python3-pil"
printf '#!/bin/bash\n/usr/bin/python3 - <<'"'"'PY'"'"'\nimport brotli\nPY\n' > fake/sh/c.sh
expect_exit 1 "$PY" "$CHECK" --tests fake --install install.sh
expect_stderr_contains "Python module brotli (used in fake/sh/c.sh) comes from python3-brotli"
rm fake/sh/c.sh

section "a module that no package provides"
printf 'import no_such_module_cvmpi\n' > fake/py/gone.py
expect_exit 1 "$PY" "$CHECK" --tests fake --install install.sh
expect_stderr_contains "Python module no_such_module_cvmpi (used in fake/py/gone.py): not importable"
rm fake/py/gone.py

section "unlisted commands"
printf '#!/bin/bash\nif ! timeout 5 h5dump -H x.h5 | grep -q x; then curl -s http://127.0.0.1:1/; fi\n' \
    > fake/sh/cmd.sh
expect_exit 1 "$PY" "$CHECK" --tests fake --install install.sh
expect_stderr_contains "check-test-deps: command h5dump (used in fake/sh/cmd.sh) comes from hdf5-tools: add it to install.sh"
expect_stderr_contains "command curl (used in fake/sh/cmd.sh) comes from curl"
# a command named in a comment or in quoted text is not run
printf '#!/bin/bash\n# h5dump would show it\necho "use curl"\n' > fake/sh/cmd.sh
expect_exit 0 "$PY" "$CHECK" --tests fake --install install.sh

section "packages named by any of several install scripts count; the last is the one to add to"
printf 'PKGS=(python3 python3-numpy python3-h5py openmpi-bin)\n' > build.sh
printf 'PKGS=(hdf5-tools)\n' > test.sh
printf 'from h5py import File\n' > fake/py/h5.py
printf '#!/bin/bash\nh5dump -H x.h5\n' > fake/sh/cmd.sh
expect_exit 0 "$PY" "$CHECK" --tests fake --install build.sh --install test.sh
printf 'import brotli\n' > fake/py/br.py
expect_exit 1 "$PY" "$CHECK" --tests fake --install build.sh --install test.sh
expect_stderr_contains "check-test-deps: Python module brotli (used in fake/py/br.py) comes from python3-brotli: add it to test.sh"
expect_exit 1 "$PY" "$CHECK" --tests fake --install test.sh
expect_stderr_contains "Python module h5py (used in fake/py/h5.py) comes from python3-h5py: add it to test.sh"
echo "ux_ci_deps: ok"
