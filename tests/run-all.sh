#!/usr/bin/env bash
# Build and run the whole test suite: a Release build with -Werror running every test, then a
# clang build with -fsanitize=address,undefined running the tests that have no MPI.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# Formatting: the committed .clang-format, checked, not applied.
git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCV_WERROR=ON
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCV_WERROR=ON \
  -DCV_SANITIZE=address,undefined -DCV_BUILD_BENCH=OFF
cmake --build build-asan -j "$jobs"
(cd build-asan && ctest --output-on-failure -j "$jobs" -L 'unit|fuzz|cli|hostile')
