#!/usr/bin/env bash
# Where an MPI job keeps its journal, and when it is removed. The default journal is under the
# destination (file://) or the user's state directory (any other destination), never in the
# current directory, so a job run from a read-only directory works and .cvmpi-journal/ does not
# pile up; it is removed after a successful job, kept after a failed one and with
# --keep-journal.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

random_layer src 64 64 32 7
ok() { [[ $RC == 0 ]] || fail "$1"; }

section "run from a read-only current directory: nothing is written there"
mkdir ro && chmod 555 ro
(cd ro && run "$CVMPI" transfer ../src ../out1 --memory 200K && ok "transfer from ro/" &&
    [[ -z $(ls -A .) ]]) || fail "transfer from a read-only directory"
chmod 755 ro
expect_files ro
expect_no_file out1/.cvmpi-journal
expect_no_file .cvmpi-journal

section "kept with --keep-journal, under the destination"
run "$CVMPI" transfer src out2 --memory 200K --keep-journal
ok "--keep-journal"
ls out2/.cvmpi-journal/*/rank-0.log >/dev/null 2>&1 || fail "no journal under out2/.cvmpi-journal"
run "$CVMPI" transfer src out2 --memory 200K --resume
grep -qF "transfer: 0 tasks written, 4 skipped" "$OUT" || fail "resume did not use the kept journal"
expect_no_file out2/.cvmpi-journal

section "kept after a failed job, removed once --resume finishes it"
mv src/4_4_40/32-64_0-32_0-32.gz hidden.gz
run "$CVMPI" transfer src out3 --memory 200K
[[ $RC == 1 ]] || fail "a missing source chunk must fail the job"
ls out3/.cvmpi-journal/*/rank-0.log >/dev/null 2>&1 || fail "journal of a failed job removed"
mv hidden.gz src/4_4_40/32-64_0-32_0-32.gz
run "$CVMPI" transfer src out3 --memory 200K --resume
grep -qF "transfer: 1 tasks written, 3 skipped" "$OUT" || fail "resume after the failure"
expect_no_file out3/.cvmpi-journal

section "--journal DIR: removed after success unless --keep-journal"
run "$CVMPI" transfer src out4 --memory 200K --journal jd
ok "--journal"
expect_no_file jd
run "$CVMPI" transfer src out5 --memory 200K --journal jd --keep-journal
expect_files jd rank-0.log

section "a destination that is not a local directory: the journal is under the state directory"
mkdir home
HOME=$WORK/home run env -u XDG_STATE_HOME "$CVMPI" transfer src mem://bucket/out --memory 200K \
    --keep-journal
ok "mem:// destination"
ls home/.local/state/cvmpi/journal/*/rank-0.log >/dev/null 2>&1 || fail "no journal under HOME"
XDG_STATE_HOME=$WORK/state run "$CVMPI" transfer src mem://bucket/out --memory 200K --keep-journal
ls state/cvmpi/journal/*/rank-0.log >/dev/null 2>&1 || fail "no journal under XDG_STATE_HOME"
run env -u HOME -u XDG_STATE_HOME "$CVMPI" transfer src mem://bucket/out --memory 200K
[[ $RC == 1 ]] || fail "no HOME: want exit 1, got $RC"
expect_one_line_error
expect_stderr_contains "cvmpi: no place for the journal of a job writing mem://bucket/out: neither XDG_STATE_HOME nor HOME is set; pass --journal DIR"
echo "journal_location: ok"
