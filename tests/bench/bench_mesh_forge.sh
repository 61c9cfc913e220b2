#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_mesh_forge.sh: `cvmpi mesh forge` of a 512^3 uint64 segmentation (64^3 raw chunks,
# gzip as CloudVolume writes them) holding 1000 labels: warped 10x10x10 bricks with one-voxel
# background between them, like cells and membranes, made here with numpy; file:// in a
# temporary directory, 1 and 2 MPI ranks, legacy meshes and one-pass sharded multi-resolution
# meshes (--sharded, at most 100 labels per shard: 16 shards over the ranks). Reports the best wall time, voxels meshed per second, parallel
# efficiency, chunks and chunk bytes read (decoded) against the source's (the target is each
# chunk once: 1.000), tile faces and fragments sent between ranks, and the peak
# RSS and CPU seconds of each rank (/usr/bin/time: on a loaded machine the wall time says
# little). `--size N` meshes N^3 (256 on a busy machine); `--quick` 96^3 once for CTest
# (label bench).
# Never fails on speed; fails if a chunk is read twice.
set -eu

SIZE=512 RUNS=2
CVMPI=""
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) SIZE=96 RUNS=1 ;;
    --size) SIZE=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --cvmpi) CVMPI=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    *) echo "usage: $0 [--quick] [--size N] [--runs N] [--cvmpi PATH] [--dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$CVMPI" ] || CVMPI=$HERE/../../src/cvmpi
PY=/usr/bin/python3
if ! $PY -c 'import numpy' 2>/dev/null || ! command -v mpirun >/dev/null 2>&1 ||
    [ ! -x /usr/bin/time ]; then
    echo "bench_mesh_forge: skipped: needs $PY with numpy, mpirun and /usr/bin/time"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
W=$(mktemp -d "$PARENT/cvmpi-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
REV=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }

"$CVMPI" -q create "$W/seg" --type segmentation --dtype uint64 --size "$SIZE,$SIZE,$SIZE" \
    --resolution 8,8,40 --chunk 64,64,64 >/dev/null
z=0
while [ "$z" -lt "$SIZE" ]; do
    z1=$((z + 64))
    [ "$z1" -le "$SIZE" ] || z1=$SIZE
    $PY - "$SIZE" "$z" "$z1" <<'PYEOF' |
import sys
import numpy as np
n, z0, z1 = (int(a) for a in sys.argv[1:4])
z = np.arange(z0, z1, dtype=np.float64)[:, None, None]
y = np.arange(n, dtype=np.float64)[None, :, None]
x = np.arange(n, dtype=np.float64)[None, None, :]
cell = n / 10.0
wx = x + 6 * np.sin(y / 11.0) + 4 * np.sin(z / 7.0)
wy = y + 6 * np.sin(z / 13.0) + 4 * np.sin(x / 9.0)
wz = z + 6 * np.sin(x / 12.0) + 4 * np.sin(y / 8.0)
ix, iy, iz = (np.clip(np.floor(w / cell), 0, 9).astype(np.uint64) for w in (wx, wy, wz))
label = 1 + ix + 10 * iy + 100 * iz
# one voxel of background where the cell changes along x, y or z: membranes
edge = np.zeros(label.shape, bool)
edge[:, :, 1:] |= label[:, :, 1:] != label[:, :, :-1]
edge[:, 1:, :] |= label[:, 1:, :] != label[:, :-1, :]
edge[1:, :, :] |= label[1:, :, :] != label[:-1, :, :]
label[edge] = 0
sys.stdout.buffer.write(label.astype("<u8").tobytes())
PYEOF
    "$CVMPI" -q write "$W/seg" --bbox "0,0,$z,$SIZE,$SIZE,$z1" -i - --threads 2
    z=$z1
done
SRC_BYTES=$(find "$W/seg/8_8_40" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
VOXELS=$((SIZE * SIZE * SIZE))
echo "# bench_mesh_forge: ${SIZE}^3 uint64, 1000 labels, 64^3 raw chunks gzip'd ($SRC_BYTES" \
    "bytes on disk, $((VOXELS * 8)) decoded), file:// in $W; best of $RUNS"
"$CVMPI" mesh forge "$W/seg" --dry-run --ranks 2 --sharded --max-labels-per-shard 100 | sed 's/^/# /'
printf 'rev\tmode\tranks\tbest_s\tMvoxels/s\tefficiency\tchunks_read\tchunk_bytes_read_vs_source\tface_bytes\tfragment_bytes_sent\tpeak_rss_MB_per_rank\tcpu_s_per_rank\n'

status=0
one=0
for run in legacy:1 legacy:2 sharded:1 sharded:2; do
    mode=${run%:*}
    ranks=${run#*:}
    flags=--legacy
    [ "$mode" = sharded ] && flags="--sharded --max-labels-per-shard 100"
    : >"$W/times"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        rm -rf "$W/seg/mesh_mip_0_err_0" "$W/j"
        t0=$(now)
        mpirun -n "$ranks" /usr/bin/time -f 'rss_kb %M cpu_s %U %S' "$CVMPI" mesh forge "$W/seg" \
            $flags --threads 2 --journal "$W/j" >"$W/log" 2>"$W/err" ||
            { cat "$W/log" "$W/err" >&2; exit 1; }
        calc "$(now) - $t0" >>"$W/times"
        echo >>"$W/times"
        i=$((i + 1))
    done
    best=$(sort -g "$W/times" | head -n 1)
    [ "$ranks" = 1 ] && one=$best
    sent=$(sed -n 's/.*fragments sent to shard owners (\([0-9]*\) bytes between ranks.*/\1/p' "$W/log")
    chunks=$(sed -n 's/^mesh forge: \([0-9]* of [0-9]*\) chunks read.*/\1/p' "$W/log" | tr ' ' '_')
    bytes=$(sed -n 's/.*chunks read (\([0-9]*\) bytes).*/\1/p' "$W/log")
    faces=$(sed -n 's/.*bytes), \([0-9]*\) bytes of tile faces.*/\1/p' "$W/log")
    rss=$(sed -n 's/^rss_kb //p' "$W/err" | awk '{ printf "%s%.0f", (NR > 1 ? "," : ""), $1 / 1024 }')
    cpu=$(sed -n 's/^rss_kb .* cpu_s //p' "$W/err" | awk '{ printf "%s%.2f", (NR > 1 ? "," : ""), $1 + $2 }')
    printf '%s\t%s\t%d\t%.3f\t%.2f\t%.2f\t%s\t%.3f\t%s\t%s\t%s\t%s\n' "$REV" "$mode" "$ranks" \
        "$best" "$(calc "$VOXELS / $best / 1e6")" "$(calc "$one / $best / $ranks")" "$chunks" \
        "$(calc "$bytes / ($VOXELS * 8)")" "$faces" "${sent:--}" "$rss" "$cpu"
    a=${chunks%%_of_*}
    b=${chunks##*_of_}
    if [ "$a" != "$b" ]; then
        echo "bench_mesh_forge: $a chunk reads for $b chunks" >&2
        status=1
    fi
    grep '^mesh forge: .* \(tiles\|labels\)' "$W/log" | sed 's/^/# /'
done
exit $status
