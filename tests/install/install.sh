#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# install.sh CVMPI BUILD_DIR SOURCE_DIR CMAKE CC [SANITIZERS]: `cmake --install` the build tree
# into a temporary prefix, check what it holds (SONAME, symlinks, a self-contained cvmpi.h,
# only the cvmpi.h functions exported, the Python package), then build examples/ against it four ways (CMake and
# pkg-config, shared and static), write a layer with write_layer and read it back with each
# read_cutout and with the installed `cvmpi read`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh" "$@"
BUILD=${2:?build directory}
SRC=${3:?source directory}
CMAKE=${4:?cmake}
CC=${5:?C compiler}
SAN=${6:-}
SAN_FLAGS=${SAN:+-fsanitize=$SAN}
SAN_LINK_FLAGS=$SAN_FLAGS
P=$WORK/prefix

section "cmake --install"
"$CMAKE" --install "$BUILD" --prefix "$P" >/dev/null
expect_files "$P/lib" cmake libcvmpi.a libcvmpi.so libcvmpi.so.0 libcvmpi.so.0.1.0 pkgconfig python3
# the Python package (tests/python/install.sh imports it from here)
expect_files "$P/lib/python3/dist-packages/cvmpi" __init__.py _directory.py _installed.py _lib.py bbox.py \
    exceptions.py info.py jobs.py mesh.py skeleton.py volume.py
[[ $(readlink "$P/lib/libcvmpi.so") == libcvmpi.so.0 ]] || fail "libcvmpi.so -> $(readlink "$P/lib/libcvmpi.so")"
[[ $(readlink "$P/lib/libcvmpi.so.0") == libcvmpi.so.0.1.0 ]] || fail "libcvmpi.so.0 is not a link to libcvmpi.so.0.1.0"
run readelf -d "$P/lib/libcvmpi.so.0.1.0"
grep -q 'Library soname: \[libcvmpi.so.0\]' "$OUT" || fail "SONAME is not libcvmpi.so.0"
expect_files "$P/include" cvmpi.h
expect_files "$P/bin" cvmpi
# bin/cvmpi is the front; the full program it hands commands to sits in libexec, with the
# modules it loads when a job needs HDF5 or remote storage
if [[ -e $BUILD/libexec/cvmpi/libcvmpi-net.so ]]; then
    expect_files "$P/libexec/cvmpi" cvmpi libcvmpi-h5.so libcvmpi-net.so
else
    expect_files "$P/libexec/cvmpi" cvmpi libcvmpi-h5.so
fi
run readelf -d "$P/libexec/cvmpi/cvmpi"
grep -qE 'Shared library: \[lib(hdf5|curl|crypto)' "$OUT" &&
    fail "the installed full program links $(grep -oE 'lib(hdf5|curl|crypto)[^]]*' "$OUT" | tr '\n' ' ')"
run readelf -d "$P/bin/cvmpi"
grep -qE 'Shared library: \[lib(mpi|hdf5|curl|jxl|draco|microhttpd)' "$OUT" &&
    fail "the installed front links $(grep -oE 'lib(mpi|hdf5|curl|jxl|draco|microhttpd)[^]]*' "$OUT" | tr '\n' ' ')"
got=$(find "$P/lib/cmake/cvmpi" -mindepth 1 -printf '%f\n' | sed 's/-[a-z]*\.cmake$/-CONFIG.cmake/' | LC_ALL=C sort | tr '\n' ' ')
[[ $got == "cvmpiConfig.cmake cvmpiConfigVersion.cmake cvmpiStaticTargets-CONFIG.cmake cvmpiStaticTargets.cmake cvmpiTargets-CONFIG.cmake cvmpiTargets.cmake " ]] ||
    fail "lib/cmake/cvmpi holds $got"
expect_files "$P/lib/pkgconfig" cvmpi.pc

if [[ -n $SAN ]]; then
    # A sanitized library must meet the same sanitizer runtime in the program: GCC's shared
    # one when g++ linked libcvmpi (the Draco shim makes it a C++ link), else clang's, which
    # links its C++ part (and libstdc++, which that needs) into a C program only when asked.
    if readelf -d "$P/lib/libcvmpi.so" | grep -q 'Shared library: \[libasan'; then
        CC=gcc
    elif "$CC" --version | grep -q clang; then
        SAN_LINK_FLAGS+=" -fsanitize-link-c++-runtime -lstdc++"
    fi
fi

section "cvmpi.h compiles alone, as C and C++"
grep -q '#include "' "$P/include/cvmpi.h" && fail "cvmpi.h includes a project header"
echo '#include <cvmpi.h>' >alone.c
"$CC" -std=c99 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$P/include" alone.c ||
    fail "cvmpi.h does not compile alone"
if command -v c++ >/dev/null; then
    c++ -Wall -Wextra -Werror -fsyntax-only -x c++ -I"$P/include" alone.c ||
        fail "cvmpi.h does not compile as C++"
fi

section "the shared library exports exactly the CV_EXPORT functions of cvmpi.h"
grep -oE '^CV_EXPORT [^(]*[a-z0-9_]+\(' "$P/include/cvmpi.h" | grep -oE '[a-z0-9_]+\($' |
    tr -d '(' | LC_ALL=C sort >declared.txt
[[ $(wc -l <declared.txt) -gt 100 ]] || fail "found only $(wc -l <declared.txt) declarations"
nm -D --defined-only "$P/lib/libcvmpi.so" | awk '{print $3}' | LC_ALL=C sort >exported.txt
cmp -s declared.txt exported.txt ||
    fail "exports differ from cvmpi.h: $(diff declared.txt exported.txt | grep '^[<>]' | head -5 | tr '\n' ' ')"

section "build examples/ with CMake and with make + pkg-config, shared and static"
for kind in shared static; do
    static=OFF
    [[ $kind == static ]] && static=ON
    "$CMAKE" -S "$SRC/examples" -B "cmake-$kind" -DCMAKE_PREFIX_PATH="$P" -DCVMPI_STATIC=$static \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror $SAN_FLAGS" \
        -DCMAKE_EXE_LINKER_FLAGS="$SAN_LINK_FLAGS" >"$CAPTURE/cmake-$kind.log" 2>&1 ||
        fail "configuring examples ($kind): $(tail -5 "$CAPTURE/cmake-$kind.log")"
    "$CMAKE" --build "cmake-$kind" >>"$CAPTURE/cmake-$kind.log" 2>&1 ||
        fail "building examples with CMake ($kind): $(tail -5 "$CAPTURE/cmake-$kind.log")"
    mkdir "make-$kind"
    make_static=0
    [[ $kind == static ]] && make_static=1
    PKG_CONFIG_PATH=$P/lib/pkgconfig make -s -C "make-$kind" -f "$SRC/examples/Makefile" \
        VPATH="$SRC/examples" CC="$CC" CFLAGS="-O2 -Wall -Wextra -Werror $SAN_FLAGS" \
        LDFLAGS="$SAN_LINK_FLAGS" \
        STATIC=$make_static >"$CAPTURE/make-$kind.log" 2>&1 ||
        fail "building examples with make ($kind): $(tail -5 "$CAPTURE/make-$kind.log")"
done
for d in cmake-shared cmake-static make-shared make-static; do
    for e in read_cutout write_layer; do
        readelf -d "$d/$e" >"$OUT"
        if [[ $d == *-shared ]]; then
            grep -q 'Shared library: \[libcvmpi.so.0\]' "$OUT" || fail "$d/$e does not need libcvmpi.so.0"
        else
            grep -q 'libcvmpi' "$OUT" && fail "$d/$e (static) needs a shared libcvmpi"
        fi
    done
done

section "write a layer, read it back"
# The pattern write_layer writes, a box of it, its byte sum and FNV-1a 64 hash, computed here.
BOX=10,20,3,74,90,12
"$PY" - <<'PYEOF'
box = (10, 20, 3, 74, 90, 12)
data = bytes((x + 2 * y + 3 * z) & 255 for z in range(box[2], box[5])
             for y in range(box[1], box[4]) for x in range(box[0], box[3]))
h = 0xcbf29ce484222325
for b in data:
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
open("expected.raw", "wb").write(data)
open("expected.txt", "w").write("%s uint8: %d bytes, sum %d, fnv1a64 %016x\n"
                                % (",".join(map(str, box)), len(data), sum(data), h))
PYEOF
expect_exit 0 ./cmake-shared/write_layer "file://$WORK/a"
expect_stdout "wrote file://$WORK/a"
expect_exit 0 ./make-static/write_layer "$WORK/b"
expect_exit 0 ./cmake-static/write_layer "$WORK/c"
expect_exit 0 ./make-shared/write_layer "$WORK/d"
for l in b c d; do
    diff -r "$WORK/a" "$WORK/$l" >/dev/null || fail "the layers written by the examples differ (a, $l)"
done
for d in cmake-shared cmake-static make-shared make-static; do
    expect_exit 0 "./$d/read_cutout" "file://$WORK/a" $BOX
    expect_stdout "$(cat expected.txt)"
done
expect_exit 0 "$P/bin/cvmpi" read "file://$WORK/a" --bbox $BOX -o cut.raw
expect_same_files expected.raw cut.raw
# the installed full program finds its HDF5 module
expect_exit 0 "$P/bin/cvmpi" read "file://$WORK/a" --bbox $BOX -o cut.h5:/main
[[ -s cut.h5 ]] || fail "read -o cut.h5:/main wrote nothing"
# `info` of a local layer runs in the front, anything else in the full program: same answers
expect_exit 0 "$P/bin/cvmpi" info "$WORK/a" --json
cp "$OUT" front.json
expect_exit 0 "$P/libexec/cvmpi/cvmpi" info "$WORK/a" --json
expect_same_files front.json "$OUT"
expect_exit 1 ./make-static/read_cutout "$WORK/a" 10,20,3,74,90,17
[[ $(cat "$ERR") == "read_cutout: box 10,20,3,74,90,17 is outside the volume bounds 0,0,0,128,128,16 at mip 0" ]] ||
    fail "unexpected error: $(cat "$ERR")"
expect_exit 1 ./cmake-shared/write_layer "$WORK/a"
expect_stderr_contains "an info file already exists there"
echo "PASS"
