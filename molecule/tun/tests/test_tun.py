"""TUN cluster: fwmark service, rr over rs1/rs2 through GUE (udp/6080), content from NFS, VIP on tunl0."""

from __future__ import annotations

import lvs_checks as lc
import pytest

VIP = "192.0.2.100"
CLIENT = "192.0.2.254"
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


def test_table_tunnels_a_fwmark_service(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_table(host, "Tunnel", ADDRESSES)
    assert "FWM  1 rr" in host.check_output("ipvsadm -Ln")
    assert host.check_output("ipvsadm-save -n").count("--tun-type gue --tun-port 6080") == len(ADDRESSES)
    assert "meta mark set 0x00000001" in host.check_output("nft list table inet lvs_cluster")


def test_rules_file_equals_save(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_rules_file(host)


def test_only_the_director_answers_arp(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_arp_only_director(host, VIP)


def test_real_server(host) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) not in SERVERS:
        pytest.skip("real servers only")
    assert "%s/32" % VIP in host.check_output("ip -o addr show dev tunl0")
    assert "port 6080 gue" in host.check_output("ip fou show")
    # the requests really arrived through the tunnel
    assert int(host.file("/sys/class/net/tunl0/statistics/rx_packets").content_string) > 0
    assert host.file("/proc/sys/net/ipv4/conf/tunl0/rp_filter").content_string.strip() == "2"  # loose
    assert host.file("/proc/sys/net/ipv4/conf/all/arp_ignore").content_string.strip() == "1"
    lc.check_nfs_mounted(host)
    lc.check_client_logged(host, CLIENT)
