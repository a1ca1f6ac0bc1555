"""Transactions (multi) through kazoo's client.transaction().

ZooKeeper's per-op results when a multi fails: every op before the failing one reports
code 0 (kazoo: RolledBackError), the failing op its own error, every op after it
RUNTIMEINCONSISTENCY (-2, kazoo: RuntimeInconsistency); nothing is applied.
"""

import pytest
from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import ZnodeStat


def test_commit_create_set_delete_check(client, client2, base):
    client.create(base + "/old", b"o")
    client.create(base + "/data", b"d0")

    t = client.transaction()
    t.create(base + "/new", b"n")
    t.set_data(base + "/data", b"d1", version=0)
    t.check(base + "/data", 1)  # sees the set_data earlier in the same multi
    t.delete(base + "/old", version=0)
    t.create(base + "/new/child")  # sees the create earlier in the same multi
    t.create(base + "/seq-", sequence=True)
    results = t.commit()

    assert results[0] == base + "/new"
    assert isinstance(results[1], ZnodeStat) and results[1].version == 1
    assert results[2] is True
    assert results[3] is True
    assert results[4] == base + "/new/child"
    assert results[5].startswith(base + "/seq-") and len(results[5]) == len(base + "/seq-") + 10

    assert client2.get(base + "/new")[0] == b"n"
    assert client2.get(base + "/data")[0] == b"d1"
    assert client2.exists(base + "/old") is None
    assert client2.exists(base + "/new/child") is not None
    # all ops share one zxid
    assert client2.exists(base + "/new").czxid == client2.exists(base + "/data").mzxid == results[1].mzxid


def test_failing_check_aborts_everything(client, client2, base):
    client.create(base + "/a", b"a0")
    client.create(base + "/b", b"b0")
    before = client.get_children(base, include_data=True)

    t = client.transaction()
    t.create(base + "/c", b"c")
    t.set_data(base + "/a", b"a1")
    t.check(base + "/b", 5)  # wrong version: fails
    t.delete(base + "/b")
    t.create(base + "/d")
    results = t.commit()

    assert [type(r) for r in results] == [
        RolledBackError,
        RolledBackError,
        BadVersionError,
        RuntimeInconsistency,
        RuntimeInconsistency,
    ]
    # nothing applied, seen from another client and another session
    assert sorted(client2.get_children(base)) == ["a", "b"]
    assert client2.get(base + "/a") == (b"a0", client2.exists(base + "/a"))
    assert client2.exists(base + "/a").version == 0
    assert client2.exists(base + "/c") is None
    after = client2.get_children(base, include_data=True)
    assert after[1].cversion == before[1].cversion  # not even the sequence counter moved


@pytest.mark.parametrize(
    "build, failing, err",
    [
        (lambda t, b: (t.create(b + "/x"), t.create(b + "/exists")), 1, NodeExistsError),
        (lambda t, b: (t.create(b + "/x"), t.delete(b + "/nope")), 1, NoNodeError),
        (lambda t, b: (t.set_data(b + "/nope", b""), t.create(b + "/x")), 0, NoNodeError),
        (lambda t, b: (t.create(b + "/x"), t.delete(b + "/exists", version=3)), 1, BadVersionError),
        (lambda t, b: (t.create(b + "/exists/kid"), t.delete(b + "/exists")), 1, NotEmptyError),
        (lambda t, b: (t.create(b + "/x"), t.create(b + "/bad\u0001")), 1, BadArgumentsError),
        (lambda t, b: (t.check(b + "/nope", 0), t.create(b + "/x")), 0, NoNodeError),
    ],
    ids=["exists", "delete-missing", "set-missing", "delete-badversion", "notempty", "badpath", "check-missing"],
)
def test_each_error_aborts_the_multi(client, base, build, failing, err):
    client.create(base + "/exists")
    t = client.transaction()
    build(t, base)
    results = t.commit()
    assert isinstance(results[failing], err), results
    for r in results[:failing]:
        assert isinstance(r, RolledBackError), results
    for r in results[failing + 1 :]:
        assert isinstance(r, RuntimeInconsistency), results
    assert client.get_children(base) == ["exists"]
    assert client.get_children(base + "/exists") == []


def test_empty_transaction(client):
    assert client.transaction().commit() == []


def test_check_alone(client, base):
    client.create(base + "/c", b"")
    t = client.transaction()
    t.check(base + "/c", 0)
    assert t.commit() == [True]


def test_transaction_ephemeral_create_and_delete_same_node(client, client2, base):
    t = client.transaction()
    t.create(base + "/tmp", b"", ephemeral=True)
    t.delete(base + "/tmp")
    t.create(base + "/eph", b"", ephemeral=True)
    assert t.commit() == [base + "/tmp", True, base + "/eph"]
    assert client2.exists(base + "/tmp") is None
    assert client2.exists(base + "/eph").ephemeralOwner == client.client_id[0]


def test_transaction_context_manager(client, base):
    with client.transaction() as t:
        t.create(base + "/ctx", b"1")
    assert t.committed
    assert client.get(base + "/ctx")[0] == b"1"
