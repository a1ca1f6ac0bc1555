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
