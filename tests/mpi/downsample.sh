#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# downsample.sh CVMPI: `cvmpi downsample` across ranks with a --memory so small that tasks make
# only the lowest levels and the rest goes up the reduction tree:
#  1. a 5-mip uint8 pyramid made with -n 1 and -n 3 is byte-identical, every level equals the
#     numpy reference (tests/interop/downsample_ref.py: carried sums, reset after level 4), and
#     the independent reader (tests/interop/precomputed_ref.py) reads every new scale;
#  2. the info has the scales add_scale would add (keys, sizes, offsets, chunk sizes);
#  3. a job killed (SIGKILL of a rank, in the tasks and again in the tree) or stopped (SIGTERM)
#     and resumed gives the same bytes, each task and tree node journaled once;
#  4. uint64 segmentation, 2x2x2 mode, 3 mips: -n 1 and -n 2 identical and equal to numpy;
#  5. `transfer --downsample 5` and `import --downsample 5` (HDF5) give the same pyramid.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REF=$HERE/../interop/downsample_ref.py
PREF=$HERE/../interop/precomputed_ref.py
PY=/usr/bin/python3
# --threads 4 with it: the plan depends on the chunk threads per rank (the default follows
# the cores a rank may use), and these sizes were chosen for 4.
MEM=300K

make_source src uint8 300,260,24 3,-4,2 32,32,8 > /dev/null
cp -r src src1
cp -r src src3
plan=$("$CVMPI" downsample src1 --num-mips 5 --memory $MEM --threads 4 --dry-run)
echo "$plan"
echo "$plan" | grep -q "stage 0: .* levels 1\.\.[1-3] made in memory" || fail "tasks should not cover every level"
echo "$plan" | grep -q "(reduction tree)" || fail "no reduction tree in the plan"
n_ids=$(echo "$plan" | sed -n 's/^plan: stage [0-9]*[^:]*: \([0-9]*\) .*/\1/p' | paste -sd+ | bc)

# 1. -n 1 and -n 3 give the same bytes.
run_np 1 downsample src1 --num-mips 5 --memory $MEM --threads 4 --journal j1 > log1 2>&1 || { cat log1; fail "-n 1"; }
run_np 3 downsample src3 --num-mips 5 --memory $MEM --threads 4 --journal j3 > log3 2>&1 || { cat log3; fail "-n 3"; }
grep -q "^downsampled mip 0 to mips 1\.\.5: .* 0 failed; read 270 of 270 source chunks" log1 \
    || { cat log1; fail "summary: every source chunk read once"; }
digest src1 > d1
digest src3 | diff d1 - > /dev/null || fail "-n 1 and -n 3 differ"
[ ! -e j1/tree ] || fail "tree state left behind after a finished job"

# ... and equal numpy, read back by cvmpi and by the independent reader.
for k in 1 2 3 4 5; do "$CVMPI" read src1 --mip "$k" -o "got$k.npy"; done
"$PY" - "$REF" <<'PY' || fail "levels differ from numpy"
import sys, importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("ref", sys.argv[1])
ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
a = np.load("src.npy")[..., 0]                          # x, y, z
want = ref.carried_levels(np.ascontiguousarray(a.T)[None], (2, 2, 1), 5)
for k in range(5):
    w = want[k][0].T                                     # back to x, y, z
    np.save("want%d.npy" % (k + 1), np.asfortranarray(w[..., None]))
    got = np.load("got%d.npy" % (k + 1))[..., 0]
    assert got.shape == w.shape, (k + 1, got.shape, w.shape)
    assert np.array_equal(got, w), "level %d: %d voxels differ" % (k + 1, (got != w).sum())
print("levels 1..5 equal numpy")
PY
for k in 1 2 3 4 5; do
    "$PY" "$PREF" check src1 "want$k.npy" --mip "$k" --strict > /dev/null || fail "reference reader, mip $k"
done

# 2. The info: scales as add_scale makes them, and valid for cvmpi info.
"$CVMPI" info src1 > /dev/null || fail "cvmpi info"
"$PY" - <<'PY' || fail "info scales"
import json
info = json.load(open("src1/info"))
assert len(info["scales"]) == 6
for k in range(1, 6):
    s, f = info["scales"][k], 2 ** k
    assert s["key"] == "%d_%d_40" % (4 * f, 4 * f), s["key"]
    assert s["resolution"] == [4 * f, 4 * f, 40]
    assert s["size"] == [-(-300 // f), -(-260 // f), 24], s["size"]
    assert s["voxel_offset"] == [3 // f, -4 // f, 2], s["voxel_offset"]
    assert s["chunk_sizes"] == [[32, 32, 8]] and s["encoding"] == "raw"
print("info ok")
PY

# 3. Kill and resume.
check_resumed() { # DIR JOURNAL WHAT
    # A rank killed in the middle of writing a chunk leaves its temporary file (never read as a
    # chunk); everything else must be byte-identical.
    digest "$1" | grep -v '/\.cvmpi-tmp-' | diff d1 - || fail "resumed output differs from an uninterrupted run ($3)"
    local ids
    ids=$(cat "$2"/rank-*.log | grep -v '^cvmpi-journal' | sort -n)
    [ "$(echo "$ids" | wc -l)" = "$n_ids" ] || fail "journal has $(echo "$ids" | wc -l) entries, want $n_ids"
    [ "$(echo "$ids" | uniq | wc -l)" = "$n_ids" ] || fail "a finished task was redone"
}
kill_after() { # JOURNAL N SIGNAL PATTERN: signal a rank once the journal has N entries
    for _ in $(seq 1 600); do
        [ "$(cat "$1"/rank-*.log 2>/dev/null | grep -vc '^cvmpi-journal' || true)" -ge "$2" ] && break
        sleep 0.05
    done
    local victim
    victim=$(pgrep -f "$4" | tail -n 1)
    [ -n "$victim" ] || fail "no rank to signal"
    kill "-$3" "$victim" 2> /dev/null || true
}
n_tasks=$(echo "$plan" | sed -n 's/^plan: stage 0: \([0-9]*\) tasks.*/\1/p')
for round in tasks tree; do
    rm -rf out jk
    cp -r src out
    # Killed in the tasks at -n 2 and resumed with more ranks; killed in the tree at -n 3 and
    # resumed with one rank, which reads the state files all three left.
    at=4 np_kill=2 np_resume=3
    [ $round = tree ] && at=$((n_tasks + 2)) np_kill=3 np_resume=1
    CVMPI_TEST_TASK_DELAY_MS=40 mpirun -n $np_kill "$CVMPI" downsample out --num-mips 5 --memory $MEM --threads 4 \
        --journal jk > logk 2>&1 &
    job=$!
    kill_after jk $at KILL "cvmpi downsample out"
    wait "$job" && fail "killed job exited 0 ($round)"
    done_before=$(cat jk/rank-*.log | grep -vc '^cvmpi-journal')
    [ "$done_before" -lt "$n_ids" ] || fail "the job finished before it was killed ($round)"
    run_np $np_resume downsample out --num-mips 5 --memory $MEM --threads 4 --journal jk --resume --keep-journal > logr 2>&1 \
        || { cat logr; fail "resume ($round)"; }
    grep -q "$done_before skipped" logr || { cat logr; fail "resume did not skip the $done_before finished ($round)"; }
    check_resumed out jk "$round"
done
rm -rf out jk
cp -r src out
CVMPI_TEST_TASK_DELAY_MS=40 mpirun -n 2 "$CVMPI" downsample out --num-mips 5 --memory $MEM --threads 4 \
    --journal jk > logt 2>&1 &
job=$!
kill_after jk 3 TERM "mpirun -n 2 $CVMPI downsample out"
if wait "$job"; then fail "terminated job exited 0"; fi
grep -q -- "--resume" logt || { cat logt; fail "no resume hint after SIGTERM"; }
run_np 2 downsample out --num-mips 5 --memory $MEM --threads 4 --journal jk --resume --keep-journal > logr 2>&1 || { cat logr; fail "resume after SIGTERM"; }
check_resumed out jk SIGTERM

# 4. Segmentation: 2x2x2 mode.
"$CVMPI" create seg1 --type segmentation --dtype uint64 --size 130,70,40 --resolution 8,8,8 \
    --chunk 16,16,8 > /dev/null
"$PY" - <<'PY'
import numpy as np
rng = np.random.default_rng(2)
x, y, z = np.meshgrid(np.arange(130), np.arange(70), np.arange(40), indexing="ij")
a = ((x // 5 + (y // 3) * 7 + (z // 2) * 3) % 11).astype(np.uint64)
a = np.where(rng.random(a.shape) < 0.2, rng.integers(0, 11, a.shape).astype(np.uint64), a)
a = np.where(a > 0, a + np.uint64(1 << 40), a)
np.save("seg.npy", np.asfortranarray(a[..., None]))
PY
"$CVMPI" write seg1 --bbox 0,0,0,130,70,40 -i seg.npy
cp -r seg1 seg2
run_np 1 downsample seg1 --num-mips 3 --factor 2,2,2 --memory 600K > logs1 2>&1 || { cat logs1; fail "seg -n 1"; }
run_np 2 downsample seg2 --num-mips 3 --factor 2,2,2 --memory 600K > logs2 2>&1 || { cat logs2; fail "seg -n 2"; }
"$CVMPI" downsample seg1 --num-mips 3 --factor 2,2,2 --memory 600K --dry-run | grep -q "(reduction tree)" \
    || fail "segmentation: no reduction tree"
digest seg1 > ds1
digest seg2 | diff ds1 - > /dev/null || fail "segmentation: -n 1 and -n 2 differ"
for k in 1 2 3; do "$CVMPI" read seg1 --mip "$k" -o "seg$k.npy"; done
"$PY" - "$REF" <<'PY' || fail "segmentation levels differ from numpy"
import sys, importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("ref", sys.argv[1])
ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
a = np.ascontiguousarray(np.load("seg.npy")[..., 0].T)[None]
for k in range(1, 4):
    a = ref.one_level(a, (2, 2, 2), "mode", False)
    got = np.load("seg%d.npy" % k)[..., 0]
    assert np.array_equal(got, a[0].T), "level %d differs" % k
print("segmentation levels 1..3 equal numpy")
PY
# 4b. uint8 averages with factor 3,3,1 carry float32 levels up the tree (tinybrain's numpy path).
cp -r src f331a
cp -r src f331b
"$CVMPI" downsample f331a --num-mips 3 --factor 3,3,1 --memory 1M --dry-run | grep -q "(reduction tree)" \
    || fail "3,3,1: no reduction tree"
run_np 1 downsample f331a --num-mips 3 --factor 3,3,1 --memory 1M > logf1 2>&1 || { cat logf1; fail "3,3,1 -n 1"; }
run_np 3 downsample f331b --num-mips 3 --factor 3,3,1 --memory 1M > logf3 2>&1 || { cat logf3; fail "3,3,1 -n 3"; }
digest f331a > df1
digest f331b | diff df1 - > /dev/null || fail "3,3,1: -n 1 and -n 3 differ"
for k in 1 2 3; do "$CVMPI" read f331a --mip "$k" -o "f$k.npy"; done
"$PY" - "$REF" <<'PY' || fail "3,3,1 levels differ from numpy"
import sys, importlib.util
import numpy as np
spec = importlib.util.spec_from_file_location("ref", sys.argv[1])
ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
a = np.ascontiguousarray(np.load("src.npy")[..., 0].T)[None].astype(np.float32)
for k in range(1, 4):
    a = ref.average(a, (3, 3, 1), False)
    got = np.load("f%d.npy" % k)[..., 0]
    assert np.array_equal(got, ref.to_dtype(a, np.dtype(np.uint8))[0].T), "level %d differs" % k
print("3,3,1 levels 1..3 equal numpy (float32 carried)")
PY

# 5. transfer and import, then the pyramid in the same job.
run_np 3 transfer src tr --downsample 5 --memory $MEM --threads 4 --journal jt --keep-journal > logtr 2>&1 || { cat logtr; fail "transfer --downsample"; }
grep -q "^downsampled mip 0 to mips 1\.\.5: " logtr || { cat logtr; fail "transfer --downsample: no pyramid"; }
digest tr | diff d1 - > /dev/null || fail "transfer --downsample differs from downsample"
run_np 2 transfer src tr --downsample 5 --memory $MEM --threads 4 --journal jt --resume > logtr2 2>&1 || { cat logtr2; fail "transfer --downsample --resume"; }
grep -q "0 tasks and 0 tree nodes done, $n_ids skipped" logtr2 || { cat logtr2; fail "resumed transfer --downsample redid work"; }
"$PY" - <<'PY'
import h5py, numpy as np
a = np.load("src.npy")[..., 0]
with h5py.File("stack.h5", "w") as f:
    f["raw"] = np.ascontiguousarray(a.T)   # z, y, x as h5py writes C order
PY
run_np 2 import stack.h5:/raw imp --offset 3,-4,2 --chunk 32,32,8 --resolution 4,4,40 --downsample 5 --memory $MEM --threads 4 \
    > logimp 2>&1 || { cat logimp; fail "import --downsample"; }
for k in 1 2 3 4 5; do
    "$PY" "$PREF" check imp "want$k.npy" --mip "$k" > /dev/null || fail "import --downsample: mip $k"
done
echo "downsample (mpi): ok"
