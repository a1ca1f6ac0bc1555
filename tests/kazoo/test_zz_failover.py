"""Server failures under a connected kazoo client. Named test_zz_* so it runs last; the autouse
healing fixture restarts any server a test killed before the next test anyway."""

import threading

from kazoo.protocol.states import KazooState

from zk_ensemble import connected_port, wait_until


class StateLog:
    def __init__(self, client):
        self.states = []
        self.cond = threading.Condition()
        client.add_listener(self)

    def __call__(self, state):
        with self.cond:
            self.states.append(state)
            self.cond.notify_all()

    def wait_for(self, pred, timeout, what):
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.states), timeout), (
                f"timed out waiting for {what}; states: {self.states}"
            )


def test_session_survives_leader_kill(ensemble, make_client, base):
    client = make_client(hosts=ensemble.hosts(), timeout=10.0)
    observer = make_client(hosts=ensemble.hosts(), timeout=10.0)
    log = StateLog(client)
    session = client.client_id[0]
    eph = client.create(base + "/eph", b"alive", ephemeral=True)
    client.create(base + "/before", b"1")

    leader = ensemble.leader()
    ensemble.kill(leader)  # kill -9

    # whichever server the client was on, it loses its connection (a follower drops its clients
    # when it loses the leader) and comes back on a surviving server with the same session
    log.wait_for(lambda s: KazooState.SUSPENDED in s, 15, "SUSPENDED")
    log.wait_for(lambda s: s and s[-1] == KazooState.CONNECTED and KazooState.SUSPENDED in s, 30,
                 "CONNECTED after SUSPENDED")
    assert KazooState.LOST not in log.states
    assert client.client_id[0] == session
    assert connected_port(client) != ensemble.client_port[leader]

    survivors = [i for i in ensemble.ids if i != leader]
    ensemble.wait_serving(survivors, timeout=30)
    new_leader = ensemble.leader()
    assert new_leader != leader

    # the ephemeral survived the failover, still owned by the same session
    wait_until(lambda: observer.connected, 30, message="observer reconnect")
    stat = observer.exists(eph)
    assert stat is not None and stat.ephemeralOwner == session
    # writes work afterwards
    client.set(eph, b"still alive")
    client.create(base + "/after", b"2")
    observer.sync(base)
    assert observer.get(eph)[0] == b"still alive"
    assert sorted(observer.get_children(base)) == ["after", "before", "eph"]
    assert KazooState.LOST not in log.states

    # bring the killed server back: it rejoins as a follower and catches up
    ensemble.restart(leader)
    assert ensemble.mode(leader) == "follower"
    back = make_client(hosts=ensemble.address(leader))
    back.sync(base)
    assert back.get(eph)[0] == b"still alive"
    assert sorted(back.get_children(base)) == ["after", "before", "eph"]


def test_client_moves_off_a_frozen_server(ensemble, make_client, base):
    follower = ensemble.followers()[0]
    other = [i for i in ensemble.ids if i != follower]
    client = make_client(hosts=ensemble.address(follower), timeout=2.0)
    log = StateLog(client)
    session = client.client_id[0]
    eph = client.create(base + "/eph", ephemeral=True)
    client.set_hosts(ensemble.hosts(other))
    ensemble.sigstop(follower)
    try:
        # no answers from the frozen server: kazoo's read timeout (2/3 of the session timeout)
        # notices, and it reconnects elsewhere before the session expires
        log.wait_for(lambda s: s and s[-1] == KazooState.CONNECTED and KazooState.SUSPENDED in s, 20,
                     "reconnect to a live server")
        assert client.client_id[0] == session
        assert connected_port(client) in [ensemble.client_port[i] for i in other]
        assert client.exists(eph).ephemeralOwner == session
        client.set(eph, b"moved")
    finally:
        ensemble.sigcont(follower)
    ensemble.wait_serving(timeout=30)
    assert KazooState.LOST not in log.states


def test_writes_need_a_quorum(ensemble, make_client, base):
    # two of three servers down: the survivor stops serving; the session is kept on its return
    client = make_client(hosts=ensemble.hosts(), timeout=10.0)
    log = StateLog(client)
    client.create(base + "/q", b"0")
    session = client.client_id[0]
    leader = ensemble.leader()
    victims = [i for i in ensemble.ids if i != leader]
    for i in victims:
        ensemble.kill(i)
    wait_until(lambda: ensemble.mode(leader) is None, 15, message="the lone leader to stop serving")
    log.wait_for(lambda s: KazooState.SUSPENDED in s, 15, "SUSPENDED")
    for i in victims:
        ensemble.start(i)
    ensemble.wait_serving(timeout=30)
    log.wait_for(lambda s: s[-1] == KazooState.CONNECTED, 30, "CONNECTED again")
    assert client.client_id[0] == session
    client.set(base + "/q", b"1")
    assert client.get(base + "/q")[0] == b"1"
