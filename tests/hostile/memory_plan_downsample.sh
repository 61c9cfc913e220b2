#!/usr/bin/env bash
# Downsampling keeps to --memory: the tasks' chunk workers are counted, the reduction tree's
# node states live in per-rank files between stages (they were held in memory, uncounted, and a
# uint64 pyramid at --memory 48M peaked at 109 MiB), and they are exchanged in rounds sized to
# the budget. At -n 2 each rank's peak RSS, measured with /usr/bin/time, stays within --memory
# plus the fixed 32 MiB, for an image pyramid whose tree has two stages, a uint64 segmentation
# pyramid written as compressed_segmentation, and a sharded image pyramid (shards written after
# the tree); the tree's pyramid is byte-identical to one made by a single task. A budget no
# task fits is refused in one line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
rss_cases memory_plan_downsample

"$CVMPI" create img --type image --dtype uint8 --size 512,512,128 --resolution 4,4,40 \
    --chunk 64,64,64 >/dev/null
"$PY" -c "
import numpy as np
a = np.random.default_rng(1).integers(0, 255, (512, 512, 128, 1)).astype('uint8')
np.save('a.npy', np.asfortranarray(a))"
"$CVMPI" write img --bbox 0,0,0,512,512,128 -i a.npy --compress none
"$CVMPI" create seg --type segmentation --dtype uint64 --size 256,256,128 --resolution 8,8,8 \
    --chunk 64,64,64 >/dev/null
"$PY" -c "
import numpy as np
x, y, z = np.meshgrid(np.arange(256), np.arange(256), np.arange(128), indexing='ij')
a = ((x // 7) + (y // 5) * 100 + (z // 3) * 10000).astype(np.uint64) + (1 << 40)
np.save('s.npy', np.asfortranarray(a[..., None]))"
"$CVMPI" write seg --bbox 0,0,0,256,256,128 -i s.npy
rm a.npy s.npy

section "image, 4 levels under --memory 8M: tasks make level 1, two tree stages the rest"
run "$CVMPI" downsample img --num-mips 4 --memory 8M --threads 4 --dry-run
[[ $RC == 0 ]] || fail "dry-run at 8M"
grep -qF "plan: stage 0: 32 tasks of 128x128x64 voxels read from mip 0, levels 1..1 made in memory, 1.0 MB per task (peak 7.6 MB, budget 8.4 MB)" "$OUT" || fail "stage 0"
grep -qF "plan: stage 2 (reduction tree): 2 nodes of 128x128x64 voxels at level 2 from up to 16 children each, levels 3..4" "$OUT" || fail "stage 2"
grep -qF "plan: expected peak 8.4 MB per rank (tasks 7.6 MB, tree exchange 8.4 MB, tree nodes 7.4 MB; budget 8.4 MB)" "$OUT" || fail "peak"
cp -r img img.8
peak_within img.8 8 downsample img.8 --num-mips 4
grep -qF "downsampled mip 0 to mips 1..4: 32 tasks and 10 tree nodes done" img.8.log || fail "summary"
[[ ! -e img.8/.cvmpi-journal ]] || fail "the journal and its tree state files stay behind"

section "the tree's pyramid equals one made by single tasks"
cp -r img whole
"$CVMPI" downsample whole --num-mips 4 --memory 1G --threads 4 --dry-run 2>/dev/null | grep -q "(reduction tree)" &&
    fail "the reference must be made without a tree"
"$CVMPI" downsample whole --num-mips 4 --memory 1G --threads 4 >/dev/null 2>&1
sums() { (cd "$1" && find . -type f ! -name info ! -name provenance | sort | xargs md5sum); }
[[ $(sums whole | wc -l) -gt 40 ]] || fail "the reference has too few chunks"
[[ "$(sums whole)" == "$(sums img.8)" ]] || fail "the tree's pyramid differs from the single tasks'"

section "sharded image pyramid, 4 levels under --memory 12M: tree stages, then every level's shards"
run "$CVMPI" downsample img --num-mips 4 --memory 12M --threads 4 --sharded --shard-bytes 1M --dry-run
grep -qF "plan: sharded levels: chunks encoded by the tasks and tree nodes, spilled beside the journal, then sent to their shards' owners level by level; peak 12.6 MB per rank (budget 12.6 MB)" "$OUT" || fail "sharded peak"
cp -r img img.sharded
peak_within img.sharded 12 downsample img.sharded --num-mips 4 --sharded --shard-bytes 1M
grep -qF "wrote 12 shard files of mips 1..4" img.sharded.log || fail "sharded: shard files"

section "uint64 segmentation as compressed_segmentation, 2x2x2 mode, 3 levels under --memory 64M"
run "$CVMPI" downsample seg --num-mips 3 --factor 2,2,2 --encoding compressed_segmentation \
    --memory 64M --threads 4 --dry-run
grep -qF "plan: expected peak 62.9 MB per rank (tasks 62.9 MB, tree exchange 16.8 MB, tree nodes 15.0 MB; budget 67.1 MB)" "$OUT" || fail "seg peak"
cp -r seg seg.64
peak_within seg.64 64 downsample seg.64 --num-mips 3 --factor 2,2,2 --encoding compressed_segmentation

section "a budget no level-1 task fits is refused before the info changes"
cp seg/info info.before
run "$CVMPI" downsample seg --num-mips 3 --factor 2,2,2 --memory 48M --threads 4
[[ $RC == 1 ]] || fail "--memory 48M --threads 4 must be refused (exit $RC)"
expect_one_line_error
expect_stderr_contains "cvmpi: downsample: making level 1 needs blocks of 128x128x128 voxels and 62947328 bytes, more than --memory 50331648"
cmp -s info.before seg/info || fail "the refused job changed the info"
echo "memory_plan_downsample: ok"
