"""Sessions through kazoo: close, expiry, moving a session between servers, bad passwords."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from kazoo.exceptions import ConnectionLoss
from kazoo.protocol.states import EventType, KazooState

from zk_ensemble import connected_port, wait_until

# A kazoo client in its own process, so that the test can freeze it with SIGSTOP: it connects,
# creates an ephemeral node, prints its session id and waits for stdin to close.
FROZEN_CLIENT = textwrap.dedent(
    """
    import sys
    from kazoo.client import KazooClient
    hosts, path, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    c = KazooClient(hosts=hosts, timeout=timeout)
    c.start(timeout=15)
    c.create(path, b"frozen", ephemeral=True)
    print("SESSION %d" % c.client_id[0], flush=True)
    sys.stdin.read()
    """
)


def test_ephemeral_removed_on_close(make_client, client2, base):
    owner = make_client()
    path = owner.create(base + "/eph", b"x", ephemeral=True)
    seq = owner.create(base + "/eph-seq-", ephemeral=True, sequence=True)
    persistent = owner.create(base + "/stays")
    events = []
    assert client2.exists(path, watch=events.append).ephemeralOwner == owner.client_id[0]

    owner.stop()  # closeSession
    # the close is committed before stop() returns, so another client sees it at once after sync
    client2.sync(base)
    assert client2.exists(path) is None
    assert client2.exists(seq) is None
    assert client2.exists(persistent) is not None
    wait_until(lambda: events, 5, message="the exists watch to fire")
    assert events[0].type == EventType.DELETED and events[0].path == path


def test_ephemeral_removed_when_frozen_client_expires(ensemble, client2, base):
    path = base + "/frozen"
    timeout = 1.0  # requested = negotiated (minSessionTimeout is 0.4 s)
    proc = subprocess.Popen(
        [sys.executable, "-c", FROZEN_CLIENT, ensemble.hosts(), path, str(timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("SESSION "), f"frozen client did not start: {line!r}"
        session = int(line.split()[1])
        client2.sync(path)  # the frozen client may be on another server
        stat = client2.exists(path)
        assert stat is not None and stat.ephemeralOwner == session

        os.kill(proc.pid, signal.SIGSTOP)  # no more pings
        frozen_at = time.monotonic()
        # still there right after the freeze
        assert client2.exists(path) is not None
        events = []
        client2.exists(path, watch=events.append)
        wait_until(lambda: client2.exists(path) is None, timeout + 10,
                   message="the frozen client's ephemeral to vanish")
        elapsed = time.monotonic() - frozen_at
        # the last ping may have been up to timeout/3 before the freeze
        assert elapsed >= timeout * 0.5, f"expired after {elapsed:.2f}s, timeout {timeout}s"
        wait_until(lambda: events, 5, message="the exists watch to fire")
        assert events[0].type == EventType.DELETED
    finally:
        proc.kill()  # SIGKILL works on a stopped process
        proc.wait()


def test_session_moves_between_servers_and_keeps_its_ephemeral(ensemble, make_client, client2, base):
    a, b = ensemble.ids[0], ensemble.ids[1]
    first = make_client(hosts=ensemble.address(a))
    path = first.create(base + "/owned", b"by-session", ephemeral=True)
    session_id, password = first.client_id
    assert connected_port(first) == ensemble.client_port[a]

    second = make_client(hosts=ensemble.address(b), client_id=(session_id, password))
    assert connected_port(second) == ensemble.client_port[b]
    assert second.client_id[0] == session_id
    second.sync(path)  # B may not have applied A's create yet (kazoo sends lastZxid 0 here)
    stat = second.exists(path)
    assert stat is not None and stat.ephemeralOwner == session_id
    # the moved session writes through B; new ephemerals belong to the same session
    path2 = second.create(base + "/owned-too", ephemeral=True)
    client2.sync(path2)
    assert client2.exists(path2).ephemeralOwner == session_id

    # closing through B ends the session: both ephemerals go, everywhere
    second.stop()
    client2.sync(base)
    assert client2.exists(path) is None
    assert client2.exists(path2) is None
    # the first handle's connection on A is closed too; its session is gone (kazoo reports LOST)
    wait_until(lambda: first.client_id is None or first.client_id[0] != session_id, 15,
               message="the first handle to lose the closed session")


def test_write_on_the_old_connection_of_a_moved_session_is_refused(ensemble, make_client, client2, base):
    a, b = ensemble.ids[0], ensemble.ids[2]
    first = make_client(hosts=ensemble.address(a))
    states = []
    first.add_listener(states.append)
    session_id, password = first.client_id
    second = make_client(hosts=ensemble.address(b), client_id=(session_id, password))
    second.create(base + "/via-b")

    # Reads on the old connection are still served by A...
    wait_until(lambda: first.exists(base + "/via-b") is not None, 10, message="A to apply the create")
    # ...but a write is refused: ZooKeeper's leader sees the session now belongs to B
    # (SESSIONMOVED) and A closes the old connection instead of answering.
    with pytest.raises(ConnectionLoss):
        first.create(base + "/via-a")
    assert client2.exists(base + "/via-a") is None
    assert KazooState.SUSPENDED in states


def test_reattach_with_bad_password_gets_a_new_session(make_client, client2, base):
    owner = make_client()
    path = owner.create(base + "/victim", ephemeral=True)
    session_id, password = owner.client_id
    wrong = bytes([password[0] ^ 0xFF]) + password[1:]

    intruder = make_client(start=False, client_id=(session_id, wrong))
    intruder.start(timeout=15)
    # ZooKeeper answers the re-attach as "session expired" (timeOut 0) and closes the
    # connection; kazoo then transparently opens a brand-new session.
    assert intruder.client_id[0] != session_id
    intruder.create(base + "/intruder", ephemeral=True)
    client2.sync(base)
    assert client2.exists(base + "/intruder").ephemeralOwner == intruder.client_id[0]

    # the real session is untouched
    assert owner.state == KazooState.CONNECTED
    assert owner.client_id[0] == session_id
    assert client2.exists(path).ephemeralOwner == session_id
    owner.set(path, b"still mine")


def test_reattach_to_a_closed_session_gets_a_new_session(make_client, client2, base):
    old = make_client()
    session_id, password = old.client_id
    old.create(base + "/old", ephemeral=True)
    old.stop()
    again = make_client(client_id=(session_id, password))
    assert again.client_id[0] != session_id
    assert client2.exists(base + "/old") is None


def test_session_survives_reconnect_to_another_server(ensemble, make_client, client2, base):
    a, b = ensemble.ids[1], ensemble.ids[2]
    c = make_client(hosts=ensemble.address(a))
    states = []
    c.add_listener(states.append)
    path = c.create(base + "/e", ephemeral=True)
    session = c.client_id[0]
    c.set_hosts(ensemble.address(b))
    c._connection._socket.shutdown(2)  # drop the TCP connection; kazoo reconnects to b
    wait_until(lambda: c.connected and connected_port(c) == ensemble.client_port[b], 15,
               message="reconnect to the other server")
    assert c.client_id[0] == session
    assert states[:1] == [KazooState.SUSPENDED] and KazooState.LOST not in states
    c.set(path, b"after move")
    client2.sync(path)
    assert client2.exists(path).ephemeralOwner == session
    assert client2.get(path)[0] == b"after move"


def test_each_session_has_distinct_id_and_password(make_client):
    clients = [make_client() for _ in range(4)]
    ids = {c.client_id[0] for c in clients}
    passwords = {c.client_id[1] for c in clients}
    assert len(ids) == 4 and len(passwords) == 4
    assert all(len(c.client_id[1]) == 16 for c in clients)
    assert all(sid > 0 for sid in ids)
