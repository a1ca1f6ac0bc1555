#!/usr/bin/env python3
"""Draw a zabd ensemble's timeline as an SVG, from its servers' logs or their `elec` answers.
Standard library only.

    timeline.py run/three/zabd*.log -o timeline.svg
    timeline.py --fetch 127.0.0.1:2181 --fetch 127.0.0.1:2182 -o now.svg
    timeline.py elec1.txt elec2.txt -o timeline.svg     (files holding `elec` answers)

One lane per server shows its state over time as colored segments: down, starting (process up,
not yet looking), looking, syncing (election decided, not serving yet), following, leading,
observing, stopping (SIGTERM received). Diamonds mark decisions; vertical lines mark the kills
(SIGKILL) and SIGTERMs that scripts/ensemble.sh notes in the logs. Quiet stretches longer than
--gap-ms are cut out of the time axis (marked with a zigzag and their length) so that
elections of a few ms stay visible between actions seconds apart; --linear keeps one axis;
--until TIME leaves out what happened later (say, the final stop).
Below the chart, a table lists every election (cause, time taken, rounds, notifications,
distinct votes, outcome, epoch, sync time) and every start, kill and stop.

Inputs: zabd's text logs (the default format, ANSI colors allowed) or `--log-format json`
logs, with the markers scripts/ensemble.sh writes (`===== <UTC time> UTC: ensemble.sh ...`);
a file whose lines are `elec` lines (`sid=N id=N ...`) is read as an election history (which
knows no process starts or stops). A log's server id comes from its `sid=` fields, else from a
number in its file name.
"""

import argparse
import datetime as dt
import html
import json
import math
import os
import re
import shlex
import socket
import sys
import time

# --------------------------------------------------------------------------------------------
# Parsing

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TEXT_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)Z?\s+"
    r"(?P<level>TRACE|DEBUG|INFO|WARN|ERROR)\s+(?P<rest>.*)$"
)
MARKER = re.compile(
    r"^===== (?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?P<frac>\.\d+(?=\s))?\S* UTC: "
    r"ensemble\.sh (?P<what>.*)$"
)
# The start of a `key=value` field (tracing prints the message first, then the fields).
FIELD = re.compile(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_.]*)=")
SPAN_PREFIX = re.compile(r"^(?:[A-Za-z_][\w:]*\{[^}]*\}:\s*)+")
ELEC_LINE = re.compile(r"^sid=\d+ id=\d+ ")


def parse_ts(text):
    """`2026-11-23T04:58:17.203364` (UTC) -> ms since the Unix epoch (float)."""
    text = text.rstrip("Z").replace(" ", "T")
    base, _, frac = text.partition(".")
    t = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    ms = t.timestamp() * 1000.0
    if frac:
        digits = re.match(r"\d*", frac).group(0)
        if digits:
            ms += int(digits) / 10 ** (len(digits) - 3)
    return ms


def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    return value


def split_fields(rest):
    """`LOOKING sid=1 epoch=0 cause=leader lost: x` -> ("LOOKING", {sid, epoch, cause}).
    An unquoted value runs until the next ` key=` (tracing does not quote Display values)."""
    rest = SPAN_PREFIX.sub("", rest)
    starts = list(FIELD.finditer(rest))
    if not starts:
        return rest.strip(), {}
    message = rest[: starts[0].start()].strip()
    fields = {}
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(rest)
        fields[m.group(1)] = unquote(rest[m.end():end])
    return message, fields


def parse_log_line(line):
    """One log line -> (ts_ms, message, fields), ("marker", ts_ms, what), or None."""
    line = ANSI.sub("", line.rstrip("\n"))
    m = MARKER.match(line)
    if m:
        return ("marker", parse_ts(m.group("ts") + (m.group("frac") or "")), m.group("what"))
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return None
        if not isinstance(obj, dict) or "timestamp" not in obj:
            return None
        fields = dict(obj.get("fields") or {})
        for key, value in obj.items():
            if key not in ("timestamp", "level", "fields", "spans", "span", "target"):
                fields.setdefault(key, value)
        message = str(fields.pop("message", ""))
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        fields = {k: unquote(v) for k, v in fields.items()}
        return (parse_ts(obj["timestamp"]), message, fields)
    m = TEXT_LINE.match(line)
    if not m:
        return None
    message, fields = split_fields(m.group("rest"))
    return (parse_ts(m.group("ts")), message, fields)


def as_int(value):
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def as_ms(value):
    """`35.044181ms`, `1.2s`, `800µs`, `950ns` (Rust's Duration Debug) -> ms."""
    if value is None:
        return None
    m = re.match(r"^\s*([0-9.]+)\s*(ns|µs|us|ms|s)\s*$", str(value))
    if not m:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    n = float(m.group(1))
    return n * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}[m.group(2)]


class Event:
    """Something that happened to one server at one time."""

    def __init__(self, t, kind, **info):
        self.t = t
        self.kind = kind
        self.info = info

    def __repr__(self):
        return f"Event({self.t:.3f}, {self.kind!r}, {self.info!r})"


# Event kinds: start (process started), looking, decided, serving, shutdown (SIGTERM/SIGINT
# received), handoff, stepdown, sigterm (ensemble.sh sent it), killed (SIGKILL), exit (the
# process is gone: its last line), line (any other line: the process was alive then).

MESSAGES = {
    "LOOKING": "looking",
    "election decided": "decided",
    "serving": "serving",
    "LEADING: serving": "leading",
    "serving standalone": "standalone",
    "shutting down": "shutdown",
    "handing off the leadership": "handoff",
    "leader steps down": "stepdown",
}


def events_from_log(lines):
    """The events of one log file, in file order, with `line` events for every other line.
    Returns (sid or None, events)."""
    events = []
    sid = None
    for raw in lines:
        parsed = parse_log_line(raw)
        if parsed is None:
            continue
        if parsed[0] == "marker":
            _, t, what = parsed
            m = re.match(r"starting server (\d+)", what)
            if m:
                events.append(Event(t, "start", sid=int(m.group(1))))
                continue
            m = re.match(r"sending SIGTERM to server (\d+)", what)
            if m:
                events.append(Event(t, "sigterm", sid=int(m.group(1))))
                continue
            m = re.match(r"killed server (\d+)", what)
            if m:
                events.append(Event(t, "killed", sid=int(m.group(1))))
            continue
        t, message, fields = parsed
        if sid is None and as_int(fields.get("sid")) is not None and message in MESSAGES:
            sid = as_int(fields.get("sid"))
        kind = MESSAGES.get(message)
        if kind is None:
            if message == "transaction log opened":
                events.append(Event(t, "opened"))
            else:
                events.append(Event(t, "line"))
            continue
        info = {}
        if kind == "looking":
            info = {"cause": fields.get("cause", ""), "epoch": as_int(fields.get("epoch"))}
        elif kind == "decided":
            info = {
                "state": fields.get("state", ""),
                "leader": as_int(fields.get("leader")),
                "round": as_int(fields.get("round")),
                "rounds": as_int(fields.get("rounds")),
                "notifications": as_int(fields.get("notifications")),
                "distinct_votes": as_int(fields.get("distinct_votes")),
                "joined": fields.get("joined_established") == "true",
                "took_ms": as_ms(fields.get("took")),
            }
        elif kind in ("serving", "leading"):
            state = "leading" if kind == "leading" else fields.get("state", "following")
            kind = "serving"
            info = {
                "state": state,
                "epoch": as_int(fields.get("epoch")),
                "sync_ms": as_ms(fields.get("since_election")),
            }
        elif kind == "standalone":
            kind, info = "serving", {"state": "standalone", "epoch": None, "sync_ms": None}
        elif kind == "stepdown":
            info = {"reason": fields.get("reason", "")}
        events.append(Event(t, kind, **info))
    return sid, events


def events_from_elec(lines):
    """`elec` lines (possibly of several servers) -> {sid: events}."""
    by_sid = {}
    for line in lines:
        line = line.strip()
        if not ELEC_LINE.match(line):
            continue
        kv = {}
        for token in shlex.split(line):
            key, _, value = token.partition("=")
            kv[key] = value
        sid = as_int(kv.get("sid"))
        events = by_sid.setdefault(sid, [])
        start = as_int(kv.get("start_unix_ms"))
        if start is None:
            continue
        events.append(Event(float(start), "looking", cause=kv.get("cause", ""),
                            epoch=as_int(kv.get("prior_epoch"))))
        end = as_int(kv.get("end_unix_ms"))
        if end is None:
            continue
        events.append(Event(float(end), "decided",
                            state=kv.get("state", ""),
                            leader=as_int(kv.get("leader")),
                            round=as_int(kv.get("round")),
                            rounds=as_int(kv.get("rounds")),
                            notifications=as_int(kv.get("notifications_received")),
                            distinct_votes=as_int(kv.get("distinct_votes")),
                            joined=kv.get("joined_established") == "true",
                            took_ms=as_ms(kv.get("took_ms"))))
        serving = as_int(kv.get("serving_unix_ms"))
        if serving is not None:
            events.append(Event(float(serving), "serving", state=kv.get("state", ""),
                                epoch=as_int(kv.get("epoch")),
                                sync_ms=as_ms(kv.get("serving_after_ms"))))
    for events in by_sid.values():
        events.sort(key=lambda e: e.t)
    return by_sid


def fetch_elec(address, timeout=3.0):
    host, _, port = address.rpartition(":")
    with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout) as sock:
        sock.sendall(b"elec")
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace").splitlines()


# --------------------------------------------------------------------------------------------
# The model: per server, state segments and marks

SERVING_STATES = {"leading": "leading", "following": "following", "observing": "observing",
                  "standalone": "standalone"}


class Lane:
    def __init__(self, sid, from_log=True):
        self.sid = sid
        self.from_log = from_log
        self.segments = []  # [start, end, state, label]
        self.marks = []  # (t, kind, text): decided, killed, sigterm, handoff, vanished
        self.elections = []  # dicts for the table
        self.actions = []  # (t, text) for the table
        self.state = None
        self.since = None
        self.label = ""
        self.last = None  # the time of the last event

    def switch(self, t, state, label=""):
        if self.state is not None:
            self.segments.append([self.since, t, self.state, self.label])
        self.state, self.since, self.label = state, t, label

    def finish(self, t_end):
        if self.state is not None:
            self.segments.append([self.since, max(t_end, self.since), self.state, self.label])
            self.state = None


def build_lane(sid, events, from_log=True):
    """Replay one server's events into segments. Times going backwards by a little (log lines
    of different threads) are clamped to keep the lane monotonic."""
    lane = Lane(sid, from_log)
    run = None  # the running process: {"last": t, "active": bool, "stopping": bool}
    pending = None  # the election in progress (a dict of the table)
    killed = False  # the last process was killed (and no new one started yet)
    t_prev = None

    def end_run(at):
        nonlocal run
        lane.switch(at, "down")
        run = None

    for e in events:
        t = e.t if t_prev is None else max(e.t, t_prev)
        t_prev = t
        lane.last = t
        # A new process: ensemble.sh's marker; without markers, the first line, or the log
        # opening again after the previous process did something. After a kill, a line the
        # dying process wrote after ensemble.sh's marker is not a new process.
        new = e.kind == "start" or (from_log and e.kind != "killed" and (
            (run is None and (not killed or e.kind == "opened"))
            or (run is not None and e.kind == "opened" and run["active"])))
        if new:
            if run is not None:
                # The previous process ended without a marker: it was alive at its last line.
                if not run["stopping"]:
                    lane.marks.append((run["last"], "vanished", ""))
                end_run(run["last"])
            lane.switch(t, "starting")
            lane.actions.append((t, f"server {sid} started"))
            run = {"last": t, "active": False, "stopping": False}
            pending = None
            killed = False
            if e.kind == "start":
                continue
        if run is not None:
            run["last"] = t
        if e.kind in ("line", "opened"):
            continue
        if e.kind == "killed":
            lane.marks.append((t, "killed", f"kill -9 {sid}"))
            lane.actions.append((t, f"server {sid} killed (SIGKILL)"))
            if run is not None or not from_log:
                end_run(t)
            killed = True
            continue
        if run is None and from_log:
            continue  # a dead process's stray line
        if e.kind == "sigterm":
            lane.marks.append((t, "sigterm", f"SIGTERM {sid}"))
            lane.actions.append((t, f"server {sid} sent SIGTERM"))
            if run is not None:
                run["stopping"] = True
            continue
        if run is not None:
            run["active"] = True
        if e.kind == "looking":
            lane.switch(t, "looking")
            pending = {"t": t, "cause": e.info.get("cause", ""), "prior_epoch": e.info.get("epoch")}
            lane.elections.append(pending)
        elif e.kind == "decided":
            state = e.info.get("state", "")
            lane.switch(t, "syncing", state)
            lane.marks.append((t, "decided", state))
            if pending is None:
                pending = {"t": t, "cause": "", "prior_epoch": None}
                lane.elections.append(pending)
            pending.update(e.info)
        elif e.kind == "serving":
            state = SERVING_STATES.get(e.info.get("state"), "following")
            epoch = e.info.get("epoch")
            lane.switch(t, state, f"e{epoch}" if epoch is not None else "")
            if pending is not None:
                pending["serving_epoch"] = epoch
                pending["sync_ms"] = e.info.get("sync_ms")
            pending = None
        elif e.kind == "shutdown":
            lane.switch(t, "stopping")
            lane.actions.append((t, f"server {sid} shutting down"))
            if run is not None:
                run["stopping"] = True
        elif e.kind == "handoff":
            lane.marks.append((t, "handoff", "hand-off"))
            lane.actions.append((t, f"server {sid} hands off the leadership"))
        elif e.kind == "stepdown":
            lane.actions.append((t, f"server {sid} steps down: {e.info.get('reason', '')}"))
    if run is not None and run["stopping"]:
        # Stopped: gone after its last line.
        end_run(run["last"])
    return lane


def build_model(inputs, now=None, until=None):
    """inputs: list of (name, lines); `now` (ms since the epoch), when the states were read
    from running servers, extends their lanes to it; events after `until` are left out (the
    lanes end there). Returns (lanes sorted by server id, start, end)."""
    lanes = {}

    def upto(events):
        return events if until is None else [e for e in events if e.t <= until]

    for name, lines in inputs:
        lines = list(lines)
        if any(ELEC_LINE.match(l.strip()) for l in lines[:50]):
            for sid, events in events_from_elec(lines).items():
                lanes[sid] = build_lane(sid, upto(events), from_log=False)
            continue
        sid, events = events_from_log(lines)
        if sid is None:
            for e in events:
                if "sid" in e.info:
                    sid = e.info["sid"]
                    break
        if sid is None:
            m = re.findall(r"\d+", os.path.basename(name))
            sid = int(m[-1]) if m else len(lanes) + 1
        lanes[sid] = build_lane(sid, upto(events))
    ends = [t for lane in lanes.values() for t in
            [s[1] for s in lane.segments] + [lane.since, lane.last] if t is not None]
    starts = [t for lane in lanes.values() for t in
              [s[0] for s in lane.segments[:1]] + [lane.since] if t is not None]
    t_end = max(ends + ([now] if now is not None else []), default=0.0)
    if until is not None:
        t_end = until
    t_start = min(starts, default=t_end)
    for lane in lanes.values():
        lane.finish(t_end)
        # Before its first start a server was down (drawn only for logs).
        if lane.from_log and lane.segments and lane.segments[0][0] > t_start:
            lane.segments.insert(0, [t_start, lane.segments[0][0], "down", ""])
    return [lanes[s] for s in sorted(lanes)], t_start, t_end


# --------------------------------------------------------------------------------------------
# The time axis: windows around bursts of events, quiet stretches cut out


def windows(times, t_start, t_end, gap_ms, linear):
    """[(a, b)] windows of real time to draw, in order."""
    if linear or not times:
        return [(t_start, max(t_end, t_start + 1))]
    times = sorted(set(times))
    groups = [[times[0], times[0]]]
    for t in times[1:]:
        if t - groups[-1][1] > gap_ms:
            groups.append([t, t])
        else:
            groups[-1][1] = t
    out = []
    for a, b in groups:
        pad = max(4.0, 0.06 * (b - a))
        out.append([a - pad, b + pad])
    out[0][0] = max(min(out[0][0], t_start), t_start - 1)
    out[-1][1] = max(out[-1][1], min(t_end, out[-1][1] + gap_ms))
    merged = [out[0]]
    for a, b in out[1:]:
        if a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [tuple(w) for w in merged]


class Axis:
    """Maps real time to x: windows scaled independently, fixed-width breaks between them."""

    BREAK = 34

    def __init__(self, wins, x0, width):
        self.wins = wins
        breaks = self.BREAK * (len(wins) - 1)
        usable = max(100, width - breaks)
        weights = [math.sqrt(max(b - a, 1.0)) for a, b in wins]
        total = sum(weights)
        min_w = min(150, usable / len(wins))
        widths = [max(min_w, usable * w / total) for w in weights]
        scale = usable / sum(widths)
        widths = [w * scale for w in widths]
        self.spans = []  # (a, b, xa, xb)
        x = x0
        for (a, b), w in zip(wins, widths):
            self.spans.append((a, b, x, x + w))
            x += w + self.BREAK
        self.x_end = x - self.BREAK

    def x(self, t):
        spans = self.spans
        if t <= spans[0][0]:
            return spans[0][2]
        for i, (a, b, xa, xb) in enumerate(spans):
            if t <= b:
                if t >= a:
                    return xa + (t - a) / (b - a) * (xb - xa)
                # In the break before this window.
                pa, pb, pxa, pxb = spans[i - 1]
                return pxb + (t - pb) / (a - pb) * (xa - pxb)
        return spans[-1][3]

    def pieces(self, a, b):
        """The visible (x_left, x_right) parts of [a, b], one per window it overlaps."""
        out = []
        for wa, wb, xa, xb in self.spans:
            lo, hi = max(a, wa), min(b, wb)
            if hi > lo:
                out.append((self.x(lo), self.x(hi)))
        return out

    def breaks(self):
        """(x_left, x_right, quiet ms) of every cut."""
        return [(self.spans[i][3], self.spans[i + 1][2], self.spans[i + 1][0] - self.spans[i][1])
                for i in range(len(self.spans) - 1)]


def nice_step(span, pixels, min_px=70):
    target = span * min_px / max(pixels, 1)
    if target <= 0:
        return 1.0
    exp = math.floor(math.log10(target))
    for m in (1, 2, 5, 10):
        step = m * 10 ** exp
        if step >= target:
            return step
    return 10 ** (exp + 1)


def fmt_ms(v, step):
    decimals = 0 if step >= 1 else min(3, max(0, -math.floor(math.log10(step))))
    return f"{v:,.{decimals}f}".replace(",", "\u2009")


def fmt_quiet(ms):
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


# --------------------------------------------------------------------------------------------
# SVG

COLORS = {
    "down": "url(#hatch)",
    "starting": "#c8c8c8",
    "looking": "#f39c12",
    "syncing": "#f9e79f",
    "following": "#5b9bd5",
    "leading": "#27ae60",
    "observing": "#a569bd",
    "standalone": "#17a589",
    "stopping": "#7f8c8d",
}
LEGEND = [
    ("down", "down"),
    ("starting", "starting"),
    ("looking", "looking (electing)"),
    ("syncing", "decided, syncing"),
    ("following", "following"),
    ("leading", "leading"),
    ("observing", "observing"),
    ("stopping", "stopping"),
]
TEXT_ON = {"leading": "#fff", "following": "#fff", "observing": "#fff", "standalone": "#fff",
           "stopping": "#fff"}


def esc(s):
    return html.escape(str(s), quote=True)


def render(lanes, t_start, t_end, title="", gap_ms=400.0, linear=False, width=1200):
    times = []
    for lane in lanes:
        for a, b, state, _ in lane.segments:
            times.append(a)
        times += [t for t, _, _ in lane.marks]
    times = [t for t in times if t_start <= t <= t_end]
    wins = windows(times, t_start, t_end, gap_ms, linear)
    left, right = 110, 24
    axis = Axis(wins, left, width - left - right)

    out = []
    lane_h, lane_gap = 30, 14
    top = 78
    marker_rows = 3
    chart_top = top + marker_rows * 15 + 6
    chart_h = len(lanes) * (lane_h + lane_gap) - lane_gap
    axis_y = chart_top + chart_h + 10

    # Marks across lanes: kills and SIGTERMs (labels stacked so they do not overlap).
    vlines = []
    for lane in lanes:
        for t, kind, text in lane.marks:
            if kind in ("killed", "sigterm"):
                vlines.append((t, kind, text))
    vlines.sort()
    rows = [[] for _ in range(marker_rows)]
    vline_svg = []
    for t, kind, text in vlines:
        x = axis.x(t)
        label_w = 7 * len(text) + 6
        # Near the right edge the label goes left of its line.
        tx, anchor = (x + 3, "start") if x + label_w < width - 4 else (x - 3, "end")
        lo, hi = (tx, tx + label_w) if anchor == "start" else (tx - label_w, tx)
        row = marker_rows - 1
        for i, used in enumerate(rows):
            if all(hi < ua or lo > ub for ua, ub in used):
                row = i
                break
        rows[row].append((lo, hi))
        color = "#c0392b" if kind == "killed" else "#d35400"
        dash = "" if kind == "killed" else ' stroke-dasharray="5,3"'
        ly = top + 11 + row * 15
        vline_svg.append(
            f'<line x1="{x:.1f}" y1="{ly + 3}" x2="{x:.1f}" y2="{chart_top + chart_h + 4}" '
            f'stroke="{color}" stroke-width="1.6"{dash}/>'
            f'<text x="{tx:.1f}" y="{ly}" class="mark" fill="{color}" '
            f'text-anchor="{anchor}">{esc(text)}</text>')

    # Axis ticks per window.
    tick_svg = []
    for a, b, xa, xb in axis.spans:
        step = nice_step(b - a, xb - xa)
        first = math.ceil((a - t_start) / step) * step
        v = first
        while t_start + v <= b + 1e-9:
            x = xa + (t_start + v - a) / (b - a) * (xb - xa)
            tick_svg.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 5}" '
                            f'stroke="#444"/>'
                            f'<text x="{x:.1f}" y="{axis_y + 17}" class="tick">'
                            f'{fmt_ms(v, step)}</text>')
            tick_svg.append(f'<line x1="{x:.1f}" y1="{chart_top}" x2="{x:.1f}" '
                            f'y2="{chart_top + chart_h}" stroke="#000" stroke-opacity="0.07"/>')
            v += step
        tick_svg.append(f'<line x1="{xa:.1f}" y1="{axis_y}" x2="{xb:.1f}" y2="{axis_y}" '
                        f'stroke="#444"/>')

    # Lanes.
    lane_svg = []
    for i, lane in enumerate(lanes):
        y = chart_top + i * (lane_h + lane_gap)
        lane_svg.append(f'<text x="{left - 10}" y="{y + lane_h / 2 + 5}" class="lane" '
                        f'text-anchor="end">server {esc(lane.sid)}</text>')
        for a, b, state, label in lane.segments:
            a, b = max(a, t_start), min(b, t_end)
            xa, xb = axis.x(a), axis.x(b)
            w = max(xb - xa, 0.8)
            stroke = ' stroke="#bbb" stroke-width="0.5"' if state == "down" else ""
            lane_svg.append(f'<rect x="{xa:.2f}" y="{y}" width="{w:.2f}" height="{lane_h}" '
                            f'fill="{COLORS.get(state, "#888")}"{stroke}>'
                            f'<title>server {esc(lane.sid)}: {esc(state)} {esc(label)} '
                            f'{a - t_start:.1f}\u2013{b - t_start:.1f} ms</title></rect>')
            text = {"leading": "leader", "following": "follower", "observing": "observer",
                    "standalone": "standalone", "looking": "looking", "stopping": "stopping",
                    "down": "down", "starting": "starting"}.get(state)
            if text and label and state in SERVING_STATES:
                text = f"{text} {label}"
            # The label goes in the widest visible part (not under a cut).
            pa, pb = max(axis.pieces(a, b) or [(xa, xa + w)], key=lambda p: p[1] - p[0])
            if text and pb - pa > 6.6 * len(text) + 8:
                lane_svg.append(f'<text x="{(pa + pb) / 2:.1f}" y="{y + lane_h / 2 + 4.5}" '
                                f'class="seg" fill="{TEXT_ON.get(state, "#222")}">'
                                f'{esc(text)}</text>')
        for t, kind, text in lane.marks:
            x = axis.x(t)
            if kind == "decided":
                cy = y + lane_h / 2
                lane_svg.append(f'<path d="M{x:.1f},{cy - 7} l6,7 l-6,7 l-6,-7 z" fill="#222" '
                                f'stroke="#fff" stroke-width="1"><title>decided: '
                                f'{esc(text)} at {t - t_start:.1f} ms</title></path>')
            elif kind == "handoff":
                lane_svg.append(f'<path d="M{x:.1f},{y - 2} l5,-7 l-10,0 z" fill="#d35400"/>')
            elif kind == "vanished":
                lane_svg.append(f'<text x="{x:.1f}" y="{y + lane_h / 2 + 5}" class="seg" '
                                f'fill="#c0392b">?</text>')

    # Breaks: the quiet stretches cut out of the axis.
    break_svg = []
    for xl, xr, quiet in axis.breaks():
        xm = (xl + xr) / 2
        break_svg.append(f'<rect x="{xl:.1f}" y="{chart_top - 2}" width="{xr - xl:.1f}" '
                         f'height="{chart_h + 4}" fill="#fff" fill-opacity="0.55"/>')
        for xx in (xm - 4, xm + 4):
            pts = " ".join(f"{xx + (3 if k % 2 else -3):.1f},{chart_top - 4 + k * 8}"
                           for k in range(int((chart_h + 8) / 8) + 1))
            break_svg.append(f'<polyline points="{pts}" fill="none" stroke="#777" '
                             f'stroke-width="1"/>')
        break_svg.append(f'<text x="{xm:.1f}" y="{axis_y + 31}" class="quiet">'
                         f'+{fmt_quiet(quiet)}</text>')

    # Legend.
    legend_y = axis_y + 46
    legend_svg = []
    x = left
    for state, text in LEGEND:
        stroke = ' stroke="#bbb"' if state == "down" else ""
        legend_svg.append(f'<rect x="{x}" y="{legend_y}" width="14" height="12" '
                          f'fill="{COLORS[state]}"{stroke}/>'
                          f'<text x="{x + 19}" y="{legend_y + 10.5}" class="legend">'
                          f'{esc(text)}</text>')
        x += 26 + 7 * len(text)
    legend_svg.append(f'<path d="M{x + 6},{legend_y - 1} l6,7 l-6,7 l-6,-7 z" fill="#222"/>'
                      f'<text x="{x + 17}" y="{legend_y + 10.5}" class="legend">decision</text>')
    x += 90
    legend_svg.append(f'<line x1="{x}" y1="{legend_y - 2}" x2="{x}" y2="{legend_y + 14}" '
                      f'stroke="#c0392b" stroke-width="1.6"/><text x="{x + 5}" '
                      f'y="{legend_y + 10.5}" class="legend">SIGKILL</text>')
    x += 70
    legend_svg.append(f'<line x1="{x}" y1="{legend_y - 2}" x2="{x}" y2="{legend_y + 14}" '
                      f'stroke="#d35400" stroke-width="1.6" stroke-dasharray="5,3"/>'
                      f'<text x="{x + 5}" y="{legend_y + 10.5}" class="legend">SIGTERM</text>')

    # The table: elections and actions, in time order.
    rows_out = []
    for lane in lanes:
        for t, text in lane.actions:
            rows_out.append((t, lane.sid, None, text))
        for e in lane.elections:
            rows_out.append((e["t"], lane.sid, e, None))
    rows_out.sort(key=lambda r: (r[0], r[1]))
    table_y = legend_y + 52
    row_h = 16
    cols = [("t (ms)", 0, "end"), ("server", 14, "start"), ("event", 70, "start"),
            ("took", 530, "end"), ("rounds", 582, "end"), ("notif.", 630, "end"),
            ("votes", 674, "end"), ("outcome", 694, "start"), ("epoch", 880, "end"),
            ("synced in", 960, "end")]
    tx0 = left + 40
    table_svg = [f'<text x="{left - 96}" y="{table_y - 20}" class="h2">Elections and actions'
                 f'</text>']
    for name, dx, anchor in cols:
        table_svg.append(f'<text x="{tx0 + dx}" y="{table_y}" class="th" '
                         f'text-anchor="{anchor}">{esc(name)}</text>')
    y = table_y + row_h
    for i, (t, sid, e, text) in enumerate(rows_out):
        if i % 2 == 0:
            table_svg.append(f'<rect x="{left - 100}" y="{y - 12}" width="{width - left + 80}" '
                             f'height="{row_h}" fill="#f4f6f7"/>')
        cells = [(0, "end", fmt_ms(t - t_start, 0.1)), (14, "start", f"{sid}")]
        if e is None:
            cells.append((70, "start", text))
        else:
            cause = e.get("cause") or "?"
            event = f"LOOKING: {cause}"
            cells.append((70, "start", event if len(event) <= 72 else event[:71] + "\u2026"))
            if e.get("took_ms") is not None:
                cells.append((530, "end", f"{e['took_ms']:.1f} ms"))
            for dx, key in ((582, "rounds"), (630, "notifications"), (674, "distinct_votes")):
                if e.get(key) is not None:
                    cells.append((dx, "end", str(e[key])))
            if e.get("state"):
                outcome = e["state"]
                if e["state"] != "leading" and e.get("leader") is not None:
                    outcome += f" {e['leader']}"
                if e.get("joined"):
                    outcome += " (joined)"
                cells.append((694, "start", outcome))
            else:
                cells.append((694, "start", "undecided"))
            if e.get("serving_epoch") is not None:
                cells.append((880, "end", str(e["serving_epoch"])))
            if e.get("sync_ms") is not None:
                cells.append((960, "end", f"{e['sync_ms']:.1f} ms"))
        for dx, anchor, value in cells:
            table_svg.append(f'<text x="{tx0 + dx}" y="{y}" class="td" '
                             f'text-anchor="{anchor}">{esc(value)}</text>')
        y += row_h
    height = y + 10

    start_utc = dt.datetime.fromtimestamp(t_start / 1000, dt.timezone.utc)
    subtitle = (f"time axis: ms since {start_utc:%Y-%m-%d %H:%M:%S}."
                f"{int(t_start % 1000):03d} UTC"
                + ("" if len(axis.spans) == 1 else
                   f"; quiet stretches over {gap_ms:g} ms are cut out (zigzags)"))
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, '
        f'sans-serif">',
        "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
        "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#f4f4f4\"/>"
        "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#d0d0d0\" stroke-width=\"2\"/>"
        "</pattern></defs>",
        "<style>.title{font-size:17px;font-weight:bold}.sub{font-size:11.5px;fill:#555}"
        ".lane{font-size:13px;font-weight:bold}.seg{font-size:11px;text-anchor:middle}"
        ".tick{font-size:10px;text-anchor:middle;fill:#333}.quiet{font-size:10px;"
        "text-anchor:middle;fill:#777;font-style:italic}.mark{font-size:11px;font-weight:bold}"
        ".legend{font-size:11px}.h2{font-size:13px;font-weight:bold}.th{font-size:11px;"
        "font-weight:bold;fill:#333}.td{font-size:11px}</style>",
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{left - 96}" y="26" class="title">{esc(title or "zabd ensemble timeline")}'
        f'</text>',
        f'<text x="{left - 96}" y="46" class="sub">{esc(subtitle)}</text>',
    ]
    svg += tick_svg + lane_svg + break_svg + vline_svg + legend_svg + table_svg
    svg.append("</svg>")
    return "\n".join(svg) + "\n"


def parse_until(text):
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_ts(text.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a time: {text!r}") from err


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("inputs", nargs="*", help="log files (or files of elec lines)")
    p.add_argument("-o", "--output", default="timeline.svg", help="the SVG to write (- for stdout)")
    p.add_argument("--fetch", action="append", default=[], metavar="HOST:PORT",
                   help="ask a running server for `elec` (repeatable)")
    p.add_argument("--title", default="", help="the chart's title")
    p.add_argument("--gap-ms", type=float, default=400.0,
                   help="cut quiet stretches longer than this out of the axis (default 400)")
    p.add_argument("--linear", action="store_true", help="one linear time axis, no cuts")
    p.add_argument("--until", type=parse_until, metavar="TIME",
                   help="leave out what happened after TIME (UTC `YYYY-MM-DD HH:MM:SS[.fff]`, "
                        "or ms since the Unix epoch)")
    p.add_argument("--width", type=int, default=1200)
    args = p.parse_args(argv)
    inputs = []
    for path in args.inputs:
        with open(path, encoding="utf-8", errors="replace") as f:
            inputs.append((path, f.readlines()))
    now = None
    for address in args.fetch:
        inputs.append((address, fetch_elec(address)))
        now = time.time() * 1000.0
    if not inputs:
        p.error("no input: give log files or --fetch HOST:PORT")
    lanes, t_start, t_end = build_model(inputs, now, args.until)
    if not any(lane.segments for lane in lanes):
        print("timeline.py: nothing to draw (no zabd state changes found)", file=sys.stderr)
        return 1
    svg = render(lanes, t_start, t_end, title=args.title, gap_ms=args.gap_ms,
                 linear=args.linear, width=args.width)
    if args.output == "-":
        sys.stdout.write(svg)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(svg)
        print(f"wrote {args.output}: {len(lanes)} servers, "
              f"{sum(len(l.elections) for l in lanes)} elections, "
              f"{(t_end - t_start) / 1000:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
