"""Two clusters of different modes in one inventory and one site.yml run: web_nat beside web_dr.

The NAT cluster is checked by test_nat.py; here the DR cluster next to it answers
through its own VIP, and each director carries only its own cluster's table.
"""

from __future__ import annotations

import lvs_checks as lc
import pytest

DR_VIP = "203.0.113.100"
NAT_VIP = "198.51.100.100"


def test_dr_cluster_answers_beside_the_nat_cluster(host) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) != "dr-director":
        pytest.skip("dr-director only")
    assert set(lc.answers("http://%s/whoami" % DR_VIP, 6)) == {"dr-rs1"}
    assert set(lc.answers("http://%s/whoami" % NAT_VIP, 4)) == {"rs1", "rs2"}
    lc.check_table(host, "Route", {"203.0.113.11": 1})
    lc.check_rules_file(host)
    lc.check_arp_only_director(host, DR_VIP, bridge="br-lan2")


@pytest.mark.parametrize(
    "director,own,other", [("director", NAT_VIP + ":80", "FWM"), ("dr-director", "FWM  2 rr", NAT_VIP)]
)
def test_each_director_has_only_its_cluster(host, director: str, own: str, other: str) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) != director:
        pytest.skip(director + " only")
    table = host.check_output("ipvsadm -Ln")
    assert own in table and other not in table, table


def test_iptables_marks_on_the_dr_director(host) -> None:  # type: ignore[no-untyped-def]
    """lvs_firewall: iptables - the mark comes from the role's own chain, jumped to once; no nftables table."""
    if lc.name(host) != "dr-director":
        pytest.skip("dr-director only")
    chain = host.check_output("iptables -w -t mangle -S LVS_CLUSTER_MARK")
    assert "-d 203.0.113.100/32 -p tcp -m multiport --dports 80 -j MARK --set-xmark 0x2/0xffffffff" in chain, chain
    prerouting = host.check_output("iptables -w -t mangle -S PREROUTING")
    assert prerouting.count("-j LVS_CLUSTER_MARK") == 1, prerouting
    assert host.service("lvs-cluster-iptables.service").is_enabled
    assert host.file("/etc/lvs-cluster/director.iptables").mode == 0o600
    assert host.run("nft list table inet lvs_cluster").rc != 0


def test_dr_real_server(host) -> None:  # type: ignore[no-untyped-def]
    if lc.name(host) != "dr-rs1":
        pytest.skip("dr-rs1 only")
    assert "%s/32" % DR_VIP in host.check_output("ip -o addr show dev lo")
    assert host.file("/proc/sys/net/ipv4/conf/all/arp_ignore").content_string.strip() == "1"
    assert "192.0.2" not in host.check_output("ip route show")  # nothing of the NAT cluster leaked in
