#!/usr/bin/env bash
# Every example job in jobs/*.json runs with `cvmpi run` under 1 and 3 ranks on a generated
# sample/layer, giving the same objects; a malformed job file is a clear error.
source "$(dirname "$0")/lib.sh"
JOBS=$(cd "$(dirname "$0")/../../jobs" && pwd)
mkdir sample
make_source sample/layer uint8 200,150,40 0,0,0 64,64,32
for job in "$JOBS"/*.json; do
    name=$(basename "$job" .json)
    dst=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["args"][1])' "$job")
    run_np 1 run "$job" > "log-$name-1" 2>&1 || { cat "log-$name-1"; fail "$name on 1 rank"; }
    digest "$dst" > "d-$name-1"
    rm -rf "$dst"
    run_np 3 run "$job" > "log-$name-3" 2>&1 || { cat "log-$name-3"; fail "$name on 3 ranks"; }
    digest "$dst" | diff "d-$name-1" - > /dev/null || fail "$name: 3 ranks differ from 1"
    "$CVMPI" read "$dst" -o back.npy
    cmp src.npy back.npy || fail "$name: content differs from the source"
done
echo '{"command": "nope"}' > bad.json
set +e
"$CVMPI" run bad.json 2> err; rc=$?
set -e
[ "$rc" = 1 ] && grep -q 'must name a cvmpi command' err || fail "bad job file: rc $rc"
echo "run_jobs: ok"
