"""NAT cluster: rr alternates over rs1/rs2 (port 80 -> 8080), content from NFS, replies through the director."""

from __future__ import annotations

import lvs_checks as lc
import pytest

VIP = "198.51.100.100"
CLIENT = "198.51.100.254"
SERVERS = ["rs1", "rs2"]
ADDRESSES = {"192.0.2.11": 1, "192.0.2.12": 1}


def only(host, wanted: str) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) != wanted:
        pytest.skip(wanted + " only")


def test_rr_alternates_from_the_client(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_alternates("http://%s/whoami" % VIP, SERVERS, 20)
    lc.check_distribution("http://%s/whoami" % VIP, {"rs1": 1, "rs2": 1}, 20)


def test_content_comes_from_nfs(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_nfs_content("http://%s/" % VIP)


def test_table_masquerades_with_port_mapping(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_table(host, "Masq", ADDRESSES)
    assert "192.0.2.11:8080" in host.check_output("ipvsadm -Ln")


def test_rules_file_equals_save(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_rules_file(host)


def test_director_forwards_and_masquerades(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
    assert host.file("/proc/sys/net/ipv4/vs/conntrack").content_string.strip() == "1"
    rules = host.check_output("nft list table inet lvs_cluster")
    assert "masquerade" in rules and "192.0.2.0/24" in rules


def test_table_follows_nftables_service(host) -> None:  # type: ignore[no-untyped-def]
    """Debian's nftables.service loads /etc/nftables.conf, which starts with "flush ruleset": on its
    restart and its reload the role's unit (PartOf, ReloadPropagatedFrom) loads the table again."""
    only(host, "director")
    for verb in ("restart", "reload"):
        host.run_expect([0], "systemctl %s nftables.service" % verb)
        # systemctl returns when nftables.service's own job is done; the role's unit's propagated
        # job runs after it (After=): wait for that job (bounded) before looking at the table
        host.run("for i in $(seq 30); do systemctl list-jobs | grep -q lvs-cluster-nft || break; sleep 0.5; done")
        rules = host.run("nft list table inet lvs_cluster")
        assert rules.rc == 0 and "masquerade" in rules.stdout, (verb, rules.stdout, rules.stderr)
    lc.check_alternates("http://%s/whoami" % VIP, SERVERS, 4)


def test_director_is_not_an_open_router(host) -> None:  # type: ignore[no-untyped-def]
    """The forward policy (lvs_nat_forward_policy, default on): a client that routes to a real
    server through the director's outer address is dropped; the VIP still answers."""
    only(host, "director")
    assert "meta nfproto ipv4 drop" in host.check_output("nft list chain inet lvs_cluster forward")
    lc.netns("ip route replace 192.0.2.11/32 via 198.51.100.1")
    try:
        direct = lc.netns("curl -s -m 3 http://192.0.2.11:8080/whoami || echo dropped")
    finally:
        lc.netns("ip route del 192.0.2.11/32 via 198.51.100.1")
    assert direct.strip() == "dropped", direct
    lc.check_alternates("http://%s/whoami" % VIP, SERVERS, 4)


def test_real_server_reaches_out_masqueraded(host) -> None:  # type: ignore[no-untyped-def]
    """The real servers' own traffic passes the forward policy and is masqueraded on the way out."""
    if lc.name(host) not in SERVERS:
        pytest.skip("real servers only")
    host.run_expect([0], "ping -c 2 -W 3 198.51.100.254")


def test_real_server(host) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) not in SERVERS:
        pytest.skip("real servers only")
    assert "default via 192.0.2.1 dev eth1" in host.check_output("ip route show default")
    lc.check_nfs_mounted(host)
    lc.check_client_logged(host, CLIENT)
