#!/usr/bin/env python3
"""A 3-voter ensemble on 127.0.0.1 for the kazoo acceptance tests: zabd or Apache ZooKeeper.

Used by tests/kazoo/conftest.py and, as a small command-line launcher, by scripts/zkcli-check.sh:

    zk_ensemble.py run [--impl zabd|zookeeper] [--servers N]
        start the ensemble, print one line `HOSTS 127.0.0.1:p1,127.0.0.1:p2,...` once every server
        serves, then keep running until stdin closes or SIGTERM/SIGINT arrives; then tear down.

Each server gets its own zooN.cfg and dataN/myid in a temporary directory, with free ports picked
dynamically (bind port 0, read it, close it). The implementation comes from ZK_IMPL (zabd, the
default, or zookeeper); zabd's binary from ZABD_BIN (default <repo>/target/release/zabd).

Timing: tickTime=200, initLimit=10, syncLimit=5, minSessionTimeout=400, maxSessionTimeout=10000
(explicit, so negotiation is the same on both implementations). Empty containers are reaped
every 500 ms: `znode.container.checkIntervalMs=500` in zoo.cfg (for zabd) and the same JVM
system property (for ZooKeeper, which reads it only from there; its default is 60 s).

Servers are started with PR_SET_PDEATHSIG=SIGKILL, so they die with the process that started
them even if it is killed without cleaning up.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import fourlw  # noqa: E402  (scripts/fourlw.py: the one four-letter-word client)

TICK_MS = 200
MIN_SESSION_MS = 2 * TICK_MS
MAX_SESSION_MS = 10000
CONTAINER_CHECK_MS = 500

NOT_SERVING = "This ZooKeeper instance is not currently serving requests"

# Apache ZooKeeper as Debian packages it: the jar's manifest carries its Class-Path;
# slf4j-simple makes the server log to stderr (captured in serverN.log).
ZK_JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def free_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def four_letter(word, port, timeout=1.0):
    """Send a four-letter word; return the answer, or None when the server does not answer."""
    try:
        return fourlw.ask(word, port, host=HOST, timeout=timeout)
    except (fourlw.Down, fourlw.NoAnswer):
        return None


def server_mode(port, timeout=1.0):
    """leader / follower / observer / standalone, or None when not serving (or down)."""
    answer = four_letter("srvr", port, timeout)
    if not answer or NOT_SERVING in answer:
        return None
    for line in answer.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Mode":
            return value.strip() or None
    return None


def wait_until(predicate, timeout=10.0, interval=0.02, message=None):
    """Poll predicate() until it returns a truthy value (returned), or fail after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # keep polling; report the last error on timeout
            last_exc = exc
        if time.monotonic() > deadline:
            what = message or getattr(predicate, "__name__", "condition")
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


def connected_port(client):
    """The server port a started kazoo client is connected to right now (None if not connected).
    Uses kazoo's private connection object; fine for tests."""
    try:
        return client._connection._socket.getpeername()[1]
    except Exception:
        return None


try:  # loaded once here: nothing may import or allocate much between fork and exec
    import ctypes

    _LIBC = ctypes.CDLL(None, use_errno=True)
except Exception:  # not Linux/glibc: no parent-death signal
    _LIBC = None
_PR_SET_PDEATHSIG = 1
_SIGKILL = int(signal.SIGKILL)


def _die_with_parent():
    """preexec_fn: ask Linux to SIGKILL the server when the thread that started it exits (so a
    killed pytest never leaves servers behind). Servers are only started from the main thread."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, _SIGKILL)


def zabd_binary():
    return os.environ.get("ZABD_BIN") or os.path.join(REPO, "target", "release", "zabd")


class EnsembleError(Exception):
    pass


class Ensemble:
    """N voters (default 3) on loopback. Server ids are 1..N."""

    def __init__(self, impl=None, size=3, base_dir=None, tick_ms=TICK_MS):
        self.impl = impl or os.environ.get("ZK_IMPL", "zabd")
        if self.impl not in ("zabd", "zookeeper"):
            raise EnsembleError(f"ZK_IMPL must be zabd or zookeeper, not {self.impl!r}")
        self.size = size
        self.tick_ms = tick_ms
        self.ids = list(range(1, size + 1))
        self._own_dir = base_dir is None
        self.dir = base_dir or tempfile.mkdtemp(prefix=f"kazoo-{self.impl}-")
        ports = free_ports(3 * size)
        self.client_port = {i: ports[3 * (i - 1)] for i in self.ids}
        self.quorum_port = {i: ports[3 * (i - 1) + 1] for i in self.ids}
        self.election_port = {i: ports[3 * (i - 1) + 2] for i in self.ids}
        self.procs = {}
        self.logs = {}
        self.stopped = set()  # SIGSTOPped servers
        self.crashes = []  # (id, exit code): servers that exited without being told to
        self._write_configs()

    # ------------------------------------------------------------------ configuration

    def cfg_path(self, i):
        return os.path.join(self.dir, f"zoo{i}.cfg")

    def log_path(self, i):
        return os.path.join(self.dir, f"server{i}.log")

    def _write_configs(self):
        for i in self.ids:
            data = os.path.join(self.dir, f"data{i}")
            os.makedirs(data, exist_ok=True)
            with open(os.path.join(data, "myid"), "w") as f:
                f.write(f"{i}\n")
            lines = [
                f"tickTime={self.tick_ms}",
                "initLimit=10",
                "syncLimit=5",
                f"dataDir={data}",
                f"clientPort={self.client_port[i]}",
                f"clientPortAddress={HOST}",
                f"minSessionTimeout={2 * self.tick_ms}",
                f"maxSessionTimeout={MAX_SESSION_MS}",
                "maxClientCnxns=0",
                "4lw.commands.whitelist=*",
                # Reap empty containers quickly (ZooKeeper's default is 60 s). ZooKeeper reads
                # this as a JVM system property (passed below); zabd is expected to read the key.
                f"znode.container.checkIntervalMs={CONTAINER_CHECK_MS}",
            ]
            if self.impl == "zookeeper":
                lines.append("admin.enableServer=false")
            for j in self.ids:
                quorum, election = self.peer_ports(i, j)
                lines.append(f"server.{j}={HOST}:{quorum}:{election}")
            with open(self.cfg_path(i), "w") as f:
                f.write("\n".join(lines) + "\n")

    def peer_ports(self, i, j):
        """The (quorum, election) ports server i's config gives for server j: j's own ports here;
        scripts/chaos.py overrides this to route server-to-server traffic through its proxy."""
        return self.quorum_port[j], self.election_port[j]

    # ------------------------------------------------------------------ addresses

    def server_of_port(self, port):
        for i, p in self.client_port.items():
            if p == port:
                return i
        return None

    def address(self, i):
        return f"{HOST}:{self.client_port[i]}"

    def hosts(self, ids=None):
        """Connection string for kazoo: 'h:p,h:p,...' of the given servers (default all)."""
        return ",".join(self.address(i) for i in (ids or self.ids))

    # ------------------------------------------------------------------ processes

    def _command(self, i):
        if self.impl == "zabd":
            binary = zabd_binary()
            if not os.access(binary, os.X_OK):
                raise EnsembleError(f"zabd binary not found or not executable: {binary} (set ZABD_BIN)")
            return [binary, "--config", self.cfg_path(i)]
        java = shutil.which("java") or "/usr/bin/java"
        return [
            java,
            "-Xms32m",
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
            "-Dzookeeper.jmx.log4j.disable=true",
            f"-Dznode.container.checkIntervalMs={CONTAINER_CHECK_MS}",
            "-cp",
            ":".join(ZK_JARS),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            self.cfg_path(i),
        ]

    def start(self, i):
        """Start server i (no-op if it is running)."""
        if self.is_running(i):
            return
        log = open(self.log_path(i), "ab")
        log.write(f"\n===== start server {i} at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        self.procs[i] = subprocess.Popen(
            self._command(i),
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # not in the test's process group: ^C does not reach it
        )
        self.logs[i] = log
        self.stopped.discard(i)

    def start_all(self, timeout=30.0):
        for i in self.ids:
            self.start(i)
        self.wait_serving(timeout=timeout)

    def is_running(self, i):
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def pid(self, i):
        return self.procs[i].pid

    def unexpected_exits(self):
        """Servers that exited on their own since the last call: [(id, exit code)]."""
        found = []
        for i, p in self.procs.items():
            if p is not None and p.poll() is not None and not getattr(p, "_zk_expected_exit", False):
                p._zk_expected_exit = True  # report once
                found.append((i, p.returncode))
        self.crashes.extend(found)
        return found

    def kill(self, i):
        """kill -9 server i and reap it."""
        p = self.procs.get(i)
        if p is None:
            return
        if p.poll() is not None and not getattr(p, "_zk_expected_exit", False):
            self.unexpected_exits()  # it died before we killed it: remember that
        p._zk_expected_exit = True
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()
        self.stopped.discard(i)
        log = self.logs.pop(i, None)
        if log:
            log.close()

    def terminate(self, i, timeout=10.0):
        """SIGTERM server i, SIGKILL after timeout."""
        p = self.procs.get(i)
        if p is None:
            return
        if p.poll() is None:
            p._zk_expected_exit = True
            if i in self.stopped:
                p.send_signal(signal.SIGCONT)
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill(i)

    def sigstop(self, i):
        self.procs[i].send_signal(signal.SIGSTOP)
        self.stopped.add(i)

    def sigcont(self, i):
        self.procs[i].send_signal(signal.SIGCONT)
        self.stopped.discard(i)

    def restart(self, i, timeout=30.0):
        """kill -9 server i if running, start it again, wait until it serves."""
        self.kill(i)
        self.start(i)
        self.wait_serving([i], timeout=timeout)

    def stop_all(self):
        for i in self.ids:
            if i in self.stopped and self.is_running(i):
                self.sigcont(i)
        for i in self.ids:
            p = self.procs.get(i)
            if p is not None and p.poll() is None:
                p._zk_expected_exit = True
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for i in self.ids:
            p = self.procs.get(i)
            if p is None:
                continue
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            self.kill(i)

    def cleanup(self):
        self.stop_all()
        if self._own_dir and not os.environ.get("KAZOO_KEEP_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ state

    def mode(self, i):
        if not self.is_running(i) or i in self.stopped:
            return None
        return server_mode(self.client_port[i])

    def modes(self):
        return {i: self.mode(i) for i in self.ids}

    def wait_serving(self, ids=None, timeout=30.0):
        """Wait until every given (default: every running) server answers srvr with a Mode and
        exactly one of them (when all are asked) is the leader. Returns the modes."""
        ids = ids or self.ids
        deadline = time.monotonic() + timeout
        modes = {}
        while True:
            for i in ids:
                p = self.procs.get(i)
                if p is None or p.poll() is not None:
                    raise EnsembleError(
                        f"server {i} is not running (exit {p.returncode if p else None}); "
                        f"log tail:\n{self.log_tail(i)}"
                    )
            modes = {i: self.mode(i) for i in ids}
            if all(modes.values()):
                leaders = [i for i, m in self.modes().items() if m == "leader"]
                if len(leaders) == 1:
                    return modes
            if time.monotonic() > deadline:
                raise EnsembleError(f"servers not serving after {timeout}s: {self.modes()}\n" + self.log_tails())
            time.sleep(0.1)

    def leader(self, timeout=30.0):
        """The id of the (single) serving leader; waits for one."""
        deadline = time.monotonic() + timeout
        while True:
            leaders = [i for i, m in self.modes().items() if m == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            if time.monotonic() > deadline:
                raise EnsembleError(f"no single leader after {timeout}s: {self.modes()}")
            time.sleep(0.05)

    def followers(self):
        leader = self.leader()
        return [i for i in self.ids if i != leader]

    def healthy(self):
        """True if all servers run (none stopped) and serve with exactly one leader."""
        if any(not self.is_running(i) or i in self.stopped for i in self.ids):
            return False
        modes = self.modes()
        return all(modes.values()) and list(modes.values()).count("leader") == 1

    def heal(self, timeout=30.0):
        """Bring every server back: SIGCONT stopped ones, start dead ones, wait until all serve."""
        for i in self.ids:
            if i in self.stopped and self.is_running(i):
                self.sigcont(i)
        for i in self.ids:
            if not self.is_running(i):
                self.kill(i)  # reap, close the log
                self.start(i)
        self.wait_serving(timeout=timeout)

    # ------------------------------------------------------------------ logs

    def log_tail(self, i, lines=40):
        try:
            with open(self.log_path(i), "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 256 * 1024))
                text = f.read().decode("utf-8", "replace")
        except OSError as err:
            return f"(no log: {err})"
        return "\n".join(text.splitlines()[-lines:])

    def log_tails(self, lines=25):
        out = []
        for i in self.ids:
            state = "running" if self.is_running(i) else "not running"
            if i in self.stopped:
                state = "SIGSTOPped"
            out.append(f"----- server {i} ({self.impl}, {self.address(i)}, {state}) last {lines} lines -----")
            out.append(self.log_tail(i, lines))
        return "\n".join(out)


def _main(argv):
    import argparse

    parser = argparse.ArgumentParser(description="Run a loopback ensemble until stdin closes.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--impl", choices=["zabd", "zookeeper"], default=None)
    run.add_argument("--servers", type=int, default=3)
    run.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    ens = Ensemble(impl=args.impl, size=args.servers)
    done = []

    def on_signal(signum, frame):
        done.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        try:
            ens.start_all(timeout=args.timeout)
        except EnsembleError as err:
            print(f"zk_ensemble.py: {err}", file=sys.stderr)
            return 1
        print(f"HOSTS {ens.hosts()}", flush=True)
        print(f"DIR {ens.dir}", flush=True)
        try:
            while sys.stdin.read(1):
                pass
        except KeyboardInterrupt:
            pass
        return 0
    except KeyboardInterrupt:
        return 1
    finally:
        ens.cleanup()


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
