"""A minimal raw ZooKeeper client-protocol speaker (jute framing), for the few checks that need
to see exact bytes on the wire that kazoo hides: the negotiated session timeout, the answer to a
re-attach with a wrong password, what happens to an oversized frame or an unknown auth scheme.

Only what the tests need: ConnectRequest/ConnectResponse, request headers, reply headers.
"""

import socket
import struct

AUTH_XID = -4
PING_XID = -2
SET_WATCHES_XID = -8
NOTIFICATION_XID = -1

OP_CREATE = 1
OP_GET_DATA = 4
OP_PING = 11
OP_GET_CHILDREN = 8
OP_SET_WATCHES = 101
OP_AUTH = 100
OP_CLOSE = -11


def _buffer(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


def _string(s):
    return _buffer(s.encode("utf-8"))


def _strings(items):
    return struct.pack(">i", len(items)) + b"".join(_string(s) for s in items)


def _read_string(buf, off):
    (n,) = struct.unpack(">i", buf[off : off + 4])
    off += 4
    if n < 0:
        return None, off
    return buf[off : off + n].decode("utf-8"), off + n


class WatcherEvent:
    """A notification: type (1 created, 2 deleted, 3 data changed, 4 children changed),
    keeper state (3 = SyncConnected) and path."""

    CREATED, DELETED, CHANGED, CHILD = 1, 2, 3, 4

    def __init__(self, type_, state, path):
        self.type = type_
        self.state = state
        self.path = path

    def __repr__(self):
        return f"WatcherEvent(type={self.type}, state={self.state}, path={self.path!r})"

    def __eq__(self, other):
        return (self.type, self.state, self.path) == (other.type, other.state, other.path)

    def __hash__(self):
        return hash((self.type, self.state, self.path))


class ConnectResponse:
    def __init__(self, protocol_version, timeout, session_id, passwd, read_only):
        self.protocol_version = protocol_version
        self.timeout = timeout
        self.session_id = session_id
        self.passwd = passwd
        self.read_only = read_only

    def __repr__(self):
        return (
            f"ConnectResponse(protocol_version={self.protocol_version}, timeout={self.timeout}, "
            f"session_id={self.session_id:#x}, passwd={self.passwd.hex()}, read_only={self.read_only})"
        )


class Conn:
    """One TCP connection speaking the client protocol."""

    def __init__(self, host, port, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --------------------------------------------------------------- framing

    def send_frame(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, n):
        chunks = []
        while n > 0:
            data = self.sock.recv(n)
            if not data:
                raise EOFError("connection closed by the server")
            chunks.append(data)
            n -= len(data)
        return b"".join(chunks)

    def recv_frame(self):
        (length,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(length)

    def closed_by_server(self, timeout=5.0):
        """True if the server closes the connection (EOF or reset) within timeout, reading and
        discarding anything it still sends."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    # --------------------------------------------------------------- session

    def connect(self, timeout_ms=5000, session_id=0, passwd=b"\x00" * 16, last_zxid=0, read_only=False):
        """Send ConnectRequest, return the ConnectResponse (raises EOFError if the server closes
        without answering)."""
        payload = (
            struct.pack(">iqiq", 0, last_zxid, timeout_ms, session_id)
            + _buffer(passwd)
            + struct.pack(">?", read_only)
        )
        self.send_frame(payload)
        frame = self.recv_frame()
        protocol_version, timeout, session_id = struct.unpack(">iiq", frame[:16])
        (plen,) = struct.unpack(">i", frame[16:20])
        passwd = frame[20 : 20 + max(plen, 0)]
        rest = frame[20 + max(plen, 0) :]
        read_only = bool(rest[0]) if rest else False
        return ConnectResponse(protocol_version, timeout, session_id, passwd, read_only)

    def request(self, xid, op, body=b""):
        self.send_frame(struct.pack(">ii", xid, op) + body)

    def reply(self, events=None):
        """Next reply header (xid, zxid, err) and the rest of the frame. Notifications that
        arrive first are appended to `events` (a list) if given, else skipped."""
        while True:
            frame = self.recv_frame()
            xid, zxid, err = struct.unpack(">iqi", frame[:16])
            if xid != NOTIFICATION_XID:
                return xid, zxid, err, frame[16:]
            if events is not None:
                events.append(self._event(frame[16:]))

    @staticmethod
    def _event(body):
        type_, state = struct.unpack(">ii", body[:8])
        path, _ = _read_string(body, 8)
        return WatcherEvent(type_, state, path)

    def next_event(self):
        """Read frames until a notification arrives; return it (replies are discarded)."""
        while True:
            frame = self.recv_frame()
            xid = struct.unpack(">i", frame[:4])[0]
            if xid == NOTIFICATION_XID:
                return self._event(frame[16:])

    def set_watches(self, relative_zxid, data=(), exist=(), child=()):
        self.request(
            SET_WATCHES_XID,
            OP_SET_WATCHES,
            struct.pack(">q", relative_zxid) + _strings(list(data)) + _strings(list(exist)) + _strings(list(child)),
        )

    def get_children(self, xid, path, watch=False):
        self.request(xid, OP_GET_CHILDREN, _string(path) + struct.pack(">?", watch))

    def auth(self, scheme, credential):
        self.request(AUTH_XID, OP_AUTH, struct.pack(">i", 0) + _string(scheme) + _buffer(credential))

    def get_data(self, xid, path, watch=False):
        self.request(xid, OP_GET_DATA, _string(path) + struct.pack(">?", watch))

    def create(self, xid, path, data, flags=0):
        # ACL: world:anyone, perms ALL (31)
        acl = struct.pack(">i", 1) + struct.pack(">i", 31) + _string("world") + _string("anyone")
        self.request(xid, OP_CREATE, _string(path) + _buffer(data) + acl + struct.pack(">i", flags))

    def close_session(self, xid=1):
        self.request(xid, OP_CLOSE)
