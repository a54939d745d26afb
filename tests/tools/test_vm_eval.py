#!/usr/bin/python3
"""Tests for make vm-eval's pure parts: /proc/zoneinfo parsing, the
sampler's move accounting, the per-run summary, the report's tables and
goal check, and the access-weighted metrics (access_metrics.py).  The kernel-facing parts (soft-dirty, hugetlb, DAMON sysfs,
mtp-trace) run for real only in the guest, in make vm-eval itself.
Ends with "N passed, N failed"."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
import argparse
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "vm"))
import access_check  # noqa: E402
import access_counts  # noqa: E402
import access_host  # noqa: E402
import access_metrics  # noqa: E402
import vm_eval  # noqa: E402
import vm_eval_report  # noqa: E402

# Shaped like this guest's /proc/zoneinfo (per-CPU "high:" lines included).
ZONEINFO = """Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 10
  pages free     3840
        boost    0
        min      33
        low      41
        high     49
        spanned  4095
        present  3998
        managed  3840
        cma      0
        protection: (0, 983, 983, 983, 983)
  pagesets
    cpu: 0
              count: 0
              high:  0
  node_unreclaimable:  0
  start_pfn:           1
Node 0, zone    DMA32
  pages free     200000
        boost    0
        min      8256
        low      10320
        high     12384
        spanned  258048
        present  258048
        managed  251000
        protection: (0, 0, 0, 0, 0)
  pagesets
    cpu: 0
              count: 10
              high:  154
  start_pfn:           4096
Node 0, zone   Normal
  pages free     0
        min      0
        low      0
        high     0
        spanned  0
        present  0
        managed  0
  start_pfn:           0
Node 1, zone   Normal
  pages free     250000
        min      8600
        low      10750
        high     12900
        spanned  262144
        present  262144
        managed  259000
  start_pfn:           1048576
"""


class AccessMetricsTest(unittest.TestCase):
    # Four pages: 60, 30, 10 and 0 accesses; the first and third on node 0.
    counts = np.array([60, 30, 10, 0])
    on_fast = np.array([True, False, True, False])

    def test_fast_share_weighs_pages_by_their_accesses(self):
        self.assertAlmostEqual(access_metrics.fast_share(self.counts, self.on_fast), 0.7)
        self.assertEqual(access_metrics.fast_share([0, 0], [True, False]), 0.0)

    def test_oracle_fills_the_fast_node_with_the_most_accessed(self):
        self.assertAlmostEqual(access_metrics.oracle_share(self.counts, 2), 0.9)
        self.assertAlmostEqual(access_metrics.oracle_share(self.counts, 10), 1.0)
        self.assertEqual(access_metrics.oracle_share(self.counts, 0), 0.0)
        # No placement of that size beats it.
        self.assertLessEqual(access_metrics.fast_share(self.counts, self.on_fast),
                             access_metrics.oracle_share(self.counts, self.on_fast.sum()))

    def test_modelled_time_prices_each_tier(self):
        t, slowdown = access_metrics.modelled_time(self.counts, self.on_fast, 100, 250)
        self.assertAlmostEqual(t, (70 * 100 + 30 * 250) * 1e-9)
        self.assertAlmostEqual(slowdown, (70 * 100 + 30 * 250) / (100 * 100))
        self.assertEqual(access_metrics.modelled_time([5], [True])[1], 1.0)

    def test_rank_agreement(self):
        self.assertAlmostEqual(access_metrics.spearman([4, 3, 2, 1], self.counts), 1.0)
        self.assertAlmostEqual(access_metrics.spearman([1, 2, 3, 4], self.counts), -1.0)
        self.assertEqual(access_metrics.spearman([7, 7, 7, 7], self.counts), 0.0)
        # Ties share their mean rank: identical tied values still agree fully.
        self.assertAlmostEqual(access_metrics.spearman([2, 2, 1, 0], [5, 5, 3, 1]), 1.0)
        # Two tied groups: mean ranks 1.5, 1.5, 3.5, 3.5, 5 against 1..5
        # (numpy's Pearson on those ranks).
        self.assertAlmostEqual(access_metrics.spearman([1, 1, 2, 2, 3], [10, 20, 30, 40, 50]),
                               0.9486832980505138)
        self.assertEqual(access_metrics.top_k_agreement([0, 9, 8, 1], self.counts, 2), 0.5)
        self.assertEqual(access_metrics.top_k_agreement([9, 8, 0, 1], self.counts, 2), 1.0)


class AccessRunTest(unittest.TestCase):
    def test_windows_add_up_by_their_accesses(self):
        # A busy window (100 accesses, 70 fast) and a quiet one (10, all
        # slow): the run's share is 70/110, not the mean of 0.7 and 0.
        busy = access_metrics.window_metrics([60, 30, 10, 0], [True, False, True, False], 2,
                                             heat=[4, 3, 2, 1])
        quiet = access_metrics.window_metrics([10, 0], [False, False], 1)
        run = access_metrics.run_metrics([busy, quiet])
        self.assertAlmostEqual(run["access_share"], 70 / 110)
        self.assertAlmostEqual(run["oracle_share"], (90 + 10) / 110)
        self.assertAlmostEqual(run["share_of_oracle"], 70 / 100)
        self.assertAlmostEqual(run["slowdown"],
                               (70 * 100 + 40 * 250) / (110 * 100))
        # Only the window with mtp's heat ranks.
        self.assertAlmostEqual(run["rho"], 1.0)
        self.assertAlmostEqual(run["top_k"], 1.0)
        self.assertEqual(busy["accessed_pages"], 3)
        # K is capped by the pages accessed at all: with 4 fast pages and 3
        # accessed, a heat that ranks the unaccessed page among its top 3
        # does not agree fully.
        capped = access_metrics.window_metrics([60, 30, 10, 0], [True] * 4, 4, heat=[4, 3, 0, 9])
        self.assertAlmostEqual(capped["top_k"], 2 / 3)
        # A page mtp saw once but whose heat expired, on the slow node, is
        # told apart from one it never saw.
        w = access_metrics.window_metrics([50, 30, 20], [True, False, False], 3,
                                          heat=[5, 0, 0], known=[True, True, False])
        self.assertEqual((w["slow_hot"], w["slow_expired"], w["slow_unseen"]), (0, 30, 20))
        self.assertIsNone(access_metrics.run_metrics([quiet] * 0))
        self.assertIsNone(access_metrics.run_metrics(
            [access_metrics.window_metrics([0, 0], [True, False], 1)]))


class DamonProbeMetricsTest(unittest.TestCase):
    """What DAMON's read signal would add (vm_eval.py --damon-probe)."""

    def test_ranked_share_breaks_ties_at_random(self):
        acc = [60, 30, 10, 0]
        self.assertAlmostEqual(access_metrics.ranked_share(acc, [[4, 3, 2, 1]], 2), 90)
        # All tied: each of 2 slots holds half the pages' accesses on average.
        self.assertAlmostEqual(access_metrics.ranked_share(acc, [[0, 0, 0, 0]], 2), 50)
        # The first key ranks, the second orders its ties: page 3 (no heat,
        # DAMON 0) never comes before page 1 (no heat, DAMON 5).
        self.assertAlmostEqual(
            access_metrics.ranked_share(acc, [[9, 0, 0, 0], [0, 5, 0, 0]], 2), 90)
        self.assertAlmostEqual(access_metrics.ranked_share(acc, [[1, 2]], 0), 0)
        self.assertAlmostEqual(access_metrics.ranked_share(acc, [[1, 2, 3, 4]], 9), 100)

    def test_damon_fills_in_where_mtp_has_no_heat(self):
        # Page 0 hot to mtp and on node 0; pages 1 and 2 read only (no heat),
        # on node 1, DAMON saw page 1's region; page 3 idle.
        w = access_metrics.window_metrics([50, 30, 20, 0], [True, False, False, False], 2,
                                          heat=[5, 0, 0, 0], known=[True, False, False, True],
                                          damon=[0, 3, 0, 0])
        self.assertEqual((w["damon_slow_cold"], w["damon_slow_cold_seen"]), (50, 30))
        self.assertEqual((w["damon_pages"], w["damon_accessed_pages"]), (1, 1))
        self.assertAlmostEqual(w["rank_mtp"], 50 + 50 / 3)  # one slot among three ties
        self.assertAlmostEqual(w["rank_mtp_damon"], 80)
        self.assertAlmostEqual(w["rank_damon"], 30 + 70 / 3)
        run = access_metrics.run_metrics([w])["damon"]
        self.assertAlmostEqual(run["rank_mtp_damon_of_oracle"], 1.0)
        self.assertAlmostEqual(run["slow_cold_seen"], 0.6)
        self.assertAlmostEqual(run["precision"], 1.0)

    def test_pages_take_the_count_of_the_region_that_holds_them(self):
        saved = {"damon_start": np.array([0x2000, 0x0], np.uint64),
                 "damon_end": np.array([0x4000, 0x1000], np.uint64),
                 "damon_nr": np.array([7, 2], np.uint64)}
        pages = np.array([0x0, 0x1000, 0x2000, 0x3000, 0x4000], np.uint64)
        self.assertEqual(list(vm_eval_report.damon_of(pages, saved)), [2, 0, 7, 7, 0])


class AccessHostTest(unittest.TestCase):
    """access_host.py's window serving against a count file laid out as the
    plugin writes it (include/mtp_access.h), which this test increments
    itself: QEMU cannot run here."""

    def test_each_boundary_saves_the_window_since_the_last(self):
        with tempfile.TemporaryDirectory() as tmp:
            path, pages, vcpus = os.path.join(tmp, "counts"), 16, 2
            arr = np.zeros((vcpus, 2, pages), dtype=np.uint32)
            head = access_counts.HEADER.pack(access_counts.MAGIC, access_counts.VERSION, 12,
                                             pages, vcpus, 1, 0, 0, 1, 1)

            def write():
                with open(path, "wb") as f:
                    f.write(head + arr.tobytes())

            write()
            hs = os.path.join(tmp, "hs")
            os.makedirs(hs)
            win = access_host.Windows(path, hs)
            for k, (page, loads, stores) in enumerate([(3, 5, 0), (3, 2, 7), (9, 0, 1)]):
                arr[k % vcpus, 0, page] += loads
                arr[k % vcpus, 1, page] += stores
                write()
                win.counts = None  # the test rewrote the file: map it again
                open(os.path.join(hs, "r1.%d.req" % k), "w").close()
                win.serve()
                self.assertTrue(os.path.exists(os.path.join(hs, "r1.%d.ok" % k)))
                self.assertFalse(os.path.exists(os.path.join(hs, "r1.%d.req" % k)))
            w0, w1, w2 = (np.load(os.path.join(hs, "r1.%d.npz" % k)) for k in range(3))
            self.assertEqual(len(w0["idx"]), 0)  # the first boundary only starts the run
            self.assertEqual((w1["idx"].tolist(), w1["loads"].tolist(), w1["stores"].tolist()),
                             ([3], [2], [7]))
            self.assertEqual((w2["idx"].tolist(), w2["stores"].tolist()), ([9], [1]))
            # Requests without a switch leave counting as the file says (on).
            self.assertEqual([bool(w["counted"]) for w in (w0, w1, w2)], [False, True, True])

    def test_requests_switch_counting_and_windows_say_whether_counted(self):
        """The guest's count=0|1: written to count_want; a window is counted
        only if the plugin counted from its start to its end.  The test
        plays the plugin's part by writing `instrumented` itself."""
        with tempfile.TemporaryDirectory() as tmp:
            path, pages = os.path.join(tmp, "counts"), 8
            with open(path, "wb") as f:
                f.write(access_counts.HEADER.pack(access_counts.MAGIC, access_counts.VERSION, 12,
                                                  pages, 1, 1, 0, 0, 0, 0))
                f.write(bytes(2 * pages * 4))
            hs = os.path.join(tmp, "hs")
            os.makedirs(hs)
            win = access_host.Windows(path, hs, switch_timeout=0.05)

            def request(k, text, plugin_on):
                with open(path, "r+b") as f:  # the plugin's switch, already made
                    f.seek(access_counts.INSTRUMENTED_AT)
                    f.write(access_counts.COUNT_WANT.pack(plugin_on))
                with open(os.path.join(hs, "r.%d.req" % k), "w") as f:
                    f.write(text)
                win.serve()
                with open(path, "rb") as f:
                    f.seek(access_counts.COUNT_WANT_AT)
                    want = access_counts.COUNT_WANT.unpack(f.read(4))[0]
                return bool(np.load(os.path.join(hs, "r.%d.npz" % k))["counted"]), want

            self.assertEqual(request(0, "count=0\n", 0), (False, 0))  # the build
            self.assertEqual(request(1, "count=1\n", 1), (False, 1))  # switched on here
            self.assertEqual(request(2, "count=1\n", 1), (True, 1))   # counted throughout
            self.assertEqual(request(3, "count=0\n", 1), (True, 0))   # the last scored window
            self.assertEqual(request(4, "count=1\n", 0), (False, 1))  # off until now
            self.assertEqual(win.switch_failed, 1)  # the plugin never confirmed: said so


class AccessReportTest(unittest.TestCase):
    def test_a_run_is_scored_from_its_window_files(self):
        present = access_metrics.PM_PRESENT
        with tempfile.TemporaryDirectory() as d:
            # Node 0 = frames [1, 262144), node 1 from 262144, counted
            # 262144 higher.  Three pages: frame 10 (node 0), frames
            # 262150 and 262160 (node 1); mtp's heat knows two of them.
            spans = {"0": [1, 262144], "1": [262144, 524288]}
            pages = np.array([0x1000, 0x2000, 0x3000], np.uint64)
            entries = np.array([present | 10, present | 262150, present | 262160], np.uint64)
            np.savez(os.path.join(d, "bfs_50_c_1.2.pages.npz"), entries=entries, pages=pages,
                     nodes=np.array([0, 1, 1]), keys=np.array([0x2000, 0x1000], np.uint64),
                     heat=np.array([900, 50], np.uint64), last_epoch=np.array([5, 5]),
                     epoch=np.int64(5))
            np.savez(os.path.join(d, "bfs_50_c_1.2.npz"),
                     idx=np.array([10, 262150 + 262144, 262160 + 262144], np.uint32),
                     loads=np.array([20, 70, 0], np.uint32),
                     stores=np.array([0, 0, 10], np.uint32))
            res = {"calibration": {"bfs": {"footprint": 2 * 4096}}, "runs": [{
                "workload": "bfs", "share": 0.5, "config": "c", "access_run": "bfs_50_c_1",
                "access_spans": spans,
                # window 1 overlaps the build and is skipped; 3 is missing
                "samples": [{"k": 1, "phase": "run"}, {"k": 2, "phase": "run"},
                            {"k": 3, "phase": "run"}]}]}
            vm_eval_report.add_access(res, d, 100.0, 250.0)
            x = res["runs"][0]["access"]
            self.assertAlmostEqual(x["access_share"], 20 / 100)  # frame 10 on node 0
            self.assertAlmostEqual(x["oracle_share"], 70 / 100)  # 1 fast page: the busiest
            self.assertEqual((x["windows"], x["missed_windows"]), (1, 1))
            # mtp ranks 0x2000 (70 accesses) first: the top-1 agrees.
            self.assertEqual(x["top_k"], 1.0)
            # 0x3000 (10 accesses) is in no entry of mtp's map: held cold,
            # never seen.
            self.assertEqual(x["hot_pages"], 2)
            self.assertAlmostEqual(x["cold_share"], 0.1)
            self.assertAlmostEqual(x["unseen_share"], 0.1)
            # What the slow node served (80 of 100): 0x2000, hot, 70;
            # 0x3000, never seen, 10; nothing expired.  With the fast
            # share it adds up to 1.
            self.assertAlmostEqual(x["slow_hot"], 0.7)
            self.assertAlmostEqual(x["slow_expired"], 0.0)
            self.assertAlmostEqual(x["slow_unseen"], 0.1)
            # A window the plugin did not count throughout (its file says
            # so) is left out like a missing one.
            for name in ("bfs_50_c_1.3.pages.npz", "bfs_50_c_1.3.npz"):
                shutil.copy(os.path.join(d, name.replace(".3.", ".2.")), os.path.join(d, name))
            with np.load(os.path.join(d, "bfs_50_c_1.3.npz")) as w:
                np.savez(os.path.join(d, "bfs_50_c_1.3.npz"), counted=False, **dict(w))
            vm_eval_report.add_access(res, d, 100.0, 250.0)
            x = res["runs"][0]["access"]
            self.assertEqual((x["windows"], x["missed_windows"]), (1, 1))
            self.assertAlmostEqual(x["access_share"] + x["slow_hot"] + x["slow_expired"] +
                                   x["slow_unseen"], 1.0)
            table = "\n".join(vm_eval_report.access_table(
                {"args": {"shares": [0.5], "configs": ["c"]}},
                {("bfs", 0.5, "c"): res["runs"][0]}, "bfs"))
            self.assertIn("| 0.70 / 0.00 / 0.10 |", table)
        self.assertEqual(vm_eval_report.plugin_offsets({0: (1, 9), 1: (262144, 9)}),
                         {0: 0, 1: 262144})


class DemotionReasonsTest(unittest.TestCase):
    def test_idle_and_room_demotions_add_up_over_the_intervals(self):
        mib = 1 << 20
        iv = [{"idle_demote_bytes": 2 * mib, "planned_demote_bytes": 5 * mib},
              {"idle_demote_bytes": 0, "planned_demote_bytes": mib}]
        self.assertEqual(vm_eval_report.demotions_by_reason({"mtp_intervals": iv}), "2.0 / 4.0")
        # runs without the reasons (not mtp, or recorded before them) say so
        self.assertEqual(vm_eval_report.demotions_by_reason({}), "-")
        self.assertEqual(vm_eval_report.demotions_by_reason(
            {"mtp_intervals": [{"demoted_bytes": mib}]}), "-")


class AccessJoinTest(unittest.TestCase):
    def test_frames_are_counted_where_the_plugin_counts_their_node(self):
        present = access_metrics.PM_PRESENT
        # Node 0 holds frames [0, 100), node 1 [100, 200), counted 50 higher.
        spans, offsets = {0: (0, 100), 1: (100, 200)}, {0: 0, 1: 50}
        loads, stores = np.zeros(300, dtype=np.uint32), np.zeros(300, dtype=np.uint32)
        loads[7], stores[7] = 3, 4          # node 0's frame 7
        loads[150 + 50], stores[150] = 9, 1000  # node 1's frame 150: only at +50
        entries = [present | 7, 0, present | 150, access_metrics.PM_SWAP | 5, present | 250]
        acc, node = access_metrics.join(entries, spans, offsets, loads, stores)
        # The absent and swapped entries are left out; frame 250 is in no span.
        self.assertEqual(acc.tolist(), [7, 9, 0])
        self.assertEqual(node.tolist(), [0, 1, -1])


class ZoneinfoTest(unittest.TestCase):
    def test_sums_watermarks_and_spans_present_zones(self):
        z = vm_eval.parse_zoneinfo(ZONEINFO)
        self.assertEqual(z[0]["low"], (41 + 10320) * 4096)
        self.assertEqual(z[0]["high"], (49 + 12384) * 4096)
        self.assertEqual(z[1]["min"], 8600 * 4096)
        # where the program's pages stop: DMA keeps its 983-page reserve too
        self.assertEqual(z[0]["floor"], (41 + 983 + 10320) * 4096)
        # the empty Normal zone of node 0 does not stretch its range
        self.assertEqual(z[0]["start"], 1 * 4096)
        self.assertEqual(z[0]["end"], (4096 + 258048) * 4096)
        self.assertEqual(z[1]["start"], 1048576 * 4096)
        self.assertEqual(z[1]["end"], (1048576 + 262144) * 4096)

    def test_per_cpu_high_lines_are_not_watermarks(self):
        z = vm_eval.parse_zoneinfo(ZONEINFO)
        self.assertNotEqual(z[0]["high"], (49 + 12384 + 154) * 4096)

    def test_sums_the_cpus_free_lists(self):
        z = vm_eval.parse_zoneinfo(ZONEINFO)
        self.assertEqual(z[0]["pcp"], 10 * 4096)
        self.assertEqual(z[0]["pcp_high"], 154 * 4096)
        self.assertEqual(z[1]["pcp"], 0)


class NodeHoldersTest(unittest.TestCase):
    """Real: this host's node 0 and this process; a pid that is gone reads None."""

    def test_kinds_of_the_node_and_resident_bytes_of_each_pid(self):
        gone = subprocess.Popen(["true"])
        gone.wait()
        h = vm_eval.node_holders(0, {"self": os.getpid(), "gone": gone.pid})
        self.assertGreater(h["MemFree"], 0)
        self.assertGreater(h["AnonPages"], 0)
        self.assertTrue(set(vm_eval.NODE_HOLDERS) <= set(h))
        self.assertGreaterEqual(h["pcp"], 0)
        self.assertGreater(h["pcp_high"], 0)
        self.assertGreater(h["rss_self"], 1 << 20)
        self.assertIsNone(h["rss_gone"])


class PcpFractionTest(unittest.TestCase):
    """Real: this host's node 0.  The lists shrunk to ~1/32 of the floor."""

    def test_lists_hold_a_32nd_of_the_floor_at_most_an_8th_of_the_node(self):
        total = vm_eval.node_meminfo(0)["MemTotal"]
        floor = vm_eval.zoneinfo()[0]["floor"]
        f = vm_eval.pcp_fraction()
        self.assertGreaterEqual(f, 8)  # the kernel's least fraction
        self.assertLessEqual(total // f, max(floor // 32, total // 8) + 4096)


class KernelSettingsTest(unittest.TestCase):
    """Real: this host's node 0 sizes the lists.  Every configuration runs
    with the same lists, the baselines too, unless --cpu-lists kernel."""

    def settings(self, config, lists="shrunk"):
        args = argparse.Namespace(thp="madvise", cpu_lists=lists)
        return dict(vm_eval.kernel_settings(args, config))

    def test_every_configuration_gets_the_shrunk_lists(self):
        for config in ("a", "b", "b2", "c", "e"):
            self.assertEqual(self.settings(config)[vm_eval.PCP_FRACTION],
                             vm_eval.pcp_fraction(), config)

    def test_kernel_lists_are_left_alone(self):
        self.assertNotIn(vm_eval.PCP_FRACTION, self.settings("c", "kernel"))

    def test_only_b_turns_on_the_kernels_tiering(self):
        self.assertEqual(self.settings("b")[vm_eval.NUMA_BAL], 2)
        self.assertEqual(self.settings("b")[vm_eval.DEMOTION], 1)
        self.assertEqual(self.settings("c")[vm_eval.NUMA_BAL], 0)
        self.assertEqual(self.settings("b2")[vm_eval.DEMOTION], 0)


class SubtractTest(unittest.TestCase):
    def test_holes_are_cut_out(self):
        self.assertEqual(vm_eval.subtract(0, 100, [(10, 20), (50, 60)]),
                         [(0, 10), (20, 50), (60, 100)])
        self.assertEqual(vm_eval.subtract(0, 100, [(0, 10), (90, 100)]), [(10, 90)])
        self.assertEqual(vm_eval.subtract(0, 100, [(0, 100)]), [])
        self.assertEqual(vm_eval.subtract(0, 100, []), [(0, 100)])


class MovesTest(unittest.TestCase):
    F, S = vm_eval.FAST, vm_eval.SLOW

    def test_counts_moves_and_pingpongs(self):
        pages = np.array([0x1000, 0x2000, 0x3000], np.uint64)
        last = {}
        up, down, b = vm_eval.account_moves(pages, np.array([self.S, self.F, self.S], np.int32),
                                            pages, np.array([self.F, self.S, self.S], np.int32),
                                            last)
        self.assertEqual(up.tolist(), [0x1000])
        self.assertEqual(down.tolist(), [0x2000])
        self.assertEqual(b, 0)
        # 0x1000 goes back down: a ping-pong; 0x2000 stays
        up, down, b = vm_eval.account_moves(pages, np.array([self.F, self.S, self.S], np.int32),
                                            pages, np.array([self.S, self.S, self.S], np.int32),
                                            last)
        self.assertEqual(down.tolist(), [0x1000])
        self.assertEqual(b, 1)

    def test_pages_new_or_gone_are_not_moves(self):
        old = np.array([0x1000, 0x2000], np.uint64)
        new = np.array([0x2000, 0x3000], np.uint64)
        up, down, b = vm_eval.account_moves(old, np.array([self.S, self.F], np.int32), new,
                                            np.array([self.F, self.F], np.int32), {})
        self.assertEqual((len(up), len(down), b), (0, 0, 0))


def sample(phase, touched, fast):
    return {"phase": phase, "touched": touched, "touched_fast": fast,
            "touched_slow": touched - fast}


ARGS = types.SimpleNamespace(lat_fast=100.0, lat_slow=250.0)


class SummaryTest(unittest.TestCase):
    def test_share_is_a_mean_over_run_windows_after_the_first(self):
        res = {"samples": [sample("ready", 100, 0), sample("run", 10000, 0),
                           sample("run", 100, 100), sample("run", 100, 50),
                           sample("done", 100, 0)],
               "agent_moves": {"promoted_bytes": 4096, "demoted_bytes": 8192}}
        vm_eval.summarize(res, ARGS)
        self.assertAlmostEqual(res["fast_share"], 0.75)
        self.assertEqual(res["run_samples"], 2)
        self.assertEqual(res["migrated_bytes"], 12288)
        # (0 + 50) slow pages over 2 windows x 150 ns = 3.75 us
        self.assertAlmostEqual(res["modelled_penalty_us"], 3.75)

    def test_intervals_over_the_budget_are_placed_in_the_workloads_phases(self):
        def ms(phase, t):
            return dict(sample(phase, 1, 1), t=t)

        def iv(t_go, used, planned=None):
            return {"t_go": t_go, "budget_used_bytes": used, "budget_bytes": 100,
                    "fast_bytes_planned": planned}

        res = {"samples": [ms("build", 1.0), ms("build", 2.0), ms("run", 3.0), ms("run", 4.0),
                           ms("done", 5.0)],
               "mtp_intervals": [iv(-0.5, 101), iv(1.5, 200), iv(2.9, 150), iv(3.0, 100),
                                 iv(3.5, 101), iv(4.0, 120), iv(4.6, 300)]}
        vm_eval.summarize(res, ARGS)
        self.assertEqual(res["over_budget"], {"build": 3, "run": 2, "end": 1})
        self.assertEqual(vm_eval_report.over_budget(
            {"over_budget_runs": [res["over_budget"], {"build": 0, "run": 0, "end": 0}]}),
            "run 2, 0; build 3, 0")
        # with the plans recorded: mtp's own moves left it over once
        for i, planned in zip(res["mtp_intervals"], (90, 100, 99, 100, 130, 80, 60)):
            i["fast_bytes_planned"] = planned
        vm_eval.summarize(res, ARGS)
        self.assertEqual(res["over_budget"], {"build": 3, "run": 2, "end": 1, "planned": 1})
        self.assertEqual(vm_eval_report.over_budget({"over_budget_runs": [res["over_budget"]]}),
                         "run 2; build 3; planned 1")
        # runs recorded before the intervals carried the harness's clock
        del res["mtp_intervals"][0]["t_go"]
        vm_eval.summarize(res, ARGS)
        self.assertIsNone(res["over_budget"])
        self.assertEqual(vm_eval_report.over_budget({"over_budget_runs": [None]}), "-")

    def test_no_run_windows_gives_no_share(self):
        res = {"samples": [sample("ready", 10, 10)]}
        vm_eval.summarize(res, ARGS)
        self.assertIsNone(res["fast_share"])
        self.assertEqual(res["migrated_bytes"], 0)


def run(w, share, config, fs, moved):
    return {"workload": w, "share": share, "config": config, "fast_share": fs,
            "migrated_bytes": moved, "touched_per_sample": 1000,
            "agent_moves": {"promoted_bytes": moved // 2, "demoted_bytes": moved // 2},
            "moves": {"promoted_bytes": 0, "demoted_bytes": 0, "pingpongs": 3},
            "limit": {"usable": 25 << 20}, "agent_cpu_s": 1.0, "workload_cpu_s": 20.0,
            "mtp_pause_s": None, "modelled_penalty_us": 12.0}


def results(c_share, d_share, c_moved, d_moved):
    return {"kernel": "6.12.0", "started": "s", "finished": "f", "node_total": {"0": 1 << 30,
                                                                               "1": 1 << 30},
            "tiers": {"0": "0", "1": "1"},
            "args": {"workloads": ["bfs"], "shares": [0.25], "configs": list(vm_eval.CONFIGS),
                     "duration": 24, "scale": 1.0, "sample": 2.0, "thp": "madvise", "seed": 1,
                     "lat_fast": 100.0, "lat_slow": 250.0},
            "configs": vm_eval.CONFIGS, "calibration": {"bfs": {"footprint": 100 << 20}},
            "runs": [run("bfs", 0.25, "a", 0.1, 0), run("bfs", 0.25, "b", 0.3, 1 << 20),
                     run("bfs", 0.25, "b2", 0.2, 1 << 20),
                     run("bfs", 0.25, "c", c_share, c_moved),
                     run("bfs", 0.25, "d", d_share, d_moved),
                     run("bfs", 0.25, "e", 0.5, 1 << 20)]}


class ReportTest(unittest.TestCase):
    def test_goal_met(self):
        res = results(0.9, 0.85, 10 << 20, 20 << 20)
        g = vm_eval_report.goals(res, vm_eval_report.index(res))
        self.assertEqual(len(g), 1)
        self.assertTrue(g[0]["beats"])
        self.assertTrue(g[0]["fewer_than_d"])

    def test_goal_missed_is_reported(self):
        res = results(0.25, 0.9, 30 << 20, 20 << 20)
        g = vm_eval_report.goals(res, vm_eval_report.index(res))[0]
        self.assertFalse(g["beats"])  # b has 0.3
        self.assertFalse(g["fewer_than_d"])
        text = vm_eval_report.tables(res)
        self.assertIn("| bfs | 25% | 0.250 | b 0.300 | **no** |", text)

    def test_runs_that_missed_the_limit_are_not_rivals(self):
        res = results(0.9, 0.85, 10 << 20, 20 << 20)
        for r in res["runs"]:
            if r["config"] == "b":
                r["fast_share"] = 0.95
                r["limit"]["usable"] = 60 << 20  # asked for 25 MiB
        g = vm_eval_report.goals(res, vm_eval_report.index(res))[0]
        self.assertTrue(g["beats"])
        self.assertNotIn("b", g["rivals"])
        self.assertIn("limit missed", vm_eval_report.tables(res))

    def test_merge_replaces_runs_of_the_same_key(self):
        res = results(0.9, 0.85, 10 << 20, 20 << 20)
        more = {"started": "m0", "finished": "m1",
                "runs": [run("bfs", 0.25, "b2", 0.95, 1 << 20)]}
        vm_eval_report.merge(res, more)
        runs = vm_eval_report.index(res)
        self.assertEqual(len(res["runs"]), 6)
        self.assertEqual(runs[("bfs", 0.25, "b2")]["fast_share"], 0.95)
        g = vm_eval_report.goals(res, runs)[0]
        self.assertFalse(g["beats"])
        self.assertIn("1 runs of configuration(s) b2 measured m0 to m1", vm_eval_report.header(res, "x"))

    def test_merge_brings_the_parts_configurations_in_order(self):
        res = results(0.9, 0.85, 10 << 20, 20 << 20)
        res["args"]["configs"] = ["a", "c"]
        res["runs"] = [r for r in res["runs"] if r["config"] in ("a", "c")]
        more = {"started": "m0", "finished": "m1", "configs": vm_eval.CONFIGS,
                "runs": [run("bfs", 0.25, "b2", 0.2, 1 << 20), run("bfs", 0.25, "b", 0.3, 0)]}
        vm_eval_report.merge(res, more)
        self.assertEqual(res["args"]["configs"], ["a", "b", "b2", "c"])
        self.assertIn("b2 DAMON", vm_eval_report.tables(res))

    def test_pooled_merge_adds_repeats_to_a_cell(self):
        res = results(0.9, 0.85, 10 << 20, 20 << 20)
        more = {"started": "m0", "finished": "m1",
                "runs": [run("bfs", 0.25, "b2", 0.95, 1 << 20)]}
        vm_eval_report.merge(res, more, pool=True)
        self.assertEqual(len(res["runs"]), 7)
        cell = vm_eval_report.index(res)[("bfs", 0.25, "b2")]
        self.assertEqual(cell["repeats"], 2)
        self.assertEqual(cell["spread"][1], 0.95)

    def test_a_matrix_measured_in_parts_is_merged_with_its_scores(self):
        """A part saved with --save-runs keeps its access scores without its
        windows, and brings its workloads and sizes into the tables."""
        part = results(0.9, 0.85, 10 << 20, 20 << 20)
        part["args"].update(workloads=["astar"], shares=[0.5], commit="abc1234")
        part["calibration"] = {"astar": {"footprint": 100 << 20}}
        part["runs"] = [dict(run("astar", 0.5, "c", 0.8, 1 << 20), access_run="astar_50_c_1",
                             access_spans={"0": [1, 2], "1": [2, 3]},
                             samples=[{"k": 1, "phase": "run"}],
                             access=access_metrics.run_metrics([access_metrics.window_metrics(
                                 [77, 23], [True, False], 1)]))]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "part.json")
            vm_eval_report.save_runs(part, path)
            with open(path) as f:
                saved = json.load(f)
        self.assertNotIn("samples", saved["runs"][0])
        res = results(0.9, 0.85, 10 << 20, 20 << 20)
        vm_eval_report.merge(res, saved)
        with tempfile.TemporaryDirectory() as empty:
            vm_eval_report.add_access(res, empty, 100.0, 250.0)  # no windows: scores kept
        cells = vm_eval_report.index(res)
        self.assertEqual(cells[("astar", 0.5, "c")]["access"]["access_share"], 0.77)
        self.assertEqual((res["args"]["workloads"], res["args"]["shares"]),
                         (["bfs", "astar"], [0.25, 0.5]))
        self.assertIn("astar", res["calibration"])
        self.assertIn("at abc1234", vm_eval_report.header(res, "x"))
        self.assertIn("#### astar", vm_eval_report.tables(res))

    def test_benchmarks_section_is_replaced_not_duplicated(self):
        res = results(0.9, 0.85, 10 << 20, 20 << 20)
        with tempfile.TemporaryDirectory() as d:
            rpath, bpath = os.path.join(d, "r.json"), os.path.join(d, "B.md")
            with open(rpath, "w") as f:
                import json
                json.dump(res, f)
            with open(bpath, "w") as f:
                f.write("# Benchmarks\n\nkept\n")
            for _ in range(2):
                sys.argv = ["vm_eval_report.py", rpath, "--benchmarks", bpath]
                with open(os.devnull, "w") as null:
                    old, sys.stdout = sys.stdout, null
                    try:
                        self.assertEqual(vm_eval_report.main(), 0)
                    finally:
                        sys.stdout = old
            with open(bpath) as f:
                text = f.read()
            self.assertEqual(text.count(vm_eval_report.BEGIN), 1)
            self.assertIn("kept", text)
            self.assertIn("#### bfs", text)


class AccessCheckRetryTest(unittest.TestCase):
    """access_check boots again after QEMU's stale-int3 oops, once, and only
    after it.  The guest cannot boot here: boot() is replaced."""

    def run_boots(self, failures):
        calls = []

        def fake_boot(args, wrapper, out, counts=None):
            calls.append(out)
            if len(calls) <= len(failures):
                raise access_check.GuestFailed(failures[len(calls) - 1])
            return "probes", 1.0, {}

        real, access_check.boot = access_check.boot, fake_boot
        try:
            return access_check.boot_retried(None, None, "/tmp/x"), calls
        finally:
            access_check.boot = real

    def test_a_stale_int3_boots_again(self):
        got, calls = self.run_boots(["[1.47] Oops: int3: 0000 [#2]"])
        self.assertEqual(got[0], "probes")
        self.assertEqual(calls, ["/tmp/x", "/tmp/x-again"])

    def test_other_failures_and_a_second_oops_fail(self):
        with self.assertRaises(SystemExit):
            self.run_boots(["exit 1: no probes"])
        with self.assertRaises(SystemExit):
            self.run_boots(["Oops: int3", "Oops: int3"])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
