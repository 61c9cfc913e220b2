#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Outputs on devices and FIFOs are written in place, never replaced by a renamed file; `write`
# reads no more input than the box holds; array formats follow the file name or --format.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

expect_exit 0 "$CVMPI" create L --type image --dtype uint8 --size 32,32,32 --chunk 32,32,32 \
    --resolution 1,1,1
np_gen L.in uint8 32,32,32,1 5
expect_exit 0 "$CVMPI" write L --bbox 0,0,0,32,32,32 -i L.in --format raw
mkdir out

section "read -o FIFO and cp SRC FIFO: written in place"
mkfifo out/pipe
cat out/pipe >got.raw &
reader=$!
expect_exit 0 "$CVMPI" read L -o out/pipe
wait "$reader"
expect_same_files L.in got.raw
[[ -p out/pipe ]] || fail "the FIFO was replaced"
cat out/pipe >got_cp &
reader=$!
expect_exit 0 "$CVMPI" cp L/info out/pipe
wait "$reader"
cmp -s got_cp L/info || fail "cp to a FIFO did not deliver the object"
[[ -p out/pipe ]] || fail "cp replaced the FIFO"
expect_no_temp_files out

section "read -o and cp onto a character device (root only: mknod)"
if [[ $(id -u) == 0 ]]; then
    mknod out/null c 1 3
    expect_exit 0 "$CVMPI" read L -o out/null
    [[ -c out/null ]] || fail "read -o replaced the character device"
    expect_exit 0 "$CVMPI" cp L/info out/null
    [[ -c out/null ]] || fail "cp replaced the character device"
    expect_no_temp_files out
else
    echo "SKIP: not root, mknod unavailable (FIFO cases above still ran)"
fi

section "write reads at most the box's bytes + 1"
/usr/bin/time -f "%M" -o rss.txt timeout 60 "$CVMPI" write L --bbox 0,0,0,32,32,32 -i /dev/zero \
    >/dev/null 2>err.txt && fail "write -i /dev/zero succeeded"
grep -q "^cvmpi: \`/dev/zero' has more than the 32768 bytes the box needs$" err.txt ||
    fail "unexpected error: $(cat err.txt)"
(($(tail -1 rss.txt) < 200000)) || fail "max RSS $(tail -1 rss.txt) KiB reading /dev/zero"
{ cat L.in; printf x; } >long.raw
expect_exit 1 "$CVMPI" write L --bbox 0,0,0,32,32,32 -i long.raw
expect_one_line_error
expect_stderr_contains "\`long.raw' has 32769 bytes, more than the 32768 bytes the box needs"
expect_exit 1 "$CVMPI" write L --bbox 0,0,0,32,32,32 -i - < <(cat long.raw)
expect_stderr_contains "\`standard input' has more than the 32768 bytes the box needs"
head -c 32767 L.in >short.raw
expect_exit 1 "$CVMPI" write L --bbox 0,0,0,32,32,32 -i short.raw
expect_stderr_contains "\`short.raw' has 32767 bytes, the box needs 32768"

section "formats: unknown names and TIFF input are refused, .h5 alone means FILE.h5:/main"
expect_exit 2 "$CVMPI" read L -o cut.xyz
expect_stderr_contains "-o \`cut.xyz': unknown file type; use .npy, .h5[:/DATASET], .raw or .bin, or --format raw"
expect_no_file cut.xyz
expect_exit 2 "$CVMPI" write L --bbox 0,0,0,32,32,32 -i L.tiff
expect_stderr_contains "TIFF input is not supported yet"
expect_exit 0 "$CVMPI" read L -o cut.xyz --format raw
expect_same_files L.in cut.xyz
expect_exit 0 "$CVMPI" read L -o plain.h5
"$PY" - <<'PY' || fail "plain.h5 does not hold /main"
import h5py, numpy as np
a = np.fromfile("L.in", np.uint8).reshape(32, 32, 32)  # z,y,x
with h5py.File("plain.h5", "r") as f:
    assert list(f.keys()) == ["main"], list(f.keys())
    assert (f["main"][...] == a).all()
PY

section "write -i FILE.h5[:/DATASET] mirrors read -o"
expect_exit 0 "$CVMPI" create M --type image --dtype uint8 --size 32,32,32 --chunk 32,32,32 \
    --resolution 1,1,1
expect_exit 0 "$CVMPI" write M --bbox 0,0,0,32,32,32 -i plain.h5:/main
expect_exit 0 "$CVMPI" read M -o back.raw
expect_same_files L.in back.raw
expect_exit 0 "$CVMPI" write M --bbox 0,0,0,32,32,32 -i plain.h5
expect_exit 1 "$CVMPI" write M --bbox 0,0,0,32,32,32 -i plain.h5:/nope
expect_stderr_contains "has no dataset /nope"

section "a transposed array names --axes zyx"
expect_exit 0 "$CVMPI" create T --type image --dtype uint8 --size 8,4,2 --chunk 8,4,2 \
    --resolution 1,1,1
"$PY" - <<'PY'
import numpy as np
zyx = np.arange(64, dtype=np.uint8).reshape(2, 4, 8)  # h5py's [z, y, x]
np.save("zyx.npy", zyx)
zyx.tofile("want.raw")  # C order of [z, y, x] is x fastest
PY
expect_exit 1 "$CVMPI" write T --bbox 0,0,0,8,4,2 -i zyx.npy
expect_one_line_error
expect_stderr_contains "\`zyx.npy' has shape (2, 4, 8, 1), the box transposed: the box needs (8, 4, 2, 1) in axis order x,y,z; if the array is indexed [z,y,x] (as h5py gives), pass --axes zyx"
expect_exit 0 "$CVMPI" write T --bbox 0,0,0,8,4,2 -i zyx.npy --axes zyx
expect_exit 0 "$CVMPI" read T -o got_t.raw
expect_same_files want.raw got_t.raw
expect_exit 2 "$CVMPI" write T --bbox 0,0,0,8,4,2 -i want.raw --axes zyx
expect_stderr_contains "--axes applies to .npy and HDF5 input"
echo OK
