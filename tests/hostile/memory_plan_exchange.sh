#!/usr/bin/env bash
# The exchange path's memory figure is an upper bound too: a re-chunking whose tasks cannot fit
# (64^3 chunks to 100^3: one aligned task would be 1600^3 voxels) runs as exchange rounds at
# -n 2; each rank's peak RSS, measured with /usr/bin/time, stays within --memory plus the fixed
# 32 MiB, and above the baseline of a rank that only plans (--dry-run) it stays within the
# round's planned peak. Under a too-small --memory the job is refused in one line naming what
# the tasks and the exchange rounds would need.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
rss_cases memory_plan_exchange

"$CVMPI" create src --type image --dtype uint8 --size 1024,1024,128 --resolution 4,4,40 \
    --chunk 64,64,64 >/dev/null
"$PY" -c "
import numpy as np
a = np.random.default_rng(1).integers(0, 255, (1024, 1024, 128, 1)).astype('uint8')
np.save('a.npy', np.asfortranarray(a))"
"$CVMPI" write src --bbox 0,0,0,1024,1024,128 -i a.npy --compress none
rm a.npy

# rss_of ARGS...: run cvmpi ARGS at -n 2, each rank under /usr/bin/time; prints the larger
# peak RSS of the two ranks in KiB.
rss_of() {
    rm -f rss.*
    mpirun -n 2 sh -c '/usr/bin/time -f %M -o "rss.$OMPI_COMM_WORLD_RANK" "$@"' rank \
        "$CVMPI" "$@" >job.log 2>&1 || { cat job.log; fail "cvmpi $*"; }
    local a b
    a=$(tail -n 1 rss.0)
    b=$(tail -n 1 rss.1)
    echo $((a > b ? a : b))
}

ARGS=(transfer src dst --chunk-size "100,100,100" --compress gzip --memory 640M --threads 4)
section "64^3 -> 100^3 chunks under --memory 640M: exchange rounds, the plan's bound"
base_kib=$(rss_of "${ARGS[@]}" --dry-run)
grep -qF "plan: 2 exchange rounds over 0,0,0,1024,1024,128 at mip 0, 2 ranks" job.log ||
    { cat job.log; fail "want exchange rounds"; }
grep -qF "exchange: expected peak 591.7 MB per rank (budget 671.1 MB)" job.log ||
    { cat job.log; fail "exchange's planned peak"; }
peak_kib=$(rss_of "${ARGS[@]}")
echo "exchange: peak RSS $((peak_kib / 1024)) MiB, planning alone $((base_kib / 1024)) MiB," \
    "planned 591.7 MB"
((peak_kib <= 640 * 1024 + OVERHEAD_KIB)) || fail "peak $peak_kib KiB over --memory + 32 MiB"
(((peak_kib - base_kib) * 1024 <= 591700000)) || fail "peak above the baseline over the plan"
grep -qF "transfer: 2 exchange rounds written, 0 skipped, 0 failed of 2" job.log ||
    { cat job.log; fail "exchange rounds"; }

section "--memory 100M (one rank): refused, naming both needs"
run "$CVMPI" transfer src dst2 --chunk-size 100,100,100 --memory 100M --threads 4
[[ $RC == 1 ]] || fail "--memory 100M --threads 4 must be refused (exit $RC)"
expect_one_line_error
expect_stderr_contains "cvmpi: transfer: re-chunking fits --memory neither as tasks (plan: one aligned task of 1600x1600x1600 voxels needs about 4104.00 MB, more than the 104.86 MB memory budget (raise --memory)) nor as exchange rounds (exchange: one round (a column of 1600x1600 voxels, one destination chunk row) needs about 1175.36 MB per rank with 1 rank, more than the 104.86 MB memory budget (raise --memory or use more ranks))"
echo "memory_plan_exchange: ok"
