#!/usr/bin/env bash
# --memory bounds verify and import too. verify's plan counted 2.5 x a task and no chunk
# buffers, and charged a task for the whole lattice cell of both chunk grids: layers of 64^3
# and 100x100x50 chunks were refused as "one aligned task of 1600x1600x1600 voxels needs
# 10240 MB" over a 200x200x100 volume. import's plan counted 4.5 x a task but not the
# compressed HDF5 chunks a slab read decompresses: a 512x512x128 uint8 dataset in gzipped
# 128x256x256 chunks, imported under --memory 32M at -n 2, peaked at 83 MiB per rank (now
# 48 MiB, rounds of fewer tasks). Both plans now count what a rank holds
# (task and slab buffers, chunk threads' buffers, filtered HDF5 chunks); peak RSS per rank,
# measured with /usr/bin/time, stays within --memory plus the fixed 32 MiB, and a job that
# cannot fit is refused in one line naming what it needs and the budget.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
rss_cases memory_plan_verify_import

"$PY" -c "
import numpy as np, h5py
r = np.random.default_rng(5)
a = r.integers(0, 8, (256, 256, 64, 1)).astype('uint64') * 1000003
np.save('seg.npy', np.asfortranarray(a))
b = r.integers(0, 8, (200, 200, 100, 1)).astype('uint8')
np.save('img.npy', np.asfortranarray(b))
c = r.integers(0, 8, (64, 256, 256)).astype('uint8')  # z, y, x
with h5py.File('u8.h5', 'w') as f:
    f.create_dataset('flat', data=c)
    f.create_dataset('gz', data=c, chunks=(64, 128, 256), compression='gzip')
d = r.integers(0, 8, (64, 128, 128)).astype('uint64') * 1000003
with h5py.File('u64.h5', 'w') as f:
    f.create_dataset('chunked', data=d, chunks=(32, 64, 64))
    f.create_dataset('gz', data=d, chunks=(64, 64, 64), compression='gzip')
np.save('u8.npy', np.asfortranarray(c.T[..., None]))
np.save('u64.npy', np.asfortranarray(d.T[..., None]))"

section "verify: raw 128x128x64 uint64 chunks against gzipped compressed_segmentation 64^3"
"$CVMPI" create sa --type segmentation --dtype uint64 --size 256,256,64 --resolution 4,4,40 \
    --chunk 128,128,64 >/dev/null
"$CVMPI" create sb --type segmentation --dtype uint64 --size 256,256,64 --resolution 4,4,40 \
    --chunk 64,64,64 --encoding compressed_segmentation >/dev/null
"$CVMPI" write sa --bbox 0,0,0,256,256,64 -i seg.npy --compress none
"$CVMPI" write sb --bbox 0,0,0,256,256,64 -i seg.npy --compress gzip
# A task: 128x128x64 x 8 B = 8388608 B from each layer, plus 3 chunk buffers for each busy
# thread: 1 thread x 8388608 (A) or 4 x 2097152 (B), x 3 = 25165824: 41943040 B.
run "$CVMPI" verify sa sb --memory 48M --threads 4 --dry-run
[[ $RC == 0 ]] || fail "dry-run at 48M (exit $RC)"
grep -qF "plan: 4 tasks of 128x128x64 voxels (2x2x1 tasks) over 0,0,0,256,256,64 at mip 0" \
    "$OUT" || fail "verify plan"
grep -qF "plan: 33.6 MB of voxels in each layer, 8.4 MB per task and layer, expected peak 41.9 MB per rank (budget 50.3 MB), 1 rank" \
    "$OUT" || fail "verify: the plan's bound"
[[ ! -e sa/.cvmpi-journal ]] || fail "dry-run wrote a journal"
peak_within verify_seg 48 verify sa sb
run "$CVMPI" verify sa sb --memory 32M --threads 4
[[ $RC == 1 ]] || fail "verify under 32M must be refused (exit $RC)"
expect_one_line_error
expect_stderr_contains "cvmpi: verify: sa's 128x128x64 chunks and sb's 64x64x64 chunks align every 128x128x64 voxels; one such task (128x128x64 inside the region) needs about 41.94 MB, more than the 33.55 MB memory budget (raise --memory)"

section "verify: chunk grids aligned only every 1600^3, over a 200x200x100 volume"
"$CVMPI" create ia --type image --dtype uint8 --size 200,200,100 --resolution 4,4,40 \
    --chunk 64,64,64 >/dev/null
"$CVMPI" create ib --type image --dtype uint8 --size 200,200,100 --resolution 4,4,40 \
    --chunk 100,100,50 >/dev/null
"$CVMPI" write ia --bbox 0,0,0,200,200,100 -i img.npy --compress none
"$CVMPI" write ib --bbox 0,0,0,200,200,100 -i img.npy --compress gzip
# The one task holds 200x200x100 = 4000000 B per layer; B's chunks of 500000 B, at most 3x3x3
# touched, keep 4 threads busy: 4 x 3 x 500000 = 6000000; 8000000 + 6000000 = 14.0 MB.
run "$CVMPI" verify ia ib --memory 32M --threads 4 --dry-run
[[ $RC == 0 ]] || fail "dry-run of 64^3 against 100x100x50 (exit $RC)"
grep -qF "plan: 1 tasks of 1600x1600x1600 voxels (1x1x1 tasks) over 0,0,0,200,200,100 at mip 0" \
    "$OUT" || fail "lcm plan"
grep -qF "expected peak 14.0 MB per rank (budget 33.6 MB), 1 rank" "$OUT" || fail "lcm bound"
peak_within verify_lcm 32 verify ia ib
run "$CVMPI" verify ia ib --memory 10M --threads 4
[[ $RC == 1 ]] || fail "verify under 10M must be refused (exit $RC)"
expect_one_line_error
expect_stderr_contains "cvmpi: verify: ia's 64x64x64 chunks and ib's 100x100x50 chunks align every 1600x1600x1600 voxels; one such task (200x200x100 inside the region) needs about 14.00 MB, more than the 10.49 MB memory budget (raise --memory)"

# import_within NAME BUDGET_MIB SPEC NPY TYPE DTYPE SIZE: import at -n 2 within the budget;
# the chunks must be byte-identical to `cvmpi write`'s of the same array.
import_within() {
    local name=$1 mib=$2 spec=$3 npy=$4 type=$5 dtype=$6 size=$7
    peak_within "$name" "$mib" import "$spec" "$name" --resolution 4,4,40 --compress gzip
    "$CVMPI" create "$name.w" --type "$type" --dtype "$dtype" --size "$size" \
        --resolution 4,4,40 >/dev/null
    "$CVMPI" write "$name.w" --bbox "0,0,0,$size" -i "$npy" --compress gzip
    diff -r "$name/4_4_40" "$name.w/4_4_40" >/dev/null ||
        fail "$name: the imported chunks differ from cvmpi write's"
}

section "import: contiguous and chunked datasets, uint8 and uint64, --compress gzip"
import_within flat8 32 u8.h5:/flat u8.npy image uint8 256,256,64
import_within chunked64 32 u64.h5:/chunked u64.npy segmentation uint64 128,128,64
import_within gz64 64 u64.h5:/gz u64.npy segmentation uint64 128,128,64

section "import: compressed 64x128x256 HDF5 chunks"
# A round of one 64^3 uint8 task (262144 B), at any rank count: 2 x 262144 for the slab and
# what it sends, 2 x 262144 for what is received and the task, 2 x 262144 for the busy thread
# (the raw chunk and its gzip bytes), and the HDF5 chunks the slab touches: one 256x128 in x,y
# (a task starts 0 or 64 into a chunk) by one 64 along z: 2097152 B decompressed, plus the
# chunk being decompressed: 5767168 B.
rm -rf gz8
run "$CVMPI" import u8.h5:/gz gz8 --resolution 4,4,40 --compress gzip --memory 4M --threads 4
[[ $RC == 1 ]] || fail "import under 4M must be refused (exit $RC)"
expect_one_line_error
expect_stderr_contains "cvmpi: import: a round of one 64x64x64 task needs about 5.77 MB per rank (slab, exchange and chunk buffers and the 256x128x64 compressed HDF5 chunks its slab touches), more than the 4.19 MB memory budget (raise --memory)"
rm -rf gz8
import_within gz8 32 u8.h5:/gz u8.npy image uint8 256,256,64
echo "memory_plan_verify_import: ok"
