#!/usr/bin/env bash
# Transfers whose data travels between ranks (MPI_Alltoallv): re-chunking in exchange rounds,
# and hashed shards (tasks spill encoded chunks; rounds move them to the shards' owners):
#  1. re-chunking 64^3 -> 96x96x40 with a --memory too small for one box aligned to both grids
#     (192x192x320): -n 2..4 write byte-identical objects, equal to the task-based transfer
#     with plenty of memory, every source chunk read exactly once, the chunk data a rank holds
#     at once within --memory (with 1 rank a round would hold more than that one task, so the
#     job is refused); messages read from the sender's memory by ranks of one node, and the
#     same output with that off (CVMPI_EXCHANGE_SHM=0: every message through MPI) or refused
#     on one rank (no rank then shares);
#  2. a murmurhash3_x86_128 sharded destination: -n 1..4 byte-identical shard files, equal to
#     the single-process writer's, every source chunk read once, and read back by the
#     independent numpy/shard reference reader; also a uint64 segmentation re-encoded to
#     compressed_segmentation into murmurhash shards (1 and 3 ranks, equal to cvmpi write's);
#  3. one rank SIGKILLed mid-job, then --resume: identical output, each round (re-chunking) or
#     task and shard (hashed shards, resumed with another rank count) journaled once; SIGTERM
#     stops every rank at a round boundary;
#  4. a corrupt source chunk: that round is reported with its box, key and rank, the others
#     are written, exit 1, no rank hangs; a peer's message buffer that cannot be mapped fails
#     every round naming that rank and the buffer, exit 1, no rank hangs;
#  5. --dry-run prints the rounds and the bytes per rank.
REF=$(cd "$(dirname "$0")/../interop" && pwd)/precomputed_ref.py
source "$(dirname "$0")/lib.sh"
make_source src uint8 300,200,130 5,-3,2 64,64,64
N_SRC_CHUNKS=60 # 5 x 4 x 3

# total of a counter over ranks in a --report file
report_total() { /usr/bin/python3 -c 'import json, sys
print(int(json.load(open(sys.argv[1]))["total"][sys.argv[2]]))' "$1" "$2"; }

# ---- 1. re-chunking through the exchange --------------------------------------------------
RECHUNK=(--chunk-size 96,96,40 --memory 12000K --threads 1)
"$CVMPI" transfer src plan-big --chunk-size 96,96,40 --dry-run | grep -q '^plan: .* tasks of' ||
    fail "with the default memory the re-chunking should be plain tasks"
run_np 1 transfer src out-rechunk-1 "${RECHUNK[@]}" > log-r-1 2>&1 && fail "1 rank: want a refusal"
grep -q "fits --memory neither as tasks" log-r-1 || { cat log-r-1; fail "1 rank: refusal"; }
for n in 2 3 4; do
    CVMPI_TEST_EXCHANGE_HELD=1 run_np "$n" transfer src "out-rechunk-$n" "${RECHUNK[@]}" \
        --report "r-$n.json" > "log-r-$n" 2>&1 || { cat "log-r-$n"; fail "rechunk exchange with $n ranks"; }
    [ "$(report_total "r-$n.json" chunks_read)" = $N_SRC_CHUNKS ] ||
        fail "rechunk $n ranks: $(report_total "r-$n.json" chunks_read) source chunk reads, want $N_SRC_CHUNKS (each once)"
    # The chunk data a rank holds at once (a round's, the next round's read ahead while the
    # outcome travels, the buffers kept for the rounds to come) stays within --memory, and all
    # of it is freed; chunk buffers are re-used from round to round (fewer made than chunks).
    sed -n 's/^exchange: rank [0-9]* held at most \([0-9]*\) bytes of chunk data (budget \([0-9]*\)), \([0-9]*\) at the end; \([0-9]*\) chunk buffers made for \([0-9]*\) chunks$/\1 \2 \3 \4 \5/p' \
        "log-r-$n" > "held-$n"
    [ "$(wc -l < "held-$n")" = "$n" ] || { cat "log-r-$n"; fail "rechunk $n ranks: want $n held-memory lines"; }
    awk '$1 == 0 || $1 > $2 || $3 != 0 { exit 1 }' "held-$n" ||
        { cat "held-$n"; fail "rechunk $n ranks: chunk data held beyond --memory, or not freed"; }
    awk '$4 == 0 || $4 >= $5 { exit 1 }' "held-$n" ||
        { cat "held-$n"; fail "rechunk $n ranks: a chunk buffer made for every chunk (none re-used)"; }
    # Every round after the first had its messages packed while the previous round's outcome
    # travelled, so they left the moment it began.
    rounds=$(sed -n 's/^transfer: \([0-9]*\) exchange rounds written.*/\1/p' "log-r-$n")
    [ "$(grep -c "^exchange: rank [0-9]* packed the messages of $((rounds - 1)) rounds ahead$" \
        "log-r-$n")" = "$n" ] || { cat "log-r-$n"; fail "rechunk $n ranks: want $((rounds - 1)) rounds packed ahead on every rank"; }
    # Every rank here shares the node: it reads its peers' messages from their memory.
    shared=$(sed -n 's/^exchange: rank [0-9]* read \([0-9]*\) messages from the senders. memory$/\1/p' "log-r-$n")
    [ "$(echo "$shared" | grep -c '^[1-9]')" = "$n" ] ||
        { cat "log-r-$n"; fail "rechunk $n ranks: want messages read from the senders' memory on every rank"; }
done
# The same through MPI alone.
CVMPI_EXCHANGE_SHM=0 CVMPI_TEST_EXCHANGE_HELD=1 run_np 3 transfer src out-rechunk-mpi "${RECHUNK[@]}" \
    > log-r-mpi 2>&1 || { cat log-r-mpi; fail "rechunk exchange through MPI alone"; }
[ "$(grep -c "^exchange: rank [0-9]* read 0 messages from the senders' memory$" log-r-mpi)" = 3 ] ||
    { cat log-r-mpi; fail "CVMPI_EXCHANGE_SHM=0: messages still read from the senders' memory"; }
# One rank cannot open its peer's buffer (a hardened /proc; a test hook refuses rank 1's try):
# no rank shares, every message goes through MPI, the output is the same.
CVMPI_TEST_EXCHANGE_PROBE_FAILS=1 CVMPI_TEST_EXCHANGE_HELD=1 run_np 3 transfer src out-rechunk-probe \
    "${RECHUNK[@]}" > log-r-probe 2>&1 || { cat log-r-probe; fail "rechunk exchange after a failed probe"; }
[ "$(grep -c "^exchange: rank [0-9]* read 0 messages from the senders' memory$" log-r-probe)" = 3 ] ||
    { cat log-r-probe; fail "a failed probe on one rank: messages still read from the senders' memory"; }
"$CVMPI" -q transfer src out-rechunk-tasks --chunk-size 96,96,40 --memory 512M > /dev/null
digest out-rechunk-tasks > d-rechunk
[ "$(wc -l < d-rechunk)" -gt 40 ] || fail "rechunk: too few objects"
for n in 2 3 4 mpi probe; do
    grep -q "^transfer: [0-9]* exchange rounds written" "log-r-$n" || fail "rechunk $n ranks: not exchange rounds"
    digest "out-rechunk-$n" | diff d-rechunk - > /dev/null || fail "rechunk: $n ranks differ from the task-based transfer"
done
"$CVMPI" read out-rechunk-2 -o back.npy
cmp src.npy back.npy || fail "rechunk: content differs from the source"
ls out-rechunk-2/4_4_40 | grep -qx -- "197-293_-3-93_2-42.gz" || fail "rechunk: chunk names"
# --skip-existing skips the rounds whose chunks all exist, and redoes the one missing a chunk
rm out-rechunk-2/4_4_40/197-293_-3-93_2-42.gz
run_np 2 transfer src out-rechunk-2 "${RECHUNK[@]}" --skip-existing > log-skip 2>&1 ||
    { cat log-skip; fail "skip-existing"; }
grep -q "^transfer: 1 exchange rounds written, [1-9][0-9]* skipped" log-skip ||
    { cat log-skip; fail "skip-existing: want one round redone"; }
digest out-rechunk-2 | diff d-rechunk - > /dev/null || fail "skip-existing: output differs"

# ---- 2. murmurhash-sharded destination ----------------------------------------------------
SPEC='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 2, "shard_bits": 3, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
make_source src32 uint8 300,200,130 5,-3,2 32,32,16
N_SRC32=630 # 10 x 7 x 9
for n in 1 2 3 4; do
    run_np "$n" transfer src32 "out-hash-$n" --sharding "$SPEC" --memory 8M --threads 2 \
        --report "h-$n.json" > "log-h-$n" 2>&1 || { cat "log-h-$n"; fail "hashed shards with $n ranks"; }
    [ "$(report_total "h-$n.json" chunks_read)" = $N_SRC32 ] ||
        fail "hashed $n ranks: $(report_total "h-$n.json" chunks_read) source chunk reads, want $N_SRC32"
done
digest out-hash-1 > d-hash
[ "$(ls out-hash-1/4_4_40 | wc -l)" = 8 ] || fail "hashed: want 8 shard files"
ls out-hash-1/4_4_40 | grep -qv '\.shard$' && fail "hashed: non-shard files"
for n in 2 3 4; do
    digest "out-hash-$n" | diff d-hash - > /dev/null || fail "hashed: $n ranks differ from 1"
done
grep -q murmurhash3_x86_128 out-hash-1/info || fail "hashed: info has no murmurhash sharding"
# the single-process writer makes the same shard files
"$CVMPI" create ref-hash --type image --dtype uint8 --size 300,200,130 --offset 5,-3,2 \
    --resolution 4,4,40 --chunk 32,32,16 --sharding "$SPEC" > /dev/null
"$CVMPI" write ref-hash --bbox 5,-3,2,305,197,132 -i src.npy
for f in out-hash-1/4_4_40/*.shard; do
    cmp "$f" "ref-hash/4_4_40/$(basename "$f")" || fail "hashed: $f differs from cvmpi write's"
done
/usr/bin/python3 "$REF" check out-hash-1 src.npy > /dev/null ||
    fail "hashed: the reference reader disagrees"
# a uint64 segmentation re-encoded to compressed_segmentation into murmurhash shards
"$CVMPI" create seg --type segmentation --dtype uint64 --size 130,100,70 --resolution 8,8,40 \
    --chunk 64,64,32 > /dev/null
/usr/bin/python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(5)
a = (rng.integers(0, 40, size=(130, 100, 70, 1)) // 4 * 1000 + 7).astype("uint64")
a[:40] = 0
np.save("seg.npy", np.asfortranarray(a))
PY
"$CVMPI" write seg --bbox 0,0,0,130,100,70 -i seg.npy
SEGSPEC='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 2, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
for n in 1 3; do
    run_np "$n" transfer seg "out-seg-$n" --sharding "$SEGSPEC" --encoding compressed_segmentation \
        --memory 64M > "log-s-$n" 2>&1 || { cat "log-s-$n"; fail "segmentation with $n ranks"; }
done
digest out-seg-1 | diff - <(digest out-seg-3) > /dev/null || fail "segmentation: 3 ranks differ from 1"
"$CVMPI" create ref-seg --type segmentation --dtype uint64 --size 130,100,70 --resolution 8,8,40 \
    --chunk 64,64,32 --encoding compressed_segmentation --sharding "$SEGSPEC" > /dev/null
"$CVMPI" write ref-seg --bbox 0,0,0,130,100,70 -i seg.npy
for f in out-seg-1/8_8_40/*.shard; do
    cmp "$f" "ref-seg/8_8_40/$(basename "$f")" || fail "segmentation: $f differs from cvmpi write's"
done
"$CVMPI" read out-seg-3 -o seg-back.npy
cmp seg.npy seg-back.npy || fail "segmentation: content differs"
# re-chunking into hashed shards works too
run_np 3 transfer src out-hash-rechunk --chunk-size 32,32,16 --sharding "$SPEC" --memory 8M \
    > log-hr 2>&1 || { cat log-hr; fail "re-chunking into hashed shards"; }
for f in out-hash-1/4_4_40/*.shard; do
    cmp "$f" "out-hash-rechunk/4_4_40/$(basename "$f")" || fail "hashed re-chunk: $f differs"
done
# a --bbox writes the shards holding its chunks (tests/mpi/hashed_bbox.sh checks the rest)
run_np 2 transfer src32 out-hash-bbox --sharding "$SPEC" --memory 8M --bbox 5,-3,2,69,61,34 \
    > log-hb 2>&1 || { cat log-hb; fail "hashed --bbox"; }
"$CVMPI" read out-hash-bbox --bbox 5,-3,2,69,61,34 -o hb.npy
/usr/bin/python3 -c "
import numpy as np
a = np.load('src.npy')[:64, :64, :32]
assert np.array_equal(np.load('hb.npy'), a), 'hashed --bbox: content differs'" || fail "hashed --bbox: content"

# ---- 3. SIGKILL one rank mid-job, then --resume -------------------------------------------
KILL=(--chunk-size 96,96,40 --memory 8M --threads 1)
n_rounds=$(run_np 2 transfer src x "${KILL[@]}" --dry-run | sed -n 's/^plan: \([0-9]*\) exchange rounds.*/\1/p')
[ "${n_rounds:-0}" -ge 8 ] || fail "want many rounds for the kill test, got '$n_rounds'"
kill_and_resume() { # NAME ARGS...: kill rank 1 once 3 rounds are journaled; resume; compare with REFDIR
    local name=$1
    shift
    CVMPI_TEST_TASK_DELAY_MS=150 mpirun -n 2 "$CVMPI" transfer "$@" --journal "j-$name" \
        > "log-k-$name" 2>&1 &
    local job=$!
    for _ in $(seq 1 400); do
        [ "$(cat "j-$name"/rank-*.log 2>/dev/null | grep -vc '^cvmpi-journal' || true)" -ge 3 ] && break
        sleep 0.05
    done
    local victim
    victim=$(pgrep -f "cvmpi transfer $1 $2" | tail -n 1)
    [ -n "$victim" ] || fail "$name: no rank to kill"
    kill -KILL "$victim"
    wait "$job" && fail "$name: killed job exited 0"
    DONE_BEFORE=$(cat "j-$name"/rank-*.log | grep -vc '^cvmpi-journal')
    run_np "${NP_RESUME:-2}" transfer "$@" --journal "j-$name" --resume --keep-journal > "log-k2-$name" 2>&1 ||
        { cat "log-k2-$name"; fail "$name: resume"; }
    grep -q "$DONE_BEFORE skipped" "log-k2-$name" ||
        { cat "log-k2-$name"; fail "$name: resume did not skip the $DONE_BEFORE finished rounds"; }
    local ids
    ids=$(cat "j-$name"/rank-*.log | grep -v '^cvmpi-journal' | sort -n)
    JOURNALED=$(echo "$ids" | wc -l)
    [ "$(echo "$ids" | uniq | wc -l)" = "$JOURNALED" ] || fail "$name: a finished round was redone"
}
kill_and_resume rechunk src out-kill "${KILL[@]}"
[ "$DONE_BEFORE" -lt "$n_rounds" ] || fail "rechunk: the job finished before it was killed"
[ "$JOURNALED" = "$n_rounds" ] || fail "rechunk: journal has $JOURNALED rounds, want $n_rounds"
digest out-kill | diff d-rechunk - > /dev/null || fail "rechunk: resumed output differs"
# Hashed shards: killed in the tasks at -n 2, resumed with one rank, which reads both ranks'
# spill files; the journal holds every task and each of the 8 shards once.
HKILL=(--sharding "$SPEC" --memory 6M --threads 1)
h_tasks=$(run_np 2 transfer src32 x "${HKILL[@]}" --dry-run | sed -n 's/^plan: \([0-9]*\) tasks of.*/\1/p')
[ "${h_tasks:-0}" -ge 4 ] || fail "want several hashed tasks, got '$h_tasks'"
NP_RESUME=1 kill_and_resume hash src32 out-hkill "${HKILL[@]}"
[ "$DONE_BEFORE" -lt "$h_tasks" ] || fail "hashed: the tasks finished before the kill"
[ "$JOURNALED" = "$((h_tasks + 8))" ] || fail "hashed: journal has $JOURNALED entries, want $((h_tasks + 8))"
digest out-hkill | diff d-hash - > /dev/null || fail "hashed: resumed output differs"
[ ! -e j-hash/hashed ] || fail "hashed: the spill files outlived the job"
# SIGTERM (Slurm's warning): ranks stop together at a round boundary, exit non-zero and say
# how to resume; the resumed output is identical.
CVMPI_TEST_TASK_DELAY_MS=150 mpirun -n 2 "$CVMPI" transfer src out-term "${KILL[@]}" \
    --journal j-term > log-t 2>&1 &
job=$!
for _ in $(seq 1 400); do
    [ "$(cat j-term/rank-*.log 2>/dev/null | grep -vc '^cvmpi-journal' || true)" -ge 2 ] && break
    sleep 0.05
done
for pid in $(pgrep -f "cvmpi transfer src out-term"); do kill -TERM "$pid" 2> /dev/null || true; done
if wait "$job"; then fail "terminated exchange exited 0"; fi
grep -q -- "--resume" log-t || { cat log-t; fail "no resume hint after SIGTERM"; }
run_np 2 transfer src out-term "${KILL[@]}" --journal j-term --resume > log-t2 2>&1 ||
    { cat log-t2; fail "resume after SIGTERM"; }
digest out-term | diff d-rechunk - > /dev/null || fail "SIGTERM: resumed output differs"

# ---- 4. a corrupt source chunk ------------------------------------------------------------
cp -r src bad
key=4_4_40/133-197_61-125_66-130.gz
printf 'not gzip at all' > "bad/$key"
if run_np 3 transfer bad out-bad "${RECHUNK[@]}" > log-bad 2>&1; then fail "corrupt chunk: exit 0"; fi
grep -q "133-197_61-125_66-130" log-bad || { cat log-bad; fail "corrupt chunk: key not named"; }
grep -Eq "task [0-9]+ box [-0-9,]+ \(rank [0-9]\)" log-bad || { cat log-bad; fail "corrupt chunk: no box/rank"; }
grep -q "1 failed of" log-bad || { cat log-bad; fail "corrupt chunk: want exactly one failed round"; }
# the other rounds were written: chunks away from the bad one match the good run
cmp out-rechunk-3/4_4_40/197-293_-3-93_2-42.gz out-bad/4_4_40/197-293_-3-93_2-42.gz ||
    fail "corrupt chunk: the other rounds were not written"
# every receiver fails to map its peers' buffers (a test hook points it at a descriptor that is
# not there): each round fails on every rank together, and the job ends
if CVMPI_TEST_EXCHANGE_UNMAPPABLE=1 timeout 120 mpirun -n 2 "$CVMPI" transfer src out-unmapped \
    "${RECHUNK[@]}" --fail-fast > log-unmapped 2>&1; then fail "unmappable buffers: exit 0"; fi
grep -Eq "cannot map rank [01]'s message buffer /proc/[0-9]+/fd/[0-9]+" log-unmapped ||
    { cat log-unmapped; fail "unmappable buffers: the rank and buffer not named"; }

# ---- 5. --dry-run ---------------------------------------------------------------------------
run_np 2 transfer src x "${RECHUNK[@]}" --dry-run > dry
grep -q '^exchange: re-chunking 64x64x64 -> 96x96x40 in [0-9]* rounds' dry || { cat dry; fail "dry-run plan"; }
grep -q '^exchange:   rank 1: reads [0-9.]*, sends [0-9.]*, receives [0-9.]*, writes' dry ||
    { cat dry; fail "dry-run per-rank bytes"; }
[ ! -e x ] || fail "dry-run wrote something"
echo "transfer_exchange: ok"
