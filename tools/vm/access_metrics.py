"""What a placement is worth by the accesses the program really made (issue 13).

Pure: numpy arrays in, numbers out; no I/O.  join() turns one window's
counts into the counts of the workload's own pages.  Given those, and
which node holds each page (from the TCG plugin, tools/vm/access_plugin.c):

- fast_share: the workload's accesses that went to the fast node, over all
  of its accesses;
- oracle_share: the same had the fast node's usable pages held the window's
  most accessed pages (sort by count, fill the fast node): the best any
  placement of that size could do; share / oracle says how close one came;
- modelled_time: accesses times each tier's latency (stated, e.g. 100 and
  250 ns), and its slowdown against everything on the fast tier;
- rank agreement between mtp's page heat and the counts: Spearman's rho,
  and the share of the top K pages by accesses that mtp ranks in its top K.
"""
import numpy as np

# The tier latencies the modelled time uses unless told otherwise: DRAM
# against CXL-attached memory, roughly, as the paper's setting.
FAST_NS = 100.0
SLOW_NS = 250.0


def fast_share(counts, on_fast):
    """Accesses to pages on the fast node over all accesses (0 when none)."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return float(counts[np.asarray(on_fast, dtype=bool)].sum() / total) if total else 0.0


def oracle_share(counts, fast_pages):
    """The fast share had the `fast_pages` most accessed pages been on the
    fast node: the limit of any placement with that many fast pages."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if not total or fast_pages <= 0:
        return 0.0
    top = np.sort(counts)[::-1][:int(fast_pages)]
    return float(top.sum() / total)


def modelled_time(counts, on_fast, fast_ns=FAST_NS, slow_ns=SLOW_NS):
    """(seconds the window's accesses take at the tiers' latencies, the
    slowdown against all of them on the fast tier)."""
    counts = np.asarray(counts, dtype=np.float64)
    fast = np.asarray(on_fast, dtype=bool)
    t = (counts[fast].sum() * fast_ns + counts[~fast].sum() * slow_ns) * 1e-9
    ideal = counts.sum() * fast_ns * 1e-9
    return t, (t / ideal if ideal else 1.0)


def _ranks(x):
    """Average ranks (ties share the mean of their positions), 1-based."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return ranks


def spearman(heat, counts):
    """Spearman's rank correlation of mtp's heat and the access counts over
    the same pages; 0 when either is constant."""
    a, b = _ranks(heat), _ranks(counts)
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den else 0.0


def top_k_agreement(heat, counts, k):
    """The share of the k most accessed pages that mtp also ranks among its
    k hottest (ties at the edge broken by page order, the same for both)."""
    k = min(int(k), len(counts))
    if k <= 0:
        return 0.0
    by_counts = set(np.argsort(-np.asarray(counts, dtype=np.float64), kind="mergesort")[:k])
    by_heat = set(np.argsort(-np.asarray(heat, dtype=np.float64), kind="mergesort")[:k])
    return len(by_counts & by_heat) / k


PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_PFN_MASK = (1 << 55) - 1


def join(entries, node_spans, offsets, loads, stores):
    """One window's accesses to the workload's pages.

    entries: the workload's /proc/PID/pagemap entries (uint64, read in the
    guest at the window's end, as root so that PFNs show); node_spans:
    {node: (first pfn, end pfn)} from the guest's zoneinfo; offsets: {node:
    pages} where the plugin counts that node's frames (tools/vm/
    access_check.py finds them); loads, stores: the window's counts.
    Returns (accesses per present page, its node; -1 where no span holds
    the frame), in the entries' order, absent pages left out.  A page that
    moved within the window is credited to where it ended."""
    entries = np.asarray(entries, dtype=np.uint64)
    present = (entries & np.uint64(PM_PRESENT)) != 0
    present &= (entries & np.uint64(PM_SWAP)) == 0
    pfns = (entries[present] & np.uint64(PM_PFN_MASK)).astype(np.int64)
    node = np.full(len(pfns), -1, dtype=np.int64)
    for n, (first, end) in node_spans.items():
        node[(pfns >= first) & (pfns < end)] = n
    idx = pfns.copy()
    for n, off in offsets.items():
        idx[node == n] += off
    total = np.asarray(loads, dtype=np.int64) + np.asarray(stores, dtype=np.int64)
    counted = (node >= 0) & (idx >= 0) & (idx < len(total))
    acc = np.zeros(len(pfns), dtype=np.int64)
    acc[counted] = total[idx[counted]]
    return acc, node


def ranked_share(acc, keys, slots):
    """The accesses the `slots` pages ranked first would have served: by
    `keys` (arrays, the most significant first, larger first), ties broken
    at random -- the expectation, so a tie at the edge gives each of its
    pages the same part of a slot.  A ranking's limit at that size, as the
    oracle is the limit of any."""
    acc = np.asarray(acc, dtype=np.float64)
    n = len(acc)
    if slots <= 0 or n == 0:
        return 0.0
    if slots >= n:
        return float(acc.sum())
    k = np.stack([np.asarray(x, dtype=np.float64) for x in keys])
    order = np.lexsort(tuple(-row for row in k[::-1]))
    k, a = k[:, order], acc[order]
    starts = np.concatenate([[0], np.nonzero(np.any(k[:, 1:] != k[:, :-1], axis=0))[0] + 1])
    ends = np.concatenate([starts[1:], [n]])
    csum = np.concatenate([[0.0], np.cumsum(a)])
    g = int(np.searchsorted(ends, slots, side="left"))
    part = (slots - starts[g]) / (ends[g] - starts[g])
    return float(csum[starts[g]] + (csum[ends[g]] - csum[starts[g]]) * part)


def window_metrics(acc, on_fast, fast_pages, heat=None, fast_ns=FAST_NS, slow_ns=SLOW_NS,
                   known=None, damon=None):
    """One window's numbers, as sums that add up over windows: the
    workload's accesses, those to the fast node, those the oracle would
    have served there (`fast_pages` most accessed pages), the modelled time
    and its all-fast ideal; with mtp's `heat` for the same pages, the rank
    agreement (Spearman's rho, and the top-K share with K = `fast_pages`,
    or the pages accessed at all if fewer), the pages it holds hot, and the
    accesses to pages it holds cold; with `known` (the pages mtp's map has
    at all), the accesses to pages it never saw, and those the slow node
    served split by what mtp knew of their page (hot, seen but expired,
    never seen): why a placement misses.  With `damon` (per page, the
    nr_accesses of the DAMON region holding it in the window's last
    aggregation, 0 outside any), what a read signal would add: the slow
    node's accesses mtp had no heat for that DAMON saw, and the shares the
    rankings would serve (ranked_share): mtp's heat alone, DAMON's alone,
    and mtp's heat with DAMON's count ordering the pages mtp holds none for."""
    acc = np.asarray(acc, dtype=np.float64)
    total = float(acc.sum())
    t, _ = modelled_time(acc, on_fast, fast_ns, slow_ns)
    out = {"accesses": total, "fast": fast_share(acc, on_fast) * total,
           "oracle": oracle_share(acc, fast_pages) * total, "time_s": t,
           "ideal_s": total * fast_ns * 1e-9, "pages": int(len(acc)),
           "accessed_pages": int((acc > 0).sum())}
    if heat is not None and len(acc):
        out["rho"] = spearman(heat, acc)
        # K no larger than the pages accessed at all: past them the top K by
        # accesses is pages of none, ordered by address, and so would be
        # mtp's past its hot pages: a tie that agreed by the order alone.
        k = min(int(fast_pages), out["accessed_pages"])
        if k > 0:
            out["top_k"] = top_k_agreement(heat, acc, k)
        hot = np.asarray(heat, dtype=np.float64) > 0
        out["hot_pages"] = int(hot.sum())
        out["cold_accesses"] = float(acc[~hot].sum())
        if known is not None:
            known = np.asarray(known, dtype=bool)
            slow = ~np.asarray(on_fast, dtype=bool)
            out["unseen_accesses"] = float(acc[~known].sum())
            out["slow_hot"] = float(acc[slow & hot].sum())
            out["slow_expired"] = float(acc[slow & known & ~hot].sum())
            out["slow_unseen"] = float(acc[slow & ~known].sum())
        if damon is not None:
            damon = np.asarray(damon, dtype=np.float64)
            seen = damon > 0
            slow = ~np.asarray(on_fast, dtype=bool)
            out["damon_pages"] = int(seen.sum())
            out["damon_accessed_pages"] = int((seen & (acc > 0)).sum())
            out["damon_slow_cold"] = float(acc[slow & ~hot].sum())
            out["damon_slow_cold_seen"] = float(acc[slow & ~hot & seen].sum())
            out["rank_mtp"] = ranked_share(acc, [heat], fast_pages)
            out["rank_damon"] = ranked_share(acc, [damon], fast_pages)
            out["rank_mtp_damon"] = ranked_share(acc, [heat, damon], fast_pages)
    return out


def run_metrics(windows):
    """The run phase's numbers from its windows' (window_metrics): the
    access-weighted fast share and the oracle's over all of the run's
    accesses, share / oracle, the modelled slowdown against all-fast, and
    the rank agreement averaged over the windows that have it.  None when
    no window counted an access."""
    total = sum(w["accesses"] for w in windows)
    if not total:
        return None
    fast = sum(w["fast"] for w in windows) / total
    oracle = sum(w["oracle"] for w in windows) / total
    ideal = sum(w["ideal_s"] for w in windows)
    out = {"access_share": fast, "oracle_share": oracle,
           "share_of_oracle": fast / oracle if oracle else None,
           "slowdown": sum(w["time_s"] for w in windows) / ideal if ideal else None,
           "windows": len(windows), "accesses_per_window": total / len(windows)}
    ranked = [w for w in windows if "rho" in w]
    if ranked:
        out["rho"] = sum(w["rho"] for w in ranked) / len(ranked)
    topk = [w for w in windows if "top_k" in w]
    if topk:
        out["top_k"] = sum(w["top_k"] for w in topk) / len(topk)
    if ranked:
        out["hot_pages"] = sum(w["hot_pages"] for w in ranked) / len(ranked)
        out["cold_share"] = sum(w["cold_accesses"] for w in ranked) / total
    probed = [w for w in windows if "rank_mtp" in w]
    if probed:
        acc = sum(w["accesses"] for w in probed)
        oracle_p = sum(w["oracle"] for w in probed)
        cold = sum(w["damon_slow_cold"] for w in probed)
        out["damon"] = {
            "windows": len(probed),
            "pages": sum(w["damon_pages"] for w in probed) / len(probed),
            "precision": (sum(w["damon_accessed_pages"] for w in probed)
                          / max(1, sum(w["damon_pages"] for w in probed))),
            "slow_cold_share": cold / acc if acc else None,
            "slow_cold_seen": sum(w["damon_slow_cold_seen"] for w in probed) / cold if cold else None,
            **{k + "_of_oracle": sum(w[k] for w in probed) / oracle_p if oracle_p else None
               for k in ("rank_mtp", "rank_damon", "rank_mtp_damon")}}
    seen = [w for w in windows if "unseen_accesses" in w]
    if seen:
        out["unseen_share"] = sum(w["unseen_accesses"] for w in seen) / total
        # What the slow node served, by what mtp knew of the page: hot (the
        # mover lagged or the budget was full), seen once but expired (its
        # signals did not come back in time), never seen (no signal reached
        # it).  With the share on the fast node they add up to 1.
        for k in ("slow_hot", "slow_expired", "slow_unseen"):
            out[k] = sum(w[k] for w in seen) / total
    return out
