"""Fixtures for the kazoo acceptance suite: a real 3-voter ensemble on 127.0.0.1.

    ZK_IMPL=zabd (default)     target/release/zabd (or ZABD_BIN)
    ZK_IMPL=zookeeper          Apache ZooKeeper 3.8 from /usr/share/java

Session-scoped `ensemble` starts the three servers once (temp dir, one zooN.cfg and dataN/myid per
server, free ports picked dynamically) and waits until each answers `srvr` with a Mode. Before
every test an autouse fixture heals it (SIGCONT stopped servers, restarts killed ones, waits for
one leader), so a test that kills or freezes servers never leaks that into the next test.

Function-scoped helpers: `make_client(hosts=None, **kwargs)` (started KazooClient, stopped at
teardown), `client` / `client2`, `base` (a fresh znode path per test), `home` (the server id
this test's default clients use).

Default clients list all three servers but start at the test's `home` server (rotating from
test to test, so leader and followers both serve clients) and do not shuffle: they all land on
the same server. That keeps plain tests deterministic, since ZooKeeper promises read-your-writes
only per server (a follower may lag): tests that spread clients over servers on purpose say so
and call sync() before reading another server's writes.
When a test fails, the last lines of each server's log are attached to its report; a server
that exits on its own (crash) fails the test during which it happened.

KAZOO_KEEP_DIR=1 keeps the ensemble's temp dir (configs, data, logs) after the run.
"""

import os
import re
import signal
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from kazoo.client import KazooClient  # noqa: E402

from zk_ensemble import Ensemble, EnsembleError  # noqa: E402

_ENSEMBLE = None


def _on_sigterm(signum, frame):
    # e.g. `timeout 600 pytest`: tear the servers down before exiting
    if _ENSEMBLE is not None:
        _ENSEMBLE.cleanup()
    os._exit(128 + signum)


@pytest.fixture(scope="session")
def ensemble():
    global _ENSEMBLE
    ens = Ensemble()
    _ENSEMBLE = ens
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        ens.start_all(timeout=60.0)
    except EnsembleError as err:
        ens.cleanup()
        _ENSEMBLE = None
        pytest.exit(f"could not start the {ens.impl} ensemble: {err}", returncode=3)
    try:
        yield ens
    finally:
        _ENSEMBLE = None
        ens.cleanup()


@pytest.fixture(autouse=True)
def healthy_ensemble(ensemble):
    """Every test starts with all three servers up and serving, one leader. A server that
    exited on its own during a test (a crash, not a kill by the test) fails that test."""
    ensemble.unexpected_exits()  # already reported
    if not ensemble.healthy():
        ensemble.heal(timeout=60.0)
    yield ensemble
    crashed = ensemble.unexpected_exits()
    if crashed:
        pytest.fail(
            "server(s) exited during the test without being killed: "
            + ", ".join(f"server {i} (exit code {rc})" for i, rc in crashed),
            pytrace=False,
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _ENSEMBLE is not None:
        try:
            tails = _ENSEMBLE.log_tails(lines=25)
        except Exception as err:  # never hide the real failure
            tails = f"(could not read server logs: {err})"
        report.sections.append((f"server logs ({report.when})", tails))


def pytest_report_header(config):
    impl = os.environ.get("ZK_IMPL", "zabd")
    line = f"ZK_IMPL={impl}"
    if impl == "zabd":
        from zk_ensemble import zabd_binary

        line += f" ZABD_BIN={zabd_binary()}"
    return line


_TEST_COUNTER = [0]


@pytest.fixture
def home(ensemble):
    """The server this test's default clients connect to first (rotates between tests)."""
    _TEST_COUNTER[0] += 1
    return ensemble.ids[_TEST_COUNTER[0] % len(ensemble.ids)]


@pytest.fixture
def make_client(ensemble, home):
    """Factory: make_client(hosts=None, start=True, **KazooClient kwargs) -> KazooClient.
    hosts defaults to all servers, `home` first, not shuffled. Clients are stopped and closed
    at teardown."""
    clients = []
    ids = ensemble.ids
    k = ids.index(home)
    default_hosts = ensemble.hosts(ids[k:] + ids[:k])

    def factory(hosts=None, start=True, start_timeout=15.0, **kwargs):
        kwargs.setdefault("timeout", 10.0)
        if hosts is None:
            hosts = default_hosts
            kwargs.setdefault("randomize_hosts", False)
        c = KazooClient(hosts=hosts, **kwargs)
        clients.append(c)
        if start:
            c.start(timeout=start_timeout)
        return c

    yield factory
    for c in clients:
        try:
            c.stop()
        except Exception:
            pass
        try:
            c.close()
        except Exception:
            pass


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def client2(make_client):
    return make_client()


@pytest.fixture
def base(client, request):
    """A fresh, empty persistent znode for this test: /kazoo/<test name>-<random>."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:60]
    path = f"/kazoo/{name}-{uuid.uuid4().hex[:8]}"
    client.ensure_path(path)
    return path

