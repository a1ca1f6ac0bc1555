"""Four-letter words on the client port, as monitoring tools and the suite itself use them."""

from zk_ensemble import connected_port, four_letter, server_mode


def test_ruok_srvr_mntr(ensemble, client, base):
    modes = {}
    for i in ensemble.ids:
        port = ensemble.client_port[i]
        assert four_letter("ruok", port) == "imok"
        srvr = four_letter("srvr", port)
        assert "Zxid: 0x" in srvr, srvr
        modes[i] = server_mode(port)
        mntr = four_letter("mntr", port)
        fields = dict(line.split("\t", 1) for line in mntr.splitlines() if "\t" in line)
        assert fields.get("zk_server_state") == modes[i], mntr
    assert sorted(modes.values()) == ["follower", "follower", "leader"]


def test_srvr_zxid_advances_with_writes(ensemble, client, base):
    port = connected_port(client)  # the server that answers this client applied its writes

    def zxid():
        for line in four_letter("srvr", port).splitlines():
            if line.startswith("Zxid:"):
                return int(line.split(":", 1)[1].strip(), 16)
        raise AssertionError("no Zxid line")

    before = zxid()
    stat = client.create(base + "/z", include_data=True)[1]
    after = zxid()
    assert after >= stat.czxid > before


def test_kazoo_command_and_an_exporter_style_mntr_parse(ensemble, client):
    # kazoo's own four-letter-word call, through its connected socket's server.
    assert client.command(b"ruok") == "imok"
    srvr = client.command(b"srvr")
    assert "Mode: " in srvr and "Zxid: 0x" in srvr, srvr
    # Parse mntr the way Prometheus' zookeeper exporters and telegraf's zookeeper input do:
    # one "key<TAB>value" per line, numeric values as numbers, zk_version and
    # zk_server_state as strings.
    mntr = client.command(b"mntr")
    metrics = {}
    for line in mntr.splitlines():
        if "\t" not in line:  # exporters skip anything that is not key<TAB>value
            continue
        key, value = line.split("\t", 1)
        assert key.startswith("zk_"), line
        try:
            metrics[key] = float(value)
        except ValueError:
            metrics[key] = value
    assert list(metrics)[:3] == ["zk_version", "zk_server_state", "zk_peer_state"]
    for key in ("zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
                "zk_packets_sent", "zk_num_alive_connections", "zk_outstanding_requests",
                "zk_znode_count", "zk_watch_count", "zk_ephemerals_count",
                "zk_approximate_data_size", "zk_open_file_descriptor_count"):
        assert isinstance(metrics.get(key), float), (key, metrics.get(key))
    assert metrics["zk_num_alive_connections"] >= 1
    assert metrics["zk_znode_count"] >= 4
