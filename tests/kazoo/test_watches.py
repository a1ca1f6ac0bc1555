"""Watches through kazoo: data, exists and child watches, their event types and paths, one-shot
semantics, and ordering (a client sees the watch event before it can read the data that
triggered it).

Deterministic "no further event" checks: ZooKeeper sends a notification when the watching
client's server applies the change, before any later reply on that connection. So after
`sync(path)` plus one read on the watching client, every notification for changes made before
is already in kazoo's callback queue; `drain()` then pushes a marker through that (FIFO) queue
and waits for it, so every earlier event has been delivered to its callback.
"""

import queue
import threading

import pytest
from kazoo.protocol.states import Callback, EventType, WatchedEvent

from zk_ensemble import wait_until


def drain(client, timeout=10.0):
    """Wait until every watch callback kazoo has queued so far has run."""
    done = threading.Event()
    client.handler.dispatch_callback(Callback("watch", done.set, ()))
    assert done.wait(timeout), "kazoo callback queue did not drain"


def settle(client, path):
    """Make sure all notifications for changes committed before now reached their callbacks."""
    client.sync(path)
    client.exists(path)
    drain(client)


class Events:
    """A watch callback that records events."""

    def __init__(self):
        self.q = queue.Queue()
        self.seen = []

    def __call__(self, event):
        self.seen.append(event)
        self.q.put(event)

    def next(self, timeout=10.0):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no watch event within {timeout}s (seen so far: {self.seen})")

    def empty(self):
        return self.q.empty()


def test_data_watch_fires_changed_once(client, client2, base):
    path = base + "/d"
    client.create(path, b"v0")
    ev = Events()
    assert client.get(path, watch=ev)[0] == b"v0"

    client2.set(path, b"v1")
    e = ev.next()
    assert isinstance(e, WatchedEvent)
    assert e.type == EventType.CHANGED
    assert e.path == path
    assert e.state == "CONNECTED"

    # one-shot: a second change without re-registering sends nothing
    client2.set(path, b"v2")
    settle(client, path)
    assert ev.empty(), f"unexpected events: {ev.seen}"
    assert len(ev.seen) == 1


def test_data_watch_fires_deleted_and_parent_child_watch_fires(client, client2, base):
    path = base + "/gone"
    client.create(path, b"x")
    data_ev, child_ev = Events(), Events()
    client.get(path, watch=data_ev)
    client.get_children(base, watch=child_ev)

    client2.delete(path)
    e = data_ev.next()
    assert (e.type, e.path) == (EventType.DELETED, path)
    c = child_ev.next()
    assert (c.type, c.path) == (EventType.CHILD, base)


def test_exists_watch_on_missing_node_fires_created(client, client2, base):
    path = base + "/later"
    ev = Events()
    assert client.exists(path, watch=ev) is None
    client2.create(path, b"born")
    e = ev.next()
    assert (e.type, e.path) == (EventType.CREATED, path)
    # the data is readable once the event arrived
    assert client.get(path)[0] == b"born"

    # one-shot: deleting it now notifies nobody
    client2.delete(path)
    settle(client, base)
    assert ev.empty(), f"unexpected events: {ev.seen}"


def test_exists_watch_on_existing_node_fires_changed_then_deleted(client, client2, base):
    path = base + "/e"
    client.create(path, b"0")
    ev = Events()
    assert client.exists(path, watch=ev) is not None
    client2.set(path, b"1")
    assert (ev.next().type) == EventType.CHANGED
    assert client.exists(path, watch=ev) is not None  # re-register
    client2.delete(path)
    e = ev.next()
    assert (e.type, e.path) == (EventType.DELETED, path)


def test_child_watch_fires_on_create_and_delete_not_on_child_data(client, client2, base):
    ev = Events()
    assert client.get_children(base, watch=ev) == []

    client2.create(base + "/c1")
    e = ev.next()
    assert (e.type, e.path) == (EventType.CHILD, base)

    # one-shot: nothing for the second child until re-registered
    client2.create(base + "/c2")
    settle(client, base)
    assert ev.empty(), f"unexpected events: {ev.seen}"

    assert sorted(client.get_children(base, watch=ev)) == ["c1", "c2"]
    # changing a child's data, or the parent's data, is not a child event
    client2.set(base + "/c1", b"data")
    client2.set(base, b"parent data")
    settle(client, base)
    assert ev.empty(), f"unexpected events: {ev.seen}"

    client2.delete(base + "/c2")
    e = ev.next()
    assert (e.type, e.path) == (EventType.CHILD, base)


def test_parent_data_watch_not_triggered_by_children(client, client2, base):
    ev = Events()
    client.get(base, watch=ev)
    client2.create(base + "/kid")
    client2.delete(base + "/kid")
    settle(client, base)
    assert ev.empty(), f"unexpected events: {ev.seen}"
    client2.set(base, b"now")
    assert ev.next().type == EventType.CHANGED


def test_data_and_child_watch_on_same_node_each_fire(client, client2, base):
    node = base + "/both"
    client.create(node)
    data_ev, child_ev = Events(), Events()
    client.get(node, watch=data_ev)
    client.get_children(node, watch=child_ev)
    client2.create(node + "/k")
    assert child_ev.next().type == EventType.CHILD
    client2.delete(node + "/k")
    client2.delete(node)
    # the data watch fires DELETED; the child watch was consumed by the create
    e = data_ev.next()
    assert (e.type, e.path) == (EventType.DELETED, node)
    settle(client, base)
    assert child_ev.empty(), f"unexpected events: {child_ev.seen}"


def test_new_data_is_readable_inside_the_watch_callback(client, client2, base):
    path = base + "/ordered"
    client.create(path, b"old")
    seen = queue.Queue()

    def watcher(event):
        # Blocking read inside the callback: the server already applied the change, so the
        # client must see the new value (never the old one).
        seen.put((event.type, client.get(path)[0]))

    client.get(path, watch=watcher)
    client2.set(path, b"new")
    etype, data = seen.get(timeout=10)
    assert etype == EventType.CHANGED
    assert data == b"new"


def test_watch_event_arrives_before_the_read_that_sees_the_change(ensemble, make_client, base):
    # watcher on one server, writer on another; the watcher polls its own server until it sees
    # the new value. ZooKeeper sends the notification before any reply that reflects the change,
    # so by then the event is already queued (drain() proves it).
    watcher = make_client(hosts=ensemble.address(ensemble.ids[0]))
    writer = make_client(hosts=ensemble.address(ensemble.ids[1]))
    path = base + "/race"
    writer.create(path, b"0")
    watcher.sync(path)
    for round_ in range(1, 6):
        ev = Events()
        assert watcher.get(path, watch=ev)[0] == str(round_ - 1).encode()
        writer.set_async(path, str(round_).encode())
        wait_until(lambda: watcher.get(path)[0] == str(round_).encode(), 10,
                   message=f"round {round_} value on the watcher's server")
        drain(watcher)
        assert len(ev.seen) == 1, f"round {round_}: the event did not precede the read"
        assert ev.seen[0].type == EventType.CHANGED


def test_watch_set_on_one_server_fired_by_write_through_another(ensemble, make_client, base):
    a, b = ensemble.ids[0], ensemble.ids[2]
    watcher = make_client(hosts=ensemble.address(a))
    writer = make_client(hosts=ensemble.address(b))
    ev_data, ev_exists, ev_child = Events(), Events(), Events()
    watcher.create(base + "/x", b"1")
    watcher.get(base + "/x", watch=ev_data)
    watcher.exists(base + "/y", watch=ev_exists)
    watcher.get_children(base, watch=ev_child)

    writer.set(base + "/x", b"2")
    writer.create(base + "/y")
    assert (ev_data.next().type, ev_data.seen[0].path) == (EventType.CHANGED, base + "/x")
    assert (ev_exists.next().type, ev_exists.seen[0].path) == (EventType.CREATED, base + "/y")
    assert (ev_child.next().type, ev_child.seen[0].path) == (EventType.CHILD, base)


def test_many_watchers_one_change_each_client_notified(make_client, client2, base):
    path = base + "/fan"
    client2.create(path, b"0")
    watchers = [make_client() for _ in range(3)]
    evs = []
    for w in watchers:
        ev = Events()
        w.get(path, watch=ev)
        evs.append(ev)
    client2.set(path, b"1")
    for ev in evs:
        e = ev.next()
        assert (e.type, e.path) == (EventType.CHANGED, path)


def test_multi_op_fires_watches_for_every_op(client, client2, base):
    client.create(base + "/m1", b"a")
    client.create(base + "/m2", b"b")
    e1, e2, ec = Events(), Events(), Events()
    client.get(base + "/m1", watch=e1)
    client.get(base + "/m2", watch=e2)
    client.get_children(base, watch=ec)
    t = client2.transaction()
    t.set_data(base + "/m1", b"A")
    t.delete(base + "/m2")
    t.create(base + "/m3")
    results = t.commit()
    assert results[1:] == [True, base + "/m3"]
    assert results[0].version == 1
    assert e1.next().type == EventType.CHANGED
    assert e2.next().type == EventType.DELETED
    assert ec.next().type == EventType.CHILD


def test_failed_multi_fires_no_watches(client, client2, base):
    client.create(base + "/f", b"a")
    ev, ec = Events(), Events()
    client.get(base + "/f", watch=ev)
    client.get_children(base, watch=ec)
    t = client2.transaction()
    t.set_data(base + "/f", b"B")
    t.create(base + "/new")
    t.check(base + "/f", 99)
    results = t.commit()
    assert any(isinstance(r, Exception) for r in results)
    settle(client, base)
    assert ev.empty() and ec.empty(), f"unexpected events: {ev.seen} {ec.seen}"
    assert client.get(base + "/f")[0] == b"a"


@pytest.mark.parametrize("kind", ["data", "child"])
def test_kazoo_watch_recipes_follow_changes(client, client2, base, kind):
    # kazoo's DataWatch / ChildrenWatch re-register after every event.
    path = base + "/r"
    client2.create(path, b"0")
    seen = []
    cond = threading.Condition()

    def record(value, *rest):
        with cond:
            seen.append(value)
            cond.notify_all()

    if kind == "data":
        client.DataWatch(path, lambda data, stat: record(data))
        steps = [lambda i: client2.set(path, str(i).encode()) for _ in range(1)] * 3
        expect = [b"0", b"1", b"2", b"3"]
    else:
        client.ChildrenWatch(path, lambda children: record(sorted(children)))
        steps = [lambda i: client2.create(f"{path}/c{i}") for _ in range(1)] * 3
        expect = [[], ["c1"], ["c1", "c2"], ["c1", "c2", "c3"]]

    def wait_len(n):
        with cond:
            assert cond.wait_for(lambda: len(seen) >= n, timeout=10), seen

    wait_len(1)
    for i, step in enumerate(steps, start=1):
        step(i)
        wait_len(i + 1)
    assert seen == expect
