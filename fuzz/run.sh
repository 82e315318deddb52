#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time, starting from its seed
# corpus (fuzz/corpus/<target>/), and fails if any target finds a crash, a sanitizer report,
# a leak, a timeout or an out-of-memory. New inputs go to a working corpus under the build
# directory; the repository's corpus is only read. Crashing inputs are kept as
# BUILD/fuzz-artifacts/<target>-crash-<sha1> (a regression test in tests/ should then hold it).
#   fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET] [TARGET...]     default 20 s, every target
#   e.g. fuzz/run.sh build-fuzz 300 bundle
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="$(cd "${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]}" && pwd)"
seconds="${2:-20}"
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for d in "$here"/corpus/*/; do targets+=("$(basename "$d")"); done
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
failed=()
for t in "${targets[@]}"; do
  bin="$build/bin/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target $bin (build it: ninja -C $build fuzz)" >&2; exit 2; }
  work="$build/fuzz-corpus/$t"
  mkdir -p "$work"
  log="$build/fuzz-$t.log"
  echo "fuzz: $t for ${seconds}s"
  # -rss_limit_mb: an input that makes a loader allocate gigabytes is a finding too.
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$artifacts/$t-" "$work" "$here/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$log" | tr '\n' ' ' | sed 's/^/fuzz:   /'
    echo
  else
    echo "fuzz: $t FAILED; the report (tail of $log):" >&2
    tail -n 40 "$log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}; inputs in $artifacts" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, no findings"
