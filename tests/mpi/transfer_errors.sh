#!/usr/bin/env bash
# A corrupt source chunk: the job reports that task's box and the chunk key, the other tasks
# complete, and the exit code is non-zero. --fail-fast stops early. Usage errors exit 2.
source "$(dirname "$0")/lib.sh"
make_source src uint8 128,128,32 0,0,0 32,32,32
printf 'garbage' > src/4_4_40/64-96_32-64_0-32.gz
set +e
run_np 2 transfer src out --memory 128K > log 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || { cat log; fail "exit $rc, want 1"; }
grep -q "1 task failed" log || { cat log; fail "failure count"; }
grep -q "box 64,32,0,96,64,32" log || { cat log; fail "failed box not named"; }
grep -q "4_4_40/64-96_32-64_0-32" log || { cat log; fail "chunk key not named"; }
# every other chunk was written
[ "$(ls out/4_4_40 | wc -l)" = 15 ] || fail "want 15 chunks written, have $(ls out/4_4_40 | wc -l)"
# dry run writes nothing
run_np 1 transfer src dry --dry-run > log 2>&1 || fail "dry run"
[ ! -e dry ] || fail "dry run created the destination"
grep -q "^plan: " log || fail "dry run printed no plan"
# usage
set +e
"$CVMPI" transfer src > /dev/null 2>&1; [ $? = 2 ] || fail "missing DST is not a usage error"
"$CVMPI" transfer src x --memory lots > /dev/null 2>&1; [ $? = 2 ] || fail "bad --memory"
set -e
# a slow task is named with its rank and box; --report writes per-rank numbers
rm -rf out
"$CVMPI" create slow --type image --dtype uint8 --size 64,64,32 --resolution 4,4,40 --chunk 32,32,32 > /dev/null
CVMPI_TEST_TASK_DELAY_MS=1500 run_np 2 transfer slow slow-out --memory 128K --stall-warning 1 \
    --fill-missing --report report.json > log 2>&1 || { cat log; fail "slow transfer"; }
grep -q "rank [01] has been on task [0-9]* (box [0-9,]*) for [0-9]* s" log || { cat log; fail "no stall warning"; }
/usr/bin/python3 - <<'PY' || fail "report"
import json
r = json.load(open("report.json"))
assert r["job"] == "transfer" and len(r["ranks"]) == 2, r
assert r["total"]["tasks_done"] == 4 and r["total"]["voxel_bytes"] == 64 * 64 * 32, r["total"]
assert r["total"]["chunks_missing"] == 4 and r["total"]["chunks_written"] == 4, r["total"]
assert all(x["wall_seconds"] > 2.5 for x in r["ranks"]), r
PY
echo "transfer_errors: ok"
