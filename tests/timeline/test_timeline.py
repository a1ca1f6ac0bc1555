"""scripts/timeline.py understands real zabd logs and `elec` answers, and draws valid SVG.

    python3 -m unittest discover -s tests/timeline

failover/zabdN.log are the logs of a real run (scripts/timeline.sh failover, debug build;
paths shortened): start three voters, kill -9 the leader (3), restart it, SIGTERM the new
leader (2, graceful hand-off), restart it, stop everything.
"""

import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

import timeline  # noqa: E402

FAILOVER = [os.path.join(HERE, "failover", f"zabd{i}.log") for i in (1, 2, 3)]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.readlines()


def states(lane):
    """The lane's states in order, repeats merged."""
    out = []
    for _, _, state, _ in lane.segments:
        if not out or out[-1] != state:
            out.append(state)
    return out


class ParseLines(unittest.TestCase):
    def test_election_lines(self):
        t, message, fields = timeline.parse_log_line(
            "2026-11-23T05:03:27.766517Z  INFO election decided sid=3 state=\"leading\" leader=3 "
            "round=1 rounds=1 notifications=4 distinct_votes=3 joined_established=false "
            "took=4.009135ms\n")
        self.assertEqual(message, "election decided")
        self.assertEqual(fields["state"], "leading")
        self.assertEqual(fields["distinct_votes"], "3")
        self.assertAlmostEqual(timeline.as_ms(fields["took"]), 4.009135)
        self.assertAlmostEqual(t % 60000, 27766.517, places=3)

        _, message, fields = timeline.parse_log_line(
            "2026-11-23T05:03:34.678062Z  INFO LOOKING sid=3 epoch=2 "
            "cause=leader lost: connection to leader 2: closed by peer")
        self.assertEqual(message, "LOOKING")
        self.assertEqual(fields["cause"], "leader lost: connection to leader 2: closed by peer")
        self.assertEqual(fields["epoch"], "2")

        _, message, fields = timeline.parse_log_line(
            "2026-11-23T05:03:34.711656Z  INFO LEADING: serving sid=3 epoch=3 "
            "since_election=30.457088ms")
        self.assertEqual((message, fields["epoch"]), ("LEADING: serving", "3"))
        self.assertAlmostEqual(timeline.as_ms(fields["since_election"]), 30.457088)

        _, message, fields = timeline.parse_log_line("2026-11-23T05:03:38.705808Z  INFO shutting down")
        self.assertEqual((message, fields), ("shutting down", {}))

    def test_markers_colors_spans_and_json(self):
        kind, t, what = timeline.parse_log_line(
            "===== 2026-11-23 05:03:30.526 UTC: ensemble.sh killed server 3 (pid 25697) with SIGKILL")
        self.assertEqual(kind, "marker")
        self.assertTrue(what.startswith("killed server 3"))
        self.assertAlmostEqual(t % 60000, 30526.0, places=3)
        # ensemble.sh's older markers had whole seconds; a date without %N prints "3N".
        for line in ("===== 2026-11-23 03:41:43 UTC: ensemble.sh starting server 1: zabd",
                     "===== 2026-11-23 03:41:43.3N UTC: ensemble.sh starting server 1: zabd"):
            kind, t, _ = timeline.parse_log_line(line)
            self.assertEqual(kind, "marker")
            self.assertAlmostEqual(t % 60000, 43000.0, places=3)
        # tracing's colors on a terminal: dim time, green level, italic keys, dim `=`.
        _, message, fields = timeline.parse_log_line(
            "\x1b[2m2026-11-23T03:41:44.043637Z\x1b[0m \x1b[32m INFO\x1b[0m LEADING: serving "
            "\x1b[3msid\x1b[0m\x1b[2m=\x1b[0m3 \x1b[3mepoch\x1b[0m\x1b[2m=\x1b[0m1")
        self.assertEqual((message, fields["sid"], fields["epoch"]), ("LEADING: serving", "3", "1"))
        _, message, _ = timeline.parse_log_line(
            "2026-11-23T03:41:44.0Z  INFO admin{sid=1 port=8080}: admin server listening addr=x")
        self.assertEqual(message, "admin server listening")
        t, message, fields = timeline.parse_log_line(
            '{"timestamp":"2026-11-23T05:03:34.681143Z","level":"INFO","fields":{"message":'
            '"election decided","sid":3,"state":"leading","leader":3,"took":"3.088677ms",'
            '"joined_established":false}}')
        self.assertEqual((message, fields["state"], fields["sid"]), ("election decided", "leading", "3"))
        self.assertEqual(fields["joined_established"], "false")
        self.assertIsNone(timeline.parse_log_line("not a log line"))

    def test_durations(self):
        self.assertEqual(timeline.as_ms("1.5s"), 1500.0)
        self.assertAlmostEqual(timeline.as_ms("800µs"), 0.8)
        self.assertAlmostEqual(timeline.as_ms("950ns"), 0.00095)
        self.assertEqual(timeline.as_ms("12.5"), 12.5)
        self.assertIsNone(timeline.as_ms("soon"))


class RealFailover(unittest.TestCase):
    def setUp(self):
        self.lanes, self.t0, self.t1 = timeline.build_model([(p, read(p)) for p in FAILOVER])
        self.by_sid = {lane.sid: lane for lane in self.lanes}

    def test_three_lanes_in_order(self):
        self.assertEqual([lane.sid for lane in self.lanes], [1, 2, 3])
        self.assertGreater(self.t1 - self.t0, 5000)

    def test_the_killed_leader(self):
        lane = self.by_sid[3]
        self.assertEqual(states(lane), [
            "down", "starting", "looking", "syncing", "leading",  # first leader
            "down", "starting", "looking", "syncing", "following",  # killed, restarted, joins 2
            "looking", "syncing", "leading",  # 2 hands off: 3 leads epoch 3
            "looking", "stopping", "down",  # the final stop
        ])
        kills = [m for m in lane.marks if m[1] == "killed"]
        self.assertEqual(len(kills), 1)
        self.assertEqual(kills[0][2], "kill -9 3")
        leading = [s for s in lane.segments if s[2] == "leading"]
        self.assertEqual([s[3] for s in leading], ["e1", "e3"])
        # The kill ends the first run exactly at the marker.
        down = [s for s in lane.segments if s[2] == "down"]
        self.assertEqual(down[1][0], kills[0][0])

    def test_elections_are_complete(self):
        lane = self.by_sid[3]
        first, rejoin, after_handoff, last = lane.elections
        self.assertEqual(first["cause"], "start-up")
        self.assertEqual((first["state"], first["serving_epoch"], first["rounds"]), ("leading", 1, 1))
        self.assertEqual(first["distinct_votes"], 3)
        self.assertAlmostEqual(first["took_ms"], 4.009135)
        self.assertTrue(rejoin["joined"])
        self.assertEqual((rejoin["state"], rejoin["leader"], rejoin["serving_epoch"]), ("following", 2, 2))
        self.assertEqual(after_handoff["cause"], "leader lost: leader 2 handed off")
        self.assertEqual(after_handoff["serving_epoch"], 3)
        self.assertEqual(last["cause"], "quorum lost: not sufficient followers synced")
        self.assertNotIn("state", last)

    def test_the_graceful_hand_off(self):
        lane = self.by_sid[2]
        kinds = [m[1] for m in lane.marks]
        self.assertEqual(kinds.count("sigterm"), 2)
        self.assertEqual(kinds.count("handoff"), 1)
        self.assertNotIn("vanished", kinds)
        self.assertEqual(states(lane)[:9], [
            "down", "starting", "looking", "syncing", "following",
            "looking", "syncing", "leading", "stopping"])
        self.assertIn("server 2 hands off the leadership", [text for _, text in lane.actions])

    def test_every_server_ends_down_after_the_final_stop(self):
        for lane in self.lanes:
            self.assertEqual(lane.segments[-1][2], "down", lane.sid)
            self.assertEqual(lane.segments[-1][1], self.t1)

    def test_until_leaves_out_the_final_stop(self):
        until = timeline.parse_until("2026-11-23 05:03:38.000")
        lanes, _, t1 = timeline.build_model([(p, read(p)) for p in FAILOVER], until=until)
        self.assertEqual(t1, until)
        last = {lane.sid: (lane.segments[-1][2], lane.segments[-1][3]) for lane in lanes}
        self.assertEqual(last, {1: ("following", "e3"), 2: ("following", "e3"),
                                3: ("leading", "e3")})
        self.assertEqual(sum(len(lane.elections) for lane in lanes), 9)

    def test_svg_is_well_formed_and_readable(self):
        svg = timeline.render(self.lanes, self.t0, self.t1, title="failover")
        root = ET.fromstring(svg)
        self.assertTrue(root.tag.endswith("svg"))
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        for wanted in ("server 1", "server 2", "server 3", "kill -9 3", "SIGTERM 2", "failover"):
            self.assertIn(wanted, texts)
        self.assertIn("following 2 (joined)", texts)
        self.assertTrue(any(t and t.startswith("+") and t.endswith(" s") for t in texts),
                        "quiet stretches are cut out")
        linear = ET.fromstring(timeline.render(self.lanes, self.t0, self.t1, linear=True))
        self.assertFalse(any((t.text or "").startswith("+")
                             for t in linear.iter("{http://www.w3.org/2000/svg}text")))

    def test_command_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "t.svg")
            self.assertEqual(timeline.main(FAILOVER + ["-o", out, "--gap-ms", "250"]), 0)
            with open(out, encoding="utf-8") as f:
                ET.fromstring(f.read())


class Runs(unittest.TestCase):
    def lane(self, text):
        sid, events = timeline.events_from_log(text.strip().splitlines())
        lane = timeline.build_lane(sid, events)
        lane.finish(lane.last)
        return lane

    def test_a_line_written_after_the_kill_marker_is_not_a_new_process(self):
        lane = self.lane("""
===== 2026-11-23 05:00:00.000 UTC: ensemble.sh starting server 4: zabd --config zoo4.cfg
2026-11-23T05:00:00.100000Z  INFO transaction log opened dir=x last_zxid=0x0
2026-11-23T05:00:00.110000Z  INFO LOOKING sid=4 epoch=0 cause=start-up
2026-11-23T05:00:00.120000Z  INFO election decided sid=4 state="following" leader=5 round=1 rounds=1 notifications=2 distinct_votes=2 joined_established=true took=10ms
2026-11-23T05:00:00.150000Z  INFO serving sid=4 state="following" leader=5 epoch=7 since_election=30ms
===== 2026-11-23 05:00:01.000 UTC: ensemble.sh killed server 4 (pid 1) with SIGKILL
2026-11-23T05:00:01.000400Z  INFO election connection up peer=5
===== 2026-11-23 05:00:03.000 UTC: ensemble.sh starting server 4: zabd --config zoo4.cfg
2026-11-23T05:00:03.100000Z  INFO transaction log opened dir=x last_zxid=0x0
""")
        self.assertEqual(lane.sid, 4)
        self.assertEqual(states(lane), ["starting", "looking", "syncing", "following", "down",
                                        "starting"])
        self.assertEqual([s[3] for s in lane.segments if s[2] == "following"], ["e7"])

    def test_without_markers_a_reopened_log_is_a_restart(self):
        lane = self.lane("""
2026-11-23T05:00:00.100000Z  INFO transaction log opened dir=x last_zxid=0x0
2026-11-23T05:00:00.110000Z  INFO LOOKING sid=2 epoch=0 cause=start-up
2026-11-23T05:00:00.120000Z  INFO election decided sid=2 state="leading" leader=2 round=1 rounds=1 notifications=2 distinct_votes=1 joined_established=false took=10ms
2026-11-23T05:00:00.150000Z  INFO LEADING: serving sid=2 epoch=1 since_election=30ms
2026-11-23T05:00:00.900000Z  INFO learner synced and serving sid=2 learner=1
2026-11-23T05:00:05.100000Z  INFO transaction log opened dir=x last_zxid=0x0
2026-11-23T05:00:05.110000Z  INFO LOOKING sid=2 epoch=1 cause=start-up
""")
        self.assertEqual(states(lane), ["starting", "looking", "syncing", "leading", "down",
                                        "starting", "looking"])
        # Gone after its last line (time unknown), marked so.
        vanished = [m for m in lane.marks if m[1] == "vanished"]
        self.assertEqual(len(vanished), 1)
        down = [s for s in lane.segments if s[2] == "down"][0]
        self.assertEqual(down[0], vanished[0][0])
        self.assertAlmostEqual(down[0] % 60000, 900.0, places=3)


class ElecInput(unittest.TestCase):
    # What `elec` answers (see the Rust tests of status::history and server::fourlw).
    LINES = [
        'sid=1 id=1 start_unix_ms=1795410153314 took_ms=6.405 state=following leader=3 epoch=1 '
        'prior_epoch=0 rounds=1 round=1 notifications_received=3 notifications_sent=3 '
        'distinct_votes=3 joined_established=false start_uptime_ms=36.366 '
        'end_unix_ms=1795410153320 end_uptime_ms=42.771 serving_unix_ms=1795410153386 '
        'serving_after_ms=65.296 cause="start-up"',
        'sid=1 id=2 start_unix_ms=1795410155246 took_ms=- state=looking leader=- epoch=- '
        'prior_epoch=1 rounds=- round=- notifications_received=- notifications_sent=- '
        'distinct_votes=- joined_established=- start_uptime_ms=1968.148 end_unix_ms=- '
        'end_uptime_ms=- serving_unix_ms=- serving_after_ms=- '
        'cause="leader lost: \\"x\\" closed by peer"',
    ]

    def test_elec_lines_become_a_lane(self):
        lanes, t0, t1 = timeline.build_model([("elec", self.LINES)])
        self.assertEqual(len(lanes), 1)
        lane = lanes[0]
        self.assertEqual(lane.sid, 1)
        self.assertEqual(states(lane), ["looking", "syncing", "following", "looking"])
        first, second = lane.elections
        self.assertEqual((first["state"], first["serving_epoch"], first["leader"]), ("following", 1, 3))
        self.assertAlmostEqual(first["took_ms"], 6.405)
        self.assertEqual(second["cause"], 'leader lost: "x" closed by peer')
        self.assertEqual((t0, t1), (1795410153314.0, 1795410155246.0))
        ET.fromstring(timeline.render(lanes, t0, t1))


if __name__ == "__main__":
    unittest.main()
