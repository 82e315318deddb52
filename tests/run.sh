#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit + multi-process), then
# builds the unit tests a second time under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/, -DEMBARK_SANITIZE=ON) and runs them there: a memory error or undefined
# behaviour fails the test that hit it (the normal build would hide most of them).
#   tests/run.sh              everything
#   EMBARK_SKIP_ASAN=1 tests/run.sh   the normal build only
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/launch/setup.sh" "$root/build"
cd "$root/build"
ctest --output-on-failure -j2 --timeout 300
[ "${EMBARK_SKIP_ASAN:-0}" = 1 ] && exit 0

# halt_on_error: the first report ends the test; detect_leaks=0: leaks are not memory errors,
# and the libraries (Open MPI, glog) keep process-lifetime allocations LeakSanitizer reports.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
asan="$root/build-asan"
cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEMBARK_SANITIZE=ON >/dev/null
ninja -C "$asan" -j2 embark_tests
cd "$asan"
ctest --output-on-failure -j2 --timeout 600 -E '^cluster\.'
