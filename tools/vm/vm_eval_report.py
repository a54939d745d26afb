#!/usr/bin/python3
"""Tables and plot from make vm-eval's results.json (tools/vm/vm_eval.py).

  vm_eval_report.py RESULTS [--access DIR] [--benchmarks BENCHMARKS.md] [--plot PREFIX]

Prints one table per workload.  With --access (the directory the guest and
tools/vm/access_host.py shared; by default RESULTS' directory's access/ when
it exists), joins each run-phase window's access counts to the workload's
pages and adds the access-weighted fast share, the oracle's, their ratio,
the modelled slowdown and mtp's rank agreement (tools/vm/access_metrics.py).  With --benchmarks, replaces the section between
the vm-eval markers in that file (appends it the first time).  With --plot,
writes PREFIX.svg and PREFIX.png: fast-tier access share by configuration and
fast-node size, one panel per workload.
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import access_metrics  # noqa: E402

MIB = 1 << 20
BEGIN = "<!-- vm-eval:begin (written by tools/vm/vm_eval_report.py) -->"
END = "<!-- vm-eval:end -->"
ORDER = ["a", "b", "b2", "c", "d", "e", "cn", "en", "cs", "cl", "cr", "ch", "cnr", "cw", "c0", "cp", "cq",
         "ci", "cm"]


def fmt(v, spec="%.2f", none="-"):
    return none if v is None else spec % v


def median_run(runs):
    """The run of a cell that stands for it (vm_eval.py --repeats): the one
    with the median soft-dirty share (of an even count, the lower middle),
    carrying the cell's spread: `spread` (min, max) of the soft-dirty share,
    `access_spread` of the access share, `repeats`."""
    def val(r, path):
        for k in path:
            r = (r or {}).get(k)
        return r

    ranked = sorted(runs, key=lambda r: (r.get("fast_share") is None, r.get("fast_share") or 0))
    m = dict(ranked[(len([r for r in ranked if r.get("fast_share") is not None]) - 1) // 2]
             if any(r.get("fast_share") is not None for r in ranked) else ranked[0])
    m["repeats"] = len(runs)
    m["over_budget_runs"] = [r.get("over_budget") for r in runs]
    for key, path in (("spread", ("fast_share",)), ("access_spread", ("access", "access_share"))):
        vals = [v for v in (val(r, path) for r in runs) if v is not None]
        m[key] = (min(vals), max(vals)) if len(vals) > 1 else None
    if m.get("access") is not None:
        # The access numbers are the median of the repeats', not the median
        # soft-dirty run's.
        acc = sorted((r for r in runs if r.get("access")), key=lambda r: r["access"]["access_share"])
        m["access"] = acc[(len(acc) - 1) // 2]["access"]
    return m


def index(res):
    """{(workload, share, config): the cell's median run (median_run)}."""
    cells = {}
    for r in res["runs"]:
        cells.setdefault((r["workload"], r["share"], r["config"]), []).append(r)
    return {k: median_run(v) for k, v in cells.items()}


def spread(v, lohi, n, spec="%.3f"):
    """A median with its range over the repeats, when there were several."""
    if v is None:
        return "-"
    if not lohi:
        return spec % v
    return (spec + " [" + spec + ".." + spec + "] ×%d") % (v, lohi[0], lohi[1], n)


def merge(res, more, pool=False):
    """Runs of `more` replace those of res with the same key (with `pool`,
    join them: the same code measured again, more repeats of a cell), and
    its workloads and sizes join res's tables (a matrix measured in parts,
    e.g. saved with --save-runs); the record says which runs came from when."""
    key = lambda r: (r["workload"], r["share"], r["config"])  # noqa: E731
    replaced = set() if pool else {key(r) for r in more["runs"]}
    res["runs"] = [r for r in res["runs"] if key(r) not in replaced] + more["runs"]
    a, b = res["args"], more.get("args", {})
    a["workloads"] = a["workloads"] + [w for w in b.get("workloads", []) if w not in a["workloads"]]
    a["shares"] = sorted(set(a["shares"]) | set(b.get("shares", [])))
    # Its configurations too, in the harness's order: a part that measured
    # b and b2 after one of a and c was left out of the tables and plot.
    res["configs"] = dict(more.get("configs", {}), **res.get("configs", {}))
    present = set(a["configs"]) | {r["config"] for r in more["runs"]}
    a["configs"] = [c for c in res["configs"] if c in present] + \
        sorted(c for c in present if c not in res["configs"])
    for w, cal in more.get("calibration", {}).items():
        res["calibration"].setdefault(w, cal)
    res.setdefault("merged", []).append({
        "started": more["started"], "finished": more.get("finished"),
        "commit": more.get("args", {}).get("commit"),
        "configs": sorted({r["config"] for r in more["runs"]}), "runs": len(more["runs"])})


def save_runs(res, path):
    """res without what only the access join needs (each run's samples,
    which are most of its size), for a later --merge: the access metrics are
    already in each run."""
    out = dict(res, runs=[{k: v for k, v in r.items() if k not in ("samples", "mtp_trace_stderr")}
                          for r in res["runs"]])
    with open(path + ".tmp", "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    os.replace(path + ".tmp", path)


def run_windows(r):
    """The run phase's windows, less the first (it overlaps the build), as
    summarize() in vm_eval.py takes them."""
    return [s for s in r["samples"] if s["phase"] == "run"][1:]


def mtp_heat_of(pages, saved):
    """mtp's heat, as it ranks pages (decayed to the epoch, zero when no
    longer hot: tools/eval/run.py's decayed()), for each of `pages`."""
    sys.path.insert(0, os.path.join(HERE, "..", "eval"))
    from run import decayed  # noqa: E402
    sample = {k: saved[k] for k in ("heat", "last_epoch") if k in saved}
    sample["epoch"] = int(saved["epoch"])
    sample["period"] = saved["period"] if "period" in saved else None
    heat = decayed(sample).astype(np.float64)
    keys = saved["keys"].astype(np.uint64)
    order = np.argsort(keys)
    keys, heat = keys[order], heat[order]
    at = np.minimum(np.searchsorted(keys, pages), max(len(keys) - 1, 0))
    found = (keys[at] == pages) if len(keys) else np.zeros(len(pages), bool)
    return np.where(found, heat[at] if len(keys) else 0.0, 0.0)


def damon_of(pages, saved):
    """Per page, the nr_accesses of the DAMON region that holds it in the
    window's probe (vm_eval.py --damon-probe), 0 outside any region."""
    st, en = saved["damon_start"].astype(np.uint64), saved["damon_end"].astype(np.uint64)
    nr = saved["damon_nr"].astype(np.float64)
    order = np.argsort(st)
    st, en, nr = st[order], en[order], nr[order]
    i = np.searchsorted(st, pages, side="right") - 1
    ok = i >= 0
    inside = np.zeros(len(pages), dtype=bool)
    inside[ok] = pages[ok] < en[i[ok]]
    out = np.zeros(len(pages))
    out[inside] = nr[i[inside]]
    return out


def plugin_offsets(spans):
    """Where the plugin counts each node's frames: QEMU 7.2 adds a RAM
    block's guest-physical base to its frames twice, so a node whose
    memory starts at frame F is counted F higher (make vm-access-check
    measures it: node 1 at +262,144 pages with node 0 at 1 GiB)."""
    # The span's first frame rounded down to where QEMU places RAM blocks
    # (64-page multiples): node 0's block starts at frame 0 though its first
    # usable frame is 1.
    return {n: first // 64 * 64 for n, (first, _) in spans.items()}


def add_access(res, directory, lat_fast, lat_slow):
    """Each run's access metrics from its windows' files (see the module's
    docstring); a window either side of which is missing is left out."""
    for r in res["runs"]:
        tag, fp = r.get("access_run"), (res["calibration"].get(r["workload"]) or {})
        if not tag or not fp.get("footprint") or "samples" not in r:
            continue  # no counts, or scored already (merged from --save-runs)
        fast_pages = int(r["share"] * fp["footprint"] / 4096)
        spans = {int(n): tuple(v) for n, v in r["access_spans"].items()}
        offsets = plugin_offsets(spans)
        windows, missed, regions = [], 0, []
        for s in run_windows(r):
            base = os.path.join(directory, "%s.%d" % (tag, s.get("k", -1)))
            try:
                counts, saved = np.load(base + ".npz"), np.load(base + ".pages.npz")
            except OSError:
                missed += 1
                continue
            if "counted" in counts and not counts["counted"]:
                missed += 1  # the plugin did not count throughout
                continue
            n = 6 << 18  # the plugin's default space, 6 GiB of pages
            loads = np.zeros(max(n, int(counts["idx"].max()) + 1 if len(counts["idx"]) else n),
                             np.uint32)
            stores = loads.copy()
            loads[counts["idx"]], stores[counts["idx"]] = counts["loads"], counts["stores"]
            acc, node = access_metrics.join(saved["entries"], spans, offsets, loads, stores)
            pages = saved["pages"].astype(np.uint64)
            heat = known = damon = None
            if "keys" in saved:
                heat = mtp_heat_of(pages, saved)
                known = np.isin(pages, saved["keys"].astype(np.uint64))
                if "damon_nr" in saved:
                    damon = damon_of(pages, saved)
                    regions.append(len(saved["damon_nr"]))
            windows.append(access_metrics.window_metrics(acc, node == 0, fast_pages, heat,
                                                         lat_fast, lat_slow, known, damon))
        r["access"] = access_metrics.run_metrics(windows)
        if r["access"] is not None:
            r["access"]["missed_windows"] = missed
            if regions and "damon" in r["access"]:
                r["access"]["damon"]["regions"] = float(np.median(regions))


def limit_missed(res, r):
    """True when node 0's usable memory was more than 15% off the share of
    the footprint asked for (hugetlb pages could not all be reserved): the
    run did not measure the size it is listed under."""
    usable = (r.get("limit") or {}).get("usable")
    fp = (res["calibration"].get(r["workload"]) or {}).get("footprint")
    if not usable or not fp:
        return False
    want = r["share"] * fp
    return abs(usable - want) > 0.15 * want


def goals(res, runs):
    """Per workload and size: does c beat a, b and b2 on share, and move
    fewer bytes than d for an equal or better share?"""
    out = []
    for w in res["args"]["workloads"]:
        for s in res["args"]["shares"]:
            get = lambda c: runs.get((w, s, c))  # noqa: E731
            c = get("c")
            if c is None or c.get("fast_share") is None or limit_missed(res, c):
                continue
            rivals = {k: get(k)["fast_share"] for k in ("a", "b", "b2")
                      if get(k) and get(k).get("fast_share") is not None
                      and not limit_missed(res, get(k))}
            beats = all(c["fast_share"] > v for v in rivals.values())
            d = get("d")
            moved = lambda r: r.get("migrated_bytes", 0)  # noqa: E731
            fewer = None
            if d and d.get("fast_share") is not None:
                fewer = moved(c) < moved(d) and c["fast_share"] >= d["fast_share"] - 0.01
            out.append({"workload": w, "share": s, "c": c["fast_share"], "rivals": rivals,
                        "beats": beats, "fewer_than_d": fewer,
                        "c_moved": moved(c), "d_moved": moved(d) if d else None})
    return out


def bound(r):
    """The most any placement could reach, roughly: the fast node's usable
    pages over the pages touched per window (touched sets differ between
    windows, so it is a guide, not a limit)."""
    usable = (r.get("limit") or {}).get("usable")
    t = r.get("touched_per_sample")
    if not usable or not t:
        return None
    return min(1.0, usable / 4096 / t)


def damon_probe_table(res):
    """Every run with --damon-probe: what DAMON's read signal would add to
    mtp's ranking (access_metrics.window_metrics), run by run."""
    probed = [r for r in res["runs"] if ((r.get("access") or {}).get("damon"))]
    if not probed:
        return []
    lines = ["DAMON beside mtp (`--damon-probe`: vaddr, 20-ms samples, the last 400-ms "
             "aggregation of each window). Rankings' shares are the limit of filling node 0 "
             "with the pages each ranks first, ties at random, against the oracle's; *slow "
             "node, no heat*: the share of accesses served by node 1 from pages mtp held no "
             "heat for, and of them, those in regions DAMON saw accessed:", "",
             "| workload | fast node | config | share / oracle | ranking / oracle: mtp "
             "| DAMON | mtp, then DAMON | slow node, no heat | of which DAMON saw "
             "| DAMON's accessed pages | of them accessed | regions (median) | kdamond CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(probed, key=lambda r: (r["workload"], r["share"], r["config"])):
        a, d = r["access"], r["access"]["damon"]
        lines.append("| %s | %d%% | %s | %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %s |" % (
            r["workload"], r["share"] * 100, r["config"], fmt(a.get("share_of_oracle"), "%.3f"),
            fmt(d.get("rank_mtp_of_oracle"), "%.3f"), fmt(d.get("rank_damon_of_oracle"), "%.3f"),
            fmt(d.get("rank_mtp_damon_of_oracle"), "%.3f"), fmt(d.get("slow_cold_share"), "%.3f"),
            fmt(d.get("slow_cold_seen"), "%.2f"), d["pages"], fmt(d.get("precision"), "%.2f"),
            fmt(d.get("regions"), "%.0f"),
            fmt((r.get("damon_probe") or {}).get("kdamond_cpu_s"), "%.1f")))
    lines.append("")
    return lines


def tables(res):
    runs = index(res)
    a = res["args"]
    lines = []
    for w in a["workloads"]:
        fp = (res["calibration"].get(w) or {}).get("footprint") or 0
        lines.append("#### %s (footprint %.0f MiB, run phase %g s, scale %g)" % (
            w, fp / MIB, a["duration"], a["scale"]))
        lines.append("")
        lines.append("| fast node | config | fast-tier access share | bound | touched pages/sample "
                     "| promoted MiB | demoted MiB | ping-pongs (sampled) | agent CPU s "
                     "| mtp pause s | workload CPU s | modelled penalty µs/sample |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for s in a["shares"]:
            for c in a["configs"]:
                r = runs.get((w, s, c))
                if r is None:
                    continue
                usable = (r.get("limit") or {}).get("usable")
                size = "%d%% (%.0f MiB)" % (s * 100, usable / MIB) if usable else "%d%%" % (
                    s * 100)
                if limit_missed(res, r):
                    size += " ⚠ limit missed"
                lines.append("| %s | %s %s | %s | %s | %.0f | %.1f | %.1f | %d | %s | %s | %s | %s |" % (
                    size, c, res["configs"][c],
                    spread(r.get("fast_share"), r.get("spread"), r.get("repeats")),
                    fmt(bound(r), "%.2f"),
                    r.get("touched_per_sample", 0),
                    (r.get("agent_moves") or {}).get("promoted_bytes", 0) / MIB,
                    (r.get("agent_moves") or {}).get("demoted_bytes", 0) / MIB,
                    r["moves"]["pingpongs"],
                    fmt(r.get("agent_cpu_s"), "%.1f"), fmt(r.get("mtp_pause_s"), "%.2f"),
                    fmt(r.get("workload_cpu_s"), "%.0f"),
                    fmt(r.get("modelled_penalty_us"), "%.0f")
                    + (" ⚠ " + r["error"][:60] if r.get("error") else "")))
        lines.append("")
        lines.extend(access_table(res, runs, w))
    lines.extend(damon_probe_table(res))
    g = goals(res, runs)
    if g:
        lines.append("Goal check (c beats a, b and b2 on share; c moves fewer bytes than d "
                     "for an equal or better share, within 0.01). Runs marked \"limit "
                     "missed\" (node 0 more than 15% off its target: hugetlb pages could not "
                     "all be reserved) are left out as rivals:")
        lines.append("")
        lines.append("| workload | fast node | c share | best rival | c beats a/b/b2 "
                     "| c moved MiB | d moved MiB | c < d |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for x in g:
            best = max(x["rivals"].items(), key=lambda kv: kv[1]) if x["rivals"] else None
            lines.append("| %s | %d%% | %.3f | %s | %s | %.1f | %s | %s |" % (
                x["workload"], x["share"] * 100, x["c"],
                "%s %.3f" % best if best else "-", "yes" if x["beats"] else "**no**",
                x["c_moved"] / MIB, fmt(x["d_moved"] and x["d_moved"] / MIB, "%.1f"),
                "-" if x["fewer_than_d"] is None else "yes" if x["fewer_than_d"] else "**no**"))
        lines.append("")
    return "\n".join(lines)


def demotions_by_reason(r):
    """mtp's planned demotions in a run, MiB: idle (no room was needed) /
    for room (the budget, or a promotion); "-" where the run did not record
    them (not mtp, or before the intervals kept the plan's reasons)."""
    iv = r.get("mtp_intervals") or []
    if not iv or "idle_demote_bytes" not in iv[0]:
        return "-"
    idle = sum(i["idle_demote_bytes"] for i in iv)
    planned = sum(i["planned_demote_bytes"] for i in iv)
    return "%.1f / %.1f" % (idle / MIB, (planned - idle) / MIB)


def over_budget(r):
    """The intervals over the budget in each repeat of a cell, in the run
    phase and in the build ("run 0, 1, 0; build 3, 2, 4"); "-" where the runs
    did not record the phase of mtp's intervals (not mtp, or before it).
    Then "planned" when the runs recorded it: the intervals whose own moves
    were planned to leave node 0 over the budget (mtp's doing; the rest
    began over it with the program's new pages)."""
    per = [o for o in r.get("over_budget_runs") or [r.get("over_budget")] if o]
    if not per:
        return "-"
    out = "run %s; build %s" % (", ".join(str(o["run"]) for o in per),
                                ", ".join(str(o["build"]) for o in per))
    if all("planned" in o for o in per):
        out += "; planned %s" % ", ".join(str(o["planned"]) for o in per)
    return out


def access_table(res, runs, w):
    """The access-weighted table of one workload, when its runs have one."""
    a = res["args"]
    rows = [(s, c, runs[(w, s, c)]) for s in a["shares"] for c in a["configs"]
            if (w, s, c) in runs and runs[(w, s, c)].get("access")]
    if not rows:
        return []
    out = ["By every access (TCG plugin; %s/%s ns modelled; windows of the run phase after the "
           "first):" % (fmt(a.get("lat_fast"), "%.0f"), fmt(a.get("lat_slow"), "%.0f")), "",
           "| fast node | config | access share | oracle | share / oracle | modelled slowdown "
           "| rank rho | top-K | mtp hot pages | accesses mtp holds cold | accesses mtp never saw "
           "| on the slow node: mtp hot / expired / never seen "
           "| mtp demoted MiB: idle / for room "
           "| intervals over the budget per repeat "
           "| accesses/window | windows (missed) | goal (c: >= 0.95 of the oracle, beats a, b, b2) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s, c, r in rows:
        x = r["access"]
        goal = "-"
        if c == "c":
            rivals = [runs[(w, s, k)]["access"]["access_share"] for k in ("a", "b", "b2")
                      if (w, s, k) in runs and runs[(w, s, k)].get("access")]
            met = (x.get("share_of_oracle") or 0) >= 0.95 and all(
                x["access_share"] > v for v in rivals)
            goal = "yes" if met else "**no**"
        lost = "-" if x.get("slow_hot") is None else "%.2f / %.2f / %.2f" % (
            x["slow_hot"], x["slow_expired"], x["slow_unseen"])
        out.append("| %d%% | %s | %s | %.3f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.3g | %d (%d) |" % (
            s * 100, c, spread(x["access_share"], r.get("access_spread"), r.get("repeats")),
            x["oracle_share"],
            fmt(x.get("share_of_oracle"), "%.3f"), fmt(x.get("slowdown"), "%.3f"),
            fmt(x.get("rho"), "%.2f"), fmt(x.get("top_k"), "%.2f"),
            fmt(x.get("hot_pages"), "%.0f"), fmt(x.get("cold_share"), "%.2f"),
            fmt(x.get("unseen_share"), "%.2f"), lost, demotions_by_reason(r), over_budget(r),
            x["accesses_per_window"], x["windows"], x.get("missed_windows", 0)) + " %s |" % goal)
    out.append("")
    return out


def header(res, cmd):
    a = res["args"]
    nt, tiers = res["node_total"], res["tiers"]
    return "\n".join([
        "Measured %s to %s in the two-tier guest (kernel %s, TCG, 2 vCPUs; node 0 %d MiB "
        "and node 1 %d MiB, node 1 CPU-less; memory tiers, fast to slow: nodes %s), on a 2-core Debian 12 host. "
        "Command: `%s`%s." % (res["started"], res.get("finished", "(unfinished)"),
                              res["kernel"], nt.get("0", nt.get(0, 0)) // MIB,
                              nt.get("1", nt.get(1, 0)) // MIB,
                              " | ".join(v for _, v in sorted(tiers.items())), cmd,
                              ", at %s" % a["commit"] if a.get("commit") else ""),
        "".join("%d runs of configuration(s) %s measured %s to %s%s and merged (`--merge`). " % (
            m.get("runs", 0), ", ".join(m["configs"]), m["started"],
            m.get("finished") or "(unfinished)",
            " at %s" % m["commit"] if m.get("commit") else "")
            for m in res.get("merged", [])),
        "Workload scale %g, run phase %g s, windows of %g s, THP %s, seed %d, node 0's "
        "CPUs' free-page lists %s. "
        "Fast-tier access share: the mean over the run phase's windows of the share of the "
        "pages the workload wrote in the window (soft-dirty) that were on node 0; bound: "
        "node 0's usable pages over the pages touched per window, capped at 1 (what no "
        "placement could beat, roughly). Promoted "
        "and demoted: what each mover reports (mtp-trace's re-queried moves, DAMOS "
        "sz_applied, /proc/vmstat pgpromote_success and pgdemote_*). Ping-pongs: pages "
        "seen by the sampler moving back the way they came (an upper bound: an address "
        "freed and refaulted on the other node counts too). Agent CPU: mtp-trace, the two "
        "kdamonds, or kswapd0. mtp pause: time the extension's observation steps held the "
        "program. The modelled penalty uses %g ns fast and %g ns slow latency (modelled: it "
        "counts touched pages per window, not accesses)." % (
            a["scale"], a["duration"], a["sample"], a["thp"], a["seed"],
            "shrunk to ~1/32 of its floor in every run" if a.get("cpu_lists") == "shrunk"
            else "at the kernel's sizes (except in configuration cp)",
            a["lat_fast"], a["lat_slow"]),
        ""])


def plot(res, prefix):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = index(res)
    a = res["args"]
    ws = a["workloads"]
    cols = min(4, len(ws))
    rows = (len(ws) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False,
                             sharey=True)
    width = 0.8 / len(a["configs"])
    colors = {"a": "#9e9e9e", "b": "#1f77b4", "b2": "#17becf", "c": "#d62728",
              "d": "#ff9896", "e": "#ff7f0e", "cn": "#8c564b", "en": "#c49c94",
              "cs": "#9467bd", "cl": "#e377c2", "cr": "#bcbd22",
              "ch": "#7f7f7f", "cp": "#2ca02c", "cq": "#98df8a", "cc": "#ff00aa"}
    by_access = any(r.get("access") for r in runs.values())

    def share(r):
        """The access share where the accesses were counted, else soft-dirty's."""
        if by_access:
            return (r.get("access") or {}).get("access_share")
        return r.get("fast_share")

    for i, w in enumerate(ws):
        ax = axes[i // cols][i % cols]
        for j, c in enumerate(a["configs"]):
            xs, ys, missed = [], [], []
            for k, s in enumerate(a["shares"]):
                r = runs.get((w, s, c))
                if r and share(r) is not None:
                    xs.append(k + (j - (len(a["configs"]) - 1) / 2) * width)
                    ys.append(share(r))
                    missed.append(limit_missed(res, r))
            bars = ax.bar(xs, ys, width, label="%s %s" % (c, res["configs"][c]),
                          color=colors.get(c))
            for bar, m in zip(bars, missed):
                if m:  # measured at another size than its column says
                    bar.set_hatch("xx")
                    bar.set_alpha(0.35)
        if by_access:  # the oracle's share at each size: the limit of any placement
            for k, s in enumerate(a["shares"]):
                o = [r["access"]["oracle_share"] for c in a["configs"]
                     for r in [runs.get((w, s, c))] if r and r.get("access")]
                if o:
                    ax.hlines(max(o), k - 0.45, k + 0.45, colors="black", linestyles="dashed",
                              label="oracle" if k == 0 else None)
        ax.set_title(w)
        ax.set_xticks(range(len(a["shares"])))
        ax.set_xticklabels(["%d%%" % (s * 100) for s in a["shares"]])
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
        if i % cols == 0:
            ax.set_ylabel("fast-tier access share" + (" (every access)" if by_access
                                                      else " (soft-dirty)"))
        ax.set_xlabel("fast node, % of footprint")
    for i in range(len(ws), rows * cols):
        axes[i // cols][i % cols].axis("off")
    # from every panel: a configuration measured on some workloads only has
    # no bars in the first, and an empty bar set's handle has no colour
    legend = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in legend and (not hasattr(h, "patches") or h.patches):
                legend[lab] = h
    handles, labels = list(legend.values()), list(legend)
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=8)
    what = ("Share of the workload's accesses served by the fast node (every access, TCG plugin; "
            "dashed: the oracle's" if by_access else
            "Share of recently touched pages on the fast node (soft-dirty")
    fig.suptitle("%s; guest %s); hatched: fast-node limit missed" % (what, res["kernel"]),
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.96))
    for ext in ("svg", "png"):
        fig.savefig("%s.%s" % (prefix, ext), dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--merge", action="append", default=[],
                    help="another results.json whose runs replace the same workload, size and "
                         "configuration (e.g. a re-run of one configuration); repeatable")
    ap.add_argument("--pool", action="store_true",
                    help="--merge's runs join those of the same cell instead of replacing them: "
                         "for parts that measured the same code, whose cells then have more "
                         "repeats")
    ap.add_argument("--benchmarks", help="BENCHMARKS.md to update")
    ap.add_argument("--plot", help="write PREFIX.svg and PREFIX.png")
    ap.add_argument("--command", default="make vm-eval", help="the command, for the record")
    ap.add_argument("--access", metavar="DIR",
                    help="the access counts' directory (default: RESULTS' directory's access/)")
    ap.add_argument("--save-runs", metavar="OUT",
                    help="write the runs, scored, without their windows (~100x smaller), "
                         "for a later --merge: to measure the matrix in parts")
    args = ap.parse_args()
    try:
        with open(args.results) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("vm_eval_report: cannot read %s: %s (did make vm-eval's guest run finish?)"
                 % (args.results, e))
    for extra in args.merge:
        try:
            with open(extra) as f:
                more = json.load(f)
        except (OSError, ValueError) as e:
            sys.exit("vm_eval_report: cannot read %s: %s" % (extra, e))
        merge(res, more, pool=args.pool)
    if not res.get("runs"):
        sys.exit("vm_eval_report: %s has no runs" % args.results)
    access = args.access or os.path.join(os.path.dirname(os.path.abspath(args.results)), "access")
    if os.path.isdir(access):
        add_access(res, access, res["args"].get("lat_fast", 100.0),
                   res["args"].get("lat_slow", 250.0))
    elif args.access:
        sys.exit("vm_eval_report: no directory %s" % args.access)
    if args.save_runs:
        save_runs(res, args.save_runs)
    body = header(res, args.command) + tables(res)
    print(body)
    if args.plot:
        plot(res, args.plot)
        body += "\n![fast-tier access share](%s.svg)\n" % args.plot
        print("wrote %s.svg and %s.png" % (args.plot, args.plot))
    if args.benchmarks:
        with open(args.benchmarks) as f:
            text = f.read()
        section = BEGIN + "\n" + body + "\n" + END
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
        else:
            text = text.rstrip("\n") + "\n\n## 6. Placement in the two-tier guest: the paper's " \
                "workloads (`make vm-eval`)\n\n" + section + "\n"
        with open(args.benchmarks + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.benchmarks + ".tmp", args.benchmarks)
        print("updated %s" % args.benchmarks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
