#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_read_file.sh: `cvmpi read` of a whole raw layer (uint8, 64^3 chunks written without
# transport compression) into a raw file, and `cvmpi write -i` of that file back into the
# layer's chunks (a fresh copy of the layer's info each round), against `cp -r` of the layer's
# chunk files, all in --dir (default $TMPDIR; use a tmpfs such as /dev/shm to measure the
# program, not the disk), taking turns over --runs rounds, each into a new destination. Each
# process is reaped with wait4: wall and CPU (user + system) time. Prints one TSV line per
# command (fastest wall, median wall, fastest CPU, and the fastest wall as a fraction of cp -r's:
# cp / cvmpi) and checks the file and the written chunks against the layer's bytes.
# `--size X,Y,Z` (default 1024,1024,256); `--quick` (CTest, label bench): 256,256,64, 2 rounds.
# Never fails on speed.
set -euo pipefail

usage() {
    echo "usage: $0 --cvmpi PATH [--dir DIR] [--size X,Y,Z] [--runs N] [--quick]" >&2
    exit 2
}
CVMPI="" DIR=${TMPDIR:-/tmp} SIZE=1024,1024,256 RUNS=5
while [[ $# -gt 0 ]]; do
    case $1 in
    --cvmpi) CVMPI=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --quick) SIZE=256,256,64 RUNS=2; shift ;;
    *) usage ;;
    esac
done
[[ -n $CVMPI ]] || usage
CVMPI=$(realpath "$CVMPI")
IFS=, read -r SX SY SZ <<< "$SIZE"
BYTES=$((SX * SY * SZ))

W=$(mktemp -d "$DIR/cvmpi-bench-read-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
"$CVMPI" -q create "file://$W/layer" --type image --dtype uint8 --size "$SIZE" --resolution 1,1,1 \
    >/dev/null
head -c "$BYTES" /dev/urandom > "$W/src.raw"
"$CVMPI" -q write "file://$W/layer" -i "$W/src.raw" --bbox "0,0,0,$SIZE" --compress none

echo "# bench_read_file $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) load $(cut -d' ' -f1-3 /proc/loadavg):" \
    "${SIZE//,/x} uint8, $((BYTES / 1048576)) MiB in $W"
BENCH_SIZE=$SIZE /usr/bin/python3 - "$CVMPI" "$W" "$RUNS" "$BYTES" <<'PY'
import os, shutil, statistics, subprocess, sys, time

cvmpi, work, runs, nbytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
size = ",".join(str(int(v)) for v in os.environ["BENCH_SIZE"].split(","))
cases = [
    ("cp -r of the chunk files", lambda: ["cp", "-r", work + "/layer", work + "/copy"]),
    ("cvmpi read -o FILE.raw", lambda: [cvmpi, "read", "file://" + work + "/layer", "-o",
                                        work + "/out.raw"]),
    ("cvmpi write -i FILE.raw", lambda: [cvmpi, "write", "file://" + work + "/written", "-i",
                                         work + "/src.raw", "--bbox", "0,0,0," + size,
                                         "--compress", "none"]),
]
wall = {n: [] for n, _ in cases}
cpu = {n: [] for n, _ in cases}
for _ in range(runs):
    shutil.rmtree(work + "/copy", ignore_errors=True)
    shutil.rmtree(work + "/written", ignore_errors=True)
    os.mkdir(work + "/written")
    shutil.copy(work + "/layer/info", work + "/written/info")
    if os.path.exists(work + "/out.raw"):
        os.unlink(work + "/out.raw")
    for name, argv in cases:
        t = time.perf_counter()
        p = subprocess.Popen(argv(), stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        wall[name].append(time.perf_counter() - t)
        cpu[name].append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("bench_read_file: %s failed" % " ".join(argv()))
if open(work + "/out.raw", "rb").read() != open(work + "/src.raw", "rb").read():
    sys.exit("bench_read_file: the file read differs from the layer")
for root, _, files in os.walk(work + "/layer"):
    for f in files:
        if f == "info":
            continue
        other = work + "/written" + root[len(work + "/layer"):] + "/" + f
        if open(root + "/" + f, "rb").read() != open(other, "rb").read():
            sys.exit("bench_read_file: written chunk %s differs from the layer's" % f)
cp = min(wall[cases[0][0]])
print("command\tbest_wall_s\tmedian_wall_s\tbest_cpu_s\tMB/s\tx_cp")
for name, _ in cases:
    print("%s\t%.3f\t%.3f\t%.3f\t%.0f\t%.2f" % (name, min(wall[name]), statistics.median(wall[name]),
                                               min(cpu[name]), nbytes / min(wall[name]) / 1e6,
                                               cp / min(wall[name])))
PY
