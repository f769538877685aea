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


def test_real_server(host) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) not in SERVERS:
        pytest.skip("real servers only")
    assert "default via 192.0.2.1 dev eth1" in host.check_output("ip route show default")
    lc.check_nfs_mounted(host)
    lc.check_client_logged(host, CLIENT)
