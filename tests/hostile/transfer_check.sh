#!/usr/bin/env bash
# The copy path (same encoding and chunks on both sides) copies stored chunks without decoding
# them, so a corrupt jpeg chunk, or a gzip stream whose trailer still gives the right length,
# is copied unnoticed. `transfer --check` decodes every copied chunk before writing it: the
# task fails naming the chunk's key, and the corrupt chunk is not written.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" "$@"

"$PY" -c "
import numpy as np
a = (np.add.outer(np.arange(64), np.arange(64))[:, :, None] + np.arange(32)) % 251
np.save('a.npy', np.asfortranarray(a[..., None].astype('uint8')))"

section "a jpeg chunk with its entropy-coded data overwritten"
"$CVMPI" create jp --type image --dtype uint8 --size 64,64,32 --resolution 4,4,40 \
    --chunk 32,32,32 --encoding jpeg >/dev/null
"$CVMPI" write jp --bbox 0,0,0,64,64,32 -i a.npy
key=4_4_40/32-64_0-32_0-32
chunk=$(ls jp/$key*)
"$PY" - "$chunk" <<'PY'
import gzip, sys
path = sys.argv[1]
raw = open(path, "rb").read()
gz = path.endswith(".gz")
data = bytearray(gzip.decompress(raw) if gz else raw)
sos = data.find(b"\xff\xda")
assert sos > 0, "no SOS marker"
data = data[: sos + 20]  # cut the scan short: no end-of-image marker
open(path, "wb").write(gzip.compress(bytes(data)) if gz else bytes(data))
PY
run "$CVMPI" transfer jp jp_copy --memory 200K
[[ $RC == 0 ]] || fail "the plain copy does not decode, so it must not notice"
run "$CVMPI" transfer jp jp_checked --memory 200K --check
[[ $RC == 1 ]] || fail "--check: want exit 1, got $RC"
grep -qF "read chunk \`$key' of file://$WORK/jp" "$ERR" || fail "--check does not name $key"
expect_no_file "jp_checked/$key"
expect_no_file "jp_checked/$key.gz"
expect_no_temp_files jp_checked

section "a gzip chunk with corrupt deflate data but the right length in its trailer"
"$CVMPI" create gz --type image --dtype uint8 --size 64,64,32 --resolution 4,4,40 \
    --chunk 32,32,32 >/dev/null
"$CVMPI" write gz --bbox 0,0,0,64,64,32 -i a.npy
ls gz/$key.gz >/dev/null || fail "want gzip-compressed raw chunks"
"$PY" - "gz/$key.gz" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
for i in range(12, len(data) - 8):  # the deflate stream; header and trailer kept
    data[i] ^= 0x5A
open(path, "wb").write(bytes(data))
PY
run "$CVMPI" transfer gz gz_copy --memory 200K
[[ $RC == 0 ]] || fail "the plain copy only checks the gzip trailer, so it must not notice"
run "$CVMPI" transfer gz gz_checked --memory 200K --check
[[ $RC == 1 ]] || fail "--check gzip: want exit 1, got $RC"
grep -qF "read chunk \`$key' of file://$WORK/gz" "$ERR" || fail "--check does not name $key"
expect_no_file "gz_checked/$key.gz"

section "intact chunks: --check writes the same bytes as the plain copy"
"$CVMPI" write gz --bbox 0,0,0,64,64,32 -i a.npy
run "$CVMPI" transfer gz gz_ok1 --memory 200K
run "$CVMPI" transfer gz gz_ok2 --memory 200K --check
[[ $RC == 0 ]] || fail "--check of intact chunks"
diff -r gz_ok1 gz_ok2 >/dev/null || fail "--check changed the bytes"
echo "transfer_check: ok"
