# Shared by the multi-process tests in tests/cluster/. Each test is run by ctest as
#   bash tests/cluster/NAME.sh path/to/embark
# with EMBARK_ROOT set to the source tree.
set -uo pipefail
EMBARK_BIN="${1:?usage: $0 path/to/embark}"
export EMBARK_BIN
ROOT="${EMBARK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
LOCAL="$ROOT/launch/local.sh"
WORK="$(mktemp -d)"
# Whatever way the test ends (a failed check included), none of its processes outlives it.
trap 'kill_ours; rm -rf "$WORK"' EXIT

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

# Starts `embark serve --port=0 FLAGS...` in the background, its output in $WORK/serve.out and
# $WORK/serve.err; sets $server (its pid) and $url (https:// with --tls_cert), or fails with serve's stderr as soon as serve
# exits, or when it has not printed "serving" within 30 s (a test bundle loads in well under a
# second; --index=hnsw builds its index first).
start_serve() {  # FLAGS...
  "$EMBARK_BIN" serve --port=0 "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  server=$!
  for _ in $(seq 1 300); do
    grep -q "^serving" "$WORK/serve.out" && break
    kill -0 "$server" 2>/dev/null || { cat "$WORK/serve.err" >&2; fail "serve exited before serving"; }
    sleep 0.1
  done
  grep -q "^serving" "$WORK/serve.out" || { kill_ours; cat "$WORK/serve.err" >&2; fail "serve did not start within 30 s"; }
  url="$(grep -oE 'https?://127.0.0.1:[0-9]+' "$WORK/serve.out" | head -1)"
}

# Writes serve's /score request for every rating of a `user<TAB>item<TAB>...` file, in file
# order: {"examples": [[[0, "user"], [1, "item"]], ...]}.
score_request_for_ratings() {  # RATINGS_TSV OUT_JSON
  awk -F'\t' 'BEGIN { printf "{\"examples\": [" } { printf "%s[[0, \"%s\"], [1, \"%s\"]]", (NR > 1 ? ", " : ""), $1, $2 }
    END { printf "]}" }' "$1" > "$2"
}

# POSTs JSON to serve (start_serve's $url): post PATH BODY, BODY as curl's --data-binary takes it.
post() { curl -sS --max-time 20 -H 'Content-Type: application/json' --data-binary "$2" "$url$1"; }
# The "scores" array of a /score answer on stdin, one score a line.
scores() { grep -oE '"scores":\[[^]]*\]' | sed 's/"scores":\[//; s/\]//' | tr ',' '\n'; }
