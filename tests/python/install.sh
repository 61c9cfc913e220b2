#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Python package installed three ways: `cmake --install` into a temporary prefix (the
# package finds the installed libcvmpi and cvmpi with no environment); `pip install --no-index
# ./python` with no other flag, the network unreachable, into a venv (the build backend is in
# the tree, so build isolation fetches nothing; the library then comes from CVMPI_LIBRARY or
# LD_LIBRARY_PATH and reads a layer the cvmpi command wrote); and `pip install -e`. `pip wheel
# --no-index` makes a wheel whose RECORD check_wheel.py and `python3 -m wheel unpack` verify.
# usage: install.sh SOURCE_DIR BUILD_DIR CMAKE
set -euo pipefail
src=$1 build=$2 cmake=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
unset CVMPI_LIBRARY CVMPI_TOOL LD_LIBRARY_PATH
tool=$build/src/cvmpi
lib=$(ls "$build"/src/libcvmpi.so.0)

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

# pip as a user with no configuration has it: no index, find-links or cache from this machine.
while IFS='=' read -r name _; do unset "$name"; done < <(env | grep '^PIP_' || true)
export PIP_CONFIG_FILE=/dev/null HOME=$work/home XDG_CACHE_HOME=$work/cache
# No network: a new network namespace where that is allowed, else proxies on a closed port.
offline=()
if unshare -n true 2> /dev/null; then
    offline=(unshare -n)
    echo "pip runs in a network namespace of its own (no network)"
else
    export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
    export HTTP_PROXY=$http_proxy HTTPS_PROXY=$https_proxy
    echo "pip runs with proxies on a closed port (no network namespace here)"
fi
pip_in() { # pip_in VENV LOG ARGS...: pip offline, its output shown only when it fails
    local venv=$1 log=$2
    shift 2
    (cd "$work" && "${offline[@]}" "$venv/bin/python" -m pip "$@") > "$log" 2>&1 || {
        echo "FAIL: pip $* exited $?:" >&2
        cat "$log" >&2
        exit 1
    }
}

# the package's files only: a stray library or __pycache__ in the tree must not change the test
mkdir -p "$work/python/cvmpi"
cp "$src/python/pyproject.toml" "$src/python/README.md" "$work/python/"
cp -r "$src/python/backend" "$work/python/"
cp "$src"/python/cvmpi/*.py "$work/python/cvmpi/"

# a layer written by the cvmpi command, read below through each installed package
"$tool" create "$work/layer" --type image --dtype uint16 --size 40,30,20 --chunk 16,16,8 \
    --resolution 4,4,40 --offset 3,0,-2 > /dev/null
"$py" -c "
import numpy as np, sys
np.save(sys.argv[1], (np.arange(40 * 30 * 20, dtype=np.uint64) * 2654435761 % 65521)
        .astype(np.uint16).reshape(40, 30, 20))" "$work/in.npy"
"$tool" write "$work/layer" --bbox 3,0,-2,43,30,18 -i "$work/in.npy" > /dev/null
read_layer() { # read_layer PYTHON ENV...: the installed package imports, reads the layer exactly
    local python=$1
    shift
    (cd "$work" && env "$@" "$python" - "$work" <<'PY'
import os, sys
import numpy as np
import cvmpi
work = os.path.realpath(sys.argv[1])
where = os.path.realpath(cvmpi.__file__)
assert where.startswith(work + os.sep), where
want = np.load(os.path.join(work, "in.npy"))
vol = cvmpi.CloudVolume("file://" + os.path.join(work, "layer"))
img = vol[3:43, 0:30, -2:18]
assert img.shape == (40, 30, 20, 1) and img.dtype == np.uint16, (img.shape, img.dtype)
assert np.array_equal(img[..., 0], want), "the layer read back differs"
assert vol[10, 7, 5][0, 0, 0, 0] == want[7, 7, 7] == 33352, vol[10, 7, 5]
print("%s: library %s" % (os.path.relpath(where, work), cvmpi.library_path))
PY
    )
}

"$py" -m venv --system-site-packages "$work/venv"
pip_in "$work/venv" "$work/pip-install.log" install --no-index ./python
read_layer "$work/venv/bin/python" CVMPI_LIBRARY="$lib"
read_layer "$work/venv/bin/python" LD_LIBRARY_PATH="$(dirname "$lib")"

"$py" -m venv --system-site-packages "$work/venv-e"
pip_in "$work/venv-e" "$work/pip-editable.log" install --no-index -e ./python
read_layer "$work/venv-e/bin/python" CVMPI_LIBRARY="$lib"
[ "$(cd "$work" && CVMPI_LIBRARY=$lib venv-e/bin/python -c 'import cvmpi; print(cvmpi.__file__)')" = \
    "$work/python/cvmpi/__init__.py" ] || {
    echo "FAIL: the editable install does not import the tree's cvmpi" >&2
    exit 1
}

# `pip wheel` builds the dependencies' wheels too unless --no-deps (NumPy comes from Debian)
pip_in "$work/venv" "$work/pip-wheel.log" wheel --no-index --no-deps ./python -w "$work/wheels"
"$py" "$src/tests/python/check_wheel.py" "$work/wheels/cvmpi-0.1.0-py3-none-any.whl" \
    "$work/python" > /dev/null
# an independent reader of the format: `wheel unpack` refuses a wrong RECORD hash or size
"$py" -m wheel unpack -d "$work/unpacked" "$work/wheels/cvmpi-0.1.0-py3-none-any.whl" > /dev/null
diff -r "$work/python/cvmpi" "$work/unpacked/cvmpi-0.1.0/cvmpi"
echo "OK"
