#!/usr/bin/env bash
# Interrupt a 2-rank import (SIGKILL of one rank; SIGTERM of the job, as Slurm sends it), resume
# it with --resume (with 2 and 3 ranks), and check that the layer is byte-identical to an
# uninterrupted import and that the journal holds every task exactly once (finished tasks were
# not redone). Ranks are found as children of this test's mpirun, never by name.
source "$(dirname "$0")/lib.sh"
/usr/bin/python3 -c "import h5py" 2> /dev/null || { echo "h5_resume: skipped (no python3-h5py)"; exit 0; }
/usr/bin/python3 - <<'PY'
import h5py, numpy as np
a = np.random.default_rng(5).integers(0, 65536, (64, 100, 120)).astype("uint16")
with h5py.File("src.h5", "w") as f:
    f.create_dataset("vol", data=a, chunks=(16, 25, 30), compression="gzip")
PY
ARGS=(--chunk 16,16,16 --memory 512K --resolution 1,1,1)
run_np 2 import src.h5:/vol ref "${ARGS[@]}" > log 2>&1 || { cat log; fail "reference run"; }
n_tasks=$(sed -n 's/^import: [0-9]* tasks written, [0-9]* skipped, [0-9]* failed of \([0-9]*\);.*/\1/p' log)
[ "${n_tasks:-0}" -ge 16 ] || { cat log; fail "want many tasks, got $n_tasks"; }

journal_ids() { cat "$1"/rank-*.log 2> /dev/null | grep -v '^cvmpi-journal' || true; }
wait_for_tasks() { # JOURNAL N: until N tasks are journaled (30 s at most)
    for _ in $(seq 1 600); do
        [ "$(journal_ids "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.05
    done
    fail "the job did not get going"
}
check_resumed() { # DIR JOURNAL
    [ "$(digest ref)" = "$(digest "$1")" ] || fail "resumed output differs from an uninterrupted run"
    local ids
    ids=$(journal_ids "$2" | sort -n)
    [ "$(echo "$ids" | wc -l)" = "$n_tasks" ] || fail "journal has $(echo "$ids" | wc -l) entries, want $n_tasks"
    [ "$(echo "$ids" | uniq | wc -l)" = "$n_tasks" ] || fail "a finished task was redone"
}

# 1. SIGKILL one rank in the middle.
CVMPI_TEST_TASK_DELAY_MS=150 mpirun -n 2 "$CVMPI" import src.h5:/vol out1 "${ARGS[@]}" \
    --journal j1 > log1 2>&1 &
job=$!
wait_for_tasks j1 4
victim=$(pgrep -P "$job" | tail -n 1)
[ -n "$victim" ] || fail "no rank to kill"
kill -KILL "$victim"
wait "$job" && fail "killed job exited 0"
done_before=$(journal_ids j1 | wc -l)
[ "$done_before" -lt "$n_tasks" ] || fail "the job finished before it was killed"
run_np 2 import src.h5:/vol out1 "${ARGS[@]}" --journal j1 --resume --keep-journal > log1b 2>&1 ||
    { cat log1b; fail "resume"; }
grep -q "$done_before skipped" log1b || { cat log1b; fail "resume did not skip the $done_before finished tasks"; }
check_resumed out1 j1

# 2. SIGTERM to mpirun (forwarded to the ranks): they stop after the round, exit 1, say --resume.
CVMPI_TEST_TASK_DELAY_MS=150 mpirun -n 2 "$CVMPI" import src.h5:/vol out2 "${ARGS[@]}" \
    --journal j2 > log2 2>&1 &
job=$!
wait_for_tasks j2 4
kill -TERM "$job"
if wait "$job"; then fail "terminated job exited 0"; fi
grep -q -- "--resume" log2 || { cat log2; fail "no resume hint after SIGTERM"; }
run_np 3 import src.h5:/vol out2 "${ARGS[@]}" --journal j2 --resume --keep-journal > log2b 2>&1 ||
    { cat log2b; fail "resume 2"; }
check_resumed out2 j2
echo "h5_resume: ok"
