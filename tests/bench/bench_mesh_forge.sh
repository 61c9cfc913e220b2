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
# `--reference` (off by default, never with CTest) also meshes the same segmentation with a
# reference mesher in the same run, one process: scikit-image's marching cubes (method
# 'lewiner', level 0.5) on each label's mask, cut out with scipy.ndimage.find_objects and
# zero-padded by one voxel (Debian python3-skimage and python3-scipy; skipped with a line
# saying so without them). The layer is read back with `cvmpi read` into a raw file and
# loaded whole before the clock starts; nothing is written. Its line gives the best meshing
# time of --runs, Mvoxels/s and cvmpi's legacy 1- and 2-rank wall times divided by it; it
# meshes every label the legacy job made a mesh for (fails otherwise) and reports its
# triangles (`mesh forge` prints no triangle count to set beside them).
# Never fails on speed; fails if a chunk is read twice.
set -eu

SIZE=512 RUNS=2
CVMPI=""
REFERENCE=0
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) SIZE=96 RUNS=1 ;;
    --size) SIZE=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --cvmpi) CVMPI=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    --reference) REFERENCE=1 ;;
    *) echo "usage: $0 [--quick] [--size N] [--runs N] [--cvmpi PATH] [--dir DIR] [--reference]" >&2
        exit 2 ;;
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
# skimage and scipy by name through importlib: an optional reference, not a test dependency
if [ "$REFERENCE" = 1 ] &&
    ! $PY -c 'import importlib as i; i.import_module("skimage.measure"); i.import_module("scipy.ndimage")' \
        2>/dev/null; then
    echo "bench_mesh_forge: reference skipped: needs $PY with skimage and scipy" \
        "(Debian python3-skimage, python3-scipy)"
    REFERENCE=0
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
    [ "$run" = legacy:1 ] && legacy1=$best
    [ "$run" = legacy:2 ] && legacy2=$best
    if [ "$run" = legacy:1 ] && [ "$REFERENCE" = 1 ]; then
        # the labels given a mesh (a manifest LABEL:0 each), for the reference to match
        find "$W/seg/mesh_mip_0_err_0" -maxdepth 1 -name '*:0' -printf '%f\n' | sed 's/:0$//' |
            sort -n >"$W/labels.cvmpi"
    fi
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
[ "$REFERENCE" = 1 ] || exit $status

# The reference: the whole array in memory first (untimed), then per run find_objects and
# marching cubes of every label's padded mask; the meshes are counted and dropped.
"$CVMPI" -q read "$W/seg" -o "$W/seg.raw"
printf 'rev\tmode\tranks\tbest_s\tMvoxels/s\tlegacy_1_rank_s_vs_reference_s'
printf '\tlegacy_2_ranks_s_vs_reference_s\tlabels\ttriangles\n'
$PY - "$W/seg.raw" "$SIZE" "$RUNS" "$W/labels.reference" >"$W/ref" <<'PYEOF'
import importlib
import sys
import time
import numpy as np
# optional: the reference, not a dependency of the tests
skimage = importlib.import_module("skimage")
measure = importlib.import_module("skimage.measure")
scipy = importlib.import_module("scipy")
ndimage = importlib.import_module("scipy.ndimage")
raw, n, runs, labels_out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# raw bytes x fastest: C order (z, y, x); resolution 8,8,40 nm
seg = np.fromfile(raw, dtype="<u8").reshape(n, n, n)
best = None
for _ in range(runs):
    t0 = time.perf_counter()
    meshed, triangles = [], 0
    for i, box in enumerate(ndimage.find_objects(seg)):
        if box is None:
            continue
        label = i + 1
        mask = np.pad(seg[box] == label, 1)
        _verts, faces, _normals, _values = measure.marching_cubes(
            mask, 0.5, spacing=(40.0, 8.0, 8.0), method="lewiner")
        meshed.append(label)
        triangles += len(faces)
    t = time.perf_counter() - t0
    best = t if best is None else min(best, t)
with open(labels_out, "w") as f:
    f.write("".join("%d\n" % label for label in meshed))
print("%.3f %d %d %s %s" % (best, len(meshed), triangles, skimage.__version__, scipy.__version__))
PYEOF
rm -f "$W/seg.raw"
read -r ref labels triangles skv spv <"$W/ref"
printf '%s\treference\t1\t%.3f\t%.2f\t%.2f\t%.2f\t%s\t%s\n' "$REV" "$ref" \
    "$(calc "$VOXELS / $ref / 1e6")" "$(calc "$legacy1 / $ref")" "$(calc "$legacy2 / $ref")" \
    "$labels" "$triangles"
echo "# reference: scikit-image $skv marching_cubes (lewiner, level 0.5) of each label's mask" \
    "cut out with scipy $spv ndimage.find_objects, zero-padded by one voxel; one process, the" \
    "array already in memory, nothing written; cvmpi mesh forge reports no triangle count"
if ! cmp -s "$W/labels.cvmpi" "$W/labels.reference"; then
    echo "bench_mesh_forge: the reference meshed $labels labels, cvmpi's legacy job" \
        "$(wc -l <"$W/labels.cvmpi") (they differ)" >&2
    status=1
fi
exit $status
