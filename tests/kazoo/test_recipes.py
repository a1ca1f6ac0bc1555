"""kazoo's recipes (built on sequential ephemerals, watches and versioned sets) on the ensemble."""

import threading
import time

import pytest
from kazoo.exceptions import LockTimeout

from zk_ensemble import wait_until


def run_threads(*targets, timeout=30):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as err:  # surface failures from the thread
                errors.append(err)

        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a worker thread hung"
    if errors:
        raise errors[0]


def test_lock_mutual_exclusion(make_client, base):
    c1, c2 = make_client(), make_client()
    counter = base + "/counter"
    c1.create(counter, b"0")
    lock_path = base + "/lock"
    holder = []
    overlaps = []
    rounds = 8

    def worker(client, name):
        lock = client.Lock(lock_path, name)
        for _ in range(rounds):
            with lock:
                if holder:
                    overlaps.append((name, list(holder)))
                holder.append(name)
                # a read-modify-write without versions: lost updates would show a race
                value = int(client.get(counter)[0])
                time.sleep(0.005)
                client.set(counter, str(value + 1).encode())
                holder.remove(name)

    run_threads(lambda: worker(c1, "one"), lambda: worker(c2, "two"))
    assert overlaps == []
    assert int(c1.get(counter)[0]) == 2 * rounds
    assert c1.get_children(lock_path) == []  # every lock node cleaned up


def test_lock_timeout_contenders_and_release_on_session_close(make_client, base):
    c1, c2 = make_client(), make_client()
    lock_path = base + "/lock"
    l1 = c1.Lock(lock_path, "first")
    l2 = c2.Lock(lock_path, "second")
    assert l1.acquire(timeout=5)
    with pytest.raises(LockTimeout):
        l2.acquire(timeout=0.3)
    assert l1.contenders() == ["first"]

    got = threading.Event()
    t = threading.Thread(target=lambda: l2.acquire(timeout=15) and got.set(), daemon=True)
    t.start()
    wait_until(lambda: l1.contenders() == ["first", "second"], 10, message="second to queue up")
    assert not got.is_set()
    c1.stop()  # the holder's session closes: its ephemeral lock node vanishes
    assert got.wait(10), "second client never got the lock"
    t.join(5)
    assert l2.is_acquired
    l2.release()


def test_election_leader_and_failover(make_client, base):
    path = base + "/election"
    clients = [make_client() for _ in range(3)]
    leaders = []
    stop = {i: threading.Event() for i in range(3)}
    elections = [c.Election(path, f"cand{i}") for i, c in enumerate(clients)]

    def lead(i):
        leaders.append(i)
        stop[i].wait(30)

    threads = []
    for i, e in enumerate(elections):
        t = threading.Thread(target=e.run, args=(lead, i), daemon=True)
        t.start()
        threads.append(t)
        # queue the candidates up one after the other, so the order of succession is known
        wait_until(lambda: len(elections[0].contenders()) == i + 1, 10, message=f"candidate {i} queued")
        if i == 0:
            wait_until(lambda: leaders == [0], 10, message="first candidate to lead")
    assert elections[1].contenders() == ["cand0", "cand1", "cand2"]
    assert leaders == [0]

    # the leader's session dies: the next in line takes over
    clients[0].stop()
    wait_until(lambda: len(leaders) == 2, 10, message="a new leader")
    assert leaders[1] == 1
    assert elections[2].contenders() == ["cand1", "cand2"]

    # the new leader steps down voluntarily: the last one leads
    stop[1].set()
    wait_until(lambda: len(leaders) == 3, 10, message="a third leader")
    assert leaders[2] == 2
    stop[2].set()
    for t in threads[1:]:
        t.join(10)


def test_counter(make_client, base):
    c1, c2 = make_client(), make_client()
    path = base + "/counter"
    k1 = c1.Counter(path)
    k2 = c2.Counter(path)
    assert k1.value == 0
    k1 += 5
    k2 -= 2
    assert k1.value == 3 and k2.value == 3

    def bump(counter):
        for _ in range(15):
            counter += 1  # Counter.__add__ mutates via a versioned set with retries

    run_threads(lambda: bump(k1), lambda: bump(k2))
    assert c1.Counter(path).value == 33
    # float counters too
    f = c1.Counter(base + "/float", default=0.5)
    f += 1.25
    assert c2.Counter(base + "/float", default=0.5).value == 1.75


def test_barrier(make_client, base):
    c1, c2 = make_client(), make_client()
    path = base + "/barrier"
    b1 = c1.Barrier(path)
    b2 = c2.Barrier(path)
    assert b2.wait(timeout=0.1) is True  # no barrier node: passes
    b1.create()
    assert b2.wait(timeout=0.3) is False  # held
    released = []
    t = threading.Thread(target=lambda: released.append(b2.wait(timeout=15)), daemon=True)
    t.start()
    time.sleep(0.1)
    assert released == []
    b1.remove()
    t.join(15)
    assert released == [True]


def test_double_barrier(make_client, base):
    path = base + "/double"
    clients = [make_client() for _ in range(3)]
    barriers = [c.DoubleBarrier(path, 3) for c in clients]
    entered = []

    def go(i):
        barriers[i].enter()
        entered.append(i)
        barriers[i].leave()

    run_threads(*(lambda i=i: go(i) for i in range(3)))
    assert sorted(entered) == [0, 1, 2]
    assert clients[0].get_children(path) == []


def test_party(make_client, base):
    c1, c2, c3 = make_client(), make_client(), make_client()
    path = base + "/party"
    p1 = c1.Party(path, "alice")
    p2 = c2.Party(path, "bob")
    watcher = c3.Party(path)
    assert len(watcher) == 0
    p1.join()
    p2.join()
    assert len(watcher) == 2
    assert sorted(watcher) == ["alice", "bob"]
    p1.leave()
    assert list(watcher) == ["bob"]
    c2.stop()  # members are ephemeral: a closed session leaves the party
    assert len(watcher) == 0
    sp = c1.ShallowParty(path, "carol")
    sp.join()
    assert list(c3.ShallowParty(path)) == ["carol"]


def test_queue_priorities_fifo(make_client, base):
    c1, c2 = make_client(), make_client()
    path = base + "/queue"
    q1 = c1.Queue(path)
    q2 = c2.Queue(path)
    q1.put(b"one")
    q1.put(b"two")
    q1.put(b"urgent", priority=1)
    q1.put(b"three")
    assert len(q2) == 4
    assert [q2.get() for _ in range(4)] == [b"urgent", b"one", b"two", b"three"]
    assert q2.get() is None and len(q1) == 0


def test_locking_queue(make_client, base):
    c1, c2 = make_client(), make_client()
    path = base + "/lq"
    producer = c1.LockingQueue(path)
    consumer = c2.LockingQueue(path)
    producer.put_all([b"a", b"b"])
    producer.put(b"first", priority=0)
    assert len(consumer) == 3
    assert consumer.get(timeout=5) == b"first"
    assert consumer.holds_lock()
    assert consumer.consume() is True
    assert consumer.get(timeout=5) == b"a"
    # a taken item is invisible to others until released
    other = c1.LockingQueue(path)
    assert other.get(timeout=5) == b"b"  # and stays taken (locked by c1's session)
    assert consumer.release() is True
    assert consumer.get(timeout=5) == b"a"
    assert consumer.consume()
    assert len(producer) == 1
    got = []
    t = threading.Thread(target=lambda: got.append(consumer.get(timeout=15)), daemon=True)
    t.start()
    time.sleep(0.1)
    producer.put(b"late")  # a blocked get wakes up through its watch; "b" is still taken
    t.join(15)
    assert got == [b"late"]
