#!/usr/bin/env bash
# Multi-host scaling on one machine: MF and FM trained on 1, 2 and 4 simulated hosts (network
# namespaces joined by a switch, every host link shaped by tc tbf, see launch/netns.sh) at
# 1 Gbit/s and 10 Gbit/s links. Per run: examples/s (training examples / train_seconds of the
# metrics file), bytes sent per example (the kernel's byte counters of every host's link, summed
# over hosts, / training examples), the servers' own counters (requests, keys, how many came
# through shared memory), efficiency against linear (examples/s on H hosts / (H x the 1-host
# rate)) and the link bound (examples/s at which the busiest link would be full). Writes
# OUT/multihost.json, OUT/multihost.md and every run's log, metrics and counters in OUT/runs/.
#
#   bench/multihost.sh [OUT_DIR] [-- extra train flags]
#
# Environment (defaults): HOSTS="1 2 4", RATES="1gbit 10gbit", MODELS="mf fm",
# LAYOUTS="colocated" (also: dedicated), MF_ROWS=300000, FM_ROWS=200000, MF_EPOCHS=1,
# FM_EPOCHS=2, REPEATS=3 (runs per configuration; the table shows the run of median examples/s,
# the JSON every run's rate), EXTRA_FLAGS (train flags added to every run, like the ones after --).
# Layouts: colocated = one server + one worker per host (scheduler on host 0); dedicated = H
# worker hosts plus one more host for the scheduler and the server. No --test file is given, so
# the link bytes are training traffic (plus a few KB of start-up). Needs root (namespaces).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${EMBARK_BIN:-$root/build/bin/embark}"
export EMBARK_BIN="$bin"
out="$root/build/bench/multihost"
if [ $# -gt 0 ] && [ "$1" != -- ]; then out="$1"; shift; fi
[ "${1:-}" = -- ] && shift
extra=(${EXTRA_FLAGS:-} "$@")
hosts_list="${HOSTS:-1 2 4}"
rates="${RATES:-1gbit 10gbit}"
models="${MODELS:-mf fm}"
layouts="${LAYOUTS:-colocated}"
repeats="${REPEATS:-3}"
mkdir -p "$out/runs"
data="$out/data"
[ -s "$data.r.train.tsv" ] || "$bin" gen --kind=ratings --rows="${MF_ROWS:-300000}" --out="$data.r" --seed=1 >/dev/null
[ -s "$data.c.train.libsvm" ] || "$bin" gen --kind=clicks --rows="${FM_ROWS:-200000}" --out="$data.c" --seed=1 >/dev/null

runs="$out/runs/index.tsv"
: >"$runs"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for model in $models; do
  case "$model" in
    mf) args=(train --model=mf --train="$data.r.train.tsv" --epochs="${MF_EPOCHS:-1}") ;;
    fm) args=(train --model=fm --format=libfm --train="$data.c.train.libsvm" --epochs="${FM_EPOCHS:-2}") ;;
    *) echo "multihost.sh: MODELS may name mf and fm, got '$model'" >&2; exit 1 ;;
  esac
  for layout in $layouts; do
    for h in $hosts_list; do
      for rate in $rates; do
        for ((rep = 1; rep <= repeats; rep++)); do
          name="$model-$layout-h$h-$rate-r$rep"
          if [ "$layout" = dedicated ]; then ns=$((h + 1)); else ns=$h; fi
          echo "multihost: $name" >&2
          rc=0
          "$root/launch/netns.sh" --hosts "$ns" --layout "$layout" --rate "$rate" --counters "$out/runs/$name.counters.json" \
            -- "${args[@]}" --metrics_out="$out/runs/$name.jsonl" --progress_every=1000 "${extra[@]}" \
            >"$out/runs/$name.log" 2>&1 || rc=$?
          [ "$rc" = 0 ] || { echo "multihost: $name exited $rc; see $out/runs/$name.log" >&2; tail -5 "$out/runs/$name.log" >&2; }
          printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$model" "$layout" "$h" "$rate" "$rc" >>"$runs"
        done
      done
    done
  done
done

python3 - "$out" "$(nproc)" "${extra[*]}" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, re, sys
out, cores, extra, load_start, load_end = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def rate_bps(r):
    m = re.fullmatch(r"(\d+)(kbit|mbit|gbit)", r)
    return int(m.group(1)) * {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}[m.group(2)] if m else None
runs = []
for line in open(f"{out}/runs/index.tsv"):
    name, model, layout, h, rate, rc = line.rstrip("\n").split("\t")
    row = {"run": name, "model": model, "layout": layout, "hosts": int(h), "link": rate, "exit_code": int(rc)}
    runs.append(row)
    if rc != "0":
        continue
    final = [json.loads(l) for l in open(f"{out}/runs/{name}.jsonl") if l.strip()][-1]
    cnt = json.load(open(f"{out}/runs/{name}.counters.json"))
    log = open(f"{out}/runs/{name}.log").read()
    ex, secs = final["examples"], final["train_seconds"]
    srv = re.findall(r"server \d+ done: .*? (\d+) requests, (\d+) keys, .*? (\d+) through shared memory", log)
    busiest = max([max(x["tx_bytes"], x["rx_bytes"]) for x in cnt["hosts"]] + [0])
    bps = rate_bps(rate)
    row.update({
        "workers": final.get("workers"), "servers": sum(1 for _ in srv), "rank_hosts": cnt["rank_hosts"],
        "examples": ex, "train_seconds": secs, "examples_per_sec": ex / secs,
        "link_tx_bytes": cnt["tx_bytes"], "link_rx_bytes": cnt["rx_bytes"],
        "bytes_sent_per_example": cnt["tx_bytes"] / ex,
        "busiest_link_bytes": busiest,
        "busiest_link_mbyte_per_sec": busiest / secs / 1e6,
        # No link bound when (almost) nothing crossed the links (one host: everything is local).
        "link_bound_examples_per_sec": (bps / 8 * ex / busiest) if bps and busiest > ex else None,
        "server_requests": sum(int(s[0]) for s in srv), "server_keys": sum(int(s[1]) for s in srv),
        "server_shm_requests": sum(int(s[2]) for s in srv),
        "server_keys_per_example": sum(int(s[1]) for s in srv) / ex,
        "final_train_loss": final.get("train_loss"),
    })
# One row per configuration: the run of median examples/s (of the successful repeats).
rows, groups = [], {}
for r in runs:
    groups.setdefault((r["model"], r["layout"], r["hosts"], r["link"]), []).append(r)
for key, group in groups.items():
    ok = sorted((r for r in group if "examples_per_sec" in r), key=lambda r: r["examples_per_sec"])
    row = dict(ok[(len(ok) - 1) // 2]) if ok else dict(group[0])
    row["repeats"] = len(group)
    row["failed_repeats"] = len(group) - len(ok)
    row["examples_per_sec_runs"] = [round(r["examples_per_sec"]) for r in ok]
    rows.append(row)
base = {(r["model"], r["layout"], r["link"]): r["examples_per_sec"] for r in rows if r["hosts"] == 1 and "examples_per_sec" in r}
for r in rows:
    b = base.get((r["model"], r["layout"], r["link"]))
    if b and "examples_per_sec" in r:
        r["efficiency_vs_linear"] = r["examples_per_sec"] / (r["hosts"] * b)
        r["speedup"] = r["examples_per_sec"] / b
note = (f"All simulated hosts share this machine's {cores} CPU cores, so CPU-bound scaling cannot exceed "
        f"about {cores}x whatever the host count; only the link-bound regime (1gbit) says something about "
        "a real cluster. 10gbit links are not the limit here: one veth stream on this VM moves ~8 Gbit/s unshaped.")
json.dump({"note": note, "extra_train_flags": extra, "loadavg_start": load_start, "loadavg_end": load_end, "configurations": rows, "runs": runs}, open(f"{out}/multihost.json", "w"), indent=1)
f = lambda v, p=0: "-" if v is None else (f"{v:,.{p}f}" if isinstance(v, float) else str(v))
md = ["# Multi-host harness: MF and FM on simulated hosts", "",
      f"**{note}**", "",
      "Layout `colocated`: host 0 runs the scheduler; every host runs one server and one worker (a worker reaches its own "
      "host's server through shared memory, the others over the links). `dedicated`: one extra host runs the scheduler and "
      "the server, the H hosts run one worker each. Links: tbf on both directions of every host link.",
      "", f"Extra train flags: `{extra or '(none)'}`. Load average (1/5/15 min) at the start: {load_start}, at the end: "
      f"{load_end} (other work on the machine makes the rates noisy; the range column shows it).", "",
      "| model | layout | hosts | link | examples/s (median) | range over repeats | speedup | efficiency vs linear | bytes sent/example (veth) | busiest link MB/s | link bound ex/s | server keys/example | server requests via shm |",
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    if "examples_per_sec" not in r:
        md.append(f"| {r['model']} | {r['layout']} | {r['hosts']} | {r['link']} | failed (exit {r['exit_code']}) ||||||||")
        continue
    rng = r["examples_per_sec_runs"]
    md.append(f"| {r['model']} | {r['layout']} | {r['hosts']} | {r['link']} | {f(r['examples_per_sec'])} | "
              f"{f(float(rng[0]))}-{f(float(rng[-1]))} | "
              f"{f(r.get('speedup'), 2)} | {f(r.get('efficiency_vs_linear'), 2)} | {f(r['bytes_sent_per_example'], 1)} | "
              f"{f(r['busiest_link_mbyte_per_sec'], 1)} | {f(r['link_bound_examples_per_sec'])} | {f(r['server_keys_per_example'], 2)} | "
              f"{r['server_shm_requests']} / {r['server_requests']} |")
md += ["", "bytes sent/example: sum over hosts of the bytes their link sent during the job (kernel counters), divided by "
       "the training examples. link bound: the examples/s at which the busiest link (either direction) would be full "
       "at the nominal rate (- : nothing crossed the links). server keys/example: keys the servers handled (pulls and pushes) per example."]
open(f"{out}/multihost.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
EOF
