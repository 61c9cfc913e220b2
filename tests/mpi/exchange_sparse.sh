#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# exchange_sparse.sh CVMPI: the re-chunking exchange trades point to point between the ranks a
# round's pieces connect, not all-to-all:
#  1. --dry-run --ranks 1000 of a 8192x8192x1024 re-chunk (64^3 -> 96x96x40, --memory 12000K):
#     a rank sends to at most 58 and receives from at most 59 of the 999 others;
#  2. -n 4 writes the layer byte-identical to the single-process task transfer, also with
#     messages sent through MPI (CVMPI_EXCHANGE_SHM=0: not read from the sender's memory) cut
#     into parts of at most 1000 bytes (the splitting of messages over MPI's int counts), every
#     source chunk read once;
#  3. --skip-existing at -n 3 with two chunks removed, owned by ranks 1 and 2 (each rank checks
#     the chunks it owns): exactly their 2 rounds are redone, 2 skipped, byte-identical;
#  4. a -n 2 job with one rank SIGKILLed after 3 rounds, resumed at -n 3: the journal's rounds
#     are re-used, the finished ones skipped, none journaled twice, byte-identical;
#  5. --collective-timeout 3 with rank 2 of 3 stopped (SIGSTOP) after it posted its receives,
#     while the others wait for its messages: the job ends within the deadline plus slack, exit
#     1, one line naming rank 2 alone as not having reached the exchange of chunk data.
source "$(dirname "$0")/lib.sh"
journal_ids() { cat "$1"/rank-*.log 2> /dev/null | grep -v '^cvmpi-journal' || true; }
report_total() { /usr/bin/python3 -c 'import json, sys
print(int(json.load(open(sys.argv[1]))["total"][sys.argv[2]]))' "$1" "$2"; }

# ---- 1. the plan: neighbours per rank ------------------------------------------------------
"$CVMPI" create big --type image --dtype uint8 --size 8192,8192,1024 --resolution 4,4,40 \
    --chunk 64,64,64 > /dev/null
"$CVMPI" transfer big out-big --chunk-size 96,96,40 --memory 12000K --threads 1 --dry-run \
    --ranks 1000 > plan-big || { cat plan-big; fail "dry-run"; }
grep -qxF "exchange: per round a rank sends to at most 58 and receives from at most 59 of the 999 other ranks; 37722 point-to-point messages in the busiest round (parts of at most 1 GiB), no all-to-all; collectives per round: 1 MPI_Iallreduce (outcome and next round's readiness, while the next round's chunks are read), 3 with --skip-existing" plan-big ||
    { cat plan-big; fail "dry-run: neighbours per rank"; }

# ---- 2. -n 4 against the task transfer ------------------------------------------------------
make_source src uint8 300,200,130 5,-3,2 64,64,64
RECHUNK=(--chunk-size 96,96,40 --memory 12000K --threads 1)
"$CVMPI" -q transfer src ref --chunk-size 96,96,40 --memory 512M > /dev/null
digest ref > d-ref
[ "$(wc -l < d-ref)" -gt 40 ] || fail "too few objects"
run_np 4 transfer src out-4 "${RECHUNK[@]}" --report r-4.json > log-4 2>&1 || { cat log-4; fail "-n 4"; }
grep -q "^transfer: [0-9]* exchange rounds written" log-4 || { cat log-4; fail "-n 4: not exchange rounds"; }
digest out-4 | diff d-ref - > /dev/null || fail "-n 4 differs from the task transfer"
[ "$(report_total r-4.json chunks_read)" = 60 ] || fail "-n 4: $(report_total r-4.json chunks_read) source chunk reads, want 60"
CVMPI_EXCHANGE_SHM=0 CVMPI_TEST_EXCHANGE_MESSAGE_BYTES=1000 run_np 4 transfer src out-4p "${RECHUNK[@]}" > log-4p 2>&1 ||
    { cat log-4p; fail "-n 4 in 1000-byte parts"; }
digest out-4p | diff d-ref - > /dev/null || fail "-n 4 in 1000-byte parts differs"

# ---- 3. --skip-existing at -n 3 ---------------------------------------------------------------
# 4 rounds of 2x2 columns; chunk (0,1,3) (rank 1 of 3) is in round 0, (2,0,0) (rank 2) in round 1
run_np 3 transfer src out-3 "${RECHUNK[@]}" > log-3 2>&1 || { cat log-3; fail "-n 3"; }
grep -q "^transfer: 4 exchange rounds written, 0 skipped" log-3 || { cat log-3; fail "-n 3: want 4 rounds"; }
rm out-3/4_4_40/5-101_93-189_122-132.gz out-3/4_4_40/197-293_-3-93_2-42.gz
run_np 3 transfer src out-3 "${RECHUNK[@]}" --skip-existing > log-skip 2>&1 || { cat log-skip; fail "skip-existing"; }
grep -q "^transfer: 2 exchange rounds written, 2 skipped, 0 failed" log-skip ||
    { cat log-skip; fail "skip-existing: want 2 rounds redone, 2 skipped"; }
digest out-3 | diff d-ref - > /dev/null || fail "skip-existing: output differs"
run_np 3 transfer src out-3 "${RECHUNK[@]}" --skip-existing > log-skip2 2>&1 || { cat log-skip2; fail "skip-existing 2"; }
grep -q "^transfer: 0 exchange rounds written, 4 skipped, 0 failed" log-skip2 ||
    { cat log-skip2; fail "skip-existing: want every round skipped"; }

# ---- 4. killed at -n 2, resumed at -n 3 --------------------------------------------------------
KILL=(--chunk-size 96,96,40 --memory 8M --threads 1)
n_rounds=$(run_np 2 transfer src x "${KILL[@]}" --dry-run | sed -n 's/^plan: \([0-9]*\) exchange rounds.*/\1/p')
[ "$n_rounds" = 16 ] || fail "want 16 rounds at -n 2, got '$n_rounds'"
CVMPI_TEST_TASK_DELAY_MS=150 mpirun -n 2 "$CVMPI" transfer src out-kill "${KILL[@]}" --journal j-kill \
    > log-k 2>&1 &
job=$!
for _ in $(seq 1 400); do
    [ "$(journal_ids j-kill | wc -l)" -ge 3 ] && break
    sleep 0.05
done
victim=$(pgrep -f "cvmpi transfer src out-kill" | tail -n 1)
[ -n "$victim" ] || fail "no rank to kill"
kill -KILL "$victim"
if wait "$job"; then fail "the killed job exited 0"; fi
done_before=$(journal_ids j-kill | wc -l)
[ "$done_before" -ge 3 ] && [ "$done_before" -lt 16 ] || fail "$done_before rounds journaled before the kill"
run_np 3 -v transfer src out-kill "${KILL[@]}" --journal j-kill --resume --keep-journal > log-k3 2>&1 ||
    { cat log-k3; fail "resume at -n 3"; }
grep -q "info: resuming the journal's 16 exchange rounds (columns of 192x192 voxels, 1 destination chunk row), planned for another rank count or --memory" log-k3 ||
    { cat log-k3; fail "resume at -n 3: the journal's rounds not re-used"; }
grep -q "^transfer: $((16 - done_before)) exchange rounds written, $done_before skipped, 0 failed" log-k3 ||
    { cat log-k3; fail "resume at -n 3: want $done_before rounds skipped"; }
[ "$(journal_ids j-kill | wc -l)" = 16 ] && [ "$(journal_ids j-kill | sort -u | wc -l)" = 16 ] ||
    fail "resume at -n 3: the journal does not hold each of the 16 rounds once"
digest out-kill | diff d-ref - > /dev/null || fail "resume at -n 3: output differs"

# ---- 5. a rank stopped while the others wait for its messages -------------------------------
DELAY=300
rank_pid() { # PATTERN RANK
    local p
    for p in $(pgrep -f "$1"); do
        if tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
            echo "$p"
            return
        fi
    done
}
in_delay() { # PID: whether it sleeps in the DELAY ms nanosleep of the test hook
    /usr/bin/python3 - "$1" "$DELAY" <<'PY'
import platform, struct, sys
pid, want_ms = int(sys.argv[1]), int(sys.argv[2])
req_arg = {"x86_64": {230: 3, 35: 1}, "aarch64": {115: 3, 101: 1}}.get(platform.machine())
if req_arg is None:
    sys.exit(0)
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
CVMPI_TEST_EXCHANGE_READ_DELAY_MS=$DELAY mpirun -n 3 "$CVMPI" transfer src out-stop "${KILL[@]}" \
    --journal j-stop --collective-timeout 3 > log-stop 2>&1 &
job=$!
for _ in $(seq 1 600); do
    [ "$(journal_ids j-stop | wc -l)" -ge 1 ] && break
    sleep 0.05
done
stopped=""
for _ in $(seq 1 3000); do
    pid=$(rank_pid "cvmpi transfer src out-stop" 2)
    if [ -n "$pid" ] && in_delay "$pid"; then
        kill -STOP "$pid"
        stopped=$pid
        break
    fi
    sleep 0.01
done
[ -n "$stopped" ] || fail "rank 2 never slept in its read delay"
t=0
while kill -0 "$job" 2> /dev/null; do
    sleep 0.1
    t=$((t + 1))
    if [ $t -ge 200 ]; then
        kill -CONT "$stopped" 2> /dev/null || true
        kill -KILL "$stopped" 2> /dev/null || true
        fail "the job still waits 20 s after rank 2 stopped"
    fi
done
rc=0
wait "$job" || rc=$?
kill -CONT "$stopped" 2> /dev/null || true
kill -KILL "$stopped" 2> /dev/null || true
[ $rc = 1 ] || { cat log-stop; fail "stopped rank: exit status $rc, want 1"; }
[ $t -le 150 ] || { cat log-stop; fail "stopped rank: the job took $((t / 10)) s to end, want about 3"; }
line=$(grep "not reached" log-stop) || { cat log-stop; fail "stopped rank: no report"; }
[ "$(echo "$line" | wc -l)" = 1 ] || { cat log-stop; fail "stopped rank: want one report line"; }
# The rank that speaks waits for rank 2's messages, or (when it trades nothing with rank 2 that
# is still open in that round: its own reads were done ahead) already in the round's outcome.
echo "$line" | grep -Eqx "cvmpi: transfer: rank 2 has not reached the (exchange of chunk data|outcome of the exchange round) \\(exchange round [0-9]+\\) after [0-9]+ s \\(last: task [0-9]+, exchange round [0-9]+\\); aborting \\(--collective-timeout 3\\): run the same command with --resume" ||
    { cat log-stop; fail "stopped rank: report line: $line"; }
echo "exchange_sparse: the stopped rank was reported as: $line"
echo "exchange_sparse: ok"
