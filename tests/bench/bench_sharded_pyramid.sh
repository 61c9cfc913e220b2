#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_sharded_pyramid.sh: a 5-level pyramid (mip 0 and 4 new levels, 2x2x1) in one job,
# `transfer SRC DST --sharded --downsample 4` against the unsharded `transfer SRC DST
# --downsample 4`, in the same run, for a 2048x2048x512 uint8 image (a smooth image with noise,
# 64^3 raw chunks) and a 2048x2048x512 uint64 segmentation (blocky labels, 64^3
# compressed_segmentation chunks, as segmentation is stored), both stored without transport
# compression on file:// in a temporary directory, 2 ranks, --memory 512M per rank,
# --shard-bytes 64M (several shards per scale; a shard larger than --memory would be spilled
# and written chunk by chunk); both pipelines write gzip level 1 (chunks, or shard data) in the
# source's encoding. Reports per layer and pipeline: wall seconds and the ratio
# sharded/unsharded (target <= 1.1), bytes read (the transfer's --report total: the source's
# stored bytes, once; then the downsample step's count of the destination's mip 0 it reads
# back), objects written (files under DST but its info; for the sharded pyramid this must equal
# its number of shard files) and peak RSS per rank (GNU time) against --memory. A third
# pipeline, `unsharded-decode`, is the unsharded one with --decode: mip 0 decoded and encoded
# again (the unsharded and sharded ones take mip 0's chunks as stored). The layers
# repeat one 64-plane slab along z, written in tiles of at most 1024x1024 voxels. `--quick`
# runs 128x128x64 (both dtypes, no unsharded-decode) with 3 levels for CTest (label bench);
# `--only DTYPE` runs one layer. `--runs N` (default 1) runs the pipelines N times, taking
# turns, prints every run and then one `median` line per pipeline: its median wall time and
# that over the unsharded pipeline's median (single runs on 2 shared cores swing by 20 %).
# Never fails on speed; fails if the source is not read exactly
# once or a sharded pyramid wrote anything but shard files.
set -eu

SIZE8="2048,2048,512" SIZE64="2048,2048,512" DOWN=4 MEMORY=512M SHARD=64M SLAB=64 TILE=1024 DTYPES="uint8 uint64" RUNS=1
PIPELINES="unsharded unsharded-decode sharded"
CVMPI=""
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --only) DTYPES=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --quick) SIZE8="128,128,64" SIZE64="128,128,64" DOWN=2 MEMORY=256M SHARD=256K PIPELINES="unsharded sharded" ;;
    --size8) SIZE8=$2; shift ;;
    --size64) SIZE64=$2; shift ;;
    --shard-bytes) SHARD=$2; shift ;;
    --cvmpi) CVMPI=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    *) echo "usage: $0 [--quick] [--size8 X,Y,Z] [--size64 X,Y,Z] [--shard-bytes B] [--only uint8|uint64] [--runs N] [--cvmpi PATH] [--dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
[ -n "$CVMPI" ] || CVMPI=$HERE/../../src/cvmpi
PY=/usr/bin/python3
if ! $PY -c 'import numpy' 2>/dev/null || ! command -v mpirun >/dev/null 2>&1 ||
    [ ! -x /usr/bin/time ]; then
    echo "bench_sharded_pyramid: skipped: needs $PY with numpy, mpirun and GNU time"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
W=$(mktemp -d "$PARENT/cvmpi-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
REV=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# make_layer DIR DTYPE X,Y,Z: one slab of SLAB z-planes made with numpy tile by tile, each tile
# written at every z (generating the whole volume would take longer than the jobs measured)
make_layer() {
    dir=$1 dtype=$2
    IFS=, read -r nx ny nz <<EOF
$3
EOF
    type=image encoding=raw
    [ "$dtype" = uint64 ] && type=segmentation encoding=compressed_segmentation
    "$CVMPI" -q create "$dir" --type $type --dtype "$dtype" --size "$nx,$ny,$nz" \
        --resolution 4,4,40 --chunk 64,64,64 --encoding $encoding >/dev/null
    ty=0
    while [ "$ty" -lt "$ny" ]; do
        ty1=$((ty + TILE))
        [ "$ty1" -gt "$ny" ] && ty1=$ny
        tx=0
        while [ "$tx" -lt "$nx" ]; do
            tx1=$((tx + TILE))
            [ "$tx1" -gt "$nx" ] && tx1=$nx
            $PY - "$dtype" "$tx" "$tx1" "$ty" "$ty1" "$SLAB" "$W/slab.raw" <<'PYEOF'
import sys
import numpy as np
dtype, (x0, x1, y0, y1, nz), out = sys.argv[1], (int(a) for a in sys.argv[2:7]), sys.argv[7]
y = np.arange(y0, y1, dtype=np.int64)[None, :, None]
x = np.arange(x0, x1, dtype=np.int64)[None, None, :]
with open(out, "wb") as f:
    for p in range(0, nz, 8):  # a few planes at a time: bounded memory here
        z = np.arange(p, min(p + 8, nz), dtype=np.int64)[:, None, None]
        if dtype == "uint8":
            wave = (x + y // 2 + z // 3) % 64
            wave = np.where(wave < 32, wave, 63 - wave)
            noise = np.random.default_rng(p + 7919 * (y0 * 31 + x0)).integers(
                0, 8, size=(len(z), y1 - y0, x1 - x0))
            a = (64 + ((y * 3 + z * 5) // 7) % 96 + wave * 2 + noise).astype(np.uint8)
        else:
            a = (1 << 33) + (x + z) // 37 + (y // 41) * 1000 + (z // 13) * 1000000
            a = a.astype(np.uint64)
        f.write(a.tobytes())
PYEOF
            z=0
            while [ "$z" -lt "$nz" ]; do
                z1=$((z + SLAB))
                "$CVMPI" -q write "$dir" --bbox "$tx,$ty,$z,$tx1,$ty1,$z1" -i "$W/slab.raw" \
                    --compress none --threads 2
                z=$z1
            done
            tx=$tx1
        done
        ty=$ty1
    done
    rm -f "$W/slab.raw"
}

printf 'rev\tlayer\tpipeline\twall_s\tvs_unsharded\tsource_bytes_read\tread_vs_source\tdst_mip0_reread\tobjects\tshard_files\tpeak_rss_MB_per_rank\tmemory\n'
status=0
for dtype in $DTYPES; do
    size=$SIZE8
    [ "$dtype" = uint64 ] && size=$SIZE64
    rm -rf "$W/src"
    make_layer "$W/src" "$dtype" "$size"
    src_bytes=$(find "$W/src/4_4_40" -type f -printf "%s\n" | awk "{ s += \$1 } END { printf \"%.0f\", s }")
    echo "# $dtype $size: $src_bytes bytes of 64^3 $encoding chunks; transfer --downsample $DOWN," \
        "2 ranks, --memory $MEMORY, gzip level 1, --shard-bytes $SHARD"
    unsharded_s=0
    for pipeline in $PIPELINES; do eval "walls_$(echo $pipeline | tr - _)="; done
    run=0
    while [ "$run" -lt "$RUNS" ]; do
    run=$((run + 1))
    for pipeline in $PIPELINES; do
        rm -rf "$W/dst" "$W/j" "$W/report.json" "$W"/rss.*
        set -- --downsample "$DOWN" --level 1 --memory "$MEMORY" --threads 2 --journal "$W/j" \
            --report "$W/report.json"
        [ "$pipeline" = sharded ] && set -- "$@" --sharded --shard-bytes "$SHARD"
        [ "$pipeline" = unsharded-decode ] && set -- "$@" --decode
        t0=$(now)
        # each rank's peak RSS (KiB) in rss.RANK
        mpirun -n 2 sh -c '/usr/bin/time -o "$0.$OMPI_COMM_WORLD_RANK" -f %M "$@"' "$W/rss" \
            "$CVMPI" transfer "$W/src" "$W/dst" "$@" >"$W/log" 2>&1 || { cat "$W/log" >&2; exit 1; }
        wall=$(calc "$(now) - $t0")
        read_bytes=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["total"]["bytes_read"])' "$W/report.json")
        reread=$(sed -n 's/.*source chunks (\([0-9]*\) bytes).*/\1/p' "$W/log")
        objects=$(find "$W/dst" -type f ! -name info | wc -l)
        shard_files=$(find "$W/dst" -type f -name '*.shard' | wc -l)
        rss=$(cat "$W"/rss.* | sort -n | tail -n 1)
        [ "$pipeline" = unsharded ] && unsharded_s=$wall
        var=walls_$(echo $pipeline | tr - _)
        eval "$var=\"\$$var $wall\""
        printf '%s\t%s %s\t%s\t%.2f\t%.3f\t%s\t%.3f\t%s\t%s\t%s\t%.0f\t%s\n' "$REV" "$dtype" "$size" \
            "$pipeline" "$wall" "$(calc "$wall / $unsharded_s")" "$read_bytes" \
            "$(calc "$read_bytes / $src_bytes")" "$reread" "$objects" "$shard_files" \
            "$(calc "$rss / 1024")" "$MEMORY"
        if [ "$read_bytes" != "$src_bytes" ]; then
            echo "bench_sharded_pyramid: $pipeline read $read_bytes bytes of a $src_bytes-byte source" >&2
            status=1
        fi
        if [ "$pipeline" = sharded ] && [ "$objects" != "$shard_files" ]; then
            echo "bench_sharded_pyramid: the sharded pyramid wrote $objects objects, $shard_files shard files" >&2
            status=1
        fi
    done
    done
    if [ "$RUNS" -gt 1 ]; then
        base=$(echo $walls_unsharded | median)
        for pipeline in $PIPELINES; do
            eval "walls=\$walls_$(echo $pipeline | tr - _)"
            m=$(echo $walls | median)
            printf 'median\t%s %s\t%s\t%.2f\t%.3f\t(of %s runs:%s)\n' "$dtype" "$size" "$pipeline" \
                "$m" "$(calc "$m / $base")" "$RUNS" "$walls"
        done
    fi
done
exit $status
