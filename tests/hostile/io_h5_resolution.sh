#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A string `resolution` attribute (h5py writes Python str as one) is parsed ("4,4,40",
# "[4, 4, 40]"); one that is not 3 positive numbers is refused naming it, never silently
# replaced by 1,1,1. Single process (no mpirun needed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
# The MPI library's own allocations are not freed at exit: leak checks would only see those.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1

"$PY" - <<'PY'
import h5py, numpy as np
a = np.arange(4 * 8 * 16, dtype=np.uint8).reshape(4, 8, 16)
for name, res in [("csv", "4,4,40"), ("list", "[4.5, 4.5, 40]"), ("bad", "4nm x 4nm"),
                  ("two", np.array([4.0, 40.0]))]:
    with h5py.File(name + ".h5", "w") as f:
        f.create_dataset("d", data=a)
        f["d"].attrs["resolution"] = res
with h5py.File("fixed.h5", "w") as f:
    f.create_dataset("d", data=a)
    f["d"].attrs.create("resolution", np.bytes_("8,8,30"))  # fixed-length string
PY
res_of() { "$PY" -c "import json; print(json.load(open('$1/info'))['scales'][0]['resolution'])"; }
expect_exit 0 "$CVMPI" import csv.h5:/d L1 --journal j1
[[ $(res_of L1) == "[4, 4, 40]" ]] || fail "csv string: resolution $(res_of L1)"
expect_exit 0 "$CVMPI" import list.h5:/d L2 --journal j2
[[ $(res_of L2) == "[4.5, 4.5, 40.0]" ]] || fail "list string: resolution $(res_of L2)"
expect_exit 0 "$CVMPI" import fixed.h5:/d L3 --journal j3
[[ $(res_of L3) == "[8, 8, 30]" ]] || fail "fixed-length string: resolution $(res_of L3)"
expect_exit 1 "$CVMPI" import bad.h5:/d L4 --journal j4
expect_stderr_contains "the resolution attribute of /d is the string \`4nm x 4nm', not 3 positive numbers (x,y,z nm)"
expect_no_file L4/info
expect_exit 1 "$CVMPI" import two.h5:/d L5 --journal j5
expect_stderr_contains "the resolution attribute of /d does not hold 3 numbers (x,y,z nm)"
echo OK
