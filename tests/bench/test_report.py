"""scripts/bench_report.py and the pure parts of scripts/bench_failover.py: statistics, ratios,
goal verdicts, tables, the splice into BENCHMARKS.md, the SVG figures, the serving rule.

    python3 -m unittest discover -s tests/bench
"""

import os
import sys
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

import bench_failover as bf  # noqa: E402
import bench_report as br  # noqa: E402
from bench_report import Figure, Goal  # noqa: E402


class Stats(unittest.TestCase):
    def test_median_min_max_ignore_missing_values(self):
        s = br.stat([3.0, None, 1.0, float("nan"), 2.0, 10.0])
        self.assertEqual((s.median, s.min, s.max, s.n), (2.5, 1.0, 10.0, 4))
        self.assertIsNone(br.stat([]))
        self.assertIsNone(br.stat([None, float("inf")]))

    def test_ratio_is_of_medians_and_verdicts_follow_the_goal_direction(self):
        f = Figure("failover", "ms", [5, 6, 100], [400, 500, 600], Goal(0.25))
        self.assertAlmostEqual(f.ratio(), 6 / 500)
        self.assertEqual(f.verdict(), "meets")
        slow = Figure("failover", "ms", [200], [400], Goal(0.25))
        self.assertEqual(slow.verdict(), "MISSES")
        writes = Figure("create x16", "ops/s", [4000], [3000], Goal(2.0, at_least=True))
        self.assertEqual(writes.verdict(), "MISSES")
        writes.zabd = [6000]
        self.assertEqual(writes.verdict(), "meets")
        # A goal on the boundary is met; a system not measured is said so, not guessed.
        self.assertEqual(Figure("x", "ms", [1], [4], Goal(0.25)).verdict(), "meets")
        self.assertEqual(Figure("x", "ms", [1], [], Goal(0.25)).verdict(), "not measured")
        self.assertIsNone(Figure("x", "ms", [1], [0]).ratio())
        self.assertEqual(Figure("x", "ms", [1], [2]).verdict(), "")


class Tables(unittest.TestCase):
    def figs(self):
        return [Figure("3: failover", "ms", [6.9, 7.1, 12.0], [390.0, 410.0], Goal(0.25)),
                Figure("create x1: throughput", "ops/s", [800.0], [1600.0],
                       Goal(2.0, at_least=True)),
                Figure("rounds", "", [1, 1], [], note="zabd only")]

    def test_rows_carry_every_statistic_the_ratio_and_the_verdict(self):
        rows = br.rows(self.figs())
        self.assertEqual(len(rows), 3)
        self.assertTrue(all(len(r) == len(br.HEADERS) for r in rows))
        self.assertEqual(rows[0][2:], ("7.10", "6.90", "12.0", "400", "390", "410", "0.018x",
                                       "<= 0.25x", "meets"))
        self.assertEqual(rows[1][2], "800")
        self.assertEqual(rows[1][8:], ("0.50x", ">= 2x", "MISSES"))
        self.assertEqual(rows[2][0], "rounds (zabd only)")
        self.assertEqual(rows[2][5], "n/a")
        self.assertEqual(rows[2][8], "n/a")

    def test_missed_goals_are_marked_in_the_summary(self):
        lines = br.goal_summary(self.figs())
        self.assertEqual(len(lines), 2)
        self.assertIn("meets", lines[0])
        self.assertIn("**MISSES**", lines[1])
        self.assertIn("0.50x", lines[1])

    def test_text_and_markdown_tables_have_a_line_per_figure(self):
        text = br.text_table(self.figs())
        self.assertEqual(len(text.splitlines()), 4)
        md = br.md_table(br.HEADERS, br.rows(self.figs()))
        lines = md.splitlines()
        self.assertEqual(len(lines), 5)
        self.assertTrue(all(line.count("|") == len(br.HEADERS) + 1 for line in lines))

    def test_pipes_in_cells_are_escaped(self):
        md = br.md_table(("a",), [("x|y",)])
        self.assertIn("x\\|y", md)


class Splice(unittest.TestCase):
    def test_appends_with_markers_then_replaces_only_between_them(self):
        doc = "# Benchmarks\n\nhand-written\n"
        once = br.splice(doc, "generated 1\n")
        self.assertTrue(once.startswith(doc.rstrip("\n")))
        self.assertIn(br.BEGIN_MARK + "\ngenerated 1\n" + br.END_MARK, once)
        twice = br.splice(once + "\ntrailing hand-written\n", "generated 2")
        self.assertNotIn("generated 1", twice)
        self.assertIn("generated 2", twice)
        self.assertIn("hand-written\n", twice)
        self.assertTrue(twice.endswith("trailing hand-written\n"))
        self.assertEqual(twice.count(br.BEGIN_MARK), 1)

    def test_a_lone_marker_is_an_error_not_a_silent_overwrite(self):
        with self.assertRaises(ValueError):
            br.splice("x\n" + br.BEGIN_MARK + "\n", "g")
        with self.assertRaises(ValueError):
            br.splice(br.END_MARK + "\n" + br.BEGIN_MARK, "g")


class Svg(unittest.TestCase):
    def test_chart_is_valid_svg_with_a_marker_per_point_and_whiskers(self):
        s1 = br.series_of("zabd", "#00f", {1: [6, 7, 12], 2: [10, 11], 3: []})
        s2 = br.series_of("ZK", "#f00", {1: [390], 2: [420]}, dashed=True)
        self.assertEqual(len(s1.points), 2, "an x without samples is dropped")
        svg = br.line_chart("t", "x", "y", [s1, s2], log_y=True, x_labels={1: "3", 2: "3+1"})
        root = ET.fromstring(svg)
        ns = "{http://www.w3.org/2000/svg}"
        self.assertEqual(len(root.findall(f"{ns}circle")), 4)
        self.assertEqual(len(root.findall(f"{ns}polyline")), 2)
        texts = [t.text for t in root.iter(f"{ns}text")]
        self.assertIn("3+1", texts)
        self.assertIn("zabd", texts)
        # Whiskers only where min < max: s1 at x=1 and x=2 have spread, s2 has none.
        vertical = [l for l in root.findall(f"{ns}line")
                    if l.get("stroke") == "#00f" and l.get("x1") == l.get("x2")]
        self.assertEqual(len(vertical), 2)

    def test_log_axes_and_no_data(self):
        s = br.Series("a", [(1, 800, 700, 900), (16, 4000, 3900, 4100), (128, 9000, 9000, 9000)],
                      "#000")
        svg = br.line_chart("t", "x", "y", [s], log_x=True, log_y=True)
        ET.fromstring(svg)
        self.assertIn(">1,000<", svg)
        empty = br.line_chart("nothing", "x", "y", [])
        self.assertIn("no data", ET.fromstring(empty).find(
            "{http://www.w3.org/2000/svg}text").text)


class ServingRule(unittest.TestCase):
    """SERVING_RULE: newer epoch, or a non-serving reply seen since the stop."""

    def v(self, mode, epoch, since, saw_break):
        return ((mode, epoch), since, saw_break)

    def test_a_follower_still_in_the_old_epoch_without_a_break_is_not_serving_again(self):
        views = {1: self.v("leader", 5, 1.0, True), 2: self.v("follower", 4, 0.5, False)}
        self.assertIsNone(bf.all_serving_again(views, old_epoch=4))

    def test_a_break_or_a_newer_epoch_counts_and_the_last_survivor_sets_the_time(self):
        views = {1: self.v("leader", 4, 1.2, True), 2: self.v("follower", 5, 0.9, False)}
        self.assertEqual(bf.all_serving_again(views, old_epoch=4), 1.2)

    def test_exactly_one_leader_and_everyone_serving(self):
        two = {1: self.v("leader", 5, 1.0, True), 2: self.v("leader", 5, 1.1, True)}
        self.assertIsNone(bf.all_serving_again(two, old_epoch=4))
        looking = {1: self.v("leader", 5, 1.0, True), 2: self.v("not-serving", None, 1.1, True)}
        self.assertIsNone(bf.all_serving_again(looking, old_epoch=4))
        obs = {1: self.v("leader", 5, 1.0, True), 2: self.v("follower", 5, 1.1, True),
               3: self.v("observer", 4, 1.3, True)}
        self.assertEqual(bf.all_serving_again(obs, old_epoch=4), 1.3)
        self.assertIsNone(bf.all_serving_again({}, old_epoch=4))



class ZooKeeperLogs(unittest.TestCase):
    def test_only_notifications_from_other_servers_count(self):
        fmt = ("2026-11-23 07:12:23,847 - INFO  [WorkerReceiver[myid={me}]:FastLeaderElection"
               "$Messenger$WorkerReceiver@391] - Notification: my state:LOOKING; n.sid:{sid}, "
               "n.state:LOOKING, n.leader:1, n.round:0x1, n.peerEpoch:0x0, n.zxid:0x0")
        lines = [fmt.format(me=1, sid=1), fmt.format(me=1, sid=2), fmt.format(me=1, sid=3),
                 "2026-11-23 07:12:25,163 - INFO  [QuorumPeer[myid=1]:Follower@77] - "
                 "FOLLOWING - LEADER ELECTION TOOK - 240 MS"]
        self.assertEqual(bf.zk_notifications_from_others(lines), 2)
        self.assertEqual(bf._ZK_TOOK_RE.search(lines[3]).group(1), "240")


if __name__ == "__main__":
    unittest.main()
