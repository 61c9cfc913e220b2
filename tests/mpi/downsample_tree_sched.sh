#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# downsample_tree_sched.sh CVMPI: the downsample tree's nodes are dealt at each stage by the
# ranks' measured throughput, not by node index mod the rank count:
#  1. -n 3 with rank 1 slowed (CVMPI_TEST_SLOW_RANK=1: every task and node of rank 1 takes
#     CVMPI_TEST_TASK_DELAY_MS longer): in every tree stage of 6 or more nodes rank 1 makes at
#     least 2 fewer nodes than each other rank (mod 3 deals counts that differ by at most 1),
#     the counts add up to the stage's nodes, and the pyramid equals -n 1's;
#  2. the dry-run plan says how the nodes are dealt.
source "$(dirname "$0")/lib.sh"
# --threads 4 with it: the plan depends on the chunk threads per rank (the default follows
# the cores a rank may use), and these sizes were chosen for 4.
MEM=300K

make_source src uint8 300,260,24 3,-4,2 32,32,8 > /dev/null
cp -r src src1
cp -r src src3
plan=$("$CVMPI" downsample src1 --num-mips 5 --memory $MEM --threads 4 --dry-run --ranks 3)
echo "$plan"
[ "$(echo "$plan" | grep -c "(reduction tree)")" -ge 2 ] || fail "want two or more tree stages"

# 2. the plan line
echo "$plan" | grep -q "^plan: tree nodes dealt at each stage by the ranks' measured throughput, in ranges placed where their children's states are: at most [0-9, ]* per rank (stage 1\.\.[0-9]*)$" ||
    fail "no plan line for the tree's scheduling"

# 1. a slow rank
run_np 1 downsample src1 --num-mips 5 --memory $MEM --threads 4 > log1 2>&1 || { cat log1; fail "-n 1"; }
CVMPI_TEST_SLOW_RANK=1 CVMPI_TEST_TASK_DELAY_MS=100 \
    run_np 3 -v downsample src3 --num-mips 5 --memory $MEM --threads 4 > log3 2>&1 || { cat log3; fail "-n 3"; }
grep "tree stage" log3
digest src1 > d1
digest src3 | diff d1 - > /dev/null || fail "-n 1 and -n 3 with a slow rank differ"
n_tree=$(sed -n 's/.* tasks and \([0-9]*\) tree nodes done, 0 skipped, 0 failed.*/\1/p' log3)
[ -n "$n_tree" ] || { cat log3; fail "no summary"; }
/usr/bin/python3 - "$n_tree" <<'PY' || fail "node counts"
import re, sys
total, checked = 0, 0
for line in open("log3"):
    m = re.search(r"tree stage (\d+): (\d+) unfinished nodes by rank \(throughput relative to the mean\): (.*)", line)
    if not m:
        continue
    n = int(m.group(2))
    counts = [int(c) for c in re.findall(r"(\d+) \([0-9.]+\)", m.group(3))]
    assert len(counts) == 3 and sum(counts) == n, line
    total += n
    if n >= 6:
        checked += 1
        assert counts[1] + 2 <= min(counts[0], counts[2]), f"slow rank 1 not given fewer nodes: {line}"
assert checked >= 1, "no stage of 6 or more nodes"
assert total == int(sys.argv[1]), (total, sys.argv[1])
print(f"tree nodes {total}, stages checked {checked}")
PY
echo "ok"
