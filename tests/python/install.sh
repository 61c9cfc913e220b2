#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Python package installed two ways: `cmake --install` into a temporary prefix (the package
# finds the installed libcvmpi and cvmpi with no environment), and `pip install
# --no-build-isolation --no-index` (offline) of a copy of python/ into a venv (the library then
# comes from CVMPI_LIBRARY or LD_LIBRARY_PATH).
# usage: install.sh SOURCE_DIR BUILD_DIR CMAKE
set -euo pipefail
src=$1 build=$2 cmake=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
unset CVMPI_LIBRARY CVMPI_TOOL LD_LIBRARY_PATH

"$cmake" --install "$build" --prefix "$work/prefix" > /dev/null
(cd "$work" && PYTHONPATH="$work/prefix/lib/python3/dist-packages" "$py" - "$work/prefix" <<'PY'
import os, sys
import cvmpi
from cvmpi import jobs
prefix = os.path.realpath(sys.argv[1])
lib = os.path.realpath(cvmpi.library_path)
assert lib.startswith(prefix + os.sep), (lib, prefix)
tool = os.path.realpath(jobs._tool())
assert tool == os.path.join(prefix, "bin", "cvmpi"), tool
print("cmake --install: library %s, tool %s" % (lib, tool))
PY
)

cp -r "$src/python" "$work/pkg"
"$py" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install -q --no-cache-dir --no-build-isolation --no-index "$work/pkg"
lib=$(ls "$build"/src/libcvmpi.so.0)
for how in CVMPI_LIBRARY LD_LIBRARY_PATH; do
    if [ "$how" = CVMPI_LIBRARY ]; then
        env=(CVMPI_LIBRARY="$lib")
    else
        env=(LD_LIBRARY_PATH="$(dirname "$lib")")
    fi
    (cd "$work" && env "${env[@]}" "$work/venv/bin/python" - "$work/venv" <<'PY'
import os, sys
import cvmpi
where = os.path.realpath(cvmpi.__file__)
assert where.startswith(os.path.realpath(sys.argv[1]) + os.sep), where
print("pip install:", where, "library", cvmpi.library_path)
PY
    )
done
echo "OK"
