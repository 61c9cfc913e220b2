#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_h5.sh: `cvmpi import` of a 1024x1024x512 uint16 HDF5 dataset (contiguous, z,y,x as h5py
# writes it; a smooth synthetic image with noise, made here with h5py) into a raw layer without
# transport compression and into a raw layer with gzip (CloudFiles' level 9), 64^3 chunks,
# file:// in a temporary directory, with 1 and 2 MPI ranks (direct reads: see docs/mpi.md); raw
# with --independent (per-task reads, no exchange) for comparison; and raw with 1 and 2 ranks at
# --threads 1 (one core each; the default is the cores a rank may use, which is 1 where mpirun
# binds each rank to a core, so this checks the default against its explicit form). Same-run
# bound: the time to
# read the whole dataset with plain HDF5 (one H5Dread through h5py's read_direct into a
# preallocated array; the page cache is warm for both); the honest bound of a raw import:
# that read plus a write of the same bytes as one file per 64^3 chunk (open, write, close),
# measured in the same run, also by 2 processes at once on the two halves along z (how this
# machine scales that work: the ceiling for the 2-rank ÷ 1-rank ratio); for scale, `cp` of
# the file (every byte read and written once).
# Reports MB/s (dataset bytes / best
# wall time of mpirun over --runs), the ratio to the plain-read bound, and peak RSS per rank
# (/usr/bin/time around each rank), and CPU seconds (user + system, all ranks, best run): on a
# shared machine wall time includes waiting for the cores, CPU time does not. One TSV line per
# measurement, then a summary.
# `--size X,Y,Z` another dataset size; `--no-gzip` skips the gzip imports.
# `--quick` runs 256x256x128 once for CTest (label bench). Never fails on speed; fails if an
# imported layer differs from the dataset.
set -eu

usage() {
    echo "usage: $0 [--quick] [--runs N] [--cvmpi PATH] [--dir DIR] [--size X,Y,Z] [--no-gzip]" >&2
    exit 2
}
SX=1024 SY=1024 SZ=512
RUNS=2
QUICK=0
GZIP=1
HERE=$(cd "$(dirname "$0")" && pwd)
CVMPI=""
PARENT=${TMPDIR:-/tmp}
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 SX=256 SY=256 SZ=128 RUNS=1 ;;
    --runs) RUNS=$2; shift ;;
    --cvmpi) CVMPI=$2; shift ;;
    --dir) PARENT=$2; shift ;;
    --size) SX=${2%%,*} SY=$(echo "$2" | cut -d, -f2) SZ=${2##*,}; shift ;;
    --no-gzip) GZIP=0 ;;
    *) usage ;;
    esac
    shift
done
[ -n "$CVMPI" ] || CVMPI=$HERE/../../src/cvmpi
[ -x "$CVMPI" ] || { echo "bench_h5: no cvmpi at $CVMPI (use --cvmpi)" >&2; exit 1; }
PY=/usr/bin/python3
if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
    echo "bench_h5: skipped: needs $PY with h5py and numpy"
    exit 0
fi
command -v mpirun >/dev/null 2>&1 || { echo "bench_h5: skipped: no mpirun"; exit 0; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
export CV_LOG="${CV_LOG:-warn}"

W=$(mktemp -d "$PARENT/cvmpi-bench-h5-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
BYTES=$((SX * SY * SZ * 2))
REV=$(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)
HOST=$(hostname 2>/dev/null || echo "?")
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%s\", ($1) }" </dev/null; }

# ---- the dataset, written plane block by plane block ---------------------------------------
$PY - "$W/stack.h5" "$SX" "$SY" "$SZ" <<'PY'
import sys, h5py, numpy as np
path, nx, ny, nz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with h5py.File(path, "w") as f:
    d = f.create_dataset("raw", (nz, ny, nx), dtype="uint16")
    y = np.arange(ny, dtype=np.int64)[None, :, None]
    x = np.arange(nx, dtype=np.int64)[None, None, :]
    for z0 in range(0, nz, 32):
        z = np.arange(z0, min(z0 + 32, nz), dtype=np.int64)[:, None, None]
        wave = (x * 3 + y + z * 2) % 1024
        noise = np.random.default_rng(z0).integers(0, 64, size=(len(z), ny, nx))
        d[z0:z0 + len(z)] = (20000 + wave * 16 + noise).astype(np.uint16)
PY

HAVE_TIME=0
[ -x /usr/bin/time ] && HAVE_TIME=1
cat >"$W/rank.sh" <<'EOF2'
#!/bin/sh
r=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
if [ "$HAVE_TIME" = 1 ]; then
    exec /usr/bin/time -f '%M %e %U %S' -o "$RSS_PREFIX.$r" "$@"
fi
exec "$@"
EOF2
export HAVE_TIME RSS_PREFIX="$W/rss"

echo "# bench_h5: ${SX}x${SY}x${SZ} uint16 = $(calc "$BYTES / 1048576") MiB contiguous HDF5 (z,y,x)" \
    "-> 64^3 chunks on file:// in $W; $(nproc 2>/dev/null || echo '?') cores (shared: compare" \
    "within the run); MB/s = dataset bytes / best of $RUNS wall times (10^6 B/s);" \
    "bound = plain HDF5 read of the whole dataset; peak RSS per rank (MiB, max over runs)"
printf 'rev\thost\tmeasurement\tranks\truns\tbest_s\tMB/s\tx_bound\trank_s\trank_MB/s\t'
printf 'rank_x_bound\tcpu_s\tpeak_rss_MiB\n'

best() { sort -g "$1" | head -n 1; }

# plain HDF5 read (a warm-up read first, so both sides read from the page cache)
: >"$W/times"
$PY - "$W/stack.h5" "$RUNS" >"$W/times" <<'PY'
import sys, time, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    d = f["raw"]
    a = np.empty(d.shape, d.dtype)
    d.read_direct(a)
    for _ in range(int(sys.argv[2])):
        t0, c0 = time.perf_counter(), time.process_time()
        d.read_direct(a)
        print(time.perf_counter() - t0, time.process_time() - c0)
PY
T_READ=$(sort -g "$W/times" | head -n 1 | cut -d' ' -f1)
C_READ=$(sort -g "$W/times" | head -n 1 | cut -d' ' -f2)
printf '%s\t%s\th5_read_plain\t1\t%s\t%.4f\t%.1f\t1.00\t-\t-\t-\t%.3f\t-\n' "$REV" "$HOST" \
    "$RUNS" "$T_READ" "$(calc "$BYTES / $T_READ / 1e6")" "$C_READ"

# the honest bound: the same plain read, then the same bytes written as files of one 64^3
# chunk each (open, one write, close; no reordering): what an import must at least do. Run by
# 1 process on the whole dataset and by 2 processes at once, each on its half along z (the
# slowest axis: one run of the file), started together: the second says how this machine
# scales the same work over 2 processes, the ceiling for 2 ranks ÷ 1 rank.
bound() { # PARTS: sets T_RW (best wall) and C_RW (its CPU seconds, all processes)
    : >"$W/times"
    $PY - "$W/stack.h5" "$RUNS" "$W/plain_chunks" $((64 * 64 * 64 * 2)) "$1" >"$W/times" <<'PY'
import multiprocessing as mp, os, shutil, sys, time, h5py, numpy as np
path, runs, out, chunk, parts = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def work(part, barrier, results):
    with h5py.File(path, "r") as f:
        d = f["raw"]
        nz = d.shape[0]
        z0, z1 = nz * part // parts, nz * (part + 1) // parts
        a = np.empty((z1 - z0,) + d.shape[1:], d.dtype)
        sel = np.s_[z0:z1]
        d.read_direct(a, sel)  # warm: pages of the array and the page cache
        for run in range(runs):
            barrier.wait()  # the parent has emptied the output directory
            barrier.wait()  # every process starts together
            t0, c0 = time.perf_counter(), time.process_time()
            d.read_direct(a, sel)
            view = memoryview(a.reshape(-1).view(np.uint8))
            for i, o in enumerate(range(0, len(view), chunk)):
                fd = os.open("%s/%d_%d" % (out, part, i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, view[o:o + chunk])
                os.close(fd)
            results.put((run, t0, time.perf_counter(), time.process_time() - c0))

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(parts + 1), ctx.Queue()
    procs = [ctx.Process(target=work, args=(p, barrier, results)) for p in range(parts)]
    for p in procs:
        p.start()
    for run in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        os.mkdir(out)
        barrier.wait()
        barrier.wait()
        got = [results.get() for _ in range(parts)]
        print(max(g[2] for g in got) - min(g[1] for g in got), sum(g[3] for g in got))
    for p in procs:
        p.join()
    shutil.rmtree(out, ignore_errors=True)
PY
    T_RW=$(sort -g "$W/times" | head -n 1 | cut -d' ' -f1)
    C_RW=$(sort -g "$W/times" | head -n 1 | cut -d' ' -f2)
    printf '%s\t%s\th5_read_write_chunks\t%s\t%s\t%.4f\t%.1f\t%.2f\t-\t-\t-\t%.3f\t-\n' "$REV" \
        "$HOST" "$1" "$RUNS" "$T_RW" "$(calc "$BYTES / $T_RW / 1e6")" "$(calc "$T_READ / $T_RW")" \
        "$C_RW"
}
bound 2
T_RW2=$T_RW
bound 1

# cp of the HDF5 file: every byte read once and written once, as the import must at least do
: >"$W/times"
i=0
while [ "$i" -lt "$RUNS" ]; do
    rm -f "$W/copy.h5"
    t0=$(now)
    cp "$W/stack.h5" "$W/copy.h5"
    t1=$(now)
    calc "$t1 - $t0" >>"$W/times"
    echo >>"$W/times"
    i=$((i + 1))
done
rm -f "$W/copy.h5"
T_CP=$(best "$W/times")
printf '%s\t%s\tcp_h5_file\t1\t%s\t%.4f\t%.1f\t%.2f\t-\t-\t-\t-\t-\n' "$REV" "$HOST" "$RUNS" \
    "$T_CP" "$(calc "$BYTES / $T_CP / 1e6")" "$(calc "$T_READ / $T_CP")"

# measure NAME RANKS ARGS...: import RUNS times, print the TSV line, set T_BEST
measure() {
    name=$1 ranks=$2
    shift 2
    : >"$W/times"
    : >"$W/rss_max"
    : >"$W/cpu"
    : >"$W/rank_times"
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        rm -rf "$W/dst" "$W/journal" "$W"/rss.*
        t0=$(now)
        mpirun -n "$ranks" sh "$W/rank.sh" "$CVMPI" -q import "$W/stack.h5:/raw" \
            "file://$W/dst" --chunk 64,64,64 --resolution 4,4,40 --journal "$W/journal" "$@" \
            >"$W/import.log"
        t1=$(now)
        calc "$t1 - $t0" >>"$W/times"
        echo >>"$W/times"
        # the ranks' own time (slowest rank, from the plan to the last write; no MPI start-up)
        sed -n 's/^import: .* MB in \([0-9.]*\) s .*/\1/p' "$W/import.log" >>"$W/rank_times"
        r=0
        cpu=0
        while [ "$r" -lt "$ranks" ]; do
            if [ -f "$W/rss.$r" ]; then
                line=$(tail -n 1 "$W/rss.$r")
                echo "$r $(echo "$line" | cut -d' ' -f1)" >>"$W/rss_max"
                cpu=$(calc "$cpu + $(echo "$line" | cut -d' ' -f3) + $(echo "$line" | cut -d' ' -f4)")
            fi
            r=$((r + 1))
        done
        echo "$cpu" >>"$W/cpu"
        i=$((i + 1))
    done
    # Every voxel must have arrived (untimed): read the layer back and compare with h5py.
    "$CVMPI" -q read "file://$W/dst" -o "$W/back.raw"
    $PY - "$W/stack.h5" "$W/back.raw" <<'PY' || { echo "bench_h5: $name: layer differs" >&2; exit 1; }
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    a = f["raw"][...]
b = np.fromfile(sys.argv[2], dtype="<u2").reshape(a.shape)  # x fastest == C order z,y,x
assert np.array_equal(a, b)
PY
    rm -f "$W/back.raw"
    T_BEST=$(best "$W/times")
    rss=$(awk '{ if ($2 > m[$1]) m[$1] = $2 } END { s = ""; for (r in m) s = s (s ? "," : "") \
        sprintf("r%s:%.0f", r, m[r] / 1024); print (s ? s : "-") }' "$W/rss_max")
    CPU_BEST=$(best "$W/cpu")
    R_BEST=$(best "$W/rank_times")
    printf '%s\t%s\t%s\t%s\t%s\t%.4f\t%.1f\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%s\n' "$REV" \
        "$HOST" "$name" "$ranks" "$RUNS" "$T_BEST" "$(calc "$BYTES / $T_BEST / 1e6")" \
        "$(calc "$T_READ / $T_BEST")" "$R_BEST" "$(calc "$BYTES / $R_BEST / 1e6")" \
        "$(calc "$T_READ / $R_BEST")" "$CPU_BEST" "$rss"
}

measure import_raw 1 --compress none
RAW1=$T_BEST RAW1R=$R_BEST
measure import_raw 2 --compress none
RAW2=$T_BEST RAW2R=$R_BEST
measure import_raw_independent 2 --compress none --independent
IND2=$T_BEST IND2R=$R_BEST
# rank scaling with one core each: one rank at the default threads already keeps 2 cores busy
measure import_raw_threads1 1 --compress none --threads 1
T11=$T_BEST T11R=$R_BEST
measure import_raw_threads1 2 --compress none --threads 1
T12=$T_BEST T12R=$R_BEST
if [ "$GZIP" = 1 ]; then
    measure import_gzip 1 --compress gzip
    GZ1=$T_BEST GZ1R=$R_BEST
    measure import_gzip 2 --compress gzip
    GZ2=$T_BEST GZ2R=$R_BEST
fi

mb() { calc "$BYTES / $1 / 1e6"; }
what="full size"
[ "$QUICK" = 1 ] && what="--quick: too small for the numbers to mean much"
echo "# summary ($what; mpirun wall time, in [] the ranks' own time without MPI start-up)"
printf '#   plain HDF5 read %.1f MB/s (the bound); cp of the file (read + write) %.1f MB/s\n' \
    "$(mb "$T_READ")" "$(mb "$T_CP")"
printf '#   plain read + the bytes written as 64^3 chunk files %.1f MB/s (%.3f CPU-s); raw import,' \
    "$(mb "$T_RW")" "$C_RW"
printf ' ranks time: 1 rank %.2f x that, 2 ranks %.2f x; 2 ranks / 1 rank %.2f\n' \
    "$(calc "$T_RW / $RAW1R")" "$(calc "$T_RW / $RAW2R")" "$(calc "$RAW1R / $RAW2R")"
printf '#   raw:  1 rank %.1f [%.1f] MB/s = %.2f [%.2f] x bound; 2 ranks %.1f [%.1f] MB/s =' \
    "$(mb "$RAW1")" "$(mb "$RAW1R")" "$(calc "$T_READ / $RAW1")" "$(calc "$T_READ / $RAW1R")" \
    "$(mb "$RAW2")" "$(mb "$RAW2R")"
printf ' %.2f [%.2f] x bound; 2 ranks --independent %.1f [%.1f] MB/s\n' \
    "$(calc "$T_READ / $RAW2")" "$(calc "$T_READ / $RAW2R")" "$(mb "$IND2")" "$(mb "$IND2R")"
printf '#   raw, --threads 1: 1 rank %.1f [%.1f] MB/s, 2 ranks %.1f [%.1f] MB/s; 2 ranks / 1 rank' \
    "$(mb "$T11")" "$(mb "$T11R")" "$(mb "$T12")" "$(mb "$T12R")"
printf ' %.2f [%.2f]\n' "$(calc "$T11 / $T12")" "$(calc "$T11R / $T12R")"
printf '#   the bound by 2 processes at once, each on half: %.1f MB/s; 2 processes / 1 process %.2f' \
    "$(mb "$T_RW2")" "$(calc "$T_RW / $T_RW2")"
printf ' (this machine'"'"'s scaling of the same work: the ceiling for 2 ranks / 1 rank)\n'
[ "$GZIP" = 0 ] || printf '#   gzip: 1 rank %.1f [%.1f] MB/s, 2 ranks %.1f [%.1f] MB/s; 2 ranks / 1 rank %.2f [%.2f]\n' \
    "$(mb "$GZ1")" "$(mb "$GZ1R")" "$(mb "$GZ2")" "$(mb "$GZ2R")" "$(calc "$GZ1 / $GZ2")" \
    "$(calc "$GZ1R / $GZ2R")"
