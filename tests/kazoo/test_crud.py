"""CRUD through kazoo: stats and versions, every error code a plain client meets, big values,
sequential and ephemeral nodes, containers."""

import time

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    ConnectionLoss,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.protocol.serialization import Create2
from kazoo.protocol.states import KazooState, ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

from zk_ensemble import CONTAINER_CHECK_MS, wait_until

MIB = 1024 * 1024
# ZooKeeper refuses a request frame longer than jute.maxbuffer = 0xfffff (1 MiB - 1) bytes, not
# counting the 4-byte length prefix. A create of /p with data d and the default world ACL is a
# frame of 8 (xid, type) + 4 + len(path) + 4 + len(d) + 27 (one world:anyone ACL) + 4 (flags).
MAX_FRAME = 0xFFFFF


def create_frame_len(path, n):
    return 8 + 4 + len(path.encode()) + 4 + n + 27 + 4


# ----------------------------------------------------------------------------- basic CRUD


def test_create_get_set_delete_with_versions(client, base):
    path = base + "/node"
    assert client.create(path, b"v0") == path

    data, stat = client.get(path)
    assert data == b"v0"
    assert isinstance(stat, ZnodeStat)
    assert stat.version == 0 and stat.cversion == 0 and stat.aversion == 0
    assert stat.ephemeralOwner == 0
    assert stat.dataLength == 2 and stat.numChildren == 0
    assert stat.czxid == stat.mzxid == stat.pzxid > 0
    assert stat.ctime == stat.mtime > 0

    stat1 = client.set(path, b"v1", version=0)
    assert stat1.version == 1
    assert stat1.czxid == stat.czxid and stat1.mzxid > stat.mzxid
    assert stat1.dataLength == 2 and stat1.mtime >= stat.mtime

    with pytest.raises(BadVersionError):
        client.set(path, b"stale", version=0)
    assert client.get(path)[0] == b"v1"

    # version -1 means "any version"; setting identical data still bumps the version
    assert client.set(path, b"v1", version=-1).version == 2
    assert client.set(path, b"v1").version == 3

    with pytest.raises(BadVersionError):
        client.delete(path, version=2)
    assert client.exists(path) is not None

    client.delete(path, version=3)
    assert client.exists(path) is None
    with pytest.raises(NoNodeError):
        client.get(path)


def test_create_include_data_returns_stat(client, base):
    path, stat = client.create(base + "/withstat", b"abc", include_data=True)
    assert path == base + "/withstat"
    assert stat.version == 0 and stat.dataLength == 3
    assert client.exists(path) == stat


def test_exists_returns_stat_or_none(client, base):
    assert client.exists(base + "/missing") is None
    client.create(base + "/present", b"12345")
    stat = client.exists(base + "/present")
    assert isinstance(stat, ZnodeStat)
    assert stat.dataLength == 5
    assert stat == client.get(base + "/present")[1]
    root = client.exists("/")
    assert root is not None and root.numChildren >= 1


def test_empty_and_none_data(client, base):
    client.create(base + "/empty")
    assert client.get(base + "/empty")[0] == b""
    assert client.exists(base + "/empty").dataLength == 0
    client.set(base + "/empty", b"x")
    client.set(base + "/empty", b"")
    assert client.get(base + "/empty") [0] == b""


def test_binary_data_roundtrip(client, client2, base):
    blob = bytes(range(256)) * 4
    client.create(base + "/bin", blob)
    assert client2.get(base + "/bin")[0] == blob


def test_makepath_creates_parents(client, base):
    path = base + "/a/b/c"
    assert client.create(path, b"deep", makepath=True) == path
    assert client.exists(base + "/a/b") is not None
    assert client.get(path)[0] == b"deep"


def test_children_and_parent_stat(client, base):
    parent = base + "/p"
    client.create(parent, b"pdata")
    before = client.exists(parent)

    created = [client.create(parent + "/" + name, include_data=True) for name in ("c", "a", "b")]
    children, stat = client.get_children(parent, include_data=True)
    assert sorted(children) == ["a", "b", "c"]  # names, not paths; order unspecified
    assert stat.numChildren == 3
    assert stat.cversion == before.cversion + 3
    assert stat.pzxid == created[-1][1].czxid  # pzxid: zxid of the last child change
    assert stat.mzxid == before.mzxid and stat.version == before.version  # data untouched
    assert stat.dataLength == 5
    assert sorted(client.get_children(parent)) == ["a", "b", "c"]

    client.delete(parent + "/a")
    children2, stat2 = client.get_children(parent, include_data=True)
    assert sorted(children2) == ["b", "c"]
    assert stat2.cversion == stat.cversion + 1
    assert stat2.numChildren == 2
    assert stat2.pzxid > stat.pzxid
    assert client.get_children(parent + "/b") == []


# ----------------------------------------------------------------------------- errors


def test_no_node_errors(client, base):
    missing = base + "/missing"
    with pytest.raises(NoNodeError):
        client.get(missing)
    with pytest.raises(NoNodeError):
        client.set(missing, b"x")
    with pytest.raises(NoNodeError):
        client.delete(missing)
    with pytest.raises(NoNodeError):
        client.get_children(missing)
    with pytest.raises(NoNodeError):
        client.get_acls(missing)
    with pytest.raises(NoNodeError):
        client.create(missing + "/child")  # parent missing


def test_node_exists_error(client, base):
    client.create(base + "/dup", b"first")
    with pytest.raises(NodeExistsError):
        client.create(base + "/dup", b"second")
    assert client.get(base + "/dup")[0] == b"first"
    with pytest.raises(NodeExistsError):
        client.create("/")


def test_bad_version_errors(client, base):
    client.create(base + "/v")
    with pytest.raises(BadVersionError):
        client.set(base + "/v", b"x", version=1)
    with pytest.raises(BadVersionError):
        client.set(base + "/v", b"x", version=-2)
    with pytest.raises(BadVersionError):
        client.delete(base + "/v", version=7)
    assert client.exists(base + "/v").version == 0


def test_not_empty_error(client, base):
    client.create(base + "/parent")
    client.create(base + "/parent/child")
    with pytest.raises(NotEmptyError):
        client.delete(base + "/parent")
    assert client.exists(base + "/parent") is not None
    client.delete(base + "/parent", recursive=True)
    assert client.exists(base + "/parent") is None


def test_no_children_for_ephemerals(client, base):
    client.create(base + "/eph", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        client.create(base + "/eph/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        client.create(base + "/eph/seq-", sequence=True)
    assert client.get_children(base + "/eph") == []


@pytest.mark.parametrize(
    "name",
    ["bad\u0001ctl", "nul\u0000byte", "high\ufff5", "lo\u001f", "del\u007f", "c1\u0085", "pua\ue000"],
    ids=["ctl-01", "nul", "u+fff5", "ctl-1f", "del-7f", "c1-85", "u+e000"],
)
def test_bad_path_on_create_is_bad_arguments(client, base, name):
    with pytest.raises(BadArgumentsError):
        client.create(base + "/" + name)
    assert client.get_children(base) == []


@pytest.mark.parametrize("char", ["\u0001", "\u0000"], ids=["ctl-01", "nul"])
def test_which_operations_validate_the_path(client, base, char):
    # ZooKeeper validates the path of create, setData, setACL and check (BadArguments). Reads
    # and delete just look the path up and find nothing, except that exists and delete refuse
    # a path containing NUL (BadArguments) while getData/getChildren/getACL still say NoNode.
    bad = base + "/bad" + char + "x"
    with pytest.raises(BadArgumentsError):
        client.set(bad, b"x")
    with pytest.raises(BadArgumentsError):
        client.set_acls(bad, OPEN_ACL_UNSAFE)
    t = client.transaction()
    t.check(bad, 0)
    assert [type(r) for r in t.commit()] == [BadArgumentsError]

    for read in (client.get, client.get_children, client.get_acls):
        with pytest.raises(NoNodeError):
            read(bad)
    if char == "\u0000":
        with pytest.raises(BadArgumentsError):
            client.exists(bad)
        with pytest.raises(BadArgumentsError):
            client.delete(bad)
    else:
        assert client.exists(bad) is None
        with pytest.raises(NoNodeError):
            client.delete(bad)


def test_root_and_system_nodes_cannot_be_deleted(client):
    with pytest.raises(BadArgumentsError):
        client.delete("/")
    with pytest.raises(BadArgumentsError):
        client.delete("/zookeeper")
    assert client.exists("/zookeeper") is not None


# ----------------------------------------------------------------------------- big values


def test_value_just_under_one_mib_roundtrips_across_servers(ensemble, make_client, base):
    path = base + "/big"
    n = MAX_FRAME - create_frame_len(path, 0)  # the largest create that fits in one frame
    assert n > MIB - 256
    writer = make_client(hosts=ensemble.address(ensemble.ids[0]))
    reader = make_client(hosts=ensemble.address(ensemble.ids[-1]))
    blob = bytes((i * 7) & 0xFF for i in range(n))
    writer.create(path, blob)
    reader.sync(path)
    data, stat = reader.get(path)
    assert stat.dataLength == n
    assert data == blob
    # and a set of (almost) the same size works as well
    blob2 = b"z" * (n - 8)
    assert writer.set(path, blob2).dataLength == n - 8
    reader.sync(path)
    assert reader.get(path)[0] == blob2


def test_request_over_one_mib_is_refused_and_server_keeps_serving(client, client2, base):
    states = []
    client.add_listener(states.append)
    session = client.client_id[0]
    path = base + "/toobig"
    n = MAX_FRAME - create_frame_len(path, 0) + 1  # one byte too many
    # ZooKeeper closes the connection on the oversized frame; kazoo reports ConnectionLoss.
    with pytest.raises(ConnectionLoss):
        client.create(path, b"x" * n)
    with pytest.raises(ConnectionLoss):
        client.set(base, b"y" * (MIB + 1))
    # other clients are unaffected
    assert client2.exists(path) is None
    client2.create(base + "/other", b"ok")
    # the refused client reconnects to the same session and carries on
    wait_until(lambda: client.state == KazooState.CONNECTED, 15, message="client reconnect")
    assert client.client_id[0] == session
    assert KazooState.SUSPENDED in states and KazooState.LOST not in states
    client.sync(base)  # it may have reconnected to another server
    assert client.get(base + "/other")[0] == b"ok"
    assert client.exists(path) is None
    assert client.get(base)[0] == b""


# ----------------------------------------------------------------------------- sequential / ephemeral


def test_sequential_suffix_is_ten_digits_from_parent_cversion(client, base):
    parent = base + "/seq"
    client.create(parent)
    first = client.create(parent + "/n-", sequence=True)
    assert first == parent + "/n-0000000000"
    second = client.create(parent + "/n-", sequence=True)
    assert second == parent + "/n-0000000001"

    # The counter is the parent's count of child creations: a plain create advances it too,
    # and it is shared by all prefixes. Without deletes it equals the cversion clients see.
    client.create(parent + "/plain")
    assert client.exists(parent).cversion == 3
    third = client.create(parent + "/other-", sequence=True)
    assert third == parent + "/other-0000000003"
    eph = client.create(parent + "/e-", ephemeral=True, sequence=True)
    assert eph == parent + "/e-0000000004"
    assert client.exists(eph).ephemeralOwner == client.client_id[0]

    # A delete bumps the cversion clients see, but not the sequence counter. ZooKeeper keeps
    # only the count of creates C and reports cversion = 2*C - numChildren (creates + deletes),
    # so the next sequence number is (cversion + numChildren) / 2.
    client.delete(parent + "/plain")
    stat = client.exists(parent)
    assert (stat.cversion, stat.numChildren) == (6, 4)
    assert client.create(parent + "/d-", sequence=True) == parent + "/d-0000000005"
    client.delete(parent + "/d-0000000005")
    client.delete(eph)
    stat = client.exists(parent)
    assert (stat.cversion, stat.numChildren) == (9, 3)
    assert (stat.cversion + stat.numChildren) // 2 == 6

    # a bare trailing slash: the name is just the counter
    assert client.create(parent + "/", sequence=True) == parent + "/0000000006"
    assert sorted(client.get_children(parent)) == [
        "0000000006",
        "n-0000000000",
        "n-0000000001",
        "other-0000000003",
    ]
    assert client.exists(parent).cversion == 10


def test_sequential_names_are_unique_under_concurrency(client, client2, base):
    parent = base + "/race"
    client.create(parent)
    results = []
    for i in range(20):
        c = client if i % 2 else client2
        results.append(c.create_async(parent + "/x-", sequence=True))
    names = [r.get(timeout=10) for r in results]
    assert len(set(names)) == 20
    suffixes = sorted(int(n[-10:]) for n in names)
    assert suffixes == list(range(20))


def test_ephemeral_owner_and_visibility(client, client2, base):
    path = client.create(base + "/eph", b"mine", ephemeral=True)
    stat = client2.exists(path)
    assert stat is not None
    assert stat.ephemeralOwner == client.client_id[0]
    assert stat.ephemeralOwner != client2.client_id[0]
    assert client2.get(path)[0] == b"mine"
    # another session may delete it
    client2.delete(path)
    assert client.exists(path) is None


# ----------------------------------------------------------------------------- containers


class CreateContainer(Create2):
    """kazoo has no public container API; the request is a Create2 body with opcode 19
    (createContainer) and the CONTAINER flag (4), answered like Create2 (path and stat)."""

    type = 19


def create_container(client, path, data=b""):
    result = client.handler.async_result()
    client._call(CreateContainer(path, data, OPEN_ACL_UNSAFE, 4), result)
    return result.get(timeout=10)


def test_container_node_created_and_reaped_when_emptied(client, client2, base):
    cont = base + "/cont"
    path, stat = create_container(client, cont, b"c")
    assert path == cont
    assert stat.ephemeralOwner == 0  # clients see 0 for containers
    assert client2.get(cont)[0] == b"c"

    untouched = base + "/never-had-children"
    create_container(client, untouched)

    # a container may have children (unlike an ephemeral), including ephemeral ones
    client.create(cont + "/child")
    client.create(cont + "/eph", ephemeral=True)
    with pytest.raises(NodeExistsError):
        create_container(client, cont)

    # with children it stays; a container that never had a child is never reaped
    time.sleep(3 * CONTAINER_CHECK_MS / 1000.0)
    assert client.exists(cont) is not None
    assert client.exists(untouched) is not None

    client.delete(cont + "/child")
    client.delete(cont + "/eph")
    wait_until(lambda: client2.exists(cont) is None, 10 + 4 * CONTAINER_CHECK_MS / 1000.0,
               message="the emptied container to be deleted")
    assert client.exists(untouched) is not None
