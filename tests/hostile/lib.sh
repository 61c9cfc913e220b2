# SPDX-License-Identifier: BSD-3-Clause
# lib.sh: what the hostile cases that run MPI jobs share. Source it instead of
# ../integration/lib.sh (which it sources with the script's arguments):
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
# It turns leak checks off (the jobs start MPI, even as a singleton, and Open MPI's own leaks
# cannot be suppressed for LeakSanitizer, as in tests/mpi) and defines:
#   random_layer NAME X Y Z SEED   a uint8 image layer of X x Y x Z voxels in 32^3 chunks
#                                  (resolution 4,4,40) filled with seeded random values
# shellcheck shell=bash
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

random_layer()
{
    local name=$1 x=$2 y=$3 z=$4 seed=$5
    "$CVMPI" create "$name" --type image --dtype uint8 --size "$x,$y,$z" --resolution 4,4,40 \
        --chunk 32,32,32 >/dev/null
    "$PY" -c "
import numpy as np
a = np.random.default_rng($seed).integers(0, 255, ($x, $y, $z, 1)).astype('uint8')
np.save('$name.npy', np.asfortranarray(a))"
    "$CVMPI" write "$name" --bbox "0,0,0,$x,$y,$z" -i "$name.npy"
}

# rss_cases NAME: the preamble of a case that measures ranks' peak RSS: skip (exit 0) without
# mpirun or /usr/bin/time, or under AddressSanitizer (RSS means nothing there); else set up
# mpirun as the tests run it (root allowed, oversubscribed, loopback only) and OVERHEAD_KIB,
# the fixed allowance above --memory (the process, MPI and libraries).
rss_cases()
{
    if ! command -v mpirun >/dev/null || [[ ! -x /usr/bin/time ]]; then
        echo "SKIP: $1 needs mpirun and /usr/bin/time"
        exit 0
    fi
    if [[ $(ASAN_OPTIONS=help=1 "$CVMPI" --version 2>&1) == *AddressSanitizer* ]]; then
        echo "SKIP: $1 measures RSS, meaningless under AddressSanitizer"
        exit 0
    fi
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
    export OMPI_MCA_oob_tcp_if_include=lo
    OVERHEAD_KIB=$((32 * 1024))
}

# peak_within NAME BUDGET_MIB CMD ARGS...: after rss_cases, run `cvmpi CMD ARGS --memory
# BUDGET_MIB M --threads 4` at -n 2 (output in NAME.log), each rank under /usr/bin/time; every
# rank's peak RSS must be at most BUDGET_MIB + the fixed overhead. The plans the tests check
# were made with 4 chunk threads (the default follows the cores a rank may use).
peak_within() {
    local name=$1 mib=$2
    shift 2
    rm -f rss.*
    mpirun -n 2 sh -c '/usr/bin/time -f %M -o "rss.$OMPI_COMM_WORLD_RANK" "$@"' rank \
        "$CVMPI" "$@" --memory "${mib}M" --threads 4 >"$name.log" 2>&1 ||
        { cat "$name.log"; fail "$name: $1"; }
    for r in 0 1; do
        local kib
        kib=$(tail -n 1 "rss.$r")
        echo "$name: rank $r peak RSS $((kib / 1024)) MiB (--memory ${mib}M + 32 MiB allowed)"
        ((kib <= mib * 1024 + OVERHEAD_KIB)) || fail "$name: rank $r peaked at $kib KiB"
    done
}
