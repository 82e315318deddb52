#!/usr/bin/env python3
"""Medians table of bench/speed_vs_peers.sh.

  speed_vs_peers_table.py RUNS_JSONL OUT_MD OUT_JSON DATE CORES

RUNS_JSONL has one object per run (workload, kind mf|ctr, model, system, run, load, rows,
examples, epochs, wall_s, train_s, rmse | logloss, auc, and for MF a learning curve
[[training seconds, test RMSE], ...] with an optional curve_rounding). Writes the markdown
tables and a JSON document with the medians and every run.
"""
import json
import math
import statistics
import sys

PEERS = ("LIBMF", "libffm", "xLearn")


def median(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits):
    if x is None:
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "never"
    return f"{x:.{digits}f}"


def sig(x):
    """Seconds with about three significant digits."""
    if x is None:
        return "-"
    if math.isinf(x):
        return "never"
    if x == 0:
        return "0"
    return f"{x:.{max(0, 2 - int(math.floor(math.log10(abs(x)))))}f}"


def time_to(curve, target, rounding=0.0):
    """Training seconds at the first curve point at or below target (inf if never)."""
    if target is None or not curve:
        return None
    for secs, rmse in curve:
        if rmse is not None and rmse <= target + rounding:
            return secs
    return math.inf


def main():
    runs_path, md_path, json_path, date, cores = sys.argv[1:6]
    runs = [json.loads(l) for l in open(runs_path) if l.strip()]
    for r in runs:
        for k in ("rmse", "logloss", "auc", "train_s", "wall_s"):
            if r.get(k) == "":
                r[k] = None
    # Training alone on every side: the peers' times leave out reading the file (xLearn's
    # per-epoch costs, libffm's tr_time, LIBMF's per-iteration difference), so embark's
    # train_s leaves out its reading of the share before the first epoch (load_s, which its
    # train_seconds include); that reading is its own column, and wall_s keeps everything.
    for r in runs:
        if r.get("load_s") is not None and r.get("train_s") is not None:
            r["read_s"] = float(r["load_s"])
            r["train_s"] = float(r["train_s"]) - r["read_s"]
    # LIBMF's final RMSE per (workload, round) is every system's target in that round.
    targets = {(r["workload"], r["run"]): r.get("rmse") for r in runs if r["system"] == "LIBMF"}
    for r in runs:
        if r["kind"] == "mf":
            r["target_rmse"] = targets.get((r["workload"], r["run"]))
            r["time_to_target_s"] = time_to(r.get("curve"), r["target_rmse"], r.get("curve_rounding", 0.0))
            # LIBMF reaches its own final RMSE when it ends: its per-iteration curve (its own
            # evaluation, 4 digits) can sit a little above the final mf-predict figure.
            if r["system"] == "LIBMF" and r.get("curve") and math.isinf(r["time_to_target_s"]):
                r["time_to_target_s"] = r["curve"][-1][0]

    cells = {}
    order = []
    for r in runs:
        key = (r["workload"], r.get("model", "mf"), r["system"])
        if key not in cells:
            cells[key] = []
            order.append(key)
        cells[key].append(r)

    summary = []
    for key in order:
        rs = cells[key]
        def rate(r):
            return r["examples"] / r["train_s"] if r.get("train_s") else None
        def per_epoch(r):
            return r["train_s"] / r["epochs"] if r.get("train_s") is not None and r.get("epochs") else None
        tt = [r.get("time_to_target_s") for r in rs if r.get("time_to_target_s") is not None]
        loads = [r["load"] for r in rs if isinstance(r.get("load"), (int, float))]
        summary.append({
            "workload": key[0], "model": key[1], "system": key[2], "kind": rs[0]["kind"],
            "settings": rs[0].get("settings", ""), "runs": len(rs), "rows": rs[0].get("rows"),
            "epochs": median([r.get("epochs") for r in rs]),
            "wall_s": median([r.get("wall_s") for r in rs]),
            "train_s": median([r.get("train_s") for r in rs]),
            "read_s": median([r.get("read_s") for r in rs]),
            "s_per_epoch": median([per_epoch(r) for r in rs]),
            "rows_per_s": median([rate(r) for r in rs]),
            "rmse": median([r.get("rmse") for r in rs]),
            "logloss": median([r.get("logloss") for r in rs]),
            "auc": median([r.get("auc") for r in rs]),
            "target_rmse": median([r.get("target_rmse") for r in rs]),
            "time_to_target_s": statistics.median(tt) if tt else None,
            "load_min": min(loads) if loads else None, "load_max": max(loads) if loads else None,
        })
    # Ratios embark / peer within a workload and model: speed (rows/s) and, for MF, time to
    # LIBMF's RMSE (peer time / embark time, so above 1 means embark is faster in both).
    for s in summary:
        s["ratios"] = {}
        if s["system"] in PEERS:
            continue
        for p in summary:
            if p["system"] in PEERS and p["workload"] == s["workload"] and p["model"] == s["model"]:
                ratio = {}
                if s["rows_per_s"] and p["rows_per_s"]:
                    ratio["rows_per_s"] = s["rows_per_s"] / p["rows_per_s"]
                a, b = s["time_to_target_s"], p["time_to_target_s"]
                if a is not None and b is not None:
                    ratio["time_to_target"] = (b / a) if a and not math.isinf(a) else None
                s["ratios"][p["system"]] = ratio

    def load_cell(s):
        if s["load_min"] is None:
            return "-"
        return f"{s['load_min']:.2f}" if s["load_min"] == s["load_max"] else f"{s['load_min']:.2f}-{s['load_max']:.2f}"

    def ratio_cell(s, what):
        parts = [(f"{v[what]:.3g}x {p}" if v[what] is not None else f"never ({p})")
                 for p, v in s["ratios"].items() if what in v]
        return ", ".join(parts) if parts else "-"

    def read_cell(s):
        return "-" if s["read_s"] is None else sig(s["read_s"])

    md = []
    nruns = max([s["runs"] for s in summary] or [0])
    md.append(f"Medians of {nruns} runs per cell (peers and embark alternated run by run), {date}, "
              f"{cores} cores; load = 1-minute load average when each run started (min-max).")
    md.append("")
    mf = [s for s in summary if s["kind"] == "mf"]
    if mf:
        md.append("| data | system | settings | wall s | read s | train s | s/iteration | M ratings/s | test RMSE | "
                  "time to LIBMF's final RMSE | speed embark/peer | time-to-RMSE peer/embark | load |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in mf:
            tt = s["time_to_target_s"]
            tcell = "-" if tt is None else (f"{fmt(s['target_rmse'], 4)}: {sig(tt)} s" if not math.isinf(tt)
                                            else f"{fmt(s['target_rmse'], 4)}: never")
            md.append(f"| {s['workload']} | {s['system']} | {s['settings']} | {sig(s['wall_s'])} | {read_cell(s)} | {sig(s['train_s'])} | "
                      f"{sig(s['s_per_epoch'])} | {fmt(s['rows_per_s'] and s['rows_per_s'] / 1e6, 3)} | "
                      f"{fmt(s['rmse'], 4)} | {tcell} | {ratio_cell(s, 'rows_per_s')} | "
                      f"{ratio_cell(s, 'time_to_target')} | {load_cell(s)} |")
        md.append("")
    ctr = [s for s in summary if s["kind"] == "ctr"]
    if ctr:
        md.append("| data | model | system | settings | wall s | read s | train s | s/epoch | M rows/s | test logloss | "
                  "test AUC | speed embark/peer | load |")
        md.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in ctr:
            md.append(f"| {s['workload']} | {s['model'].upper()} | {s['system']} | {s['settings']} | {sig(s['wall_s'])} | "
                      f"{read_cell(s)} | {sig(s['train_s'])} | {sig(s['s_per_epoch'])} | "
                      f"{fmt(s['rows_per_s'] and s['rows_per_s'] / 1e6, 3)} | {fmt(s['logloss'], 4)} | "
                      f"{fmt(s['auc'], 4)} | {ratio_cell(s, 'rows_per_s')} | {load_cell(s)} |")
        md.append("")
    with open(md_path, "w") as f:
        f.write("\n".join(md))

    def clean(x):
        if isinstance(x, float) and math.isinf(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x
    with open(json_path, "w") as f:
        json.dump(clean({"date": date, "cores": int(cores), "medians": summary, "runs": runs}), f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
