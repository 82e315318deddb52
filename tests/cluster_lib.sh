# Shared by the multi-process tests in tests/cluster/. Each test is run by ctest as
#   bash tests/cluster/NAME.sh path/to/embark
# with EMBARK_ROOT set to the source tree.
set -uo pipefail
EMBARK_BIN="${1:?usage: $0 path/to/embark}"
export EMBARK_BIN
ROOT="${EMBARK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
LOCAL="$ROOT/launch/local.sh"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*" >&2; [ -f "$WORK/log" ] && { echo "--- log ---" >&2; tail -n 60 "$WORK/log" >&2; }; exit 1; }

# The pid of a rank, from the scheduler's start-up listing "rank R (role I, host pid P, ...)".
pid_of_rank() {
  local rank="$1" log="$2" pid=""
  for _ in $(seq 1 200); do
    pid=$(grep -oE "^  rank $rank \([a-z]+ [0-9]+, [^ ]+ pid [0-9]+" "$log" 2>/dev/null | grep -oE '[0-9]+$' | head -1)
    [ -n "$pid" ] && { echo "$pid"; return 0; }
    sleep 0.1
  done
  return 1
}

# Waits up to $2 seconds for background job $1 and sets RC to its exit code, or to "timeout".
# (Not a function to call in $(...): a subshell cannot wait for its parent's children.)
wait_for_exit() {
  local pid="$1" limit="$2" t=0
  RC=timeout
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.2; t=$((t + 1))
    [ $t -ge $((limit * 5)) ] && return
  done
  wait "$pid"
  RC=$?
}

# No embark process of this test may survive it. Processes are told apart from those of other
# tests running in parallel by the EMBARK_TEST_TAG variable they inherit from mpirun.
export EMBARK_TEST_TAG="$WORK"
our_processes() {
  local p
  for p in $(pgrep -x embark) $(pgrep -x mpirun) $(pgrep -x sleep); do
    { tr '\0' '\n' < "/proc/$p/environ"; } 2>/dev/null | grep -qx "EMBARK_TEST_TAG=$WORK" && echo "$p"
  done
}
assert_no_orphans() {
  sleep 0.5
  local left
  left=$(our_processes)
  [ -z "$left" ] || { ps -fp $left >&2; kill -9 $left; fail "orphan processes left: $left"; }
}
kill_ours() { local left; left=$(our_processes); [ -z "$left" ] || kill -9 $left; }
# Starts `embark kafka-mock` (librdkafka's mock cluster) with topic "clicks" in 3 partitions
# holding INPUT's lines (line i in partition i % 3); sets $mock (its pid) and $brokers, or fails
# with the mock's own output when it has not written its bootstrap address within 10 s (it
# waits up to 10 s for "produced", the sign that the lines are in).
start_kafka_mock() {  # INPUT TAG (names its files in $WORK)
  local input="$1" tag="$2"
  "$EMBARK_BIN" kafka-mock --topic=clicks --partitions=3 --input="$input" \
    --bootstrap_out="$WORK/$tag.brokers" >"$WORK/$tag.mock.log" 2>&1 &
  mock=$!
  for _ in $(seq 1 100); do [ -s "$WORK/$tag.brokers" ] && grep -q produced "$WORK/$tag.mock.log" && break; sleep 0.1; done
  [ -s "$WORK/$tag.brokers" ] || { kill $mock; fail "kafka-mock did not start: $(cat "$WORK/$tag.mock.log")"; }
  brokers=$(cat "$WORK/$tag.brokers")
}
