#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit + multi-process), then
# three sanitizer passes, each in its own build tree:
#   build-asan/  the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#                (-DEMBARK_SANITIZE=ON): a memory error or undefined behaviour fails the test
#                that hit it (the normal build would hide most of them);
#   build-fuzz/  the libFuzzer targets (clang, -DEMBARK_FUZZ=ON), each run from its seed corpus
#                for EMBARK_FUZZ_SECONDS (default 20): any crash or sanitizer report fails;
#   build-tsan/  the concurrency tests (embark_tsan_tests) under ThreadSanitizer
#                (-DEMBARK_TSAN=ON): any data race fails (tests/tsan.supp lists what is
#                suppressed and why).
#   tests/run.sh                       everything
#   EMBARK_SKIP_ASAN=1 EMBARK_SKIP_FUZZ=1 EMBARK_SKIP_TSAN=1 tests/run.sh   the normal build only
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/launch/setup.sh" "$root/build"
cd "$root/build"
ctest --output-on-failure -j2 --timeout 300

if [ "${EMBARK_SKIP_ASAN:-0}" != 1 ]; then
  # halt_on_error: the first report ends the test; detect_leaks=0: leaks are not memory errors,
  # and the libraries (Open MPI, glog) keep process-lifetime allocations LeakSanitizer reports.
  (
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:abort_on_error=0"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    asan="$root/build-asan"
    cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBARK_SANITIZE=ON >/dev/null
    ninja -C "$asan" -j2 embark_tests
    cd "$asan"
    ctest --output-on-failure -j2 --timeout 600 -E '^cluster\.'
  )
fi

if [ "${EMBARK_SKIP_FUZZ:-0}" != 1 ]; then
  fuzz="$root/build-fuzz"
  cmake -S "$root" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 \
        -DEMBARK_FUZZ=ON >/dev/null
  ninja -C "$fuzz" -j2 fuzz
  "$root/fuzz/run.sh" "$fuzz" "${EMBARK_FUZZ_SECONDS:-20}"
fi

if [ "${EMBARK_SKIP_TSAN:-0}" != 1 ]; then
  (
    # halt_on_error: the first race ends the test that hit it (ctest shows the report).
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp"
    tsan="$root/build-tsan"
    cmake -S "$root" -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBARK_TSAN=ON >/dev/null
    ninja -C "$tsan" -j2 embark_tsan_tests
    "$tsan/bin/embark_tsan_tests" --gtest_brief=1
  )
fi
