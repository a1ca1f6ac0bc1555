"""ACLs and authentication through kazoo."""

import pytest
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    ConnectionClosedError,
    InvalidACLError,
    NoAuthError,
)
from kazoo.protocol.states import KazooState
from kazoo.security import (
    ACL,
    ANYONE_ID_UNSAFE,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

from zk_ensemble import wait_until


@pytest.fixture
def authed(make_client):
    c = make_client()
    c.add_auth("digest", "user:pw")
    return c


def test_digest_acl_owner_vs_others(authed, client2, base):
    path = base + "/secret"
    acl = [make_digest_acl("user", "pw", all=True)]
    authed.create(path, b"s3cret", acl=acl)
    assert authed.get(path)[0] == b"s3cret"

    # the stored id is user:base64(sha1("user:pw"))
    acls, stat = authed.get_acls(path)
    assert acls == acl
    assert acls[0].id == Id("digest", make_digest_acl_credential("user", "pw"))
    assert acls[0].id.id == "user:2Om+GBbT2q/tS6pdvACZbbm7/1A="
    assert stat.aversion == 0

    # an unauthenticated session: NoAuth for everything that needs a permission...
    with pytest.raises(NoAuthError):
        client2.get(path)
    with pytest.raises(NoAuthError):
        client2.get_children(path)
    with pytest.raises(NoAuthError):
        client2.get_acls(path)  # getACL needs READ or ADMIN
    with pytest.raises(NoAuthError):
        client2.set(path, b"x")
    with pytest.raises(NoAuthError):
        client2.create(path + "/child")
    with pytest.raises(NoAuthError):
        client2.set_acls(path, OPEN_ACL_UNSAFE)
    # ...but exists needs none
    assert client2.exists(path) == stat
    assert authed.get(path)[0] == b"s3cret"

    # a wrong password is accepted by add_auth (digest just records the identity) but grants nothing
    client2.add_auth("digest", "user:wrong")
    with pytest.raises(NoAuthError):
        client2.get(path)
    # the right one does
    client2.add_auth("digest", "user:pw")
    assert client2.get(path)[0] == b"s3cret"
    client2.set(path, b"changed")
    assert authed.get(path)[0] == b"changed"


def test_deleting_a_protected_node_is_governed_by_the_parent(authed, client2, base):
    path = base + "/protected"
    authed.create(path, acl=[make_digest_acl("user", "pw", all=True)])
    client2.delete(path)  # base is world:anyone ALL, so DELETE on the parent suffices
    assert authed.exists(path) is None

    parent = base + "/nodelete"
    authed.create(parent, acl=[make_acl("world", "anyone", read=True, create=True)])
    client2.create(parent + "/kid")
    with pytest.raises(NoAuthError):
        client2.delete(parent + "/kid")
    assert client2.exists(parent + "/kid") is not None


def test_world_read_only_acl(authed, client2, base):
    path = base + "/ro"
    authed.create(path, b"r", acl=READ_ACL_UNSAFE)
    assert client2.get(path)[0] == b"r"
    assert client2.get_children(path) == []
    assert client2.get_acls(path)[0] == [ACL(Permissions.READ, ANYONE_ID_UNSAFE)]
    for c in (client2, authed):  # even its creator may only read
        with pytest.raises(NoAuthError):
            c.set(path, b"w")
        with pytest.raises(NoAuthError):
            c.create(path + "/child")
        with pytest.raises(NoAuthError):
            c.set_acls(path, OPEN_ACL_UNSAFE)
    assert client2.get(path)[0] == b"r"


def test_get_set_acls_with_versions(authed, client2, base):
    path = base + "/versions"
    authed.create(path, acl=[make_digest_acl("user", "pw", all=True)])
    acls, stat = authed.get_acls(path)
    assert stat.aversion == 0

    with pytest.raises(BadVersionError):
        authed.set_acls(path, OPEN_ACL_UNSAFE, version=3)
    stat1 = authed.set_acls(path, OPEN_ACL_UNSAFE, version=0)
    assert stat1.aversion == 1
    assert stat1.version == 0 and stat1.mzxid == stat.mzxid  # data untouched
    with pytest.raises(BadVersionError):
        authed.set_acls(path, OPEN_ACL_UNSAFE, version=0)

    assert client2.get_acls(path) == (OPEN_ACL_UNSAFE, stat1)
    client2.set(path, b"now open")  # the new ACL is in force
    stat2 = client2.set_acls(path, READ_ACL_UNSAFE)  # version -1: any
    assert stat2.aversion == 2


def test_admin_permission_alone_allows_set_acls(authed, client2, base):
    path = base + "/admin"
    authed.create(path, acl=[ACL(Permissions.READ, ANYONE_ID_UNSAFE), make_digest_acl("user", "pw", admin=True)])
    with pytest.raises(NoAuthError):
        authed.set(path, b"no write")
    assert authed.set_acls(path, OPEN_ACL_UNSAFE).aversion == 1
    client2.set(path, b"now anyone writes")


def test_auth_scheme_acl_expands_to_the_sessions_identities(authed, client2, base):
    path = base + "/auth"
    authed.add_auth("digest", "second:pw2")
    authed.create(path, acl=[ACL(Permissions.ALL, Id("auth", ""))])
    acls, _ = authed.get_acls(path)
    assert sorted(acls, key=lambda a: a.id.id) == [
        make_digest_acl("second", "pw2", all=True),
        make_digest_acl("user", "pw", all=True),
    ]
    with pytest.raises(NoAuthError):
        client2.get(path)
    client2.add_auth("digest", "second:pw2")
    client2.get(path)


def test_ip_acl(client, client2, base):
    client.create(base + "/lo", acl=[make_acl("ip", "127.0.0.1", all=True)])
    client.create(base + "/net", acl=[make_acl("ip", "127.0.0.0/8", all=True)])
    client.create(base + "/far", acl=[make_acl("ip", "10.1.2.3", all=True)])
    client2.get(base + "/lo")
    client2.get(base + "/net")
    with pytest.raises(NoAuthError):
        client2.get(base + "/far")


def test_zero_permissions_acl(client, base):
    path = base + "/none"
    client.create(path, acl=[ACL(0, ANYONE_ID_UNSAFE)])
    with pytest.raises(NoAuthError):
        client.get(path)
    with pytest.raises(NoAuthError):
        client.get_acls(path)
    assert client.exists(path) is not None
    client.delete(path)


@pytest.mark.parametrize(
    "acl",
    [
        [ACL(Permissions.ALL, Id("auth", ""))],  # 'auth' with no authenticated identity
        [ACL(Permissions.ALL, Id("nosuchscheme", "x"))],
        [ACL(Permissions.ALL, Id("digest", "no-colon-no-hash"))],
        [ACL(Permissions.ALL, Id("ip", "not-an-ip"))],
        [ACL(Permissions.ALL, Id("world", "someone"))],
    ],
    ids=["auth-unauthenticated", "unknown-scheme", "digest-malformed", "ip-malformed", "world-not-anyone"],
)
def test_invalid_acl_on_create(client, base, acl):
    with pytest.raises(InvalidACLError):
        client.create(base + "/bad", acl=acl)
    assert client.exists(base + "/bad") is None


def test_invalid_acl_on_set_acls(client, base):
    client.create(base + "/n")
    with pytest.raises(InvalidACLError):
        client.set_acls(base + "/n", [])
    with pytest.raises(InvalidACLError):
        client.set_acls(base + "/n", [ACL(Permissions.ALL, Id("nosuchscheme", "x"))])
    acls, stat = client.get_acls(base + "/n")
    assert acls == OPEN_ACL_UNSAFE and stat.aversion == 0


def test_unsupported_auth_scheme_fails_and_closes_the_session_handle(make_client, client2, base):
    bad = make_client()
    states = []
    bad.add_listener(states.append)
    with pytest.raises(AuthFailedError):
        bad.add_auth("nosuchscheme", "whatever")
    # ZooKeeper answers AUTH_FAILED (-115) and closes the connection; kazoo marks the client LOST,
    # reconnects once, replays the auth, is refused again and stops its connection loop.
    wait_until(lambda: bad._connection.connection_stopped.is_set(), 10,
               message="kazoo to give the connection up")
    assert bad.state == KazooState.LOST
    assert KazooState.LOST in states
    with pytest.raises((ConnectionClosedError, AuthFailedError)):
        bad.get("/")
    # nobody else is affected
    client2.create(base + "/still-fine")
    assert client2.exists(base + "/still-fine") is not None


def test_auth_survives_reconnect(ensemble, make_client, client2, base):
    # kazoo replays add_auth on reconnect; the identity must work on the new server
    a, b = ensemble.ids[0], ensemble.ids[1]
    c = make_client(hosts=ensemble.address(a))
    c.add_auth("digest", "user:pw")
    path = base + "/reauth"
    c.create(path, b"x", acl=[make_digest_acl("user", "pw", all=True)])
    session = c.client_id[0]
    c.set_hosts(ensemble.address(b))
    c._connection._socket.shutdown(2)  # drop the connection; kazoo reconnects to b
    wait_until(lambda: c.connected and c.get(path)[0] == b"x", 15, message="reconnect to b")
    assert c.client_id[0] == session
    client2.sync(path)
    with pytest.raises(NoAuthError):
        client2.get(path)
