#!/usr/bin/env bash
# --memory is an upper bound: a re-chunking transfer with gzip at -n 2 once planned 70.8 MB per
# rank under --memory 80M and peaked at 151 MB, because the plan counted 1.5 x the task buffer
# but not the chunk-sized buffers of each busy thread (a 384x384x320 chunk is cut out of the
# task, then compressed). The plan now counts them; peak RSS per rank, measured around each
# rank with /usr/bin/time, must stay within --memory plus a fixed 32 MiB (the process, MPI and
# libraries: about 20 MiB for a rank that moves no data). A job that fits no plan is refused
# naming what the tasks and the exchange rounds would need.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
rss_cases memory_plan

"$CVMPI" create src --type image --dtype uint8 --size 768,384,320 --resolution 4,4,40 \
    --chunk 64,64,64 >/dev/null
"$PY" -c "
import numpy as np
a = np.random.default_rng(1).integers(0, 8, (768, 384, 320, 1)).astype('uint8')
a += np.arange(320, dtype='uint8')[None, None, :, None]
np.save('a.npy', np.asfortranarray(a))"
"$CVMPI" write src --bbox 0,0,0,768,384,320 -i a.npy --compress none
rm a.npy

section "384x384x320 gzip chunks: the plan's bound and the measured peak"
run "$CVMPI" transfer src d --chunk-size 384,384,320 --compress gzip --memory 160M --threads 4 --dry-run
[[ $RC == 0 ]] || fail "dry-run at 160M"
grep -qF "plan: 2 tasks of 384x384x320 voxels" "$OUT" || fail "want 2 tasks"
grep -qF "expected peak 141.6 MB per rank (budget 167.8 MB)" "$OUT" || fail "plan's bound"
rm -rf big
peak_within big 160 transfer src big --chunk-size 384,384,320 --compress gzip

section "the same under --memory 80M: refused, saying what each way needs"
run "$CVMPI" transfer src d --chunk-size 384,384,320 --compress gzip --memory 80M --threads 4
[[ $RC == 1 ]] || fail "--memory 80M --threads 4 must be refused (exit $RC)"
expect_one_line_error
expect_stderr_contains "cvmpi: transfer: re-chunking fits --memory neither as tasks (plan: one aligned task of 384x384x320 voxels needs about 141.56 MB, more than the 83.89 MB memory budget (raise --memory))"
expect_stderr_contains ") nor as exchange rounds (exchange: one round"

section "--memory 32M: a re-chunking whose tasks fit runs as tasks"
run "$CVMPI" transfer src small --chunk-size 128,128,64 --compress gzip --memory 32M --threads 4 --dry-run
grep -qE "^plan: [0-9]+ tasks of " "$OUT" || fail "--memory 32M: want tasks, not exchange rounds"
rm -rf small
peak_within small 32 transfer src small --chunk-size 128,128,64 --compress gzip
run "$CVMPI" verify src small --memory 64M --threads 4
[[ $RC == 0 ]] || fail "re-chunked copy differs"
echo "memory_plan: ok"
