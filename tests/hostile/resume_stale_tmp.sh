#!/usr/bin/env bash
# A rank killed between writing a chunk's temporary file and renaming it leaves
# .cvmpi-tmp-* in the destination. --resume removes those of the chunks in the job's region,
# redone or not (the job is their only writer), and no others: not those of chunks outside a
# --bbox, nor files that name no chunk.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

# 4 one-chunk tasks, task id = x + 2 y.
random_layer src 64 64 32 9
run "$CVMPI" transfer src out --memory 200K --journal j --keep-journal
[[ $RC == 0 ]] || fail "first run"
# As if killed: task 1 never recorded, its chunk still a temporary; task 0 done, yet an old
# temporary of it is there too (a rank may die after a rename of an earlier attempt).
grep -v '^0*1 ' j/rank-0.log >j/rank-0.new && mv j/rank-0.new j/rank-0.log
mv out/4_4_40/32-64_0-32_0-32.gz out/4_4_40/.cvmpi-tmp-4242-7-32-64_0-32_0-32.gz
echo partial >out/4_4_40/.cvmpi-tmp-4242-3-0-32_0-32_0-32.gz
echo keep >out/4_4_40/.cvmpi-tmp-not-a-chunk
run "$CVMPI" -v transfer src out --memory 200K --journal j --resume
[[ $RC == 0 ]] || fail "resume"
grep -qF "transfer: 1 tasks written, 3 skipped" "$OUT" || fail "resume did not redo task 1"
grep -qF "removed 2 temporary files a stopped run left behind" "$ERR" || fail "no count logged"
expect_no_file out/4_4_40/.cvmpi-tmp-4242-7-32-64_0-32_0-32.gz
expect_no_file out/4_4_40/.cvmpi-tmp-4242-3-0-32_0-32_0-32.gz
[[ -f out/4_4_40/.cvmpi-tmp-not-a-chunk ]] || fail "a file that is no chunk was removed"
run "$CVMPI" verify src out --memory 200K
[[ $RC == 0 ]] || fail "verify after resume"
# A --bbox job owns only the chunks of its box: the others' temporaries may be another job's.
echo other >out/4_4_40/.cvmpi-tmp-4242-8-32-64_32-64_0-32.gz
echo mine >out/4_4_40/.cvmpi-tmp-4242-9-0-32_32-64_0-32.gz
run "$CVMPI" -v transfer src out --memory 200K --journal jb --bbox 0,32,0,32,64,32 --resume
[[ $RC == 0 ]] || fail "resume of a --bbox job"
grep -qF "removed 1 temporary file a stopped run left behind" "$ERR" || fail "no count logged"
expect_no_file out/4_4_40/.cvmpi-tmp-4242-9-0-32_32-64_0-32.gz
[[ -f out/4_4_40/.cvmpi-tmp-4242-8-32-64_32-64_0-32.gz ]] || fail "a chunk outside --bbox lost its file"
echo "resume_stale_tmp: ok"
