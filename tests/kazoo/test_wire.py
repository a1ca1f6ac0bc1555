"""Exact wire behaviour that kazoo hides, checked with a minimal raw client (zk_wire.py):
session timeout negotiation, re-attach refusals, the 1 MiB frame limit, auth replies, and
SetWatches (what Java clients send on reconnect; kazoo re-reads instead)."""

import pytest

from zk_ensemble import HOST, MAX_SESSION_MS, MIN_SESSION_MS
from zk_wire import AUTH_XID, SET_WATCHES_XID, Conn, WatcherEvent

MAX_FRAME = 0xFFFFF  # jute.maxbuffer: the longest request frame ZooKeeper reads


def conn(ensemble, i=None, timeout=5.0):
    return Conn(HOST, ensemble.client_port[i or ensemble.ids[0]], timeout=timeout)


@pytest.mark.parametrize(
    "requested, negotiated",
    [
        (1, MIN_SESSION_MS),
        (0, MIN_SESSION_MS),
        (MIN_SESSION_MS - 1, MIN_SESSION_MS),
        (MIN_SESSION_MS, MIN_SESSION_MS),
        (5000, 5000),
        (MAX_SESSION_MS, MAX_SESSION_MS),
        (MAX_SESSION_MS + 1, MAX_SESSION_MS),
        (1000000, MAX_SESSION_MS),
    ],
)
def test_session_timeout_is_clamped_to_min_max(ensemble, requested, negotiated):
    with conn(ensemble) as c:
        r = c.connect(timeout_ms=requested)
        assert r.timeout == negotiated
        assert r.session_id != 0 and len(r.passwd) == 16
        assert r.protocol_version == 0
        c.close_session()
        assert c.reply()[2] == 0


def _open_session(ensemble, i):
    c = conn(ensemble, i)
    r = c.connect(timeout_ms=5000)
    return c, r


@pytest.mark.parametrize("how", ["wrong-password", "empty-password", "unknown-session", "closed-session"])
def test_refused_reattach_answers_expired_and_closes(ensemble, how):
    a, b = ensemble.ids[0], ensemble.ids[1]
    owner, r = _open_session(ensemble, a)
    try:
        sid, pw = r.session_id, r.passwd
        if how == "wrong-password":
            sid, pw = sid, bytes([pw[0] ^ 1]) + pw[1:]
        elif how == "empty-password":
            pw = b""
        elif how == "unknown-session":
            sid = sid ^ 0x5A5A5A  # same server id byte, a session nobody opened
        else:
            owner.close_session()
            assert owner.reply()[2] == 0
        with conn(ensemble, b) as c:
            reply = c.connect(timeout_ms=5000, session_id=sid, passwd=pw)
            # ZooKeeper: ConnectResponse(timeOut=0, sessionId=0, passwd=16 zero bytes), then close
            assert reply.timeout == 0, reply
            assert reply.session_id == 0, reply
            assert c.closed_by_server(5), "server kept the refused connection open"
        if how in ("wrong-password", "empty-password", "unknown-session"):
            # the real session is unharmed: its own connection still works
            owner.get_data(7, "/")
            xid, _, err, _ = owner.reply()
            assert (xid, err) == (7, 0)
    finally:
        owner.close()


def catch_up(make_client, ensemble, i):
    """Make server i apply everything committed so far (a kazoo sync through it)."""
    k = make_client(hosts=ensemble.address(i))
    k.sync("/")
    k.stop()


def test_reattach_with_right_password_keeps_session(ensemble, make_client):
    a, b = ensemble.ids[0], ensemble.ids[2]
    first, r = _open_session(ensemble, a)
    try:
        first.get_data(1, "/")
        _, zxid, err, _ = first.reply()
        assert err == 0
        # ZooKeeper refuses (closes) a re-attach that carries a lastZxid the server has not
        # seen yet; let b catch up with the session's creation first
        catch_up(make_client, ensemble, b)
        with conn(ensemble, b) as c:
            again = c.connect(timeout_ms=5000, session_id=r.session_id, passwd=r.passwd, last_zxid=zxid)
            assert again.session_id == r.session_id
            assert again.passwd == r.passwd
            assert again.timeout == 5000
            c.close_session()
            assert c.reply()[2] == 0
    finally:
        first.close()


def test_frame_limit_is_jute_maxbuffer(ensemble, base):
    path = base + "/f"
    fixed = 8 + 4 + len(path) + 4 + 27 + 4  # everything in a create frame but the data
    with conn(ensemble) as c:
        c.connect(timeout_ms=5000)
        # exactly 0xfffff bytes: accepted
        c.create(1, path, b"x" * (MAX_FRAME - fixed))
        xid, _, err, _ = c.reply()
        assert (xid, err) == (1, 0)
        c.request(2, 2, struct_delete(path))  # delete it again
        assert c.reply()[2] == 0
    with conn(ensemble) as c:
        c.connect(timeout_ms=5000)
        # one byte more: ZooKeeper closes the connection on the length prefix alone
        c.sock.sendall((MAX_FRAME + 1).to_bytes(4, "big"))
        assert c.closed_by_server(5), "server accepted a frame longer than 0xfffff"
    with conn(ensemble) as c:
        # same for the very first frame (ConnectRequest)
        c.sock.sendall((MAX_FRAME + 1).to_bytes(4, "big"))
        assert c.closed_by_server(5)
    with conn(ensemble) as c:
        c.connect(timeout_ms=5000)
        c.sock.sendall((-1).to_bytes(4, "big", signed=True))  # negative length
        assert c.closed_by_server(5)


def struct_delete(path):
    import struct

    b = path.encode()
    return struct.pack(">i", len(b)) + b + struct.pack(">i", -1)


def test_auth_replies(ensemble):
    with conn(ensemble) as c:
        c.connect(timeout_ms=5000)
        c.auth("digest", b"user:pw")
        xid, zxid, err, _ = c.reply()
        assert (xid, err) == (AUTH_XID, 0)
        c.get_data(3, "/")
        assert c.reply()[:1] == (3,)
    with conn(ensemble) as c:
        c.connect(timeout_ms=5000)
        c.auth("nosuchscheme", b"x")
        xid, zxid, err, _ = c.reply()
        assert (xid, err) == (AUTH_XID, -115)  # AUTHFAILED
        assert c.closed_by_server(5), "server kept the connection after AUTH_FAILED"


def test_set_watches_on_reattach_reports_missed_changes(ensemble, make_client, base):
    a, b = ensemble.ids[0], ensemble.ids[1]
    k = make_client(hosts=ensemble.address(b))
    for name in ("changed", "deleted", "unchanged", "parent"):
        k.create(f"{base}/{name}", b"0", makepath=True)

    catch_up(make_client, ensemble, a)  # a has the nodes k created through b
    first, r = _open_session(ensemble, a)
    first.get_data(1, f"{base}/unchanged", watch=True)
    _, last_zxid, err, _ = first.reply()
    assert err == 0
    first.close()  # drop the TCP connection; the session lives on

    # changes the session would have been told about while it was away
    k.set(f"{base}/changed", b"1")
    k.delete(f"{base}/deleted")
    k.create(f"{base}/created")
    k.create(f"{base}/parent/kid")

    with conn(ensemble, b) as c:
        again = c.connect(timeout_ms=5000, session_id=r.session_id, passwd=r.passwd, last_zxid=last_zxid)
        assert again.session_id == r.session_id
        c.set_watches(
            last_zxid,
            data=[f"{base}/changed", f"{base}/deleted", f"{base}/unchanged"],
            exist=[f"{base}/created", f"{base}/nothing-yet"],
            child=[f"{base}/parent"],
        )
        events = []
        xid, _, err, _ = c.reply(events)
        assert (xid, err) == (SET_WATCHES_XID, 0)
        assert set(events) == {
            WatcherEvent(WatcherEvent.CHANGED, 3, f"{base}/changed"),
            WatcherEvent(WatcherEvent.DELETED, 3, f"{base}/deleted"),
            WatcherEvent(WatcherEvent.CREATED, 3, f"{base}/created"),
            WatcherEvent(WatcherEvent.CHILD, 3, f"{base}/parent"),
        }, events
        # the watches on unchanged / missing nodes were re-registered and fire later
        k.set(f"{base}/unchanged", b"1")
        assert c.next_event() == WatcherEvent(WatcherEvent.CHANGED, 3, f"{base}/unchanged")
        k.create(f"{base}/nothing-yet")
        assert c.next_event() == WatcherEvent(WatcherEvent.CREATED, 3, f"{base}/nothing-yet")
        c.close_session()
