#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# downsample_sharded.sh CVMPI: `cvmpi downsample --sharded/--sharding` writes every new scale
# sharded in one job; the unsharded pyramid of plain `downsample` is the oracle:
#  1. a uint8 image of odd size (300x260x70, chunks 64x64x16, non-zero voxel_offset), 3 mips,
#     --memory small enough that tree nodes make levels 2..3: -n 1, 2, 3 and 4 write
#     byte-identical shard files (the same as `transfer --sharded` of the unsharded level), and
#     every level reads (cvmpi read, and the independent precomputed_ref.py) as the oracle;
#  2. the info's sharding per scale, chosen per level as create_sharded_image_info does;
#  3. the default --memory (tasks make every level) gives the oracle's voxels too;
#  4. uint64 segmentation, compressed_segmentation, mode, --sharding murmurhash: -n 1 and -n 3
#     identical and equal to the oracle;
#  5. kill -9 of a rank in the tasks, in the tree and between the levels' shard writes, then
#     --resume with another rank count: byte-identical, every task, node and shard journaled once.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/lib.sh"
PREF=$HERE/../interop/precomputed_ref.py
PY=/usr/bin/python3
# --threads 4 with it: the plan depends on the chunk threads per rank (the default follows
# the cores a rank may use), and these sizes were chosen for 4.
MEM=3M
SH=(--sharded --shard-bytes 300K --num-mips 3 --memory $MEM --threads 4)

make_source src uint8 300,260,70 5,-7,3 64,64,16 > /dev/null
cp -r src un
run_np 2 downsample un --num-mips 3 --memory $MEM --threads 4 > logu 2>&1 || { cat logu; fail "unsharded oracle"; }
for k in 1 2 3; do "$CVMPI" read un --mip "$k" -o "want$k.npy"; done

plan=$("$CVMPI" downsample src "${SH[@]}" --dry-run --ranks 2)
echo "$plan"
echo "$plan" | grep -q "stage 0: .* levels 1\.\.1 made in memory" || fail "tasks should make level 1 only"
echo "$plan" | grep -q "(reduction tree)" || fail "no reduction tree in the plan"
n_nodes=$(echo "$plan" | sed -n 's/^plan: stage [0-9]*[^:]*: \([0-9]*\) .*/\1/p' | paste -sd+ | bc)

# 1. Every rank count writes the same shard files.
shards() { (cd "$1" && find . -name '*.shard' | sort); }
for n in 1 2 3 4; do
    cp -r src "s$n"
    run_np $n downsample "s$n" "${SH[@]}" --journal "j$n" > "log$n" 2>&1 || { cat "log$n"; fail "-n $n"; }
    grep -q "^wrote 27 shard files of mips 1\.\.3$" "log$n" || { cat "log$n"; fail "-n $n: shard count"; }
    [ -z "$(find "s$n" -name '*.gz' -path '*_40/*' ! -path './s'"$n"'/4_4_40/*' | grep -v '/4_4_40/')" ] \
        || fail "-n $n: unsharded chunks in a sharded scale"
    [ ! -e "j$n" ] || fail "-n $n: journal or spill files left behind"
done
[ "$(shards s1 | wc -l)" = 27 ] || fail "want 27 shard files"
for n in 2 3 4; do
    [ "$(shards s1)" = "$(shards "s$n")" ] || fail "-n $n: other shard files"
    for f in $(shards s1); do cmp "s1/$f" "s$n/$f" || fail "-n $n: $f differs from -n 1's"; done
done
# ... the bytes the single-process writer gives a level transferred sharded
"$CVMPI" transfer un tr --mip 1 --sharded --shard-bytes 300K > /dev/null 2>&1 || fail "transfer --sharded"
for f in $(cd tr && find . -name '*.shard'); do cmp "s1/$f" "tr/$f" || fail "$f differs from transfer --sharded's"; done
# ... and every level reads as the oracle
for k in 1 2 3; do
    "$CVMPI" read s3 --mip "$k" -o "got$k.npy"
    cmp "got$k.npy" "want$k.npy" || fail "mip $k: voxels differ from the unsharded pyramid's"
    "$PY" "$PREF" check s3 "want$k.npy" --mip "$k" > /dev/null || fail "reference reader, mip $k"
done

# 2. The sharding of each new scale: create_sharded_image_info per level (300K -> 4 chunks
#    per shard): 45, 20 and 5 chunks of 7, 5 and 3 Morton bits.
"$PY" - <<'PY' || fail "info sharding"
import json
info = json.load(open("s1/info"))
want = [(2, 5), (2, 3), (2, 1)]
for k, (pre, shard) in enumerate(want, 1):
    s = info["scales"][k]
    assert s["sharding"] == {"@type": "neuroglancer_uint64_sharded_v1", "data_encoding": "gzip",
                             "hash": "identity", "minishard_bits": 0,
                             "minishard_index_encoding": "gzip", "preshift_bits": pre,
                             "shard_bits": shard}, (k, s["sharding"])
    assert s["voxel_offset"] == [5 // 2 ** k, -7 // 2 ** k, 3], s["voxel_offset"]
assert "sharding" not in info["scales"][0]
print("info ok")
PY

# 3. Default memory: the tasks make every level; default shard size (one or two shards).
cp -r src big
run_np 2 downsample big --sharded --num-mips 3 > logb 2>&1 || { cat logb; fail "default memory"; }
grep -q "^wrote 4 shard files of mips 1\.\.3$" logb || { cat logb; fail "default memory: shards"; }
for k in 1 2 3; do
    "$CVMPI" read big --mip "$k" -o "big$k.npy"
    cmp "big$k.npy" "want$k.npy" || fail "default memory: mip $k differs"
done

# 4. Segmentation: compressed_segmentation, mode, murmurhash shards.
"$CVMPI" create seg --type segmentation --dtype uint64 --size 130,70,40 --offset -3,7,1 \
    --resolution 8,8,8 --chunk 16,16,8 --encoding compressed_segmentation > /dev/null
"$PY" - <<'PY'
import numpy as np
rng = np.random.default_rng(2)
x, y, z = np.meshgrid(np.arange(130), np.arange(70), np.arange(40), indexing="ij")
a = ((x // 5 + (y // 3) * 7 + (z // 2) * 3) % 11).astype(np.uint64)
a = np.where(rng.random(a.shape) < 0.2, rng.integers(0, 11, a.shape).astype(np.uint64), a)
a = np.where(a > 0, a + np.uint64(1 << 40), a)
np.save("seg.npy", np.asfortranarray(a[..., None]))
PY
"$CVMPI" write seg --bbox -3,7,1,127,77,41 -i seg.npy
MURMUR='{"@type": "neuroglancer_uint64_sharded_v1", "hash": "murmurhash3_x86_128", "preshift_bits": 0, "minishard_bits": 2, "shard_bits": 2, "minishard_index_encoding": "gzip", "data_encoding": "gzip"}'
cp -r seg segu
cp -r seg seg1
cp -r seg seg3
run_np 1 downsample segu --num-mips 2 --memory 2M > logsu 2>&1 || { cat logsu; fail "seg oracle"; }
run_np 1 downsample seg1 --num-mips 2 --memory 2M --sharding "$MURMUR" > logs1 2>&1 || { cat logs1; fail "seg -n 1"; }
run_np 3 downsample seg3 --num-mips 2 --memory 2M --sharding "$MURMUR" > logs3 2>&1 || { cat logs3; fail "seg -n 3"; }
[ "$(shards seg1 | wc -l)" = 8 ] || fail "segmentation: want 4 shard files per level"
for f in $(shards seg1); do cmp "seg1/$f" "seg3/$f" || fail "segmentation: $f differs between -n 1 and -n 3"; done
grep -q '"hash":"murmurhash3_x86_128"\|"hash": "murmurhash3_x86_128"' seg1/info || fail "segmentation: no murmurhash in the info"
for k in 1 2; do
    "$CVMPI" read segu --mip "$k" -o "su$k.npy"
    "$CVMPI" read seg3 --mip "$k" -o "s3$k.npy"
    cmp "su$k.npy" "s3$k.npy" || fail "segmentation: mip $k differs from the unsharded pyramid"
done

# 5. Kill -9 and resume.
n_ids=$((n_nodes + 27))
kill_after() { # JOURNAL N: kill -9 a rank once the journal has N entries
    for _ in $(seq 1 600); do
        [ "$(cat "$1"/rank-*.log 2> /dev/null | grep -vc '^cvmpi-journal' || true)" -ge "$2" ] && break
        sleep 0.05
    done
    local victim
    victim=$(pgrep -f "cvmpi downsample out" | tail -n 1)
    [ -n "$victim" ] || fail "no rank to signal"
    kill -KILL "$victim" 2> /dev/null || true
}
n_tasks=$(echo "$plan" | sed -n 's/^plan: stage 0: \([0-9]*\) tasks.*/\1/p')
for round in tasks tree shards; do
    rm -rf out jk
    cp -r src out
    at=4 np_kill=2 np_resume=3 delay=(CVMPI_TEST_TASK_DELAY_MS=40)
    [ $round = tree ] && at=$((n_tasks + 1)) np_kill=2 np_resume=1 delay=(CVMPI_TEST_TASK_DELAY_MS=20 CVMPI_TEST_NODE_DELAY_MS=1000)
    [ $round = shards ] && at=$((n_nodes + 1)) delay=(CVMPI_TEST_SHARD_DELAY_MS=3000)
    env "${delay[@]}" mpirun -n $np_kill "$CVMPI" downsample out "${SH[@]}" --journal jk > logk 2>&1 &
    job=$!
    kill_after jk $at
    wait "$job" && fail "killed job exited 0 ($round)"
    done_before=$(cat jk/rank-*.log | grep -vc '^cvmpi-journal')
    case $round in # the kill came in the phase it was meant for
    tasks) lo=0 hi=$n_tasks ;;
    tree) lo=$n_tasks hi=$n_nodes ;;
    shards) lo=$n_nodes hi=$n_ids ;;
    esac
    [ "$done_before" -ge "$lo" ] && [ "$done_before" -lt "$hi" ] ||
        fail "$round: killed after $done_before journal entries, not in [$lo, $hi)"
    run_np $np_resume downsample out "${SH[@]}" --journal jk --resume --keep-journal > logr 2>&1 \
        || { cat logr; fail "resume ($round)"; }
    for f in $(shards s1); do cmp "s1/$f" "out/$f" || fail "$round: resumed $f differs"; done
    [ "$(shards s1)" = "$(shards out)" ] || fail "$round: other shard files after resume"
    ids=$(cat jk/rank-*.log | grep -v '^cvmpi-journal' | sort -n)
    [ "$(echo "$ids" | wc -l)" = "$n_ids" ] || fail "$round: journal has $(echo "$ids" | wc -l) entries, want $n_ids"
    [ "$(echo "$ids" | uniq | wc -l)" = "$n_ids" ] || fail "$round: a finished task, node or shard was redone"
    echo "$round: killed after $done_before of $n_ids journal entries, resumed"
done
echo "downsample --sharded (mpi): ok"
