#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# sched_stragglers.sh CVMPI: the dynamic schedule's batches and straggler handling.
#  1. A rank that turns slow (every task of its own from task 3 on takes 2.5 s more) while it
#     holds a batch: idle ranks take the unstarted tasks of its batch, then a copy of the task
#     it is on; the log names the tasks and ranks, the job ends long before the slow rank
#     would have finished its batch, the output equals -n 1 and every task counts once.
#  2. The same for downsample (a task's state reaches the tree twice: the pyramid is the same).
#  3. -n 1, 2, 3 and 8 (oversubscribed) transfers and downsamples are byte-identical.
#  4. --schedule static makes no one-sided MPI call (the scheduler's debug line).
source "$(dirname "$0")/lib.sh"
now() { date +%s.%N; }

# 200 tasks of one 32x32x16 chunk each
make_source src uint8 320,320,32 0,0,0 32,32,16 > /dev/null
run_np 1 transfer src out-1 --memory 64K > log-1 2>&1 || { cat log-1; fail "-n 1"; }
digest out-1 > d-1

# 1. a slow rank
t0=$(now)
CVMPI_TEST_SLOW_TASK=3 CVMPI_TEST_SLOW_MS=2500 CVMPI_REISSUE_AFTER=0.5 \
    run_np 3 -v transfer src out-slow --memory 64K --report report.json > log-slow 2>&1 ||
    { cat log-slow; fail "slow transfer"; }
t1=$(now)
grep -v "moved from" log-slow
digest out-slow | diff d-1 - > /dev/null || fail "slow: output differs from -n 1"
grep -q "moved from rank [0-2] (on task 3 for [0-9]* s) to rank [0-2]" log-slow ||
    fail "slow: no task moved from the slow rank's batch"
grep -q "task 3 reissued: rank [0-2] has been on it for [0-9]* s; rank [0-2] runs it too" log-slow ||
    fail "slow: task 3 not reissued"
grep -q "transfer: 200 tasks written, 0 skipped, 0 failed of 200" log-slow ||
    fail "slow: summary does not count each task once"
/usr/bin/python3 - report.json <<'PY' || fail "slow: report"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["total"]["tasks_done"] == 200, r["total"]
PY
# The slow rank held a batch of several tasks (2.5 s each); handing them out ends the job in
# about one slow task.
elapsed=$(echo "$t1 - $t0" | bc)
echo "slow transfer: $elapsed s"
[ "$(echo "$elapsed < 15" | bc)" = 1 ] || fail "slow: the job took $elapsed s"

# 2. downsample with a slow rank
cp -r src ds-1
cp -r src ds-slow
run_np 1 downsample ds-1 --num-mips 3 --memory 600K > log-ds-1 2>&1 || { cat log-ds-1; fail "downsample -n 1"; }
CVMPI_TEST_SLOW_TASK=3 CVMPI_TEST_SLOW_MS=2500 CVMPI_REISSUE_AFTER=0.5 \
    run_np 3 -v downsample ds-slow --num-mips 3 --memory 600K > log-ds-slow 2>&1 ||
    { cat log-ds-slow; fail "slow downsample"; }
grep -v "moved from" log-ds-slow
grep -q "task 3 reissued\|moved from rank [0-2] (on task 3" log-ds-slow || fail "downsample: nothing taken over"
digest ds-1 > d-ds-1
digest ds-slow | diff d-ds-1 - > /dev/null || fail "downsample: a slow rank changed the output"
n_ds=$(sed -n 's/.*: \([0-9]*\) tasks and .*/\1/p' log-ds-1)
grep -q ": $n_ds tasks and [0-9]* tree nodes done, 0 skipped, 0 failed" log-ds-slow ||
    fail "downsample: summary does not count each task once"

# 3. rank counts
for n in 2 3 8; do
    run_np "$n" transfer src "out-$n" --memory 64K > "log-$n" 2>&1 || { cat "log-$n"; fail "-n $n"; }
    digest "out-$n" | diff d-1 - > /dev/null || fail "transfer: $n ranks differ from 1"
    cp -r src "ds-$n"
    run_np "$n" downsample "ds-$n" --num-mips 3 --memory 600K > "log-ds-$n" 2>&1 ||
        { cat "log-ds-$n"; fail "downsample -n $n"; }
    digest "ds-$n" | diff d-ds-1 - > /dev/null || fail "downsample: $n ranks differ from 1"
done

# 4. static: no one-sided communication on any rank; dynamic does use it
run_np 3 -vv transfer src out-static --memory 64K --schedule static > log-static 2>&1 ||
    { cat log-static; fail "static"; }
digest out-static | diff d-1 - > /dev/null || fail "static: output differs"
[ "$(grep -c "scheduler: 0 claims, 0 one-sided operations" log-static)" = 3 ] ||
    { grep scheduler log-static; fail "static: one-sided operations"; }
run_np 3 -vv transfer src out-dyn --memory 64K > log-dyn 2>&1 || { cat log-dyn; fail "dynamic"; }
grep -q "scheduler: [1-9][0-9]* claims, [1-9][0-9]* one-sided operations" log-dyn ||
    { grep scheduler log-dyn; fail "dynamic: no claims counted"; }
echo "sched_stragglers: ok"
