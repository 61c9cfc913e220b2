#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# check_rooms_selftest.sh: check_rooms.py passes on src/ and fails, naming file and rule, on a
# copy of src/ with each kind of wrong include planted in it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$here/../src
work=$(mktemp -d "${TMPDIR:-/tmp}/cvmpi-rooms.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL (check_rooms_selftest): $*" >&2; exit 1; }

/usr/bin/python3 "$here/check_rooms.py" "$src" >/dev/null || fail "src/ itself breaks the rules"

# plant FILE LINE EXPECTED: FILE (from src/) gets LINE; the checker must fail saying EXPECTED
plant() {
    rm -rf "$work/src"
    cp -r "$src" "$work/src"
    printf '%s\n' "$2" >>"$work/src/$1"
    if /usr/bin/python3 "$here/check_rooms.py" "$work/src" 2>"$work/err" >/dev/null; then
        fail "planted '$2' in $1 was not found"
    fi
    grep -qF -- "$3" "$work/err" || fail "planted '$2' in $1: got $(cat "$work/err")"
}
n=$(wc -l <"$src/io/store.c")
plant io/store.c '#include "codec/codec.h"' "src/io/store.c:$((n + 1)): room io may not include codec"
plant volume/volume.c '#include "mpi/cv_mpi.h"' "room volume may not include mpi"
plant shard/shard.c '#include "cli/cli.h"' "room shard may not include cli"
plant base/buf.c '#include "serve/serve.h"' "room base may not include serve"
plant volume/geom.c '#include <mpi.h>' "<mpi.h> belongs to mpi only"
plant mpi/mpi_env.c '#include <hdf5.h>' "<hdf5.h> belongs to mpi/mpi_h5.c only"
plant codec/codec.c '#include "../io/store.h"' "is not written from src/"
echo "check_rooms_selftest: 7 planted includes found"
