#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_downsample_job.sh: a whole pyramid job, `cvmpi downsample --num-mips 5` of a
# 1024x1024x512 uint8 layer (64^3 raw chunks, uncompressed; a smooth image with noise made
# here with numpy) on file:// in a temporary directory, with 1 and 2 MPI ranks and --memory
# 64M per rank, so tasks make 3 levels and the reduction tree the other 2; new chunks are
# written uncompressed (--compress none: gzip -9 of the new levels would dominate the time and
# hide the job's own cost). Reports wall time,
# source MB/s, and the bytes read from storage (cvmpi's own count of chunk bytes read, summed
# over ranks) against the source's size on disk: the target is one read of the source
# (<= 1.05x). Same-run baseline: reading every source chunk file once (cat > /dev/null).
# `--quick` runs 256x256x128 with 3 mips for CTest (label bench). Never fails on speed; fails
# if the source is read more than 1.05 times.
set -eu

SIZE_X=1024 SIZE_Y=1024 SIZE_Z=512 MIPS=5 MEMORY=64M RUNS=2
CVMPI=""
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) SIZE_X=256 SIZE_Y=256 SIZE_Z=128 MIPS=3 MEMORY=8M RUNS=1 ;;
    --runs) RUNS=$2; shift ;;
    --cvmpi) CVMPI=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    *) echo "usage: $0 [--quick] [--runs N] [--cvmpi PATH] [--dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$CVMPI" ] || CVMPI=$HERE/../../src/cvmpi
PY=/usr/bin/python3
if ! $PY -c 'import numpy' 2>/dev/null || ! command -v mpirun >/dev/null 2>&1; then
    echo "bench_downsample_job: skipped: needs $PY with numpy and mpirun"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
W=$(mktemp -d "$PARENT/cvmpi-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
REV=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }

"$CVMPI" -q create "$W/src" --type image --dtype uint8 --size "$SIZE_X,$SIZE_Y,$SIZE_Z" \
    --resolution 4,4,40 --chunk 64,64,64 >/dev/null
z=0
while [ "$z" -lt "$SIZE_Z" ]; do
    z1=$((z + 64))
    $PY - "$SIZE_X" "$SIZE_Y" "$z" "$z1" <<'PYEOF' |
import sys
import numpy as np
nx, ny, z0, z1 = (int(a) for a in sys.argv[1:5])
z = np.arange(z0, z1, dtype=np.int64)[:, None, None]
y = np.arange(ny, dtype=np.int64)[None, :, None]
x = np.arange(nx, dtype=np.int64)[None, None, :]
wave = (x + y // 2 + z // 3) % 64
wave = np.where(wave < 32, wave, 63 - wave)
noise = np.random.default_rng(z0).integers(0, 8, size=(z1 - z0, ny, nx))
sys.stdout.buffer.write((64 + ((y * 3 + z * 5) // 7) % 96 + wave * 2 + noise).astype(np.uint8).tobytes())
PYEOF
    "$CVMPI" -q write "$W/src" --bbox "0,0,$z,$SIZE_X,$SIZE_Y,$z1" -i - --compress none --threads 2
    z=$z1
done
SRC_BYTES=$(du -sb "$W/src/4_4_40" | cut -f1)
VOXELS=$((SIZE_X * SIZE_Y * SIZE_Z))
echo "# bench_downsample_job: ${SIZE_X}x${SIZE_Y}x${SIZE_Z} uint8, 64^3 raw chunks ($SRC_BYTES bytes" \
    "on disk), $MIPS mips 2x2x1, --memory $MEMORY, file:// in $W; best of $RUNS"
"$CVMPI" downsample "$W/src" --num-mips "$MIPS" --memory "$MEMORY" --dry-run | sed 's/^/# /'
printf 'rev\tmeasurement\tranks\tbest_s\tsource_MB/s\tbytes_read\tread_vs_source\n'

best() { sort -g "$1" | head -n 1; }
: >"$W/times"
i=0
while [ "$i" -lt "$RUNS" ]; do
    t0=$(now)
    find "$W/src/4_4_40" -type f -exec cat {} + >/dev/null
    calc "$(now) - $t0" >>"$W/times"
    echo >>"$W/times"
    i=$((i + 1))
done
best=$(best "$W/times")
printf '%s\tcat_source_chunks\t1\t%.3f\t%.1f\t%s\t1.000\n' "$REV" "$best" \
    "$(calc "$SRC_BYTES / $best / 1e6")" "$SRC_BYTES"

status=0
for ranks in 1 2; do
    read_bytes=0
    : >"$W/times"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        rm -rf "$W/j"
        for k in $(seq 1 "$MIPS"); do rm -rf "$W/src/$((4 << k))_$((4 << k))_40"; done
        t0=$(now)
        mpirun -n "$ranks" "$CVMPI" downsample "$W/src" --num-mips "$MIPS" --memory "$MEMORY" \
            --threads 2 --compress none --journal "$W/j" >"$W/log" 2>&1 || { cat "$W/log" >&2; exit 1; }
        calc "$(now) - $t0" >>"$W/times"
        echo >>"$W/times"
        read_bytes=$(sed -n 's/.*source chunks (\([0-9]*\) bytes).*/\1/p' "$W/log")
        i=$((i + 1))
    done
    best=$(best "$W/times")
    ratio=$(calc "$read_bytes / $SRC_BYTES")
    printf '%s\tdownsample_%d_mips\t%d\t%.3f\t%.1f\t%.0f\t%.3f\n' "$REV" "$MIPS" "$ranks" "$best" \
        "$(calc "$VOXELS / $best / 1e6")" "$read_bytes" "$ratio"
    if [ "$(calc "$ratio > 1.05")" = 1 ]; then
        echo "bench_downsample_job: the source was read $ratio times (target <= 1.05)" >&2
        status=1
    fi
done
exit $status
