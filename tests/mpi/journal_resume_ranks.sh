#!/usr/bin/env bash
# --resume with another rank count than the run that wrote the journal: a job stopped (SIGTERM)
# at -n 3 leaves rank-0..2.log; copies of its output and journal are resumed at -n 1, 2 and 5.
# Each resume skips exactly the journaled tasks and gives output byte-identical to an
# uninterrupted run. With -vv every rank logs how many journal files it read: rank r of P reads
# only the files of earlier ranks r, r + P, ... (with 5 ranks, ranks 3 and 4 read none).
#  1. a task transfer;  2. an HDF5 import;  3. an exchange-round transfer (re-chunking): the
#     journal names its rounds' geometry, which a resume re-uses: at -n 3 and at -n 5 the same
#     rounds are skipped and the output is byte-identical; at -n 2 the 3-rank rounds do not fit
#     --memory and the resume is refused, saying so.
source "$(dirname "$0")/lib.sh"

journal_ids() { cat "$1"/rank-*.log 2> /dev/null | grep -v '^cvmpi-journal' || true; }
stop_after() { # JOURNAL N PID: SIGTERM the mpirun PID once N tasks are journaled; it must fail
    for _ in $(seq 1 600); do
        [ "$(journal_ids "$1" | wc -l)" -ge "$2" ] && break
        sleep 0.05
    done
    kill -TERM "$3"
    if wait "$3"; then fail "the stopped job exited 0"; fi
}
# files_read LOG RANKS: "rank:files" for each rank, from the -vv line of the journal load
files_read() {
    local r n
    for ((r = 0; r < $2; r++)); do
        if [ "$2" = 1 ]; then
            n=$(sed -n "s/^cvmpi: debug: journal: read \([0-9]*\) of the 3 files in .*/\1/p" "$1")
        else
            n=$(sed -n "s/^cvmpi\[$r\]: debug: journal: read \([0-9]*\) of the 3 files in .*/\1/p" "$1")
        fi
        printf '%s:%s ' "$r" "${n:-none}"
    done
}
expect_files_read() { # LOG RANKS WANT
    [ "$(files_read "$1" "$2")" = "$3" ] || { cat "$1"; fail "$1: files read per rank $(files_read "$1" "$2"), want $3"; }
}
WANT_1="0:3 " WANT_2="0:2 1:1 " WANT_5="0:1 1:1 2:1 3:0 4:0 "

# resume_everywhere KIND REF OUT JOURNAL CMD...: resume copies of the stopped job's OUT and
# JOURNAL (the same paths: the destination is part of the job) at -n 1, 2, 5
resume_everywhere() {
    local kind=$1 ref=$2 out=$3 journal=$4
    shift 4
    local done_before n
    done_before=$(journal_ids "$journal" | wc -l)
    [ "$(ls "$journal")" = "$(printf 'rank-0.log\nrank-1.log\nrank-2.log')" ] || fail "$kind: want 3 journal files"
    digest "$ref" > "d-$kind"
    mv "$out" "saved-$out"
    mv "$journal" "saved-$journal"
    for n in 1 2 5; do
        rm -rf "$out" "$journal"
        cp -r "saved-$out" "$out"
        cp -r "saved-$journal" "$journal"
        mpirun -n "$n" "$CVMPI" -vv "$@" "$out" --journal "$journal" --resume \
            > "log-$kind-$n" 2>&1 || { cat "log-$kind-$n"; fail "$kind: resume at -n $n"; }
        grep -q "^[a-z]*: [1-9][0-9]* tasks written, $done_before skipped, 0 failed" "log-$kind-$n" ||
            { grep "tasks written" "log-$kind-$n"; fail "$kind -n $n: want $done_before skipped"; }
        digest "$out" | diff "d-$kind" - > /dev/null || fail "$kind -n $n: output differs from an uninterrupted run"
        if [ "$kind" = transfer ]; then # the count is over every rank's files, not rank 0's share
            grep -q "info: resuming: $done_before of [0-9]* tasks already done" "log-$kind-$n" ||
                { grep resuming "log-$kind-$n"; fail "$kind -n $n: want $done_before done at the start"; }
        fi
        local want="WANT_$n"
        expect_files_read "log-$kind-$n" "$n" "${!want}"
    done
}

# ---- 1. task transfer ----------------------------------------------------------------------
make_source src uint8 256,256,64 0,0,0 32,32,16
run_np 1 transfer src ref --memory 256K > /dev/null 2>&1 || fail "reference transfer"
CVMPI_TEST_TASK_DELAY_MS=100 mpirun -n 3 "$CVMPI" transfer src stop-t --memory 256K --journal jt \
    > stop-t.log 2>&1 &
stop_after jt 6 $!
resume_everywhere transfer ref stop-t jt transfer src --memory 256K

# ---- 2. HDF5 import --------------------------------------------------------------------------
if /usr/bin/python3 -c "import h5py" 2> /dev/null; then
    /usr/bin/python3 - <<'PY'
import h5py, numpy as np
a = np.random.default_rng(5).integers(0, 65536, (64, 100, 120)).astype("uint16")
with h5py.File("src.h5", "w") as f:
    f.create_dataset("vol", data=a, chunks=(16, 25, 30))
PY
    IMPORT=(--chunk 16,16,16 --memory 64K --resolution 1,1,1)
    run_np 1 import src.h5:/vol ref-i "${IMPORT[@]}" > /dev/null 2>&1 || fail "reference import"
    CVMPI_TEST_TASK_DELAY_MS=100 mpirun -n 3 "$CVMPI" import src.h5:/vol stop-i "${IMPORT[@]}" \
        --journal ji > stop-i.log 2>&1 &
    stop_after ji 6 $!
    resume_everywhere import ref-i stop-i ji import src.h5:/vol "${IMPORT[@]}"
else
    echo "journal_resume_ranks: import part skipped (no python3-h5py)"
fi

# ---- 3. exchange rounds (re-chunking) --------------------------------------------------------
make_source srcx uint8 300,200,130 5,-3,2 64,64,64
RECHUNK=(--chunk-size 96,96,40 --memory 12000K --threads 1)
run_np 3 transfer srcx ref-x "${RECHUNK[@]}" > log-xref 2>&1 || { cat log-xref; fail "reference exchange"; }
grep -q "^transfer: [0-9]* exchange rounds written" log-xref || fail "not exchange rounds"
n_rounds=$(sed -n 's/^transfer: \([0-9]*\) exchange rounds written.*/\1/p' log-xref)
CVMPI_TEST_TASK_DELAY_MS=1000 mpirun -n 3 "$CVMPI" transfer srcx stop-x "${RECHUNK[@]}" --journal jx \
    > log-x 2>&1 &
stop_after jx 1 $!
done_before=$(journal_ids jx | wc -l)
[ "$done_before" -lt "$n_rounds" ] || fail "exchange: all $n_rounds rounds were done before the stop"
cp -r jx saved-jx
cp -r stop-x saved-stop-x
run_np 3 -vv transfer srcx stop-x "${RECHUNK[@]}" --journal jx --resume > log-x-3 2>&1 ||
    { cat log-x-3; fail "exchange: resume at -n 3"; }
grep -q "exchange rounds written, $done_before skipped, 0 failed" log-x-3 ||
    { cat log-x-3; fail "exchange: want $done_before rounds skipped"; }
digest ref-x > d-x
digest stop-x | diff d-x - > /dev/null || fail "exchange: resumed output differs"
expect_files_read log-x-3 3 "0:1 1:1 2:1 "
rm -rf stop-x && cp -r saved-stop-x stop-x && cp -r saved-jx j-x-5
run_np 5 transfer srcx stop-x "${RECHUNK[@]}" --journal j-x-5 --resume > log-x-5 2>&1 ||
    { cat log-x-5; fail "exchange: resume at -n 5"; }
grep -q "exchange rounds written, $done_before skipped, 0 failed" log-x-5 ||
    { cat log-x-5; fail "exchange -n 5: want $done_before rounds skipped"; }
digest stop-x | diff d-x - > /dev/null || fail "exchange -n 5: resumed output differs"
cp -r saved-jx j-x-2
if run_np 2 transfer srcx stop-x "${RECHUNK[@]}" --journal j-x-2 --resume > log-x-2 2>&1; then
    fail "exchange: 3 ranks' rounds were resumed at -n 2 beyond --memory"
fi
grep -q "^cvmpi: exchange: the journal's rounds (columns of 192x192 voxels, 4 destination chunk rows) need about [0-9.]* MB per rank with 2 ranks, more than the 12.29 MB memory budget (resume with more ranks or a larger --memory, or start again without --resume)$" log-x-2 ||
    { cat log-x-2; fail "exchange -n 2: want the memory refusal"; }
echo "journal_resume_ranks: ok"
