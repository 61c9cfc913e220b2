#!/usr/bin/env bash
# A shard larger than --memory: `transfer --sharded` used to make each whole shard one task and
# refused a 512x512x256 uint8 layer (one 67 MB shard at the default 3.5e9-byte target) under
# --memory 16M ("one aligned task of 512x512x256 voxels needs about 201.33 MB"). Now tasks of
# chunks spill them and the shard's owner lays the file out from the chunks' sizes and writes
# it chunk by chunk: at -n 2 the shard file is byte-identical to the one a single whole-shard
# task writes, and each rank's peak RSS (/usr/bin/time) stays within --memory plus the fixed
# 32 MiB, below the shard's own 64 MiB.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"
if ! command -v mpirun >/dev/null; then
    echo "SKIP: shard_stream_memory needs mpirun"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_oob_tcp_if_include=lo

"$CVMPI" create src --type image --dtype uint8 --size 512,512,256 --resolution 4,4,40 \
    --chunk 64,64,64 >/dev/null
"$PY" -c "
import numpy as np
a = np.random.default_rng(3).integers(0, 255, (512, 512, 256, 1)).astype('uint8')
np.save('a.npy', np.asfortranarray(a))"
"$CVMPI" write src --bbox 0,0,0,512,512,256 -i a.npy --compress none
rm a.npy

section "the reference: one task holds the whole shard"
run "$CVMPI" transfer src ref --sharded --level 1 --memory 1G
[[ $RC == 0 ]] || fail "reference transfer"
shard=4_4_40/0.shard
[[ $(stat -c %s "ref/$shard") -gt $((64 * 1024 * 1024)) ]] || fail "the shard must exceed 64 MiB"

section "--memory 16M: planned as spilled chunks, the shard written chunk by chunk"
run "$CVMPI" transfer src big --sharded --level 1 --memory 16M --dry-run
[[ $RC == 0 ]] || fail "dry-run at 16M"
grep -qF "plan: hashed shards (identity): 256 chunks in 1 shard files, up to about 256 chunks (67.1 MB decoded) each" "$OUT" ||
    fail "want the spilling plan"
grep -qxF "plan: a shard owner's peak about 0.6 MB (budget 16.8 MB)" "$OUT" || fail "want the owner's peak"
grep -qxF "plan: shard files are laid out from their chunks' sizes and written chunk by chunk: an owner holds one chunk of a shard, not the shard" "$OUT" ||
    fail "want the streamed shard files"
rm -rf big
mpirun -n 2 "$CVMPI" -q transfer src big --sharded --level 1 --memory 16M --journal j >run.log 2>&1 ||
    { cat run.log; fail "the streamed transfer"; }
expect_same_files "ref/$shard" "big/$shard"
[[ $(cd big && find . -type f | sort) == $(cd ref && find . -type f | sort) ]] || fail "other files"

section "peak RSS per rank"
rss_cases shard_stream_memory
rm -rf big
peak_within big 16 transfer src big --sharded --level 1
expect_same_files "ref/$shard" "big/$shard"
echo "shard_stream_memory: ok"
