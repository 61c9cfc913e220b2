#!/usr/bin/env bash
# Interrupt a 2-rank transfer (SIGKILL of one rank, and SIGTERM of the job), resume it, and
# check the output is byte-identical to an uninterrupted run and that the journal holds every
# task exactly once (finished tasks were not redone).
source "$(dirname "$0")/lib.sh"
make_source src uint8 256,256,64 0,0,0 32,32,16
run_np 2 transfer src ref --memory 256K > /dev/null 2>&1 || fail "reference run"
n_tasks=$(run_np 1 transfer src ref --memory 256K --dry-run | sed -n 's/^plan: \([0-9]*\) tasks.*/\1/p')
[ "$n_tasks" -ge 16 ] || fail "want many tasks, got $n_tasks"

check_resumed() { # DIR JOURNAL
    digest ref > d-ref
    digest "$1" | diff d-ref - > /dev/null || fail "resumed output differs from an uninterrupted run"
    local ids
    ids=$(cat "$2"/rank-*.log | grep -v '^cvmpi-journal' | sort -n)
    [ "$(echo "$ids" | wc -l)" = "$n_tasks" ] || fail "journal has $(echo "$ids" | wc -l) entries, want $n_tasks"
    [ "$(echo "$ids" | uniq | wc -l)" = "$n_tasks" ] || fail "a finished task was redone"
}

# 1. SIGKILL one rank in the middle.
CVMPI_TEST_TASK_DELAY_MS=120 mpirun -n 2 "$CVMPI" transfer src out1 --memory 256K --journal j1 \
    > log1 2>&1 &
job=$!
for _ in $(seq 1 200); do
    [ "$(cat j1/rank-*.log 2>/dev/null | grep -vc '^cvmpi-journal' || true)" -ge 4 ] && break
    sleep 0.05
done
victim=$(pgrep -f "cvmpi transfer src out1" | tail -n 1)
[ -n "$victim" ] || fail "no rank to kill"
kill -KILL "$victim"
wait "$job" && fail "killed job exited 0"
done_before=$(cat j1/rank-*.log | grep -vc '^cvmpi-journal')
[ "$done_before" -lt "$n_tasks" ] || fail "the job finished before it was killed"
run_np 2 transfer src out1 --memory 256K --journal j1 --resume --keep-journal > log1b 2>&1 || { cat log1b; fail "resume"; }
grep -q "$done_before skipped" log1b || { cat log1b; fail "resume did not skip the $done_before finished tasks"; }
check_resumed out1 j1

# 2. SIGTERM (Slurm's warning): ranks stop, flush the journal, exit non-zero and say how to resume.
CVMPI_TEST_TASK_DELAY_MS=120 mpirun -n 2 "$CVMPI" transfer src out2 --memory 256K --journal j2 \
    > log2 2>&1 &
job=$!
for _ in $(seq 1 200); do
    [ "$(cat j2/rank-*.log 2>/dev/null | grep -vc '^cvmpi-journal' || true)" -ge 4 ] && break
    sleep 0.05
done
pkill -TERM -f "cvmpi transfer src out2" || true
if wait "$job"; then fail "terminated job exited 0"; fi
grep -q -- "--resume" log2 || { cat log2; fail "no resume hint after SIGTERM"; }
run_np 3 transfer src out2 --memory 256K --journal j2 --resume --keep-journal > log2b 2>&1 || { cat log2b; fail "resume 2"; }
check_resumed out2 j2
echo "transfer_resume: ok"
