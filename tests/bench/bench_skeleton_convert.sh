#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench_skeleton_convert.sh: skeletons per second through `cvmpi skeleton convert` into a
# sharded skeleton directory (CloudVolume's hashed parameters, at least 8 shards) with 1 and
# 2 ranks, from N
# random SWC trees (tests/interop/mesh_skeleton_ref.py mkswc) on file:// in $TMPDIR; the
# baseline in the same run is `cat` of the SWC files (reading them alone).
# Usage: bench_skeleton_convert.sh CVMPI SOURCE_DIR [--quick]   (full: 20000 skeletons)
set -eu
CVMPI=$(realpath "$1") # the work happens in a temporary directory
SRC=$(realpath "$2")
N=20000
[ "${3:-}" = "--quick" ] && N=300
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cvmpi-bench-skel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
export OMPI_MCA_mpi_yield_when_idle=1 ASAN_OPTIONS=detect_leaks=0
n=$(/usr/bin/python3 "$SRC/tests/interop/mesh_skeleton_ref.py" mkswc swc "$N" 7)
t0=$(date +%s.%N)
cat swc/*.swc > /dev/null 2>&1 || find swc -name '*.swc' -exec cat {} + > /dev/null
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "baseline: cat of %d SWC files: %.3f s\n", n, b - a }'
for ranks in 1 2; do
    "$CVMPI" create l$ranks --type segmentation --dtype uint64 --size 64,64,64 --resolution 8,8,8 >/dev/null
    mpirun -n $ranks "$CVMPI" skeleton convert swc l$ranks --sharded --min-shards 8
done
