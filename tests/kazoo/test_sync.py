"""sync(path): after a write through server A completes, a client on server B that calls sync
reads the write (sync brings B up to date with the leader)."""

from zk_ensemble import connected_port


def test_sync_then_read_sees_write_made_through_another_server(ensemble, make_client, base):
    for a, b in [(1, 2), (2, 3), (3, 1)]:
        writer = make_client(hosts=ensemble.address(a))
        reader = make_client(hosts=ensemble.address(b))
        assert connected_port(reader) == ensemble.client_port[b]
        path = f"{base}/s{a}{b}"
        writer.create(path, b"0")
        for i in range(1, 21):
            writer.set(path, str(i).encode())
            assert reader.sync(path) == path
            data, stat = reader.get(path)
            assert data == str(i).encode(), f"server {b} read {data!r} after sync, wrote {i} via {a}"
            assert stat.version == i
        writer.stop()
        reader.stop()


def test_sync_sees_creates_and_deletes(ensemble, make_client, base):
    writer = make_client(hosts=ensemble.address(ensemble.ids[0]))
    reader = make_client(hosts=ensemble.address(ensemble.ids[2]))
    for i in range(10):
        writer.create(f"{base}/n{i}")
        reader.sync(base)
        assert len(reader.get_children(base)) == i + 1
    writer.delete(f"{base}/n3")
    reader.sync(f"{base}/n3")
    assert reader.exists(f"{base}/n3") is None


def test_sync_of_any_path_returns_it(client):
    # sync does not look the path up: a missing node is fine
    assert client.sync("/no/such/node") == "/no/such/node"
    assert client.sync("/") == "/"


def test_async_sync_is_ordered_with_reads(ensemble, make_client, base):
    writer = make_client(hosts=ensemble.address(ensemble.ids[1]))
    reader = make_client(hosts=ensemble.address(ensemble.ids[0]))
    writer.create(base + "/o", b"a")
    writer.set(base + "/o", b"b")
    # pipelined: sync then get on the same connection; the get is answered after the sync
    s = reader.sync_async(base + "/o")
    g = reader.get_async(base + "/o")
    assert g.get(timeout=10)[0] == b"b"
    assert s.get(timeout=10) == base + "/o"
