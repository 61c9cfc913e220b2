#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Bad zarr input to `cvmpi import zarr://`: a missing, non-JSON or hostile .zarray (zarr v3,
# an unknown dtype or compressor, filters, zero or overflowing chunks, 2-D, a fill value the
# dtype cannot hold, an absurd size) is refused with one line naming the .zarray before
# anything is written (exit 1); chunks that are cut short, garbage or decode to the wrong size
# (raw, gzip, zlib, zstd, blosc) fail their tasks naming the chunk file, and the job exits 1
# telling to --resume. N5 (n5://) likewise: a bad attributes.json; block headers with another
# mode, dimension count or a size past blockSize, and blocks cut short. Single process.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
# The MPI library's own allocations are not freed at exit: leak checks would only see those.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
"$PY" -c "import zarr, numcodecs" 2> /dev/null ||
    { echo "io_zarr_bad: skipped (no python3-zarr)"; exit 0; }

"$PY" - <<'PY'
import json, os, numpy as np, zarr
from numcodecs import Blosc, GZip, Zlib, Zstd
a = np.arange(4 * 30 * 40, dtype="<u2").reshape(4, 30, 40)
good = None
for name, comp in (("raw", None), ("gzip", GZip()), ("zlib", Zlib()), ("zstd", Zstd()),
                   ("blosc", Blosc())):
    z = zarr.open(name + ".zarr", mode="w", shape=a.shape, chunks=(2, 10, 40), dtype=a.dtype,
                  compressor=comp)
    z[:] = a
meta = json.load(open("raw.zarr/.zarray"))
def bad(name, **change):
    os.mkdir(name)
    m = dict(meta, **change)
    with open(name + "/.zarray", "w") as f:
        json.dump(m, f)
bad("v3", zarr_format=3)
bad("complex", dtype="<c8")
bad("lzma", compressor={"id": "lzma"})
bad("filters", filters=[{"id": "delta", "dtype": "<u2"}])
bad("zero", chunks=[0, 10, 40])
bad("huge", chunks=[1 << 20, 1 << 20, 1 << 20])
bad("flat", shape=[30, 40], chunks=[10, 40])
bad("fill", dtype="|u1", fill_value=300)
bad("order", order="K")
bad("sep", dimension_separator="-")
bad("neg", shape=[4, -30, 40])
bad("vast", shape=[1 << 40, 1 << 40, 1 << 40])
os.mkdir("notjson")
open("notjson/.zarray", "w").write("{\"zarr_format\": 2, \"shape\": [4, 30")
os.mkdir("nometa")
def cut(name, key, keep):  # keep the first `keep` bytes of a chunk (negative: drop from end)
    p = f"{name}.zarr/{key}"
    data = open(p, "rb").read()
    open(p, "wb").write(data[:keep])
cut("raw", "1.1.0", 100)
cut("gzip", "1.1.0", -20)
cut("zstd", "1.1.0", 10)
cut("blosc", "1.1.0", 12)
p = "zlib.zarr/1.1.0"  # garbage inside the stream
d = bytearray(open(p, "rb").read())
d[4:-4] = b"\xff" * (len(d) - 8)
open(p, "wb").write(bytes(d))
# a gzip stream of the right format but too many bytes: a chunk of the wrong size
import gzip
open("gzip.zarr/0.0.0", "wb").write(gzip.compress(b"\0" * (2 * 10 * 40 * 2 + 2)))
# N5: attributes.json refused; blocks whose header lies, or that are cut short
import struct
def n5(name, attrs):
    os.makedirs(name, exist_ok=True)
    json.dump(attrs, open(name + "/attributes.json", "w"))
attrs = {"dimensions": [40, 30, 4], "blockSize": [40, 10, 2], "dataType": "uint16",
         "compression": {"type": "raw"}}
n5("n5_xz", dict(attrs, compression={"type": "xz"}))
n5("n5_type", dict(attrs, dataType="string"))
for name, head, body in (("n5_mode", (1, 3, 40, 10, 2), 1600), ("n5_dims", (0, 2, 40, 10), 1600),
                         ("n5_size", (0, 3, 41, 10, 2), 1500), ("n5_cut", (0, 3, 40, 10, 2), 900)):
    n5(name, attrs)
    os.makedirs(name + "/0/1", exist_ok=True)
    with open(name + "/0/1/1", "wb") as f:
        f.write(struct.pack(">HH" + "I" * (len(head) - 2), *head) + b"\1" * body)
PY

refused() { # DIR MESSAGE: one line, exit 1, no layer
    local scheme=zarr
    [[ $1 != n5_* ]] || scheme=n5
    expect_exit 1 "$CVMPI" import "$scheme://$1" "L_$1" --resolution 1,1,1
    expect_one_line_error
    [[ "$(cat "$ERR")" == "$2" ]] || fail "$1: got \"$(cat "$ERR")\", want \"$2\""
    expect_no_file "L_$1"
}
refused v3 "cvmpi: import: v3/.zarray: zarr_format is not 2 (only zarr v2 arrays are read)"
refused complex "cvmpi: import: complex/.zarray: dtype <c8 is not supported; want one of |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 <f4 <f8 (or > for big-endian)"
refused lzma "cvmpi: import: lzma/.zarray: compressor lzma is not supported; want none, gzip, zlib, zstd or blosc"
refused filters "cvmpi: import: filters/.zarray: filters are not supported (want null)"
refused zero "cvmpi: import: zero/.zarray: chunks[0] is not an integer >= 1"
refused huge "cvmpi: import: huge/.zarray: chunks of more than 2147483648 bytes are not supported"
refused flat "cvmpi: import: flat/.zarray has 2 dimensions; want 3 (z,y,x) or 4 (with channels)"
refused fill "cvmpi: import: fill/.zarray: fill_value 300 does not fit dtype uint8"
refused order "cvmpi: import: order/.zarray: order is not \"C\" or \"F\""
refused sep "cvmpi: import: sep/.zarray: dimension_separator is not \".\" or \"/\""
refused neg "cvmpi: import: neg/.zarray: shape[1] is not an integer >= 0"
refused nometa "cvmpi: import: nometa/.zarray: No such file or directory (is nometa a zarr v2 array?)"
expect_exit 1 "$CVMPI" import zarr://notjson L_notjson --resolution 1,1,1
expect_one_line_error
expect_stderr_contains "cvmpi: import: parse \`notjson/.zarray': invalid JSON near byte 33"
expect_no_file L_notjson
expect_exit 1 "$CVMPI" import zarr://vast L_vast --resolution 1,1,1
expect_one_line_error
expect_stderr_contains "cvmpi: import: dataset vast: scales[0].size: 1099511627776 x 1099511627776 x 1099511627776 voxels x 1 channels x 2 bytes is more than 2^63 - 1 bytes"
expect_no_file L_vast
expect_exit 1 "$CVMPI" import zarr://raw.zarr L_axes --resolution 1,1,1 --axes zyxc
expect_stderr_contains "--axes zyxc names 4 axes, but the dataset raw.zarr has 3 dimensions"

# damaged chunks: the tasks reading them fail naming the chunk file; the job says --resume
damaged() { # NAME MESSAGE-PART
    expect_exit 1 "$CVMPI" import "zarr://$1.zarr" "L_$1" --resolution 1,1,1 --chunk 40,10,2
    expect_stderr_contains "$2"
    grep -q "tasks failed (listed above); fix the cause and rerun with --resume$" "$ERR" ||
        fail "$1: no summary of the failed tasks"
}
damaged raw "raw.zarr/1.1.0 has 100 bytes; an uncompressed chunk has 1600"
damaged gzip "gzip.zarr/0.0.0: gzip stream decodes to more than 1600 bytes, want 1600"
grep -q "gzip.zarr/1.1.0: gzip stream is corrupt or cut short" "$ERR" || fail "gzip: cut chunk"
damaged zlib "zlib.zarr/1.1.0: zlib stream is corrupt or cut short"
damaged zstd "zstd.zarr/1.1.0: zstd stream is corrupt, cut short or too large"
damaged blosc "blosc.zarr/1.1.0: not a blosc stream, or cut short (12 bytes)"
refused n5_xz "cvmpi: import: n5_xz/attributes.json: compression xz is not supported; want raw, gzip, zstd or blosc"
expect_exit 1 "$CVMPI" import n5://n5_type L_n5_type --resolution 1,1,1
expect_one_line_error
expect_stderr_contains "cvmpi: import: n5_type/attributes.json: dataType string is not supported"
n5_damaged() { # NAME MESSAGE
    expect_exit 1 "$CVMPI" import "n5://$1" "L_$1" --resolution 1,1,1 --chunk 40,10,2
    expect_stderr_contains "$2"
    grep -q "^cvmpi: import: 3 of 6 tasks failed (listed above); fix the cause and rerun with --resume$" "$ERR" ||
        fail "$1: want the round of 3 tasks reading the block failed"
}
n5_damaged n5_mode "n5_mode/0/1/1: N5 block header has mode 1 and 3 dimensions; want mode 0 (default) and 3"
n5_damaged n5_dims "n5_dims/0/1/1: N5 block header has mode 0 and 2 dimensions; want mode 0 (default) and 3"
n5_damaged n5_size "n5_size/0/1/1: N5 block size 41 along axis 0 is not 1..40 (blockSize)"
n5_damaged n5_cut "n5_cut/0/1/1 has 900 bytes; an uncompressed chunk has 1600"
echo "io_zarr_bad: all passed"
