#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Bad TIFF input to `cvmpi import`: a slice cut short, a file that is not a TIFF, an empty file,
# a header whose first directory points past the end and a page of an unsupported sample type
# are refused with one line naming the file (and page) before anything is written (exit 1);
# a strip whose deflate stream is garbage fails its tasks with libtiff's cause, naming the file
# and page, and the job exits 1 telling to --resume. Single process (no mpirun needed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
# The MPI library's own allocations are not freed at exit: leak checks would only see those.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
"$PY" -c "import tifffile" 2> /dev/null || { echo "io_tiff_bad: skipped (no python3-tifffile)"; exit 0; }

"$PY" - <<'PY'
import os, numpy as np, tifffile
a = np.arange(4 * 30 * 40, dtype=np.uint16).reshape(4, 30, 40)
for d in ("cut", "notiff", "empty", "ifd", "bits", "garbage"):
    os.mkdir(d)
    for z in range(4):
        tifffile.imwrite(f"{d}/z_{z}.tif", a[z], compression="zlib" if d == "garbage" else None,
                         rowsperstrip=10)
# slice 2 cut short in its pixel data (tifffile writes the directory first)
size = os.path.getsize("cut/z_2.tif")
with tifffile.TiffFile("cut/z_2.tif") as t:
    end = t.pages[0].dataoffsets[2] + t.pages[0].databytecounts[2]
with open("cut/z_2.tif", "r+b") as f:
    f.truncate(size - 700)
with open("cut.txt", "w") as f:  # the message's numbers (tifffile's header size may change)
    f.write(f"{end} {size - 700}\n")
with open("notiff/z_1.tif", "wb") as f:
    f.write(b"just some text, no TIFF header here\n")
open("empty/z_3.tif", "wb").close()
with open("ifd/z_0.tif", "r+b") as f:  # first IFD offset far past the end
    f.seek(4)
    f.write((1 << 30).to_bytes(4, "little"))
tifffile.imwrite("bits/z_1.tif", np.zeros((30, 40), bool))  # 1-bit samples
# garbage in the middle of slice 1's second deflate strip
t = tifffile.TiffFile("garbage/z_1.tif")
off, n = t.pages[0].dataoffsets[1], t.pages[0].databytecounts[1]
t.close()
with open("garbage/z_1.tif", "r+b") as f:
    f.seek(off + 2)
    f.write(b"\xff" * (n - 4))
PY

refused() { # DIR MESSAGE: one line, exit 1, no layer
    expect_exit 1 "$CVMPI" import "$1/z_*.tif" "L_$1" --resolution 1,1,1
    expect_one_line_error
    [[ "$(cat "$ERR")" == "$2" ]] || fail "$1: got \"$(cat "$ERR")\", want \"$2\""
    expect_no_file "L_$1"
}
read -r end size < cut.txt
refused cut "cvmpi: import: cut/z_2.tif, page 0: strip 2 ends at byte $end, past the end of the file ($size bytes): the file is truncated or corrupt"
refused notiff "cvmpi: import: notiff/z_1.tif is not a TIFF file libtiff can open: Not a TIFF or MDI file, bad magic number 30058 (0x756a)"
refused empty "cvmpi: import: empty/z_3.tif is not a TIFF file libtiff can open: Cannot read TIFF header"
refused bits "cvmpi: import: bits/z_1.tif, page 0: unsupported samples (1 bits, sample format 1); want 8-64 bit integers or 32/64 bit floats"
expect_exit 1 "$CVMPI" import "ifd/z_*.tif" L_ifd --resolution 1,1,1
expect_one_line_error
expect_stderr_contains "cvmpi: import: ifd/z_0.tif"
expect_no_file L_ifd

# corrupt compressed data: the tasks of the round reading it fail naming file, page and strip
expect_exit 1 "$CVMPI" import "garbage/z_*.tif" L_garbage --resolution 1,1,1 --chunk 40,10,1
expect_stderr_contains "garbage/z_1.tif, page 0: strip 1 is corrupt or cut short"
grep -q "^cvmpi: import: 3 of 12 tasks failed (listed above); fix the cause and rerun with --resume$" "$ERR" ||
    fail "no summary of the failed tasks"
echo "io_tiff_bad: all passed"
