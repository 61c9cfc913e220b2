#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# bench_startup.sh: how long a single-process command takes from start to exit, with `true`
# as the baseline in the same run: `cvmpi --version`, `cvmpi info` of a local one-chunk
# 64x64x16 uint8 layer, and a one-process `cvmpi transfer` of that layer (no launcher, so MPI
# is not started) into a new directory each run. The commands take turns (--runs rounds);
# each process is started by Python and reaped with wait4, which gives its wall time and its
# CPU time (user + system, the exec'd full program included). Prints one TSV line per
# command: fastest and median wall ms, fastest CPU ms, and the fastest wall minus `true`'s.
# On a shared machine the wall time includes waiting for a core; CPU time does not.
# `--quick` (CTest, label bench) runs 3 rounds. Never fails on speed; fails if a command fails.
set -euo pipefail

usage() {
    echo "usage: $0 --cvmpi PATH [--runs N] [--quick]" >&2
    exit 2
}
CVMPI="" RUNS=30
while [[ $# -gt 0 ]]; do
    case $1 in
    --cvmpi) CVMPI=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --quick) RUNS=3; shift ;;
    *) usage ;;
    esac
done
[[ -n $CVMPI ]] || usage
CVMPI=$(realpath "$CVMPI")
PY=/usr/bin/python3
unset CVMPI_MPI OMPI_COMM_WORLD_SIZE PMI_SIZE PMIX_RANK SLURM_STEPID

W=$(mktemp -d "${TMPDIR:-/tmp}/cvmpi-bench-startup-XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
"$CVMPI" -q create "file://$W/src" --type image --dtype uint8 --size 64,64,16 \
    --resolution 1,1,1 --chunk 64,64,16 >/dev/null
head -c $((64 * 64 * 16)) /dev/urandom >"$W/block.raw"
"$CVMPI" -q write "file://$W/src" -i "$W/block.raw" --bbox 0,0,0,64,64,16 >/dev/null

echo "# bench_startup $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) load $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$CVMPI" "$W" "$RUNS" <<'PY'
import os, statistics, subprocess, sys, time

cvmpi, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cases = [
    ("true", lambda i: ["true"]),
    ("cvmpi --version", lambda i: [cvmpi, "--version"]),
    ("cvmpi info", lambda i: [cvmpi, "info", "file://" + work + "/src"]),
    ("cvmpi transfer (1 process)",
     lambda i: [cvmpi, "-q", "transfer", "file://" + work + "/src", "file://%s/dst%d" % (work, i)]),
]
wall = {name: [] for name, _ in cases}
cpu = {name: [] for name, _ in cases}
devnull = open(os.devnull, "w")
for i in range(runs):
    for name, argv in cases:
        start = time.perf_counter()
        p = subprocess.Popen(argv(i), stdout=devnull)
        _, status, usage = os.wait4(p.pid, 0)
        end = time.perf_counter()
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            sys.exit("bench_startup: %s exited with %d" % (" ".join(argv(i)), p.returncode))
        wall[name].append((end - start) * 1e3)
        cpu[name].append((usage.ru_utime + usage.ru_stime) * 1e3)
base = min(wall["true"])
print("command\tbest_wall_ms\tmedian_wall_ms\tbest_cpu_ms\tbest_wall_minus_true_ms")
for name, _ in cases:
    print("%s\t%.1f\t%.1f\t%.1f\t%.1f" % (name, min(wall[name]), statistics.median(wall[name]),
                                          min(cpu[name]), min(wall[name]) - base))
PY
