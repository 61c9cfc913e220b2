#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_transfer.sh: `cvmpi transfer` of a 1024x1024x512 uint8 layer (64^3 chunks, raw,
# uncompressed; synthetic smooth image with 3 bits of noise, made here with numpy) on file://
# in a temporary directory, raw->raw and raw->gzip (level 9) with 1 and 2 MPI ranks, one
# chunk thread per rank (--threads 1: ranks are the parallelism) and --memory 64M per rank, so
# the plan has 16 tasks (the default budget makes one task of the whole volume, leaving a
# second rank idle). Reports MB/s (source voxel bytes / wall time of mpirun, best of --runs;
# and by the ranks' own wall_seconds from --report, without MPI start-up), parallel
# efficiency (t1 / (n * tn)) and peak RSS per rank (/usr/bin/time around each rank). Same-run
# baselines: `cp -r` of the source layer (raw->raw) and the gzip codec alone on the source's
# chunk files, one thread (bench_codecs --gzip-dir; raw->gzip). CPU seconds (user + sys, summed
# over ranks, least of the runs) for each measurement and for cp -r: on a loaded machine they
# say more than wall time. Same encoding and chunk size on both sides, so the transfers copy
# stored chunks without decoding them (raw->gzip only gzips them); raw->raw at 1 rank is also
# measured through the decoding path (--decode) and with --check for comparison. One TSV line per measurement,
# then a summary. The exchange path (collective rounds, pieces traded point to point) is measured too:
# re-chunking 64^3 -> 96x96x40 at 2 ranks with --memory $XMEMORY (too small for a box aligned
# to both grids, 192x192x320, so it runs as exchange rounds; with 1 rank a round would need
# more than that box, so the job would be refused) against the same
# re-chunking as plain tasks with plenty of memory, and raw -> murmurhash-sharded (16 shards,
# chunks travel to the shard owner). `--quick` runs 256x256x128 for CTest (label bench).
# Never fails on speed.
set -eu

usage() {
    echo "usage: $0 [--quick] [--runs N] [--cvmpi PATH] [--bench-codecs PATH] [--dir DIR]" >&2
    echo "  --quick             256x256x128 voxels, 1 run each (CTest smoke test)" >&2
    echo "  --runs N            timed runs per measurement, fastest kept (default 2)" >&2
    echo "  --cvmpi PATH        the cvmpi binary (default: cvmpi next to this build)" >&2
    echo "  --bench-codecs PATH bench_codecs, for the gzip codec baseline" >&2
    echo "  --dir DIR           where to make the temporary layers (default \$TMPDIR or /tmp)" >&2
    echo "  --no-exchange       only the task transfers and their baselines" >&2
    exit 2
}

SIZE_X=1024 SIZE_Y=1024 SIZE_Z=512
MEMORY=64M
XMEMORY=12000K
SHARD_MEMORY=160M
RUNS=2
QUICK=0
EXCHANGE=1
HERE=$(cd "$(dirname "$0")" && pwd)
CVMPI=""
BENCH_CODECS=""
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 SIZE_X=256 SIZE_Y=256 SIZE_Z=128 RUNS=1 MEMORY=2M SHARD_MEMORY=16M ;;
    --runs) RUNS=$2; shift ;;
    --cvmpi) CVMPI=$2; shift ;;
    --bench-codecs) BENCH_CODECS=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    --no-exchange) EXCHANGE=0 ;;
    *) usage ;;
    esac
    shift
done
[ -n "$CVMPI" ] || CVMPI=$HERE/../../src/cvmpi
# bench_codecs beside this script (a build tree's copy), else in the build tree of --cvmpi
[ -n "$BENCH_CODECS" ] || BENCH_CODECS=$HERE/bench_codecs
[ -x "$BENCH_CODECS" ] || BENCH_CODECS=$(dirname "$CVMPI")/../tests/bench/bench_codecs
[ -x "$CVMPI" ] || { echo "bench_transfer: no cvmpi at $CVMPI (use --cvmpi)" >&2; exit 1; }
PY=/usr/bin/python3
if ! $PY -c 'import numpy' 2>/dev/null; then
    echo "bench_transfer: skipped: needs $PY with numpy to make the source layer"
    exit 0
fi
if ! command -v mpirun >/dev/null 2>&1; then
    echo "bench_transfer: skipped: no mpirun"
    exit 0
fi
# Open MPI as root in containers, more ranks than cores, shared memory transport.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
export CV_LOG="${CV_LOG:-warn}"

W=$(mktemp -d "$PARENT/cvmpi-bench-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
SRC=file://$W/src
BYTES=$((SIZE_X * SIZE_Y * SIZE_Z))
REV=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
HOST=$(hostname 2>/dev/null || echo "?")

now() { date +%s.%N; }
# awk arithmetic: calc 'expression'
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }

# ---- source layer ----------------------------------------------------------------------------
"$CVMPI" -q create "$SRC" --type image --dtype uint8 --size "$SIZE_X,$SIZE_Y,$SIZE_Z" \
    --resolution 1,1,1 --chunk 64,64,64 >/dev/null
SLAB=64
z=0
while [ "$z" -lt "$SIZE_Z" ]; do
    z1=$((z + SLAB))
    # Raw bytes, x fastest, on stdin: the pattern of bench_volume (smooth waves, 3 noise bits).
    $PY - "$SIZE_X" "$SIZE_Y" "$z" "$z1" <<'EOF' |
import sys
import numpy as np
nx, ny, z0, z1 = (int(a) for a in sys.argv[1:5])
z = np.arange(z0, z1, dtype=np.int64)[:, None, None]
y = np.arange(ny, dtype=np.int64)[None, :, None]
x = np.arange(nx, dtype=np.int64)[None, None, :]
wave = (x + y // 2 + z // 3) % 64
wave = np.where(wave < 32, wave, 63 - wave)
base = ((y * 3 + z * 5) // 7) % 96
noise = np.random.default_rng(z0).integers(0, 8, size=(z1 - z0, ny, nx))
sys.stdout.buffer.write((64 + base + wave * 2 + noise).astype(np.uint8).tobytes())
EOF
    "$CVMPI" -q write "$SRC" --bbox "0,0,$z,$SIZE_X,$SIZE_Y,$z1" -i - --compress none \
        --threads 2
    z=$z1
done
SCALE_DIR=$W/src/1_1_1

HAVE_TIME=0
[ -x /usr/bin/time ] && HAVE_TIME=1
# Each rank runs under /usr/bin/time, its numbers into $W/rss.<rank>.
cat >"$W/rank.sh" <<'EOF'
#!/bin/sh
r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
if [ "$HAVE_TIME" = 1 ]; then
    exec /usr/bin/time -f '%M %e %U %S' -o "$RSS_PREFIX.$r" "$@"
fi
exec "$@"
EOF
export HAVE_TIME RSS_PREFIX="$W/rss"

# ---- measurements ----------------------------------------------------------------------------
echo "# bench_transfer: ${SIZE_X}x${SIZE_Y}x${SIZE_Z} uint8 = $(calc "$BYTES / 1048576") MiB" \
    "in 64^3 chunks, raw uncompressed source, file:// in $W; $(nproc 2>/dev/null || echo '?')" \
    "cores (shared with other work: compare within the run)"
echo "# MB/s = source voxel bytes / best of $RUNS wall times (mpirun, 10^6 B/s); efficiency" \
    "= t(1 rank) / (ranks * t); transfer --threads 1 --memory $MEMORY" \
    "($(mpirun -n 2 "$CVMPI" transfer "$SRC" "file://$W/plan" --threads 1 --memory "$MEMORY" \
    --dry-run 2>/dev/null | head -n 1 | cut -d' ' -f2-5)); rank_s = slowest rank's" \
    "wall_seconds (--report, best run); peak RSS per rank from /usr/bin/time (max over runs, MiB)"
printf 'rev\thost\tmeasurement\tranks\truns\tbest_s\tmedian_s\tMB/s\tefficiency\trank_s\t'
printf 'rank_MB/s\tpeak_rss_MiB\tcpu_s\n'

# best and median of the times in $TIMES (one per line)
best() { sort -g "$1" | head -n 1; }
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print v[int(NR / 2) + 1] }'; }

# transfer COMPRESS RANKS: runs the measurement, prints the TSV line, sets T_BEST
transfer() {
    measure "transfer_raw_to_$1" "$2" --compress "$1" --memory "$MEMORY"
}

# measure NAME RANKS TRANSFER-ARGS...: runs the measurement, prints the TSV line, sets T_BEST
# (efficiency against $T1, the same measurement's 1-rank time)
measure() {
    name=$1 ranks=$2 tag="${1}_$2"
    shift 2
    : >"$W/times"
    : >"$W/rss_max"
    : >"$W/rank_times"
    : >"$W/cpu"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        rm -rf "$W/dst" "$W/journal" "$W"/rss.*
        t0=$(now)
        mpirun -n "$ranks" sh "$W/rank.sh" "$CVMPI" -q transfer "$SRC" "file://$W/dst" \
            --threads 1 --journal "$W/journal" --report "$W/report.json" "$@" \
            >"$W/transfer.log"
        t1=$(now)
        $PY -c 'import json, sys
print(max(r["wall_seconds"] for r in json.load(open(sys.argv[1]))["ranks"]))' \
            "$W/report.json" >>"$W/rank_times"
        calc "$t1 - $t0" >>"$W/times"
        echo >>"$W/times"
        r=0
        cpu=0
        while [ "$r" -lt "$ranks" ]; do
            if [ -f "$W/rss.$r" ]; then
                echo "$r $(tail -n 1 "$W/rss.$r" | cut -d' ' -f1)" >>"$W/rss_max"
                cpu=$(calc "$cpu + $(tail -n 1 "$W/rss.$r" | awk '{ print $3 + $4 }')")
            fi
            r=$((r + 1))
        done
        echo "$cpu" >>"$W/cpu"
        i=$((i + 1))
    done
    # Every voxel must have arrived (untimed).
    if ! mpirun -n 2 "$CVMPI" -q verify "$SRC" "file://$W/dst" >"$W/verify.log" 2>&1; then
        echo "bench_transfer: verify $tag failed:" >&2
        cat "$W/verify.log" >&2
        exit 1
    fi
    T_BEST=$(best "$W/times")
    rss=$(awk '{ if ($2 > m[$1]) m[$1] = $2 } END { s = ""; for (r in m) s = s (s ? "," : "") \
        sprintf("r%s:%.1f", r, m[r] / 1024); print (s ? s : "-") }' "$W/rss_max")
    eff=1
    if [ "$ranks" -gt 1 ]; then
        eff=$(calc "$T1 / ($ranks * $T_BEST)")
    fi
    rank_s=$(best "$W/rank_times")
    RANK_S=$rank_s
    CPU_S=$(best "$W/cpu")
    printf '%s\t%s\t%s\t%s\t%s\t%.4f\t%.4f\t%.1f\t%.3f\t%.4f\t%.1f\t%s\t%s\n' \
        "$REV" "$HOST" "$name" "$ranks" "$RUNS" "$T_BEST" "$(median "$W/times")" \
        "$(calc "$BYTES / $T_BEST / 1e6")" "$eff" "$rank_s" "$(calc "$BYTES / $rank_s / 1e6")" \
        "$rss" "$CPU_S"
}

# cp -r of the source layer, best of RUNS
: >"$W/times"
i=0
while [ "$i" -lt "$RUNS" ]; do
    rm -rf "$W/cp"
    t0=$(now)
    if [ "$HAVE_TIME" = 1 ]; then
        /usr/bin/time -f '%U %S' -o "$W/cp_cpu" cp -r "$W/src" "$W/cp"
        awk '{ print $1 + $2 }' "$W/cp_cpu" >>"$W/cp_cpus"
    else
        cp -r "$W/src" "$W/cp"
    fi
    t1=$(now)
    calc "$t1 - $t0" >>"$W/times"
    echo >>"$W/times"
    i=$((i + 1))
done
rm -rf "$W/cp"
T_CP=$(best "$W/times")
CP_CPU=-
[ -s "$W/cp_cpus" ] && CP_CPU=$(best "$W/cp_cpus")
printf '%s\t%s\tcp_-r\t1\t%s\t%.4f\t%.4f\t%.1f\t-\t-\t-\t-\t%s\n' "$REV" "$HOST" "$RUNS" \
    "$T_CP" "$(median "$W/times")" "$(calc "$BYTES / $T_CP / 1e6")" "$CP_CPU"

T1=0
transfer none 1
T1=$T_BEST RAW1=$T_BEST RAW1R=$RANK_S RAW1C=$CPU_S
transfer none 2
RAW2=$T_BEST RAW2R=$RANK_S RAW2C=$CPU_S
# the same copy through the decoding path (--decode), as before the fast path existed
T1=0
measure transfer_raw_to_none_decode 1 --compress none --memory "$MEMORY" --decode
DEC1=$T_BEST DEC1R=$RANK_S DEC1C=$CPU_S
# the copy with --check (every copied chunk decoded before it is written)
measure transfer_raw_to_none_check 1 --compress none --memory "$MEMORY" --check
CHK1=$T_BEST CHK1R=$RANK_S CHK1C=$CPU_S
transfer gzip 1
T1=$T_BEST GZ1=$T_BEST GZ1R=$RANK_S GZ1C=$CPU_S
transfer gzip 2
GZ2=$T_BEST GZ2R=$RANK_S GZ2C=$CPU_S

# the exchange path: re-chunking that does not fit as tasks, and hashed shards
for ranks in 2; do
    [ "$EXCHANGE" = 1 ] || break
    plan=$(mpirun -n "$ranks" "$CVMPI" transfer "$SRC" "file://$W/plan" --chunk-size 96,96,40 \
        --threads 1 --memory "$XMEMORY" --dry-run 2>/dev/null | head -n 1)
    case "$plan" in
    *"exchange rounds"*) echo "# rechunk --memory $XMEMORY, $ranks rank(s): $plan" ;;
    *) echo "bench_transfer: --memory $XMEMORY did not force the exchange: $plan" >&2; exit 1 ;;
    esac
done
[ "$EXCHANGE" = 1 ] && {
T1=0
measure rechunk_tasks 1 --chunk-size 96,96,40 --compress none --memory 512M
T1=$T_BEST RT1=$T_BEST RT1R=$RANK_S
measure rechunk_tasks 2 --chunk-size 96,96,40 --compress none --memory 512M
RT2=$T_BEST RT2R=$RANK_S
T1=0
measure rechunk_exchange 2 --chunk-size 96,96,40 --compress none --memory "$XMEMORY"
RX2=$T_BEST RX2R=$RANK_S
SPEC='{"@type":"neuroglancer_uint64_sharded_v1","hash":"murmurhash3_x86_128","preshift_bits":0,"minishard_bits":3,"shard_bits":4,"minishard_index_encoding":"gzip","data_encoding":"raw"}'
T1=0
measure hashed_shards_exchange 1 --sharding "$SPEC" --memory "$SHARD_MEMORY"
T1=$T_BEST HX1=$T_BEST HX1R=$RANK_S
measure hashed_shards_exchange 2 --sharding "$SPEC" --memory "$SHARD_MEMORY"
HX2=$T_BEST HX2R=$RANK_S
}

# gzip codec alone on the source's chunk files (one thread, in memory)
GZ_CODEC=-
if [ -x "$BENCH_CODECS" ]; then
    "$BENCH_CODECS" --gzip-dir "$SCALE_DIR" --runs "$RUNS" >"$W/codec.tsv"
    line=$(tail -n 1 "$W/codec.tsv")
    GZ_CODEC=$(echo "$line" | cut -f9)
    printf '%s\t%s\tgzip_codec_alone\t1\t%s\t%s\t%s\t%s\t-\t-\t-\t-\n' "$REV" "$HOST" \
        "$(echo "$line" | cut -f6)" "$(echo "$line" | cut -f7)" "$(echo "$line" | cut -f8)" \
        "$GZ_CODEC"
else
    echo "# no bench_codecs at $BENCH_CODECS: no codec baseline"
fi

mb() { calc "$BYTES / $1 / 1e6"; }
if [ "$QUICK" = 1 ]; then
    what="--quick: too small for the numbers to mean much"
else
    what="full size"
fi
echo "# summary ($what; mpirun wall time, in [] the ranks' own wall_seconds)"
printf '#   raw->raw   1 rank %7.1f [%7.1f] MB/s, 2 ranks %7.1f [%7.1f] MB/s, efficiency %.2f' \
    "$(mb "$RAW1")" "$(mb "$RAW1R")" "$(mb "$RAW2")" "$(mb "$RAW2R")" \
    "$(calc "$RAW1 / (2 * $RAW2)")"
printf ' [%.2f]\n#              cp -r %.1f MB/s: 1 rank = %.2f [%.2f] x cp -r,' \
    "$(calc "$RAW1R / (2 * $RAW2R)")" "$(mb "$T_CP")" "$(calc "$T_CP / $RAW1")" \
    "$(calc "$T_CP / $RAW1R")"
printf ' 2 ranks = %.2f [%.2f] x\n' "$(calc "$T_CP / $RAW2")" "$(calc "$T_CP / $RAW2R")"
printf '#              --decode (every chunk decoded and encoded): 1 rank %.1f [%.1f] MB/s = %.2f [%.2f] x cp -r, %s CPU-s\n' \
    "$(mb "$DEC1")" "$(mb "$DEC1R")" "$(calc "$T_CP / $DEC1")" "$(calc "$T_CP / $DEC1R")" "$DEC1C"
printf '#              --check (copied chunks decoded too): 1 rank %.1f [%.1f] MB/s = %.2f [%.2f] x the plain copy, %s CPU-s\n' \
    "$(mb "$CHK1")" "$(mb "$CHK1R")" "$(calc "$RAW1 / $CHK1")" "$(calc "$RAW1R / $CHK1R")" "$CHK1C"
printf '#              CPU seconds (user+sys, all ranks): cp -r %s, raw->raw 1 rank %s, 2 ranks %s;' \
    "$CP_CPU" "$RAW1C" "$RAW2C"
printf ' raw->gzip 1 rank %s, 2 ranks %s\n' "$GZ1C" "$GZ2C"
printf '#   raw->gzip  1 rank %7.1f [%7.1f] MB/s, 2 ranks %7.1f [%7.1f] MB/s, efficiency %.2f' \
    "$(mb "$GZ1")" "$(mb "$GZ1R")" "$(mb "$GZ2")" "$(mb "$GZ2R")" "$(calc "$GZ1 / (2 * $GZ2)")"
printf ' [%.2f]\n' "$(calc "$GZ1R / (2 * $GZ2R)")"
if [ "$GZ_CODEC" != - ]; then
    printf '#              gzip codec alone %.1f MB/s per thread: 1 rank = %.2f [%.2f] x codec,' \
        "$GZ_CODEC" "$(calc "$(mb "$GZ1") / $GZ_CODEC")" "$(calc "$(mb "$GZ1R") / $GZ_CODEC")"
    printf ' 2 ranks = %.2f [%.2f] x (2 x codec)\n' "$(calc "$(mb "$GZ2") / (2 * $GZ_CODEC)")" \
        "$(calc "$(mb "$GZ2R") / (2 * $GZ_CODEC)")"
fi
[ "$EXCHANGE" = 1 ] || exit 0
printf '#   exchange   re-chunk 64^3->96x96x40 (--memory %s): 2 ranks %7.1f [%7.1f] MB/s\n' \
    "$XMEMORY" "$(mb "$RX2")" "$(mb "$RX2R")"
printf '#              as plain tasks (--memory 512M): 1 rank %7.1f [%7.1f] MB/s, 2 ranks' \
    "$(mb "$RT1")" "$(mb "$RT1R")"
printf ' %7.1f [%7.1f] MB/s; exchange = %.2f [%.2f] x tasks at 2 ranks\n' "$(mb "$RT2")" \
    "$(mb "$RT2R")" "$(calc "$RT2 / $RX2")" "$(calc "$RT2R / $RX2R")"
printf '#              murmurhash shards (16): 1 rank %7.1f [%7.1f] MB/s, 2 ranks %7.1f [%7.1f]' \
    "$(mb "$HX1")" "$(mb "$HX1R")" "$(mb "$HX2")" "$(mb "$HX2R")"
printf ' MB/s, efficiency %.2f [%.2f]\n' "$(calc "$HX1 / (2 * $HX2)")" \
    "$(calc "$HX1R / (2 * $HX2R)")"
