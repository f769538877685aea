"""DR cluster: wrr 3:1 over rs1/rs2, content from NFS, ARP answered by the director only."""

from __future__ import annotations

import lvs_checks as lc
import pytest

VIP = "192.0.2.100"
CLIENT = "192.0.2.254"
WEIGHTS = {"rs1": 3, "rs2": 1}
ADDRESSES = {"192.0.2.11": 3, "192.0.2.12": 1}


def only(host, wanted: str) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) != wanted:
        pytest.skip(wanted + " only")


def test_wrr_three_to_one_from_the_client(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_distribution("http://%s/whoami" % VIP, WEIGHTS, 40)


def test_content_comes_from_nfs(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_nfs_content("http://%s/" % VIP)


def test_table_routes(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_table(host, "Route", ADDRESSES)


def test_rules_file_equals_save(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_rules_file(host)


def test_thresholds_are_live_and_restored_at_boot(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    # ipvsadm -Ln --thresholds: "  -> RemoteAddress:Port  Uthreshold  Lthreshold  ActiveConn  InActConn"
    rows = [line.split() for line in host.check_output("ipvsadm -Ln --thresholds").splitlines() if "->" in line]
    live = {row[1].split(":")[0]: (row[2], row[3]) for row in rows if row[1][0].isdigit()}
    assert live == dict.fromkeys(ADDRESSES, ("1000", "500")), live
    saved = host.file("/etc/lvs-cluster/ipvs-thresholds.rules")
    assert saved.mode == 0o600 and saved.content_string.count(" -x 1000 -y 500\n") == len(ADDRESSES)
    assert host.service("lvs-cluster-ipvs-thresholds.service").is_enabled


def test_only_the_director_answers_arp(host) -> None:  # type: ignore[no-untyped-def]
    only(host, "director")
    lc.check_arp_only_director(host, VIP)


def test_real_server(host) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) not in WEIGHTS:
        pytest.skip("real servers only")
    assert "%s/32" % VIP in host.check_output("ip -o addr show dev lo")
    assert host.file("/proc/sys/net/ipv4/conf/all/arp_ignore").content_string.strip() == "1"
    assert host.file("/proc/sys/net/ipv4/conf/all/arp_announce").content_string.strip() == "2"
    lc.check_nfs_mounted(host)
    lc.check_client_logged(host, CLIENT)
