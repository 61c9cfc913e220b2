# SPDX-License-Identifier: BSD-3-Clause
# lib.sh: helpers shared by the CLI integration tests. Source it right after
# `set -euo pipefail` with the script's arguments:  source "$(dirname "$0")/lib.sh" "$@"
# It sets CVMPI (the binary, $1), PY (python3 with numpy), TEST_DIR (this directory), WORK (a
# fresh temporary directory, removed on exit, which is also the current directory) and
# defines:
#   fail MSG                      print "FAIL: MSG" and exit 1
#   run CMD...                    run CMD, keeping stdout/stderr in $OUT/$ERR and status in $RC
#   expect_exit CODE CMD...       run CMD and fail unless it exits with CODE
#   expect_stdout TEXT            the last command's stdout is exactly TEXT (plus newline)
#   expect_stderr_contains TEXT   the last command's stderr contains TEXT
#   expect_one_line_error         the last command's stderr is one line starting "cvmpi: "
#   expect_no_file PATH           PATH does not exist
#   expect_no_temp_files DIR...   no temporary files (*cvmpi-tmp*) anywhere below DIR
#   expect_same_files A B         files A and B are byte-identical
#   expect_files DIR NAME...      DIR holds exactly the files NAME... (sorted, no dirs)
#   section TEXT                  log a heading
# shellcheck shell=bash

CVMPI=${1:?usage: $0 /path/to/cvmpi}
[[ -x $CVMPI ]] || { echo "FAIL: $CVMPI is not an executable" >&2; exit 1; }
CVMPI=$(cd "$(dirname "$CVMPI")" && pwd)/$(basename "$CVMPI")
PY=/usr/bin/python3
TEST_NAME=$(basename "$0" .sh)
# shellcheck disable=SC2034 # used by the scripts that source this file
TEST_DIR=$(cd "$(dirname "$0")" && pwd) # the directory holding the test scripts
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmpi-$TEST_NAME.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
WORK=$(pwd -P) # the layer URLs cvmpi prints use the physical path
# Captured output lives outside the directories the tests inspect.
CAPTURE=$WORK/.capture
mkdir "$CAPTURE"
OUT=$CAPTURE/stdout
ERR=$CAPTURE/stderr
RC=0
LAST_CMD=
# Warnings must not be silenced or added by the caller's environment.
unset CV_LOG

fail()
{
    echo "FAIL ($TEST_NAME): $*" >&2
    if [[ -n $LAST_CMD ]]; then
        echo "  last command: $LAST_CMD (exit $RC)" >&2
        [[ -s $OUT ]] && { echo "  stdout:"; sed 's/^/    /' "$OUT" | head -20; } >&2
        [[ -s $ERR ]] && { echo "  stderr:"; sed 's/^/    /' "$ERR" | head -20; } >&2
    fi
    exit 1
}

section()
{
    echo "== $*"
}

run()
{
    LAST_CMD="$*"
    set +e
    "$@" >"$OUT" 2>"$ERR"
    RC=$?
    set -e
}

expect_exit()
{
    local code=$1
    shift
    run "$@"
    [[ $RC == "$code" ]] || fail "expected exit $code, got $RC"
}

expect_stdout()
{
    local want=$1
    [[ "$(cat "$OUT")" == "$want" ]] || fail "expected stdout \"$want\""
    # Exactly one trailing newline: compare bytes too.
    printf '%s\n' "$want" | cmp -s - "$OUT" || fail "stdout is not exactly \"$want\\n\""
}

expect_stderr_contains()
{
    grep -qF -- "$1" "$ERR" || fail "stderr does not contain \"$1\""
}

expect_one_line_error()
{
    local lines
    lines=$(wc -l <"$ERR")
    [[ $lines == 1 ]] || fail "expected a one-line error message, got $lines lines"
    [[ $(head -c 7 "$ERR") == "cvmpi: " ]] || fail "error message does not start with \"cvmpi: \""
}

expect_no_file()
{
    [[ ! -e $1 ]] || fail "$1 exists but should not"
}

expect_no_temp_files()
{
    local found
    found=$(find "$@" -name '*cvmpi-tmp*' -print)
    [[ -z $found ]] || fail "temporary files left behind: $found"
}

expect_same_files()
{
    cmp -s "$1" "$2" || fail "$1 and $2 differ: $(cmp "$1" "$2" 2>&1 | head -1)"
}

expect_files()
{
    local dir=$1
    shift
    local want got
    want=$(printf '%s\n' "$@" | LC_ALL=C sort)
    got=$(cd "$dir" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort)
    [[ "$got" == "$want" ]] || fail "$dir holds:
$got
expected:
$want"
}

# ---- NumPy helpers (arrays are raw little-endian files, x fastest, channel slowest) -------
#   np_gen FILE DTYPE X,Y,Z,C SEED               random voxels over the dtype's whole range
#   np_sub FULL OUT DTYPE X,Y,Z,C x0,y0,z0,x1,y1,z1   cut a box (coordinates relative to FULL)
#   np_paint BASE PATCH OUT DTYPE X,Y,Z,C x0,y0,z0 PX,PY,PZ   BASE with PATCH (PX,PY,PZ) at x0,y0,z0
#   np_fill FILE DTYPE X,Y,Z,C VALUE             an array of one value
#   np_check_npy NPY RAW DTYPE X,Y,Z,C           NPY loads with that dtype/shape and equals RAW
NP_HELPER='
import sys
import numpy as np

def shape(t):
    return tuple(int(v) for v in t.split(","))

def load_raw(path, dt, shp):
    a = np.fromfile(path, dtype=np.dtype(dt).newbyteorder("<"))
    if a.size != int(np.prod(shp)):
        sys.exit("%s: %d voxels, want %d" % (path, a.size, int(np.prod(shp))))
    return a.reshape(shp, order="F")

def save_raw(path, a):
    np.asfortranarray(a).ravel(order="F").astype(a.dtype.newbyteorder("<")).tofile(path)

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "gen":
    path, dt, shp, seed = args[0], np.dtype(args[1]), shape(args[2]), int(args[3])
    rng = np.random.default_rng(seed)
    n = int(np.prod(shp))
    if dt.kind in "ui":
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=n, dtype=dt, endpoint=True)
    else:
        a = (rng.standard_normal(n) * 1000).astype(dt)
        special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40], dtype=dt)
        a[: min(n, special.size)] = special[: min(n, special.size)]
    save_raw(path, a.reshape(shp, order="F"))
elif cmd == "sub":
    full, out, dt, shp, box = args[0], args[1], args[2], shape(args[3]), shape(args[4])
    a = load_raw(full, dt, shp)
    save_raw(out, a[box[0]:box[3], box[1]:box[4], box[2]:box[5], :])
elif cmd == "paint":
    base, patch, out, dt, shp, at = args[0], args[1], args[2], args[3], shape(args[4]), shape(args[5])
    a = load_raw(base, dt, shp)
    raw = np.fromfile(patch, dtype=np.dtype(dt).newbyteorder("<"))
    x, y, z = at
    # args[6] is the patch extent PX,PY,PZ; channels as in the base array.
    pshape = tuple(int(v) for v in args[6].split(",")) + (shp[3],)
    p = raw.reshape(pshape, order="F")
    a[x:x + pshape[0], y:y + pshape[1], z:z + pshape[2], :] = p
    save_raw(out, a)
elif cmd == "fill":
    path, dt, shp, value = args[0], np.dtype(args[1]), shape(args[2]), args[3]
    value = float(value) if dt.kind == "f" else int(value)
    save_raw(path, np.full(shp, value, dtype=dt, order="F"))
elif cmd == "check_npy":
    npy, raw, dt, shp = args[0], args[1], np.dtype(args[2]), shape(args[3])
    a = np.load(npy)
    if a.dtype != dt or a.shape != shp:
        sys.exit("%s: dtype %s shape %s, want %s %s" % (npy, a.dtype, a.shape, dt, shp))
    if not a.flags.f_contiguous:
        sys.exit("%s: not in Fortran order" % npy)
    want = load_raw(raw, dt, shp)
    bits = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[dt.itemsize]
    if not np.array_equal(a.view(bits), want.view(bits)):
        bad = np.argwhere(a.view(bits) != want.view(bits))
        sys.exit("%s: %d voxels differ, first at %s" % (npy, len(bad), tuple(bad[0])))
else:
    sys.exit("np helper: unknown command " + cmd)
'

np_gen() { "$PY" -c "$NP_HELPER" gen "$@" || fail "np_gen $*"; }
np_sub() { "$PY" -c "$NP_HELPER" sub "$@" || fail "np_sub $*"; }
# np_paint BASE PATCH OUT DTYPE X,Y,Z,C x0,y0,z0 PX,PY,PZ
np_paint() { "$PY" -c "$NP_HELPER" paint "$@" || fail "np_paint $*"; }
np_fill() { "$PY" -c "$NP_HELPER" fill "$@" || fail "np_fill $*"; }
np_check_npy() { "$PY" -c "$NP_HELPER" check_npy "$@" || fail "np_check_npy $*"; }
