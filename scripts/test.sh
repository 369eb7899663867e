#!/usr/bin/env bash
# Installs what drover needs, then builds and runs every test twice: a gcc
# build with warnings as errors, and a clang build under AddressSanitizer and
# UndefinedBehaviorSanitizer; then fuzzes each decoder of outside input for
# a bounded time (tests/fuzz, libFuzzer under ASan+UBSan; FUZZ_SECONDS each,
# default 60, two at a time: about four minutes in all); then builds the
# Debian package once and tests it installed (scripts/test-package.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "== gcc build, -Wall -Wextra -Werror"
CC=gcc bash scripts/build.sh build -DDROVER_WERROR=ON
echo "== tests (gcc build)"
(cd build && ctest --output-on-failure --timeout 900)

echo "== clang build with ASan+UBSan, -Wall -Wextra -Werror"
CC=clang bash scripts/build.sh build-asan -DDROVER_WERROR=ON -DDROVER_SANITIZE=ON
echo "== tests (clang ASan+UBSan build)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure --timeout 900)

echo "== clang libFuzzer build (ASan+UBSan) of the fuzz harnesses"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDROVER_WERROR=ON \
	-DDROVER_FUZZ=ON -DDROVER_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz
echo "== fuzzing (regressions replayed, then ${FUZZ_SECONDS:-60}s per harness)"
bash tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-60}"

echo "== Debian package: build, lintian, install, run, remove"
bash scripts/test-package.sh
