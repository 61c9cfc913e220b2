#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_tiff_import.sh: `cvmpi import` of a stack of 1024x1024 uint16 TIFF slices (one file per
# slice, written by tifffile: a smooth synthetic image with noise), uncompressed and deflate,
# into a raw layer without transport compression (64^3 chunks, file:// in a temporary
# directory), with 1 and 2 MPI ranks. For scale, in the same run: `cp` of the slice files
# (every byte read and written once; page cache warm) and the HDF5 import of the same volume
# (one contiguous dataset written by h5py) and the zarr import of the same volume (a zarr v2
# array written by python3-zarr, 64^3 chunks, its default compressor blosc lz4; skipped
# without python3-zarr). Reports MB/s (voxel bytes / best wall time over
# --runs) and the CPU seconds of that run (user + system, all ranks, by /usr/bin/time around
# the command: on a shared machine wall time includes waiting for the cores) per case, one TSV
# line each. Default 128 slices; `--full` is the 512 slices of the issue (several minutes on two
# shared cores); --slices N any other depth. `--quick` runs 256x256x16 once for CTest (label
# bench).
# Never fails on speed; fails if an imported layer differs from the TIFF import at 1 rank.
set -eu

usage() {
    echo "usage: $0 [--quick|--full] [--runs N] [--slices N] [--cvmpi PATH] [--dir DIR]" >&2
    exit 2
}
SX=1024 SY=1024 SZ=128
RUNS=2
HERE=$(cd "$(dirname "$0")" && pwd)
CVMPI=""
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) SX=256 SY=256 SZ=16 RUNS=1 ;;
    --full) SZ=512 ;;
    --runs) RUNS=$2; shift ;;
    --slices) SZ=$2; shift ;;
    --cvmpi) CVMPI=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    *) usage ;;
    esac
    shift
done
[ -n "$CVMPI" ] || CVMPI=$HERE/../../src/cvmpi
[ -x "$CVMPI" ] || { echo "bench_tiff_import: no cvmpi at $CVMPI (use --cvmpi)" >&2; exit 1; }
PY=/usr/bin/python3
if ! $PY -c 'import tifffile, h5py, numpy' 2>/dev/null; then
    echo "bench_tiff_import: skipped: needs $PY with tifffile, h5py and numpy"
    exit 0
fi
command -v mpirun >/dev/null 2>&1 || { echo "bench_tiff_import: skipped: no mpirun"; exit 0; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
export CV_LOG="${CV_LOG:-warn}"

W=$(mktemp -d "$PARENT/cvmpi-bench-tiff-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
BYTES=$((SX * SY * SZ * 2))
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }

$PY - "$W" "$SX" "$SY" "$SZ" <<'PY'
import os, sys, h5py, numpy as np, tifffile
w, nx, ny, nz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.mkdir(f"{w}/raw"); os.mkdir(f"{w}/deflate")
y = np.arange(ny, dtype=np.int64)[:, None]
x = np.arange(nx, dtype=np.int64)[None, :]
with h5py.File(f"{w}/stack.h5", "w") as f:
    d = f.create_dataset("raw", (nz, ny, nx), dtype="uint16")
    for z in range(nz):
        noise = np.random.default_rng(z).integers(0, 64, size=(ny, nx))
        a = (20000 + ((x * 3 + y + z * 2) % 1024) * 16 + noise).astype(np.uint16)
        d[z] = a
        tifffile.imwrite(f"{w}/raw/z_{z}.tif", a)
        tifffile.imwrite(f"{w}/deflate/z_{z}.tif", a, compression="zlib", rowsperstrip=64)
try:
    import zarr
except ImportError:
    sys.exit(0)
with h5py.File(f"{w}/stack.h5", "r") as f:
    z = zarr.open(f"{w}/stack.zarr", mode="w", shape=(nz, ny, nx), chunks=(64, 64, 64),
                  dtype="uint16")
    for z0 in range(0, nz, 64):
        z[z0:z0 + 64] = f["raw"][z0:z0 + 64]
PY

TIME=""
[ -x /usr/bin/time ] && TIME="/usr/bin/time -f %U+%S -o $W/cpu"
# best wall time of `$@` over RUNS runs into BEST, that run's CPU seconds into CPU
best_of() {
    BEST=""
    CPU="?"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        i=$((i + 1))
        rm -rf "$W/out" "$W/copy"
        echo 0+0 >"$W/cpu"
        t0=$(now)
        # shellcheck disable=SC2086
        $TIME "$@" >"$W/log" 2>&1 || { cat "$W/log"; echo "bench_tiff_import: failed: $*" >&2; exit 1; }
        t1=$(now)
        t=$(calc "$t1 - $t0")
        if [ -z "$BEST" ] || [ "$(calc "$t < $BEST")" = 1 ]; then
            BEST=$t
            CPU=$(calc "$(cat "$W/cpu")")
        fi
    done
}
report() { # CASE RANKS FILE_BYTES
    printf '%s\t%s\t%.1f MB/s\t%.2f s\tcpu %s s\t(files %.1f MB)\n' "$1" "$2" \
        "$(calc "$BYTES / 1e6 / $BEST")" "$BEST" "$CPU" "$(calc "$3 / 1e6")"
}
size_of() { du -sb "$1" | cut -f1; }

echo "bench_tiff_import: ${SX}x${SY}x${SZ} uint16 ($(calc "$BYTES / 1e6") MB of voxels), best of $RUNS"
ARGS="--chunk 64,64,64 --encoding raw --compress none --resolution 4,4,40"
for kind in raw deflate; do
    best_of cp -r "$W/$kind" "$W/copy"
    report "cp $kind slices" 1 "$(size_of "$W/$kind")"
    for n in 1 2; do
        # shellcheck disable=SC2086
        best_of mpirun -n "$n" "$CVMPI" import "$W/$kind/z_*.tif" "$W/out" $ARGS
        report "tiff $kind import" "$n" "$(size_of "$W/$kind")"
        if [ "$kind$n" = raw1 ]; then cp -r "$W/out" "$W/ref"; fi
        [ "$(cd "$W/ref" && find . -type f -name '*-*' | sort | xargs cat | cksum)" = \
            "$(cd "$W/out" && find . -type f -name '*-*' | sort | xargs cat | cksum)" ] ||
            { echo "bench_tiff_import: $kind -n $n differs from raw -n 1" >&2; exit 1; }
    done
done
for n in 1 2; do
    # shellcheck disable=SC2086
    best_of mpirun -n "$n" "$CVMPI" import "$W/stack.h5:/raw" "$W/out" $ARGS
    report "hdf5 import" "$n" "$(size_of "$W/stack.h5")"
done
if [ -d "$W/stack.zarr" ]; then
    best_of cp -r "$W/stack.zarr" "$W/copy"
    report "cp zarr chunks" 1 "$(size_of "$W/stack.zarr")"
    for n in 1 2; do
        # shellcheck disable=SC2086
        best_of mpirun -n "$n" "$CVMPI" import "zarr://$W/stack.zarr" "$W/out" $ARGS
        report "zarr import" "$n" "$(size_of "$W/stack.zarr")"
        [ "$(cd "$W/ref" && find . -type f -name '*-*' | sort | xargs cat | cksum)" = \
            "$(cd "$W/out" && find . -type f -name '*-*' | sort | xargs cat | cksum)" ] ||
            { echo "bench_tiff_import: zarr -n $n differs from raw -n 1" >&2; exit 1; }
    done
fi
