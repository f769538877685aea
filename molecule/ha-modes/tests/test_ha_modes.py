"""HA in NAT and TUN mode with the role's defaults: the state after converge, then both
MASTERs powered off at once under a bounded request loop through each VIP, then the TUN
cluster's remaining director switched from HA to plain and back under load.

The state tests run per host (testinfra); the load tests once. Every measured number is
printed (HA-MEASURE lines) and appended to <ephemeral>/ha-measurements.txt.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Dict

import lvs_checks as lc
import pytest
from ha_load import Load, Result, holds_vip, lab, playbook, report, ssh, units, vrrp_state, wait_for

NAT_VIP = "198.51.100.100"
NAT_GATEWAY = "192.0.2.253"
TUN_VIP = "203.0.113.100"
# cluster: (VIP, the VIP's interface on the directors, real server, its address, forwarding method)
CLUSTERS = {
    "nat": (NAT_VIP, "eth2", "nat-rs1", "192.0.2.11", "Masq"),
    "tun": (TUN_VIP, "eth1", "tun-rs1", "203.0.113.11", "Tunnel"),
}
# VRRP's bound: 3 x advert_int (automatic: 0.8 s) + the BACKUP's skew (0.04 s), the takeover and its
# gratuitous ARPs: 2.44 s after the MASTER's last advert
TARGET_GAP = 3.0
VERIFY_START = int(time.time())


def director_of(host) -> str:  # type: ignore[no-untyped-def]
    name = lc.name(host)
    if "director" not in name:
        pytest.skip("directors only")
    return name


def test_keepalived_owns_the_table(host) -> None:  # type: ignore[no-untyped-def]
    name = director_of(host)
    vip, _dev, _rs, address, method = CLUSTERS[name.split("-", maxsplit=1)[0]]
    assert host.service("keepalived").is_running and host.service("keepalived").is_enabled
    # masked (testinfra's is_enabled falls back to the SysV links of Debian 12's ipvsadm, which stay)
    assert host.run("systemctl is-enabled ipvsadm").stdout.strip() == "masked"
    host.run_expect([0], "keepalived --config-test -f /etc/keepalived/keepalived.conf")
    assert "--dont-release-ipvs" in host.check_output("ps -o args= -C keepalived")
    # the automatic VRRP timing without a PASS authentication: VRRPv3, an advert every 0.8 s
    conf = host.file("/etc/keepalived/keepalived.conf").content_string
    assert "vrrp_version 3" in conf and "advert_int 0.8\n" in conf and "auth_pass" not in conf
    table = host.check_output("ipvsadm -Ln")
    assert (vip + ":80" in table) if method == "Masq" else ("FWM  3 rr" in table), table
    assert re.search(r"-> %s:\d+\s+%s\s+1\s" % (re.escape(address), method), table), table


def test_vrrp_addresses_only_on_the_master(host) -> None:  # type: ignore[no-untyped-def]
    """director1 (automatic priority 254) holds the VIP; in NAT mode the real servers' gateway
    is an address of the same VRRP instance, on the inner interface."""
    name = director_of(host)
    vip, dev, _rs, _address, _method = CLUSTERS[name.split("-", maxsplit=1)[0]]
    master = name.endswith("1")
    assert ("inet %s/32" % vip in host.check_output("ip -4 -o addr show dev " + dev)) == master
    if name.startswith("nat"):
        assert ("inet %s/32" % NAT_GATEWAY in host.check_output("ip -4 -o addr show dev eth1")) == master
        assert host.file("/proc/sys/net/ipv4/ip_forward").content_string.strip() == "1"
        assert "masquerade" in host.check_output("nft list table inet lvs_cluster")
    else:
        assert "--set-xmark 0x3/0xffffffff" in host.check_output("iptables -w -t mangle -S LVS_CLUSTER_MARK")


def test_restrictive_host_firewall_lets_vrrp_and_sync_through(host) -> None:  # type: ignore[no-untyped-def]
    """The TUN directors' INPUT drops by policy (prepare.yml); the role's chain, first in INPUT,
    accepts the peer's VRRP and sync packets only (one MASTER: test_vrrp_addresses_only_on_the_master)."""
    name = director_of(host)
    if not name.startswith("tun"):
        pytest.skip("the TUN directors have the restrictive firewall")
    rules = host.check_output("iptables -w -S INPUT").splitlines()
    assert rules[0] == "-P INPUT DROP" and rules[1] == "-A INPUT -j LVS_CLUSTER_IN", rules
    peer = "203.0.113.2" if name.endswith("1") else "203.0.113.1"
    assert host.check_output("iptables -w -S LVS_CLUSTER_IN").splitlines()[1:] == [
        "-A LVS_CLUSTER_IN -s %s/32 -i eth1 -p vrrp -j ACCEPT" % peer,
        "-A LVS_CLUSTER_IN -s %s/32 -i eth1 -p udp -m udp --dport 8848 -j ACCEPT" % peer,
    ]


def test_real_servers(host) -> None:  # type: ignore[no-untyped-def]
    name = lc.name(host)
    if name == "nat-rs1":
        assert "default via %s dev eth1" % NAT_GATEWAY in host.check_output("ip route show default")
    elif name == "tun-rs1":
        assert "%s/32" % TUN_VIP in host.check_output("ip -o addr show dev tunl0")
    else:
        pytest.skip("real servers only")


def loads(seconds: int) -> Dict[str, Load]:
    return {c: Load(seconds, url="http://%s/whoami" % vip).start() for c, (vip, *_rest) in CLUSTERS.items()}


def test_baseline_no_failures() -> None:
    for cluster in loads(10).items():
        res = cluster[1].wait()
        report("%s HA baseline" % cluster[0], res.summary())
        assert len(res.requests) == 100 and not res.failures, res.failures
        assert res.served_by(CLUSTERS[cluster[0]][2]) == 100


def test_connections_synced_to_the_backup() -> None:
    """The sync daemon (through the TUN directors' restrictive firewall too): the BACKUP's
    connection table holds the client's connections of the baseline."""
    for cluster, client in (("nat", "198.51.100.254"), ("tun", "203.0.113.254")):
        took = wait_for(lambda c=cluster, a=client: a + ":" in ssh(c + "-director2", "ipvsadm -Lnc"), 30, 1)
        report("%s HA sync" % cluster.upper(), "the client's connections in director2's table after %.0f s" % took)


def test_netfilter_persistent_restart_and_reload() -> None:
    """tun-director2's iptables-persistent restores the saved host rules (prepare.yml) over the
    filter table, the role's LVS_CLUSTER_IN chain with it: the role's unit follows its restart
    (PartOf=; Debian's netfilter-persistent.service has no reload), and director2 keeps hearing
    the adverts (test_masters_powered_off then finds it never entered MASTER)."""
    saved = ssh("tun-director2", "cat /etc/iptables/rules.v4")
    assert "-P INPUT DROP" not in saved and ":INPUT DROP" in saved and "LVS_CLUSTER" not in saved, saved
    for verb in ("restart", "reload-or-restart"):
        ssh("tun-director2", "systemctl %s netfilter-persistent" % verb)
        rules = ssh(
            "tun-director2",
            "iptables -w -S INPUT; iptables -w -S LVS_CLUSTER_IN; iptables -w -t mangle -S LVS_CLUSTER_MARK",
        )
        assert "-A INPUT -j LVS_CLUSTER_IN" in rules and "-s 203.0.113.1/32 -i eth1 -p vrrp -j ACCEPT" in rules, rules
        assert "--set-xmark 0x3/0xffffffff" in rules, rules
        assert rules.splitlines()[:2] == ["-P INPUT DROP", "-A INPUT -j LVS_CLUSTER_IN"], rules
    time.sleep(4)  # longer than the master-down interval (2.4 s)
    assert vrrp_state("tun-director2") == "BACKUP"


def test_masters_powered_off() -> None:
    """Both MASTERs (director1 of each cluster) powered off at once: director2 takes the VRRP
    addresses; no failure later than 10 s after the power-off, the gap measured and reported."""
    for cluster, (vip, dev, *_rest) in CLUSTERS.items():
        assert holds_vip(cluster + "-director1", vip, dev)
        # 0.8 s adverts on busy emulated guests: the BACKUP did not take over by mistake while the
        # verifier ran (its clock is the host's: the lab sets it when it restores a guest)
        assert vrrp_state(cluster + "-director2") == "BACKUP"
        log = ssh(cluster + "-director2", "journalctl -o cat -u keepalived --since=@%d" % VERIFY_START)
        assert "Entering MASTER STATE" not in log, log
    running = loads(120)
    time.sleep(10)
    stopped: Dict[str, float] = {}
    results: Dict[str, Result] = {}
    took: Dict[str, float] = {}
    try:
        for cluster in CLUSTERS:
            stopped[cluster] = time.time()
            lab("stop", cluster + "-director1")
        for cluster, (vip, dev, *_rest) in CLUSTERS.items():
            wait_for(functools.partial(holds_vip, cluster + "-director2", vip, dev), 60, 0.5)
            took[cluster] = time.time() - stopped[cluster]
        for cluster, load in running.items():
            results[cluster] = load.finish(max(0.0, stopped[cluster] + 20 - time.time()))
    finally:
        for load in running.values():
            load.stop()
    gateway = holds_vip("nat-director2", NAT_GATEWAY, "eth1")
    for cluster, res in results.items():
        t_kill = stopped[cluster]
        report(
            "%s HA: MASTER %s-director1 powered off" % (cluster.upper(), cluster),
            "%s; %s-director2 holds the VIP %.1f s after the stop (polled)%s; failure gap %.1f s "
            "(first failure %.1f s, last %.1f s after the stop; target <= %.0f s: %s); "
            "%d failures later than 10 s after the stop"
            % (
                res.summary(),
                cluster,
                took[cluster],
                " and the gateway %s: %s" % (NAT_GATEWAY, gateway) if cluster == "nat" else "",
                res.gap(),
                (min(res.failures) - t_kill) if res.failures else 0.0,
                (max(res.failures) - t_kill) if res.failures else 0.0,
                TARGET_GAP,
                "met" if res.gap() <= TARGET_GAP else "MISSED",
                len([t for t in res.failures if t >= t_kill + 10]),
            ),
        )
    assert gateway, "the NAT gateway did not move with the VIP"
    for cluster, res in results.items():
        assert not [t for t in res.failures if t >= stopped[cluster] + 10], (cluster, res.failures)
        # VRRP's own bound is 3 x advert_int + skew; the test allows TCG jitter on top (as the ha scenario)
        assert res.gap() <= 6.0, (cluster, res.gap())
        assert res.served_by(CLUSTERS[cluster][2], after=stopped[cluster] + 10) > 0, cluster
    # the real server's side of the NAT takeover: its replies go through director2 now
    assert "192.0.2.253" in ssh("nat-rs1", "ip route show default")


def switch(title: str, *args: str, settle: float = 0.0) -> None:
    """site.yml on tun-director2 (the MASTER now, director1 is off) under load through the TUN VIP;
    no failed request later than ``settle`` s after it returned."""
    load = Load(600, url="http://%s/whoami" % TUN_VIP).start()
    try:
        time.sleep(5)
        took = playbook("site.yml", "--limit", "tun-director2", *args)
        t_end = time.time()
        time.sleep(5 + settle)
    finally:
        load.stop()
    res = load.result()
    failed = res.failures
    report(
        title,
        "%s; site.yml took %.0f s; failed requests from %.1f s to %.1f s after its start (gap %.1f s); "
        "failures after it returned: %d"
        % (
            res.summary(),
            took,
            (min(failed) - t_end + took) if failed else 0.0,
            (max(failed) - t_end + took) if failed else 0.0,
            res.gap(),
            len([t for t in failed if t >= t_end]),
        ),
    )
    assert not [t for t in failed if t >= t_end + settle], failed
    assert res.served_by("tun-rs1", after=t_end + settle) > 0


def test_switch_ha_to_plain_and_back() -> None:
    """HA -> plain on the remaining director: keepalived stops and is disabled without emptying the
    table, ipvs_table and the ipvsadm restore service take over, the VIP becomes vip_iface's.
    plain -> HA: keepalived adopts the table again, the restore service is masked. The requests
    that fail while the VIP changes owner are counted and reported; none after the HA -> plain run,
    none later than VRRP's takeover (3 x advert_int + skew, plus 2 s) after the plain -> HA run:
    this director starts as BACKUP (director1, the first by name, is the configured MASTER)."""
    switch("TUN HA -> plain (tun-director2)", "-e", '{"lvs_ha": false}')
    state = units("tun-director2")
    assert "keepalived inactive disabled" in state and "ipvsadm inactive enabled" in state, state
    assert holds_vip("tun-director2", TUN_VIP, "eth1")
    assert "FWM  3 rr" in ssh("tun-director2", "ipvsadm -Ln")

    switch("TUN plain -> HA (tun-director2)", settle=5.0)
    state = units("tun-director2")
    assert "keepalived active enabled" in state and "ipvsadm inactive masked" in state, state
    assert "--dont-release-ipvs" in ssh("tun-director2", "ps -o args= -C keepalived")
    assert holds_vip("tun-director2", TUN_VIP, "eth1") and "FWM  3 rr" in ssh("tun-director2", "ipvsadm -Ln")
