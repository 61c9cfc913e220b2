#!/usr/bin/env bash
# Sizes whose products overflow 64 bits (boxes, whole scales, cseg blocks, deep downsample
# pyramids) must give one clean error and leave no file or info change behind; they used to
# wrap to small numbers and crash, overflow the heap, or "succeed" with empty output.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"

# layer_with DIR PYTHON: a copy of the 64^3 uint8 layer L whose info PYTHON edits (as `i').
layer_with()
{
    local dir=$1 edit=$2
    mkdir -p "$dir"
    "$PY" - "$WORK/L/info" "$dir/info" "$edit" <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(i, open(sys.argv[2], "w"))
PY
}

"$CVMPI" create L --type image --dtype uint8 --size 64,64,64 --resolution 1,1,1 >/dev/null
head -c 262144 /dev/urandom >full.raw
"$CVMPI" write L --bbox 0,0,0,64,64,64 -i full.raw
BIG=0,0,0,4194304,2097152,2097152 # 2^22 x 2^21 x 2^21 voxels: exactly 2^64 bytes
# transfer, verify and downsample start MPI (a singleton here): Open MPI's own allocations are
# not freed at exit, so leak checking is off for those commands only (as in tests/mpi).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
MPI=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$CVMPI")

section "read/write of a box whose bytes wrap to 0"
expect_exit 1 "$CVMPI" read L --bbox $BIG --unbounded --fill-missing -o x.raw
expect_one_line_error
expect_stderr_contains "cvmpi: file://$WORK/L: box $BIG of 1.845e+19 bytes does not fit in 64 bits"
expect_no_file x.raw
: >empty.raw
expect_exit 1 "$CVMPI" write L --bbox $BIG -i empty.raw
expect_one_line_error
expect_stderr_contains "box $BIG of 1.845e+19 bytes does not fit in 64 bits"
# A box that fits in 64 bits but not in this machine's memory is refused before allocating.
expect_exit 1 "$CVMPI" read L --bbox 0,0,0,4194304,2097152,1048576 --unbounded --fill-missing -o x.raw
expect_one_line_error
expect_stderr_contains "box 0,0,0,4194304,2097152,1048576 of 9223372036854775808 bytes does not fit in memory"
expect_no_file x.raw

section "an info whose scale has 2^64 bytes, with an attacker's chunk"
layer_with H 'i["scales"][0]["size"] = [2**22, 2**21, 2**21]'
mkdir -p H/1_1_1
head -c 262144 /dev/urandom >H/1_1_1/0-64_0-64_0-64
msg="cvmpi: info \`file://$WORK/H/info': scales[0].size: 4194304 x 2097152 x 2097152 voxels x 1 channels x 1 bytes is more than 2^63 - 1 bytes"
expect_exit 1 "$CVMPI" read H --bbox 0,0,0,64,64,64 -o x.raw
expect_one_line_error
expect_stderr_contains "$msg"
expect_exit 1 "$CVMPI" read H -o x.raw
expect_stderr_contains "$msg"
expect_exit 1 "$CVMPI" write H --bbox $BIG -i empty.raw
expect_stderr_contains "$msg"
expect_no_file x.raw

section "2^40 voxels per axis: read, transfer and verify refuse the layer"
layer_with T 'i["scales"][0]["size"] = [2**40] * 3'
msg="scales[0].size: 1099511627776 x 1099511627776 x 1099511627776 voxels x 1 channels x 1 bytes is more than 2^63 - 1 bytes"
expect_exit 1 "$CVMPI" read T -o x.raw
expect_stderr_contains "$msg"
expect_no_file x.raw
expect_exit 1 "${MPI[@]}" transfer T dst
expect_stderr_contains "$msg"
[[ ! -e dst ]] || fail "transfer created dst"
expect_exit 1 "${MPI[@]}" verify T L
expect_stderr_contains "$msg"
# Several channels and a wide dtype count too: 2^20 x 2^20 x 2^20 voxels of 8 x 8 bytes.
layer_with C 'i["scales"][0]["size"] = [2**20] * 3; i["num_channels"] = 8; i["data_type"] = "float64"'
expect_exit 1 "$CVMPI" info C
expect_stderr_contains "scales[0].size: 1048576 x 1048576 x 1048576 voxels x 8 channels x 8 bytes is more than 2^63 - 1 bytes"
# chunk sizes must fit the codecs' 32-bit shapes
layer_with K 'i["scales"][0]["chunk_sizes"] = [[2**32 + 64, 64, 64]]'
expect_exit 1 "$CVMPI" read K --bbox 0,0,0,64,64,64 -o x.raw
expect_stderr_contains "scales[0].chunk_sizes[0]: each size must be <= 2^31 - 1 (got 4294967360)"

section "import: HDF5 datasets whose shape does not fit"
"$PY" - <<'PY'
import h5py
for name, shape in (("slice_1.h5", (2**62, 1, 1)), ("slice_2.h5", (2**62, 1, 1)),
                    ("wide.h5", (2**61, 4, 1))):
    with h5py.File(name, "w") as f:  # chunked and never written: a few hundred bytes
        f.create_dataset("d", shape=shape, dtype="u1", chunks=(1, 1, 1))
PY
expect_exit 1 "${MPI[@]}" import 'slice_*.h5:/d' I1 --resolution 1,1,1
expect_one_line_error
expect_stderr_contains "cvmpi: import: the stack of /d is more than 2^63 - 1 planes deep"
expect_exit 1 "${MPI[@]}" import wide.h5:/d I2 --resolution 1,1,1
expect_one_line_error
expect_stderr_contains "import: dataset /d: scales[0].size: 1 x 4 x 2305843009213693952 voxels x 1 channels x 1 bytes is more than 2^63 - 1 bytes"
[[ ! -e I1 && ! -e I2 ]] || fail "import created a layer"

section "serve: a 2^32 x 2^32 x 1 layer, and a slice too large for memory"
command -v curl >/dev/null || fail "this test needs curl"
layer_with V 'i["scales"][0]["size"] = [2**32, 2**32, 1]'
expect_exit 1 "$CVMPI" serve V --port 0
expect_one_line_error
expect_stderr_contains "scales[0].size: 4294967296 x 4294967296 x 1 voxels x 1 channels x 1 bytes is more than 2^63 - 1 bytes"
layer_with W 'i["scales"][0]["size"] = [2**31, 2**31, 1]'
"$CVMPI" serve W --port 0 >"$CAPTURE/serve.out" 2>"$CAPTURE/serve.err" &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
    grep -q '^slice viewer:' "$CAPTURE/serve.out" 2>/dev/null && break
    kill -0 $SERVE_PID 2>/dev/null || fail "cvmpi serve W exited: $(cat "$CAPTURE/serve.err")"
    sleep 0.1
done
BASE=$(sed -n 's|^source: *precomputed://||p' "$CAPTURE/serve.out")
STATUS=$(curl -s -o body -w '%{http_code}' "${BASE}view/slice?mip=0&z=0")
[[ $STATUS == 400 ]] || fail "slice of 2^62 bytes: status $STATUS ($(head -c 200 body))"
grep -qF "box 0,0,0,2147483648,2147483648,1 of 4611686018427387904 bytes does not fit in memory" body || fail "slice error: $(head -c 200 body)"
kill $SERVE_PID
wait $SERVE_PID 2>/dev/null || true

section "compressed_segmentation block sizes"
layer_with S 'i["type"] = "segmentation"; i["data_type"] = "uint32"
s = i["scales"][0]
s["encoding"] = "compressed_segmentation"
s["compressed_segmentation_block_size"] = [2**31] * 3'
mkdir -p S/1_1_1
printf '\1\0\0\0' >S/1_1_1/0-64_0-64_0-64
expect_exit 1 "$CVMPI" read S --bbox 0,0,0,8,8,8 -o x.raw
expect_one_line_error
expect_stderr_contains "scales[0].compressed_segmentation_block_size: 2147483648 x 2147483648 x 2147483648 is more than 2^24 voxels per block"
# 2^32 + 8 used to be truncated to 8 when handed to the codec.
layer_with S2 'i["type"] = "segmentation"; i["data_type"] = "uint32"
s = i["scales"][0]
s["encoding"] = "compressed_segmentation"
s["compressed_segmentation_block_size"] = [2**32 + 8, 8, 8]'
expect_exit 1 "$CVMPI" read S2 --bbox 0,0,0,8,8,8 -o x.raw
expect_stderr_contains "compressed_segmentation_block_size: 4294967304 x 8 x 8 is more than 2^24 voxels per block"
expect_no_file x.raw

section "deep downsample of a 64^3 layer"
cp -r L D
cp D/info info.orig
expect_exit 0 "${MPI[@]}" downsample D --num-mips 7 --factor 2,2,2 --dry-run
expect_stderr_contains "cvmpi: warning: downsample: --num-mips 7 stops at 6 levels: mip 0 of size 64x64x64 reaches 0 voxels along an axis after 7 factor 2,2,2 steps"
grep -qF "plan: mip 0 0,0,0,64,64,64 -> mips 1..6, factor 2,2,2" "$OUT" || fail "dry-run plan: $(cat "$OUT")"
grep -qF "1 tasks of 64x64x64 voxels read from mip 0, levels 1..6 made in memory, 0.3 MB per task" "$OUT" ||
    fail "dry-run task size: $(cat "$OUT")"
expect_same_files D/info info.orig
# A plan that cannot run fails before the info gains any scale.
expect_exit 1 "${MPI[@]}" downsample D --num-mips 2 --factor 2,2,2 --memory 1000
expect_same_files D/info info.orig
expect_exit 0 "${MPI[@]}" downsample D --num-mips 17 --factor 2,2,2
expect_stderr_contains "--num-mips 17 stops at 6 levels"
"$PY" -c 'import json,sys; print([s["size"] for s in json.load(open(sys.argv[1]))["scales"]])' D/info >sizes
[[ $(cat sizes) == "[[64, 64, 64], [32, 32, 32], [16, 16, 16], [8, 8, 8], [4, 4, 4], [2, 2, 2], [1, 1, 1]]" ]] ||
    fail "downsampled sizes: $(cat sizes)"
# the top level is the mean of the whole volume (sums carried across levels, one division)
"$CVMPI" read D --mip 6 --bbox 0,0,0,1,1,1 -o top.raw
"$PY" - <<'PY'
import numpy as np
a = np.fromfile("full.raw", np.uint8).astype(np.uint64)
got = np.fromfile("top.raw", np.uint8)
assert got.tolist() == [int(a.sum()) >> 18], (got, int(a.sum()) >> 18)
PY
# a volume with a 1-voxel axis cannot shrink along it
"$CVMPI" create F --type image --dtype uint8 --size 64,64,1 --resolution 1,1,1 >/dev/null
expect_exit 1 "${MPI[@]}" downsample F --num-mips 1 --factor 2,2,2
expect_one_line_error
expect_stderr_contains "downsample: mip 0 of size 64x64x1 cannot shrink by factor 2,2,2"
echo "PASS"
