"""Unit tests of the planner: the inventory model becomes each host's role options, and the role
options become module arguments and template data, for every mode."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Dict, List

import jinja2
import pytest

from ansible_collections.lvs.cluster.plugins.filter.lvs_cluster import lvs_drain_targets, lvs_validate
from ansible_collections.lvs.cluster.plugins.module_utils._drain import DRAIN_DIR, drain_file_name
from ansible_collections.lvs.cluster.plugins.module_utils._drain import targets as rs_targets
from ansible_collections.lvs.cluster.plugins.plugin_utils._planner import (
    CHECK_DEFAULTS,
    DEFAULT_SERVICE_NAME,
    PlanError,
    _mark_rules,
    cluster_errors,
    cluster_model,
    director_plan,
    drain_targets,
    host_options,
    ipvs_services,
    nfs_plan,
    realserver_plan,
)

ROLES = Path(__file__).resolve().parents[4] / "roles"

# The role defaults a real role call adds to the planner's options (roles/*/defaults/main.yml).
DIRECTOR_DEFAULTS: Dict[str, Any] = {
    "director_vs_sysctls": {"expire_nodest_conn": 1, "expire_quiescent_template": 1, "conn_reuse_mode": 1},
    "director_persist": True,
    "director_ha_state": "auto",
    "director_ha_interface": "",
    "director_ha_sync_daemon": True,
    "director_ha_virtual_server": dict(CHECK_DEFAULTS),
}
REALSERVER_DEFAULTS: Dict[str, Any] = {
    "realserver_nat_routes": ["0.0.0.0/0"],
    "realserver_nat_route_metric": 10,
    "realserver_network_backend": "auto",
    "realserver_web_package": "",
    "realserver_identity": "rs",
}
NFS_DEFAULTS: Dict[str, Any] = {
    "nfs_export_options": ["sync", "root_squash", "no_subtree_check"],
    "nfs_seed_content": True,
    "nfs_index_marker": "lvs-cluster-nfs-content",
}


def inventory(clusters: Dict[str, Dict[str, Any]]) -> Any:
    """hostvars and groups of an inventory: {cluster: {"vars": {...}, "hosts": {name: (role, {...})}}}."""
    hostvars: Dict[str, Dict[str, Any]] = {}
    groups: Dict[str, List[str]] = {"lvs_directors": [], "lvs_realservers": [], "lvs_nfs": []}
    for name, spec in clusters.items():
        groups[name] = []
        for host, (role, hv) in spec["hosts"].items():
            hostvars[host] = dict(spec["vars"], **hv)
            groups[name].append(host)
            groups["lvs_" + {"director": "directors", "realserver": "realservers", "nfs": "nfs"}[role]].append(host)
    return hostvars, groups


def dr_vars(**kw: Any) -> Dict[str, Any]:
    return dict(
        {
            "lvs_cluster": "web_dr",
            "lvs_mode": "dr",
            "lvs_network": "192.0.2.0/24",
            "lvs_vips": ["192.0.2.100"],
            "lvs_services": [{"name": "http", "protocol": "tcp", "port": 80, "scheduler": "wrr"}],
            "lvs_nfs_exports": [{"path": "/srv/lvs/web", "mode": "ro"}],
        },
        **kw,
    )


def dr_hosts(prefix: str = "", net: str = "192.0.2.") -> Dict[str, Any]:
    return {
        prefix + "director": ("director", {"lvs_address": net + "1"}),
        prefix + "rs1": ("realserver", {"lvs_address": net + "11", "lvs_weight": 3}),
        prefix + "rs2": ("realserver", {"lvs_address": net + "12"}),
        prefix + "nfs": ("nfs", {"lvs_address": net + "20"}),
    }


def plan(clusters: Dict[str, Dict[str, Any]], host: str) -> Dict[str, Any]:
    """The role plan of ``host`` as the role computes it: planner options over the role defaults."""
    hostvars, groups = inventory(clusters)
    model = cluster_model(hostvars, groups, host)
    assert cluster_errors(model) == []
    options = host_options(model, host)
    if "director_mode" in options:
        return director_plan(dict(DIRECTOR_DEFAULTS, **options), host)
    if "realserver_mode" in options:
        return realserver_plan(dict(REALSERVER_DEFAULTS, **options))
    return nfs_plan(dict(NFS_DEFAULTS, **options), host)


def rs(address: str, forward: str, weight: int = 1, **kw: Any) -> Dict[str, Any]:
    return dict({"address": address, "forward": forward, "weight": weight, "u_threshold": 0, "l_threshold": 0}, **kw)


# --- every mode, every host ---------------------------------------------------------------------


def dr_http_service(rs2_weight: int) -> Dict[str, Any]:
    """The DR cluster's http service as ipvs_table gets it (rs1 weight 3)."""
    return {
        "name": "http",
        "scheduler": "wrr",
        "sched_flags": [],
        "persistent": 0,
        "protocol": "tcp",
        "address": "192.0.2.100",
        "port": 80,
        "real_servers": [rs("192.0.2.11", "route", 3, port=80), rs("192.0.2.12", "route", rs2_weight, port=80)],
    }


def test_dr_standalone_every_host() -> None:
    c = {"web_dr": {"vars": dr_vars(), "hosts": dr_hosts()}}
    d = plan(c, "director")
    assert d["ipvs_services"] == [dr_http_service(rs2_weight=1)]
    assert d["modules"] == ["ip_vs", "ip_vs_wrr"]
    assert d["vips"] == ["192.0.2.100"] and d["vip_interface"] == "eth1"
    assert d["arp_sysctl"] == {"ip_forward": None, "send_redirects": False, "interfaces": ["eth1"]}
    assert d["sysctls"] == {
        "conn_reuse_mode": 1,
        "conntrack": 0,
        "expire_nodest_conn": 1,
        "expire_quiescent_template": 1,
    }
    assert d["nft_rules"] == [] and not d["masquerade"] and not d["firewall_needed"]
    assert d["purge"] is False and d["persist"] is True and d["ha"] is False and d["keepalived"] == {}
    r = plan(c, "rs1")
    assert r["mode"] == "dr" and r["vips"] == ["192.0.2.100"] and r["vip_interface"] == "lo"
    assert r["arp_sysctl"] == {"arp_ignore": 1, "arp_announce": 2, "rp_filter": None, "interfaces": ["eth1"]}
    assert r["nat_routes"] == [] and r["gue_port"] is None
    assert r["nfs"] and r["nfs_what"] == "192.0.2.20:/srv/lvs/web" and r["nfs_path"] == "/var/www/lvs"
    assert r["mount_options"] == "ro,nfsvers=4.2,_netdev,nosuid,nodev"
    assert plan(c, "nfs") == {
        "exports": ["/srv/lvs/web 192.0.2.0/24(ro,sync,root_squash,no_subtree_check)"],
        "paths": ["/srv/lvs/web"],
        "directories": [{"path": "/srv/lvs/web", "state": "directory", "mode": "0755"}],
        "seed_files": [
            {
                "path": "/srv/lvs/web/index.html",
                "content": "<!DOCTYPE html>\n<html><head><title>lvs.cluster</title></head>\n"
                "<body><p>lvs-cluster-nfs-content</p><p>export /srv/lvs/web on nfs</p></body></html>\n",
                "mode": "0644",
                "force": False,
            }
        ],
    }
    unseeded = nfs_plan(
        {"nfs_exports": [{"path": "/srv/a"}], "nfs_clients": ["192.0.2.0/24"], "nfs_seed_content": "no"}
    )
    assert unseeded["seed_files"] == []


def test_nat_every_host() -> None:
    v = dr_vars(
        lvs_cluster="web_nat",
        lvs_mode="nat",
        lvs_vips=["198.51.100.100"],
        lvs_vip_interface="eth2",
        lvs_nat_masquerade=True,
        lvs_web_port=8080,
        lvs_services=[{"name": "http", "protocol": "tcp", "port": 80, "rs_port": 8080, "scheduler": "rr"}],
    )
    c = {"web_nat": {"vars": v, "hosts": dr_hosts()}}
    d = plan(c, "director")
    assert [(r["address"], r["port"], r["forward"]) for r in d["ipvs_services"][0]["real_servers"]] == [
        ("192.0.2.11", 8080, "masq"),
        ("192.0.2.12", 8080, "masq"),
    ]
    assert d["ipvs_services"][0]["port"] == 80
    assert d["arp_sysctl"] == {"ip_forward": True, "send_redirects": False, "interfaces": ["eth1", "eth2"]}
    assert d["sysctls"]["conntrack"] == 1
    assert d["masquerade"] and d["firewall_needed"]
    assert d["nft_masquerade"] == 'ip saddr 192.0.2.0/24 oifname "eth2" masquerade'
    assert d["iptables_masquerade"] == {4: ["-A LVS_CLUSTER_NAT -s 192.0.2.0/24 -o eth2 -j MASQUERADE"], 6: []}
    # the forward policy: the real servers' traffic and established flows, no other IPv4 forwarding
    assert d["nft_forward"] == [
        "ct state established,related accept",
        'ip saddr 192.0.2.0/24 iifname "eth1" accept',
        "meta nfproto ipv4 drop",
    ]
    assert d["iptables_forward"][4][-2:] == [
        "-A LVS_CLUSTER_FWD -s 192.0.2.0/24 -i eth1 -j ACCEPT",
        "-A LVS_CLUSTER_FWD -j DROP",
    ]
    v.update(lvs_nat_masquerade=False, lvs_nat_forward_policy=False)
    off = plan(c, "director")
    assert off["nft_forward"] == [] and off["iptables_forward"] == {4: [], 6: []} and not off["firewall_needed"]
    v.update(lvs_nat_masquerade=True, lvs_nat_forward_policy=True)
    r = plan(c, "rs2")
    assert r["mode"] == "nat" and r["nat_gateway"] == "192.0.2.1" and r["web_port"] == 8080
    assert r["nat_routes"] == [{"destination": "0.0.0.0/0", "ip": "default"}]
    # NAT: nothing wanted, so what DR or TUN set before is put back
    assert r["arp_sysctl"] == {"arp_ignore": None, "arp_announce": None, "rp_filter": None, "interfaces": ["eth1"]}
    assert r["vip_interface"] == ""


@pytest.mark.parametrize(
    "tun_type, port, device, module",
    [("ipip", 0, "tunl0", "ipip"), ("gre", 0, "gre0", "ip_gre"), ("gue", 6080, "tunl0", "fou")],
)
def test_tun_every_host(tun_type: str, port: int, device: str, module: str) -> None:
    v = dr_vars(lvs_cluster="web_tun", lvs_mode="tun", lvs_tun_type=tun_type, lvs_tun_port=port)
    hosts = dr_hosts()
    hosts["rs2"] = ("realserver", {"lvs_address": "203.0.113.12"})  # TUN real servers may be elsewhere
    c = {"web_tun": {"vars": v, "hosts": hosts}}
    d = plan(c, "director")
    extra = {"tun_type": tun_type, **({"tun_port": port} if tun_type == "gue" else {})}
    assert d["ipvs_services"][0]["real_servers"] == [
        rs("192.0.2.11", "tunnel", 3, port=80, **extra),
        rs("203.0.113.12", "tunnel", 1, port=80, **extra),
    ]
    assert d["modules"] == ["ip_vs", "ip_vs_wrr", module]
    # the TUN director wants no sysctl: the role's call only puts back what NAT or DR set
    assert d["arp_sysctl"] == {"ip_forward": None, "send_redirects": None, "interfaces": ["eth1"]}
    r = plan(c, "rs2")
    assert r["vip_interface"] == device and r["gue_port"] == (port or None)
    assert r["arp_sysctl"] == {"arp_ignore": 1, "arp_announce": 2, "rp_filter": 2, "interfaces": ["eth1", device]}
    assert plan(c, "nfs")["exports"] == ["/srv/lvs/web 192.0.2.0/24(ro,sync,root_squash,no_subtree_check)"]
    # NFS exports need the network of their clients
    c["web_tun"]["vars"]["lvs_network"] = ""
    hostvars, groups = inventory(c)
    assert lvs_validate(hostvars, groups, ["nfs"]) == [
        "web_tun: nfs: nfs_exports[0]: no clients (set clients or nfs_clients)"
    ]


def ha_cluster(**kw: Any) -> Dict[str, Any]:
    v = dr_vars(
        lvs_cluster="web_ha",
        lvs_ha=True,
        lvs_ha_auth_pass="molecule",
        lvs_ha_unicast=True,
        lvs_ha_virtual_server={"delay_loop": 2, "connect_timeout": 1},
        lvs_ha_checks={"http": {"type": "HTTP_GET", "path": "/whoami", "status_code": 200}},
    )
    v.update(kw)
    hosts = dr_hosts()
    hosts["director2"] = ("director", {"lvs_address": "192.0.2.2"})
    return {"web_ha": {"vars": v, "hosts": hosts}}


def test_ha_every_director() -> None:
    k1 = plan(ha_cluster(), "director")["keepalived"]
    k2 = plan(ha_cluster(), "director2")["keepalived"]
    assert (k1["state"], k1["priority"], k2["state"], k2["priority"]) == ("MASTER", 254, "BACKUP", 244)
    assert k1["unicast_src_ip"] == "192.0.2.1" and k1["unicast_peers"] == ["192.0.2.2"]
    assert k2["unicast_src_ip"] == "192.0.2.2" and k2["unicast_peers"] == ["192.0.2.1"]
    assert k1["instance"] == "VI_web_ha" and k1["sync_daemon"] == "eth1 VI_web_ha id 51"
    assert k1["auth_pass"] == "molecule" and k1["virtual_ipaddress"] == ["192.0.2.100/32 dev eth1"]

    (vs,) = k1["virtual_servers"]
    assert vs["header"] == "192.0.2.100 80" and vs["method"] == "DR" and vs["protocol"] == "TCP"
    assert vs["check"].pop("checkers") == [
        {
            "type": "HTTP_GET", "connect_port": 0, "connect_timeout": 1, "retry": 1, "delay_before_retry": 1,
            "delay_loop": 0, "warmup": "", "alpha": False, "virtualhost": "", "sni": False,
            "urls": [{"path": "/whoami", "status_code": "200", "digest": ""}],
        }
    ]  # fmt: skip
    assert vs["check"] == dict(
        CHECK_DEFAULTS, delay_loop=2, connect_timeout=1, type="HTTP_GET", path="/whoami", status_code=200,
        connect_port=0, misc_dynamic=False,
    )  # fmt: skip
    assert [r["marker"] for r in vs["real_servers"]] == [
        "# lvs.cluster rs 192.0.2.11 service http",
        "# lvs.cluster rs 192.0.2.12 service http",
    ]
    assert plan(ha_cluster(), "director")["persist"] is False  # keepalived owns the table


@pytest.mark.parametrize(
    "change, expected",
    [
        # the automatic timing: VRRPv3, 0.8 s adverts (failover <= 3 s); VRRPv2, 1 s with a PASS authentication
        ({"lvs_ha_auth_pass": ""}, (3, 0.8, "")),
        ({}, (2, 1, "molecule")),
        ({"lvs_ha_auth_pass": "", "lvs_ha_advert_int": 2}, (3, 2, "")),
        ({"lvs_ha_vrrp_version": 2, "lvs_ha_auth_pass": ""}, (2, 1, "")),
        ({"lvs_ha_vrrp_version": 3}, (3, 0.8, "")),  # VRRPv3 has no authentication: not rendered
    ],
)
def test_vrrp_timing(change: Dict[str, Any], expected: Any) -> None:
    k = plan(ha_cluster(**change), "director")["keepalived"]
    assert (k["vrrp_version"], k["advert_int"], k["auth_pass"]) == expected
    conf = render_keepalived(plan(ha_cluster(**change), "director"))
    assert ("vrrp_version 3" in conf) == (expected[0] == 3) and "advert_int %s\n" % expected[1] in conf


def test_ha_iptables_accepts_vrrp_and_sync_from_the_peers() -> None:
    """lvs_firewall iptables: the role's INPUT chain accepts the peers' VRRP and sync packets (only)."""
    assert plan(ha_cluster(), "director")["iptables_input"] == {
        4: [
            "-A LVS_CLUSTER_IN -s 192.0.2.2/32 -i eth1 -p vrrp -j ACCEPT",
            "-A LVS_CLUSTER_IN -s 192.0.2.2/32 -i eth1 -p udp --dport 8848 -j ACCEPT",
        ],
        6: [],
    }
    assert not plan(ha_cluster(), "director")["firewall_needed"]  # auto: nothing else to install for it
    c = ha_cluster()
    c["web_ha"]["vars"]["lvs_firewall"] = "iptables"
    d = plan(c, "director2")
    assert (
        d["firewall_needed"]
        and d["iptables_input"][4][0] == "-A LVS_CLUSTER_IN -s 192.0.2.1/32 -i eth1 -p vrrp -j ACCEPT"
    )
    ipt4 = render("director", "director.iptables.j2", __director_plan=d, __family=4)
    assert ":LVS_CLUSTER_IN - [0:0]\n-A LVS_CLUSTER_IN -s 192.0.2.1/32 -i eth1 -p vrrp -j ACCEPT\n" in ipt4


def test_checks_on_a_single_director() -> None:
    """lvs_checks: keepalived owns the table with the checks, no VRRP; the VIPs stay vip_iface's."""
    c = {"web_dr": {"vars": dr_vars(lvs_checks=True), "hosts": dr_hosts()}}
    d = plan(c, "director")
    assert (d["ha"], d["owner"], d["persist"]) == (False, "keepalived", False)
    k = d["keepalived"]
    assert k["vrrp"] is False and k["sync_daemon"] == "" and k["script_user"] == ""  # no script: no user
    conf = render_keepalived(d)
    assert "vrrp_instance" not in conf and "lvs_sync_daemon" not in conf and "virtual_ipaddress" not in conf
    assert "virtual_server 192.0.2.100 80 {" in conf and conf.count("TCP_CHECK {") == 2
    assert "# lvs.cluster.director (health checks, no VRRP)" in conf
    hostvars, groups = inventory(c)
    assert lvs_drain_targets(hostvars, groups, "rs1")["ha"] is True  # drain edits keepalived.conf
    plain = plan({"web_dr": {"vars": dr_vars(), "hosts": dr_hosts()}}, "director")
    assert (plain["owner"], plain["persist"], plain["keepalived"]) == ("ipvs_table", True, {})
    assert plan(ha_cluster(lvs_checks=True), "director")["keepalived"]["vrrp"] is True  # with lvs_ha: HA mode


def test_several_checkers_per_real_server() -> None:
    checks = {
        "http": {
            "retry": 2,
            "checkers": [
                {"type": "SSL_GET", "sni": True, "urls": [{"path": "/a", "status_code": [200, "300-399"]}]},
                {"type": "FILE_CHECK", "file": "/var/lib/lvs-cluster/checks/%a-%p"},
                {"type": "MISC_CHECK", "misc_path": "/usr/local/bin/check %a %p", "retry": 0},
            ],
        }
    }
    c = {"web_dr": {"vars": dr_vars(lvs_checks=True, lvs_ha_checks=checks), "hosts": dr_hosts()}}
    k = plan(c, "director")["keepalived"]
    (vs,) = k["virtual_servers"]
    ssl, file_ck, misc, drain = vs["real_servers"][0]["checkers"]
    assert drain == {
        "type": "FILE_CHECK",
        "track_file": "lvs_var_lib_lvs_cluster_drain_tcp_192_0_2_100_80_192_0_2_11_80",
    }
    assert ssl["urls"] == [{"path": "/a", "status_code": "200 300-399", "digest": ""}] and ssl["sni"] is True
    assert (ssl["retry"], misc["retry"]) == (2, 0)  # the service's keys are the defaults of its checkers
    assert misc["misc_path"] == "/usr/local/bin/check 192.0.2.11 80"
    assert k["script_user"] == "keepalived_script"  # scripts never run as root
    assert file_ck["track_file"] == "lvs_var_lib_lvs_cluster_checks_192_0_2_11_80"
    assert k["track_files"][0] == {
        "name": "lvs_var_lib_lvs_cluster_checks_192_0_2_11_80",
        "file": "/var/lib/lvs-cluster/checks/192.0.2.11-80",
        "weight": 0,
    }
    assert k["track_file_dirs"] == [{"path": "/var/lib/lvs-cluster/checks", "state": "directory", "mode": "0755"}]
    flat = {"http": {"type": "HTTP_GET", "status_code": "200-299", "warmup": 0, "alpha": True}}
    c2 = {"web_dr": {"vars": dr_vars(lvs_checks=True, lvs_ha_checks=flat), "hosts": dr_hosts()}}
    ck = plan(c2, "director")["keepalived"]["virtual_servers"][0]["real_servers"][0]["checkers"][0]
    assert ck["urls"] == [{"path": "/", "status_code": "200-299", "digest": ""}]
    assert (ck["warmup"], ck["alpha"]) == (0, True)  # the service's warmup and alpha reach its checker
    conf = render_keepalived(plan(c, "director"))
    assert conf.count("track_file lvs_var_lib_lvs_cluster_checks_192_0_2_1") == 4  # 2 blocks + 2 FILE_CHECKs
    assert conf.count("SSL_GET {") == 2 and conf.count("enable_sni") == 2


def test_http_check_of_a_udp_service_needs_a_tcp_port() -> None:
    dns = [{"name": "dns", "protocol": "udp", "port": 53}]
    errors = errors_of(lvs_checks=True, lvs_services=dns, lvs_ha_checks={"dns": {"type": "HTTP_GET"}})
    assert any("director_ha_checks[dns]: HTTP_GET cannot check the UDP port" in e for e in errors), errors
    ok = {"dns": {"type": "HTTP_GET", "connect_port": 8080}}
    assert errors_of(lvs_checks=True, lvs_services=dns, lvs_ha_checks=ok) == []


def test_production_vrrp_settings() -> None:
    c = ha_cluster(
        lvs_ha_track_interfaces=["eth2"],
        lvs_ha_track_scripts=[{"name": "chk", "script": "/usr/local/bin/chk %s", "weight": -20}],
        lvs_ha_notify={"master": "/usr/local/bin/notify master"},
        lvs_ha_garp={"master_delay": 1, "min_garp": True},
        lvs_ha_preempt_delay=30,
    )
    k1 = plan(c, "director")["keepalived"]
    assert (k1["state"], k1["preempt_delay"], k1["check_unicast_src"]) == ("BACKUP", 30, True)
    assert k1["track_scripts"] == [
        {"name": "chk", "script": "/usr/local/bin/chk %s", "interval": 2, "fall": 2, "rise": 2, "weight": -20}
    ]
    assert (k1["garp"], k1["min_garp"], k1["script_user"]) == ({"master_delay": 1}, True, "keepalived_script")
    conf = render_keepalived(plan(c, "director"))
    for needle in ("vrrp_min_garp true", "preempt_delay 30", 'notify_master "/usr/local/bin/notify master"'):
        assert needle in conf, needle


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"lvs_ha_track_interfaces": ["eth1"]}, "eth1 is the VRRP interface"),
        ({"lvs_ha_track_scripts": [{"name": "x y", "script": "/bin/true"}]}, "track_scripts[0]: name"),
        ({"lvs_ha_track_scripts": [{"name": "x", "script": "/bin/true", "weight": 300}]}, "weight 300"),
        ({"lvs_ha_notify": {"promote": "/bin/true"}}, "director_ha_notify must be a dict with the keys"),
        ({"lvs_ha_garp": {"master_repeat": 0}}, "master_repeat 0"),
        ({"lvs_ha_preempt_delay": 5000}, "director_ha_preempt_delay 5000"),
        ({"lvs_ha_vrrp_version": 4}, "director_ha_vrrp_version 4 must be 0 (automatic), 2 or 3"),
        ({"lvs_ha_advert_int": 0.5}, "director_ha_advert_int 0.5 must be > 0, whole seconds with VRRPv2"),
    ],
)
def test_validator_refuses_vrrp_settings(change: Dict[str, Any], needle: str) -> None:
    c = ha_cluster(**change)
    hostvars, groups = inventory(c)
    errors = lvs_validate(hostvars, groups, list(hostvars))
    assert any(needle in e for e in errors), errors


def test_fwmark_and_ipv6() -> None:
    v = dr_vars(
        lvs_mode="tun",  # IPv6 real servers behind an IPv4 VIP: only a tunnel mixes the families
        lvs_network="2001:db8::/64",
        lvs_vips=["2001:db8:1::100", "198.51.100.10"],
        lvs_ha=True,
        lvs_services=[
            {"name": "web", "fwmark": 2, "protocol": "tcp", "ports": [80, 443], "scheduler": "sh"},
            {
                "name": "dns",
                "vip": "198.51.100.10",
                "protocol": "udp",
                "port": 53,
                "scheduler": "rr",
                "one_packet": True,
            },
        ],
    )
    c = {"v6": {"vars": dict(v, lvs_cluster="v6"), "hosts": dr_hosts(net="2001:db8::")}}
    d = plan(c, "director")
    # an IPv6-only instance: VRRPv3 (VRRPv2 is IPv4's), its PASS authentication left out
    v6_only = copy.deepcopy(c)
    v6_only["v6"]["vars"].update(lvs_vips=["2001:db8:1::100"], lvs_services=v["lvs_services"][:1], lvs_ha_auth_pass="x")
    k6 = plan(v6_only, "director")["keepalived"]
    assert (k6["vrrp_version"], k6["advert_int"], k6["auth_pass"]) == (3, 0.8, "")
    web, dns = d["ipvs_services"]
    assert web["fwmark"] == 2 and web["family"] == "ipv6" and "port" not in web and "address" not in web
    assert web["real_servers"][0] == rs("2001:db8::11", "tunnel", 3, tun_type="ipip")
    assert dns["one_packet"] is True and dns["address"] == "198.51.100.10"
    assert d["nft_rules"] == ["ip6 daddr 2001:db8:1::100 tcp dport { 80, 443 } meta mark set 2"]
    assert d["iptables_rules"] == {
        4: [],
        6: ["-A LVS_CLUSTER_MARK -d 2001:db8:1::100/128 -p tcp -m multiport --dports 80,443 -j MARK --set-mark 2"],
    }
    assert d["modules"] == ["ip_vs", "ip_vs_rr", "ip_vs_sh", "ipip"]
    k = d["keepalived"]
    assert k["virtual_ipaddress"] == ["198.51.100.10/32 dev eth1"]
    assert k["virtual_ipaddress_excluded"] == ["2001:db8:1::100/128 dev eth1"]
    assert k["virtual_servers"][0]["header"] == "fwmark 2" and k["virtual_servers"][0]["ipv6_fwmark"]
    assert k["virtual_servers"][0]["check"]["connect_port"] == 80  # the first marked port
    assert plan(c, "nfs")["exports"] == ["/srv/lvs/web 2001:db8::/64(ro,sync,root_squash,no_subtree_check)"]
    assert plan(c, "rs1")["nfs_what"] == "[2001:db8::20]:/srv/lvs/web"


def test_two_clusters_in_one_inventory() -> None:
    nat = dr_vars(lvs_cluster="web_nat", lvs_mode="nat", lvs_vips=["198.51.100.100"], lvs_vip_interface="eth2")
    dr = dr_vars(
        lvs_network="203.0.113.0/24",
        lvs_vips=["203.0.113.100"],
        lvs_firewall="iptables",
        lvs_services=[{"name": "web", "fwmark": 2, "protocol": "tcp", "ports": [80], "scheduler": "rr"}],
    )
    dr.pop("lvs_nfs_exports")
    c = {
        "web_nat": {"vars": nat, "hosts": dr_hosts()},
        "web_dr": {"vars": dr, "hosts": {k: v for k, v in dr_hosts("dr-", "203.0.113.").items() if "nfs" not in k}},
    }
    hostvars, groups = inventory(c)
    assert lvs_validate(hostvars, groups, list(hostvars)) == []
    nat_d, dr_d = plan(c, "director"), plan(c, "dr-director")
    assert [r["address"] for r in nat_d["ipvs_services"][0]["real_servers"]] == ["192.0.2.11", "192.0.2.12"]
    assert [r["address"] for r in dr_d["ipvs_services"][0]["real_servers"]] == ["203.0.113.11", "203.0.113.12"]
    assert dr_d["firewall"] == "iptables" and dr_d["iptables_rules"][4] == [
        "-A LVS_CLUSTER_MARK -d 203.0.113.100/32 -p tcp -m multiport --dports 80 -j MARK --set-mark 2"
    ]
    assert plan(c, "rs1")["nat_gateway"] == "192.0.2.1"
    assert plan(c, "dr-rs1")["nfs"] is False and plan(c, "dr-rs1")["vips"] == ["203.0.113.100"]
    # one cluster's error does not hide behind the other's, and names its cluster
    hostvars["dr-rs2"]["lvs_address"] = "192.0.2.12"
    errors = lvs_validate(hostvars, groups, list(hostvars))
    assert errors and all(e.startswith("web_dr: dr-rs2: lvs_address 192.0.2.12") for e in errors), errors


def test_unnamed_services_get_the_one_default_name() -> None:
    v = dr_vars(lvs_services=[{"port": 80}, {"name": "b", "port": 443}, {"port": 8080}])
    hosts = dr_hosts()
    hosts["rs2"] = ("realserver", {"lvs_address": "192.0.2.12", "lvs_weights": {"lvs_services[2]": 5}})
    c = {"web_dr": {"vars": v, "hosts": hosts}}
    d = plan(c, "director")
    assert [s["name"] for s in d["ipvs_services"]] == ["lvs_services[0]", "b", "lvs_services[2]"]
    assert DEFAULT_SERVICE_NAME.format(index=2) == "lvs_services[2]"
    assert [r["weight"] for r in d["ipvs_services"][2]["real_servers"]] == [3, 5]


# --- drain and undrain find services by name -----------------------------------------------------


def render_keepalived(director: Dict[str, Any]) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLES / "director" / "templates")), trim_blocks=True)
    return env.get_template("keepalived.conf.j2").render(__director_plan=director, ansible_managed="managed")


@pytest.mark.parametrize("names", [[None], [None, "b"], ["a", None, "c"]])
def test_drain_files_of_keepalived_and_ipvs_drain_agree(names: List[Any]) -> None:
    """keepalived's drain track files are the files ipvs_drain writes for drain.yml's arguments
    (services with and without a name): a drain needs no keepalived.conf edit and no reload."""
    services = [dict({"port": 80 + i}, **({"name": n} if n else {})) for i, n in enumerate(names)]
    c = ha_cluster(lvs_services=services, lvs_ha_checks={})
    hostvars, groups = inventory(c)
    conf = render_keepalived(plan(c, "director"))
    targets = lvs_drain_targets(hostvars, groups, "rs1")
    assert targets["ha"] and targets["address"] == "192.0.2.11" and targets["directors"] == ["director", "director2"]
    assert len(targets["services"]) == len(names)
    for (key, dest), svc in zip(rs_targets([s["args"] for s in targets["services"]]), targets["services"]):
        path = "%s/%s" % (DRAIN_DIR, drain_file_name(key, (dest["address"], dest["port"] or key[3])))
        name = re.search(r"track_file (\S+) \{\n    file \"%s\"\n    weight -1\n}" % re.escape(path), conf)
        assert name, (svc["name"], path, conf)
        args = svc["args"]
        block = conf.split("virtual_server %s %d {" % (args["virtual_address"], args["virtual_port"]))[1]
        assert "FILE_CHECK {\n            track_file %s\n" % name.group(1) in block.split("\n}")[0]
    assert "weight 0" not in conf


def test_drain_targets_standalone_arguments() -> None:
    v = dr_vars(lvs_services=[{"port": 80}, {"name": "mark", "fwmark": 3, "ports": [443]}])
    c = {"web_dr": {"vars": v, "hosts": dr_hosts()}}
    hostvars, groups = inventory(c)
    t = drain_targets(cluster_model(hostvars, groups, "rs2"), "rs2")
    assert t["ha"] is False and t["directors"] == ["director"]
    assert [(s["name"], s["args"]) for s in t["services"]] == [
        (
            "lvs_services[0]",
            {
                "protocol": "tcp",
                "virtual_address": "192.0.2.100",
                "virtual_port": 80,
                **rs("192.0.2.12", "route", port=80),
            },
        ),
        ("mark", {"fwmark": 3, "family": "ipv4", **rs("192.0.2.12", "route")}),
    ]


def test_drain_targets_fail_loudly() -> None:
    c = {"web_dr": {"vars": dr_vars(), "hosts": dr_hosts()}}
    hostvars, groups = inventory(c)
    with pytest.raises(PlanError, match="nfs is not a real server of cluster web_dr"):
        drain_targets(cluster_model(hostvars, groups, "nfs"), "nfs")


# --- the one validator: values that would break out of the file they are written to --------------


def errors_of(**change: Any) -> List[str]:
    c = {"web_dr": {"vars": dr_vars(**change), "hosts": dr_hosts()}}
    hostvars, groups = inventory(c)
    return lvs_validate(hostvars, groups, list(hostvars))


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"lvs_services": [{"name": "x\n}\nvrrp_script y {", "port": 80}]}, "name 'x\\n}"),
        ({"lvs_services": [{"name": "a b", "port": 80}]}, "name 'a b' is refused"),
        ({"lvs_cluster": "web_dr}"}, "lvs_cluster 'web_dr}' is refused"),
        ({"lvs_interface": "eth1\nIFACE=x"}, "lvs_interface 'eth1\\nIFACE=x' is refused"),
        ({"lvs_vip_interface": "eth1;reboot"}, "lvs_vip_interface 'eth1;reboot' is refused"),
        ({"lvs_services": [{"name": "h", "port": 80, "persistent": 60, "netmask": "255.255.255.0 }"}]}, "netmask"),
        ({"lvs_content_path": "/var/www; }"}, "realserver_nfs_path '/var/www; }' is refused"),
        ({"lvs_content_path": "/var/../etc"}, "no . or .. components"),
        ({"lvs_nfs_exports": [{"path": "/srv/x\n/ *(rw)"}]}, "path '/srv/x\\n/ *(rw)' is refused"),
        ({"lvs_nfs_exports": [{"path": "/srv/x", "clients": ["*"]}]}, "client '*' must be an address or a network"),
        ({"lvs_nfs_exports": [{"path": "/srv/x", "clients": ["198.51.100.0/24"]}]}, "outside the cluster network"),
        ({"lvs_vips": ["224.0.0.5"]}, "is a multicast address"),
        ({"lvs_vips": ["127.0.0.1"]}, "is a loopback address"),
        ({"lvs_vips": ["0.0.0.0"]}, "is the unspecified address"),
        ({"lvs_web_port": 0}, "realserver_web_port 0"),
    ],
)
def test_validator_refuses(change: Dict[str, Any], needle: str) -> None:
    errors = errors_of(**change)
    assert any(needle in e for e in errors), errors


@pytest.mark.parametrize(
    "checks, needle",
    [
        ({"http": {"type": "HTTP_GET", "path": "/x }\n}"}}, "director_ha_checks[http]: path"),
        ({"http": {"type": "MISC_CHECK", "misc_path": '/bin/true" }'}}, "misc_path"),
        ({"http": {"type": "SMTP_CHECK"}}, "type 'SMTP_CHECK' must be one of"),
        ({"http": {"colour": 1}}, "director_ha_checks[http]: unknown keys colour"),
        ({"http": {"retry": "many"}}, "retry 'many' must be an integer"),
        ({"http": {"delay_loop": "often"}}, "delay_loop 'often' must be an integer"),
        ({"http": {"sorry_server": "192.0.2.50:80 }"}}, "sorry_server"),
        ({"http": "TCP_CHECK"}, "director_ha_checks[http] must be a dict"),
        ({"http": {"checkers": []}}, "checkers must be a non-empty list"),
        ({"http": {"checkers": [{"type": "DNS_CHECK", "dns_type": "PTR"}]}}, "checkers[0]: dns_type 'PTR'"),
        ({"http": {"checkers": [{"type": "TCP_CHECK", "colour": 1}]}}, "checkers[0]: unknown keys colour"),
        ({"http": {"type": "HTTP_GET", "sni": True}}, "sni is for SSL_GET"),
        ({"http": {"type": "SSL_GET", "urls": [{"path": "/", "status_code": "2xx"}]}}, "urls[0]: status_code"),
        ({"http": {"type": "SSL_GET", "urls": [{"path": "/", "digest": "XYZ"}]}}, "urls[0]: digest"),
        ({"http": {"type": "SSL_GET", "virtualhost": "a b"}}, "virtualhost 'a b'"),
        ({"http": {"type": "UDP_CHECK", "payload": "zz"}}, "payload 'zz'"),
        ({"http": {"type": "FILE_CHECK", "file": "relative/x"}}, "file 'relative/x'"),
        ({"http": {"checkers": [{"type": "TCP_CHECK", "warmup": -1}]}}, "warmup -1 must be an integer"),
    ],
)
def test_validator_refuses_health_checks(checks: Dict[str, Any], needle: str) -> None:
    errors = errors_of(lvs_ha=True, lvs_ha_checks=checks)
    assert any(needle in e and e.startswith("web_dr: director: ") for e in errors), errors


def test_sorry_server_forms() -> None:
    base = {"director_mode": "dr", "director_vips": ["192.0.2.100"], "director_interface": "eth1"}
    options = dict(
        base,
        director_vip_interface="eth1",
        director_services=[{"name": "a", "port": 80}, {"name": "b", "port": 81}, {"name": "c", "port": 82}],
        director_ha=True,
        director_ha_directors=[{"name": "d", "address": "192.0.2.1"}],
        director_ha_checks={
            "a": {"sorry_server": "192.0.2.50:8080"},
            "b": {"sorry_server": "[2001:db8::5]:80"},
            "c": {"sorry_server": "192.0.2.51 81"},
        },
    )
    k = director_plan(options, "d")["keepalived"]
    assert [v["check"]["sorry_server"] for v in k["virtual_servers"]] == [
        "192.0.2.50 8080",
        "2001:db8::5 80",
        "192.0.2.51 81",
    ]


@pytest.mark.parametrize("options", ["rw,no_root_squash", ["rw", "no_root_squash"], ["sync,no_root_squash"]])
def test_nfs_refuses_no_root_squash_in_any_form(options: Any) -> None:
    with pytest.raises(PlanError, match="no_root_squash is refused"):
        nfs_plan({"nfs_exports": [{"path": "/srv/x"}], "nfs_clients": ["192.0.2.0/24"], "nfs_export_options": options})
    errors = errors_of(nfs_export_options=options)
    assert any("web_dr: nfs: nfs_export_options: no_root_squash is refused" in e for e in errors), errors


def test_client_mounts_are_nosuid_nodev_and_refuse_suid() -> None:
    opts = dict(REALSERVER_DEFAULTS, realserver_mode="dr", realserver_vips=["192.0.2.100"], realserver_interface="eth1")
    opts.update(realserver_nfs_server="192.0.2.20", realserver_nfs_export="/srv/x", realserver_nfs_options=["rw"])
    assert realserver_plan(opts)["mount_options"] == "rw,nosuid,nodev"
    with pytest.raises(PlanError, match="suid is refused"):
        realserver_plan(dict(opts, realserver_nfs_options=["rw,suid"]))


def test_nat_routes_are_networks() -> None:
    opts = dict(
        REALSERVER_DEFAULTS, realserver_mode="nat", realserver_interface="eth1", realserver_nat_gateway="192.0.2.1"
    )
    assert realserver_plan(dict(opts, realserver_nat_routes=["198.51.100.0/24"]))["nat_routes"] == [
        {"destination": "198.51.100.0/24", "ip": "198.51.100.0/24"}
    ]
    with pytest.raises(PlanError, match="realserver_nat_routes entry '0.0.0.0/0 via 1.2.3.4'"):
        realserver_plan(dict(opts, realserver_nat_routes=["0.0.0.0/0 via 1.2.3.4"]))


def test_role_options_are_checked_for_direct_role_use() -> None:
    with pytest.raises(PlanError, match="director_vips must list at least one VIP"):
        director_plan({"director_mode": "dr", "director_vips": []}, "d")
    with pytest.raises(PlanError, match="director_interface 'eth 1' is refused"):
        director_plan({"director_mode": "dr", "director_vips": ["192.0.2.100"], "director_interface": "eth 1",
                       "director_vip_interface": "eth1"}, "d")  # fmt: skip
    ha = {
        "director_mode": "dr",
        "director_vips": ["192.0.2.100"],
        "director_interface": "eth1",
        "director_vip_interface": "eth1",
        "director_services": [{"port": 80}],
        "director_ha": True,
        "director_ha_directors": [{"name": "other", "address": "192.0.2.2"}],
        "director_ha_router_id": 300,
        "director_ha_auth_pass": "123456789",
    }
    with pytest.raises(PlanError) as exc:
        director_plan(ha, "d")
    text = str(exc.value)
    for needle in ("must list this host (d) once", "director_ha_router_id 300", "director_ha_auth_pass"):
        assert needle in text, text


# --- moved from the filter tests: the IPVS services, the mark rules, the inventory hosts ----------


def host(name: str, role: str, address: str, **kw: Any) -> Dict[str, Any]:
    return dict({"name": name, "role": role, "address": address, "weight": None, "weights": {}}, **kw)


def old_dr_cluster() -> Dict[str, Any]:
    return {
        "name": "web_dr",
        "mode": "dr",
        "vips": ["192.0.2.100"],
        "network": "192.0.2.0/24",
        "services": [{"name": "http", "protocol": "tcp", "port": 80, "scheduler": "wrr"}],
        "hosts": [
            host("director", "director", "192.0.2.1"),
            host("rs1", "realserver", "192.0.2.11", weight=3),
            host("rs2", "realserver", "192.0.2.12"),
            host("nfs", "nfs", "192.0.2.20"),
        ],
    }


def test_ipvs_services_dr_with_weights() -> None:
    c = old_dr_cluster()
    rss = [h for h in c["hosts"] if h["role"] == "realserver"]
    rss[1]["weights"] = {"http": 2}
    out = ipvs_services(c["services"], rss, "dr", c["vips"])
    assert out == [dr_http_service(rs2_weight=2)]


def test_ipvs_services_nat_port_mapping_and_tun_fwmark() -> None:
    c = old_dr_cluster()
    rss = [h for h in c["hosts"] if h["role"] == "realserver"]
    out = ipvs_services(
        [{"name": "http", "port": 80, "rs_port": 8080, "scheduler": "rr"}], rss, "nat", ["198.51.100.100"]
    )
    assert [r["port"] for r in out[0]["real_servers"]] == [8080, 8080]
    assert {r["forward"] for r in out[0]["real_servers"]} == {"masq"}
    services: List[Dict[str, Any]] = [
        {
            "name": "web",
            "fwmark": 7,
            "ports": [80, 443],
            "scheduler": "sh",
            "sched_flags": ["sh-port"],
            "persistent": 60,
            "netmask": "255.255.255.0",
        }
    ]
    out = ipvs_services(services, rss, "tun", ["192.0.2.100"], "gue", 6080)
    assert out[0]["fwmark"] == 7 and out[0]["family"] == "ipv4" and "port" not in out[0]
    assert out[0]["netmask"] == "255.255.255.0"
    assert out[0]["real_servers"][0] == rs("192.0.2.11", "tunnel", 3, tun_type="gue", tun_port=6080)


def test_ipvs_services_rejects_bad_mode() -> None:
    with pytest.raises(PlanError):
        ipvs_services([], [], "fast", ["192.0.2.100"])
    with pytest.raises(PlanError):
        ipvs_services([], [], "dr", [])


def test_mark_rules() -> None:
    services = [
        {"name": "a", "port": 80},
        {"name": "b", "fwmark": 1, "ports": [80, 443]},
        {"name": "c", "fwmark": 2, "protocol": "udp", "ports": [53], "vip": "2001:db8::100"},
    ]
    nft, ipt = _mark_rules(services, ["192.0.2.100"])
    assert nft == [
        "ip daddr 192.0.2.100 tcp dport { 80, 443 } meta mark set 1",
        "ip6 daddr 2001:db8::100 udp dport { 53 } meta mark set 2",
    ]
    assert ipt[4] == ["-A LVS_CLUSTER_MARK -d 192.0.2.100/32 -p tcp -m multiport --dports 80,443 -j MARK --set-mark 1"]
    assert ipt[6] == ["-A LVS_CLUSTER_MARK -d 2001:db8::100/128 -p udp -m multiport --dports 53 -j MARK --set-mark 2"]


def test_cluster_hosts_read_hostvars_sorted_by_name() -> None:
    hostvars = {
        "rs2": {"lvs_cluster": "c", "ansible_host": "192.0.2.12"},
        "rs1": {"lvs_cluster": "c", "lvs_address": "192.0.2.11", "lvs_weight": 3, "lvs_weights": {"http": 1}},
    }
    groups = {"c": ["rs2", "rs1"], "lvs_realservers": ["rs2", "rs1"]}
    assert cluster_model(hostvars, groups, "rs2")["hosts"] == [
        {
            "name": "rs1",
            "role": "realserver",
            "address": "192.0.2.11",
            "weight": 3,
            "weights": {"http": 1},
            "options": {},
        },
        {"name": "rs2", "role": "realserver", "address": "192.0.2.12", "weight": None, "weights": {}, "options": {}},
    ]


def test_input_not_mutated() -> None:
    c = old_dr_cluster()
    before = copy.deepcopy(c)
    cluster_errors(c)
    ipvs_services(c["services"], c["hosts"][1:3], "dr", c["vips"])
    host_options(c, "director")
    assert c == before


# --- the templates render the plan and nothing else ----------------------------------------------


def render(role: str, template: str, **data: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLES / role / "templates")),
        trim_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(template).render(ansible_managed="managed", **data)


def test_templates_render_the_plans() -> None:
    nat = dr_vars(
        lvs_cluster="web_nat",
        lvs_mode="nat",
        lvs_vips=["198.51.100.100"],
        lvs_vip_interface="eth2",
        lvs_nat_masquerade=True,
        lvs_services=[
            {"name": "http", "port": 80, "rs_port": 8080},
            {"name": "mark", "fwmark": 4, "ports": [443], "protocol": "tcp"},
        ],
    )
    c = {"web_nat": {"vars": nat, "hosts": dr_hosts()}}
    d = plan(c, "director")
    nft = render("director", "director.nft.j2", __director_plan=d)
    assert "\t\tip daddr 198.51.100.100 tcp dport { 443 } meta mark set 4\n" in nft
    assert '\t\tip saddr 192.0.2.0/24 oifname "eth2" masquerade\n' in nft
    ipt4 = render("director", "director.iptables.j2", __director_plan=d, __family=4)
    assert "-A LVS_CLUSTER_MARK -d 198.51.100.100/32 -p tcp -m multiport --dports 443 -j MARK --set-mark 4\n" in ipt4
    assert "-A LVS_CLUSTER_NAT -s 192.0.2.0/24 -o eth2 -j MASQUERADE\n" in ipt4
    assert "chain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n" in nft
    assert "\t\tmeta nfproto ipv4 drop\n" in nft
    assert "*filter\n:LVS_CLUSTER_FWD - [0:0]\n" in ipt4 and "-A LVS_CLUSTER_FWD -j DROP\n" in ipt4
    ipt6 = render("director", "director.iptables.j2", __director_plan=d, __family=6)
    assert "-A " not in ipt6 and ":LVS_CLUSTER_FWD - [0:0]\n" in ipt6
    sysctl = render("director", "ipvs-sysctl.conf.j2", __director_plan=d)
    assert "net.ipv4.vs.conntrack = 1\nnet.ipv4.vs.expire_nodest_conn = 1\n" in sysctl
    assert 'IFACE="eth1"' in render("director", "ipvsadm.Debian.j2", __director_plan=d, __director_rules_path="/x")
    r = plan(c, "rs1")
    mount = render("realserver", "nfs.mount.j2", __realserver_plan=r)
    assert (
        "What=192.0.2.20:/srv/lvs/web\nWhere=/var/www/lvs\nType=nfs\nOptions=ro,nfsvers=4.2,_netdev,nosuid,nodev\n"
        in mount
    )
    site = render(
        "realserver",
        "nginx-site.conf.j2",
        __realserver_plan=r,
        __realserver_access_log="/var/log/x.log",
        __realserver_whoami_root="/var/lib/x",
    )
    assert "\tlisten 80 default_server;\n" in site and "\troot /var/www/lvs;\n" in site
    exports = render("nfs", "exports.j2", __nfs_plan=plan(c, "nfs"))
    assert exports == "# managed\n/srv/lvs/web 192.0.2.0/24(ro,sync,root_squash,no_subtree_check)\n"


def test_slow_start_arguments() -> None:
    """lvs_slow_start: ipvs_drain's arguments for every real server of every service; off by default."""
    assert plan({"web_dr": {"vars": dr_vars(), "hosts": dr_hosts()}}, "director")["slow_start"] == {"real_servers": []}
    d = plan({"web_dr": {"vars": dr_vars(lvs_slow_start=30), "hosts": dr_hosts()}}, "director")
    args = {"protocol": "tcp", "virtual_address": "192.0.2.100", "virtual_port": 80}
    assert d["slow_start"] == {
        "real_servers": [
            dict(args, **rs("192.0.2.11", "route", 3, port=80)),
            dict(args, **rs("192.0.2.12", "route", port=80)),
        ],
        "percent": 33,
        "ramp_time": 30,
        "ramp_steps": 2,
    }
    hostvars, groups = inventory({"web_dr": {"vars": dr_vars(), "hosts": dr_hosts()}})
    options = dict(DIRECTOR_DEFAULTS, **host_options(cluster_model(hostvars, groups, "director"), "director"))
    for change, needle in (
        ({"director_slow_start": -1}, "director_slow_start -1 must be an integer 0..3600"),
        ({"director_slow_start": 10, "director_slow_start_steps": 1}, "director_slow_start_steps 1 must be"),
    ):
        with pytest.raises(PlanError, match=needle):
            director_plan(dict(options, **change), "director")


def _live_rs(address: str, weight: int, drain: int = 0) -> Dict[str, Any]:
    return {"address": address, "port": 80, "weight": weight, "drain": drain, "active_conns": 2,
            "inactive_conns": 1, "stats": {"cps": 3, "inbps": 10, "outbps": 20}}  # fmt: skip


def test_status_report_and_drift() -> None:
    """status.yml: the live table joined with the inventory; a drained weight is not drift, a weight
    changed by hand, a missing real server, an extra service and a peer's other table are."""
    from ansible_collections.lvs.cluster.plugins.plugin_utils._status import host_state, status_report

    hosts = dict(dr_hosts(), director2=("director", {"lvs_address": "192.0.2.2"}))
    hostvars, groups = inventory({"web_dr": {"vars": dr_vars(), "hosts": hosts}})
    http = {"name": "tcp:192.0.2.100:80", "scheduler": "wrr"}
    ok = {"services": [dict(http, real_servers=[_live_rs("192.0.2.11", 0, 65535), _live_rs("192.0.2.12", 1)])]}
    stdout = "127.0.0.1\n192.0.2.1\n192.0.2.100\n---\n"
    assert host_state(stdout + "Entering MASTER STATE\n") == (["127.0.0.1", "192.0.2.1", "192.0.2.100"], "MASTER")
    for d in ("director", "director2"):
        hostvars[d].update(__lvs_status_ipvs={"ipvs": ok}, __lvs_status_host={"stdout": stdout})
    report = status_report(hostvars, groups, ["director", "director2"])
    assert report["drift"] == []
    rows = report["reports"][0]["services"][0]["real_servers"]
    assert [(r["name"], r["directors"]["director"]["weight"], r["directors"]["director"]["drain"]) for r in rows] == [
        ("rs1", 0, 65535),
        ("rs2", 1, 0),
    ]
    assert "  no drift: every director's table is what the inventory says" in report["lines"]
    assert any(line.startswith("    rs1 ") and line.endswith("| 6") for line in report["lines"])
    bad = {"services": [dict(http, real_servers=[_live_rs("192.0.2.11", 5)]), {"name": "udp:192.0.2.100:53"}]}
    hostvars["director2"].update(__lvs_status_ipvs={"ipvs": bad})
    assert status_report(hostvars, groups, ["director", "director2"])["drift"] == [
        "web_dr: director2: 192.0.2.11:80 in tcp:192.0.2.100:80 has weight 5, the inventory says 3",
        "web_dr: director2: 192.0.2.12:80 is missing from tcp:192.0.2.100:80",
        "web_dr: director2: service udp:192.0.2.100:53 is not in the inventory",
        "web_dr: director and director2: their tables differ in tcp:192.0.2.100:80, udp:192.0.2.100:53",
    ]
    assert status_report(hostvars, groups, ["director"])["drift"] == [
        "web_dr: director2: unreachable, its table is unknown"
    ]


def test_metrics_option_and_the_observed_view() -> None:
    """lvs_metrics: the director's timer on or off; the plan's observe names the cluster, the real
    servers by host name and the services as the live table does (status.yml and the metrics)."""
    off = plan({"web_dr": {"vars": dr_vars(), "hosts": dr_hosts()}}, "director")
    assert off["metrics"] == {"enabled": False, "interval": 15}
    on = plan({"web_dr": {"vars": dr_vars(lvs_metrics=True), "hosts": dr_hosts()}}, "director")
    assert on["metrics"] == {"enabled": True, "interval": 15}
    assert on["observe"]["cluster"] == "web_dr" and on["observe"]["vips"] == ["192.0.2.100"]
    assert on["observe"]["keepalived"] is False and on["observe"]["vrrp"] is False
    assert on["observe"]["services"][0]["service"] == "tcp:192.0.2.100:80"
    assert [(r["name"], r["address"], r["weight"]) for r in on["observe"]["services"][0]["real_servers"]] == [
        ("rs1", "192.0.2.11:80", 3),
        ("rs2", "192.0.2.12:80", 1),
    ]
    options = dict(DIRECTOR_DEFAULTS, director_mode="dr", director_vips=["192.0.2.100"], director_interface="eth1",
                   director_vip_interface="eth1",
                   director_services=[{"name": "http", "protocol": "tcp", "port": 80}])  # fmt: skip
    for change, needle in (
        ({"director_metrics": "yes"}, "director_metrics 'yes' must be true or false"),
        ({"director_metrics": True, "director_metrics_interval": 0}, "director_metrics_interval 0 must be"),
    ):
        with pytest.raises(PlanError) as err:
            director_plan(dict(options, **change), "director")
        assert any(needle in e for e in err.value.errors), err.value.errors


def test_file_entries_filter() -> None:
    from ansible.errors import AnsibleFilterError

    from ansible_collections.lvs.cluster.plugins.filter.lvs_cluster import lvs_file_entries

    assert lvs_file_entries(["/a", "/b"], ["x", "y"]) == [
        {"path": "/a", "content": "x"},
        {"path": "/b", "content": "y"},
    ]
    assert lvs_file_entries(["/a"], state="absent") == [{"path": "/a", "state": "absent"}]
    with pytest.raises(AnsibleFilterError):
        lvs_file_entries(["/a"], [])
