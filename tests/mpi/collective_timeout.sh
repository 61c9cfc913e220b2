#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# collective_timeout.sh CVMPI: a stuck rank (SIGSTOP) no longer hangs the others in a
# collective. With --collective-timeout 3:
#  1. a 3-rank re-chunking transfer (exchange rounds), rank 2 stopped inside a round: the job
#     ends within the deadline plus slack, exit 1, one line naming rank 2 alone (its task and
#     phase) and --resume; the stall warning (--stall-warning 2) names rank 2 alone (before,
#     every rank of the round was named); --resume then gives the bytes of an uninterrupted run;
#  2. the same for a downsample stopped in its reduction tree;
#  3. --collective-timeout refuses a negative or non-numeric value (exit 2), on the command line
#     and in a `cvmpi run` job file, which also takes 0.
source "$(dirname "$0")/lib.sh"
DELAY=300

# rank_pid PATTERN RANK: the pid of that rank of the job whose command line matches PATTERN.
rank_pid() {
    local p
    for p in $(pgrep -f "$1"); do
        if tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
            echo "$p"
            return
        fi
    done
}

# in_test_delay PID: whether the process sleeps in CVMPI_TEST_TASK_DELAY_MS's nanosleep (not in
# a collective's short naps): the sleep's timespec, read from /proc/PID/mem, is DELAY ms.
in_test_delay() {
    /usr/bin/python3 - "$1" "$DELAY" <<'PY'
import platform, struct, sys
pid, want_ms = int(sys.argv[1]), int(sys.argv[2])
req_arg = {"x86_64": {230: 3, 35: 1}, "aarch64": {115: 3, 101: 1}}.get(platform.machine())
if req_arg is None:
    sys.exit(0)  # unknown syscall numbers: any moment will do
try:
    call = open("/proc/%d/syscall" % pid).read().split()
    if not call or not call[0].isdigit() or int(call[0]) not in req_arg:
        sys.exit(1)
    with open("/proc/%d/mem" % pid, "rb") as mem:
        mem.seek(int(call[req_arg[int(call[0])]], 16))
        sec, nsec = struct.unpack("qq", mem.read(16))
except (OSError, ValueError, struct.error):
    sys.exit(1)
sys.exit(0 if sec * 1000 + nsec // 1000000 == want_ms else 1)
PY
}

# stop_rank2 JOURNAL N PATTERN: once JOURNAL holds N entries and rank 2 sleeps in its task
# delay, SIGSTOP it; prints its pid.
stop_rank2() {
    local pid=""
    for _ in $(seq 1 600); do
        [ "$(cat "$1"/rank-*.log 2> /dev/null | grep -vc '^cvmpi-journal' || true)" -ge "$2" ] && break
        sleep 0.05
    done
    for _ in $(seq 1 3000); do
        pid=$(rank_pid "$3" 2)
        if [ -n "$pid" ] && in_test_delay "$pid"; then
            kill -STOP "$pid"
            echo "$pid"
            return
        fi
        sleep 0.01
    done
    fail "rank 2 of '$3' never slept in its task delay"
}

# expect_abort JOB_PID STOPPED_PID LOG JOB PHASE: the job ends within 3 s + slack with exit 1
# and one line naming rank 2 alone; then the stopped process is cleaned up.
expect_abort() {
    local job=$1 stopped=$2 log=$3 name=$4 phase=$5 t=0 rc=0
    while kill -0 "$job" 2> /dev/null; do
        sleep 0.1
        t=$((t + 1))
        if [ $t -ge 200 ]; then
            kill -CONT "$stopped" 2> /dev/null || true
            kill -KILL "$stopped" 2> /dev/null || true
            fail "$name: the job still waits 20 s after rank 2 stopped"
        fi
    done
    wait "$job" || rc=$?
    kill -CONT "$stopped" 2> /dev/null || true
    kill -KILL "$stopped" 2> /dev/null || true
    [ $rc = 1 ] || { cat "$log"; fail "$name: exit status $rc, want 1"; }
    # 3 s deadline, up to 1 s between looks at the board, then MPI_Abort's teardown (slow
    # under ASan on a loaded machine).
    [ $t -le 150 ] || { cat "$log"; fail "$name: the job took $((t / 10)) s to end, want about 3"; }
    local line
    line=$(grep "not reached" "$log") || { cat "$log"; fail "$name: no report of the stuck rank"; }
    [ "$(echo "$line" | wc -l)" = 1 ] || { cat "$log"; fail "$name: want one report line"; }
    echo "$line" | grep -Eqx "cvmpi: $name: rank 2 has not reached the [a-z' ]+ \\([a-z0-9 ]+\\) after [0-9]+ s \\(last: task [0-9]+, $phase [0-9]+\\); aborting \\(--collective-timeout 3\\): run the same command with --resume" ||
        { cat "$log"; fail "$name: report line: $line"; }
}

# ---- 1. a transfer in exchange rounds --------------------------------------------------------
make_source src uint8 300,200,130 5,-3,2 64,64,64
XCH=(--chunk-size 96,96,40 --memory 8M --threads 1)
run_np 3 transfer src x "${XCH[@]}" --dry-run | grep -q '^plan: 8 exchange rounds' || fail "want exchange rounds"
run_np 3 transfer src ref "${XCH[@]}" > log-ref 2>&1 || { cat log-ref; fail "reference transfer"; }
CVMPI_TEST_TASK_DELAY_MS=$DELAY mpirun -n 3 "$CVMPI" transfer src out "${XCH[@]}" --journal j \
    --collective-timeout 3 --stall-warning 2 > log 2>&1 &
job=$!
stopped=$(stop_rank2 j 2 "cvmpi transfer src out")
expect_abort "$job" "$stopped" log transfer "exchange round"
# The stall warning names the stuck rank, not the ranks waiting for it.
grep -q "warning: rank 2 has been on task [0-9]* (box [-0-9,]*) for [0-9]* s" log ||
    { cat log; fail "no stall warning for rank 2"; }
if grep "has been on task" log | grep -qv "rank 2 "; then
    cat log
    fail "the stall warning names a rank that waits in a collective"
fi
run_np 3 transfer src out "${XCH[@]}" --journal j --resume > log-r 2>&1 || { cat log-r; fail "transfer --resume"; }
digest ref > d-ref
digest out | diff d-ref - > /dev/null || fail "transfer: resumed output differs from an uninterrupted run"

# ---- 2. a downsample in its reduction tree ---------------------------------------------------
make_source dsrc uint8 300,260,24 3,-4,2 32,32,8 > /dev/null
cp -r dsrc dref
cp -r dsrc dout
DS=(--num-mips 5 --memory 300K --threads 4)
plan=$("$CVMPI" downsample dsrc "${DS[@]}" --dry-run)
n_tasks=$(echo "$plan" | sed -n 's/^plan: stage 0: \([0-9]*\) tasks.*/\1/p')
echo "$plan" | grep -q "stage 1 (reduction tree): 27 nodes" || { echo "$plan"; fail "want a reduction tree"; }
run_np 3 downsample dref "${DS[@]}" > log-dref 2>&1 || { cat log-dref; fail "reference downsample"; }
CVMPI_TEST_TASK_DELAY_MS=$DELAY mpirun -n 3 "$CVMPI" downsample dout "${DS[@]}" --journal dj \
    --collective-timeout 3 > dlog 2>&1 &
job=$!
stopped=$(stop_rank2 dj $((n_tasks + 1)) "cvmpi downsample dout")
expect_abort "$job" "$stopped" dlog downsample "tree stage"
run_np 3 downsample dout "${DS[@]}" --journal dj --resume > dlog-r 2>&1 || { cat dlog-r; fail "downsample --resume"; }
digest dref > d-dref
digest dout | grep -v '/\.cvmpi-tmp-' | diff d-dref - > /dev/null ||
    fail "downsample: resumed output differs from an uninterrupted run"

# ---- 3. the option's value ---------------------------------------------------------------------
for bad in -1 x; do
    rc=0
    "$CVMPI" transfer src y --collective-timeout "$bad" > log-bad 2>&1 || rc=$?
    [ $rc = 2 ] || fail "--collective-timeout $bad: exit $rc, want 2"
    grep -qx "cvmpi transfer: bad --collective-timeout \`$bad': want seconds (0: wait forever)" log-bad ||
        { cat log-bad; fail "--collective-timeout $bad: message"; }
done
# ... and job files take it like the command line (0: wait forever).
cat > job.json <<'JSON'
{"command": "transfer", "args": ["src", "via-job"], "options": {"collective-timeout": 0}}
JSON
run_np 2 run job.json > log-job 2>&1 || { cat log-job; fail "job file with collective-timeout 0"; }
digest src | diff - <(digest via-job) > /dev/null || fail "job file: the copy differs from its source"
sed -i 's/: 0}/: -2}/' job.json
rc=0
"$CVMPI" run job.json > log-job-bad 2>&1 || rc=$?
[ $rc = 2 ] || { cat log-job-bad; fail "job file with collective-timeout -2: exit $rc, want 2"; }
grep -q "bad --collective-timeout \`-2'" log-job-bad || { cat log-job-bad; fail "job file: message"; }
echo "collective_timeout: ok"
