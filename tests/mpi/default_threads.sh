#!/usr/bin/env bash
# The default chunk threads per rank (no --threads): the cores the rank may run on, at most 4.
# A launcher that binds each rank to a core gives it one thread; without binding, the node's
# cores are shared by its ranks; one process not under a launcher uses its own cores (taskset
# narrows them). --threads overrides. Read from the plan line of --dry-run (transfer, import).
source "$(dirname "$0")/lib.sh"
"$CVMPI" create src --type image --dtype uint8 --size 64,64,32 --resolution 4,4,40 \
    --chunk 32,32,16 > /dev/null
/usr/bin/python3 -c 'import h5py, numpy as np
h5py.File("vol.h5", "w").create_dataset("raw", data=np.zeros((32, 64, 64), np.uint8))'

cores=$(/usr/bin/python3 -c 'import os; print(len(os.sched_getaffinity(0)))')
online=$(getconf _NPROCESSORS_ONLN)
upto4() { if [ "$1" -lt 1 ]; then echo 1; elif [ "$1" -gt 4 ]; then echo 4; else echo "$1"; fi; }
threads_word() { if [ "$1" = 1 ]; then echo "1 chunk thread"; else echo "$1 chunk threads"; fi; }

# expect LOG RANKS THREADS: the plan line says RANKS ranks of THREADS chunk threads
expect() {
    local log=$1 ranks=$2 t=$3 r
    if [ "$ranks" = 1 ]; then r="1 rank"; else r="$ranks ranks"; fi
    grep -qF "), $r of $(threads_word "$t")" "$log" || { cat "$log"; fail "$log: want $r of $t threads"; }
    echo "$log: $r of $(threads_word "$t")"
}

"$CVMPI" transfer src dst --dry-run > one.log
expect one.log 1 "$(upto4 "$cores")"
"$CVMPI" transfer src dst --dry-run --threads 3 > given.log
expect given.log 1 3
if command -v taskset > /dev/null; then
    taskset -c 0 "$CVMPI" transfer src dst --dry-run > pinned.log
    expect pinned.log 1 1
fi
"$CVMPI" import vol.h5:/raw imported --resolution 4,4,40 --dry-run > import.log
expect import.log 1 "$(upto4 "$cores")"

# Under mpirun: bound to a core each (Open MPI's default for 2 ranks), then not bound.
run_np 2 transfer src dst --dry-run > bound.log
expect bound.log 2 1
OMPI_MCA_hwloc_base_binding_policy=none run_np 2 transfer src dst --dry-run > unbound.log
expect unbound.log 2 "$(upto4 $((online / 2)))"
run_np 2 transfer src dst --dry-run --threads 2 > bound-given.log
expect bound-given.log 2 2
run_np 2 import vol.h5:/raw imported --resolution 4,4,40 --dry-run > import-bound.log
expect import-bound.log 2 1
