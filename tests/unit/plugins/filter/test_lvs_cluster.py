"""Unit tests of the controller-side cluster model filters (the planner's own tests, with the
IPVS services, firewall rules and inventory hosts, are tests/unit/plugins/plugin_utils/test_planner.py)."""

from __future__ import annotations

import copy
from typing import Any, Dict

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lvs.cluster.plugins.filter.lvs_cluster import (
    FilterModule,
    lvs_cluster_errors,
    lvs_systemd_mount_unit,
)


def host(name: str, role: str, address: str, **kw: Any) -> Dict[str, Any]:
    return dict({"name": name, "role": role, "address": address, "weight": None, "weights": {}}, **kw)


def dr_cluster() -> Dict[str, Any]:
    return {
        "name": "web_dr",
        "mode": "dr",
        "vips": ["192.0.2.100"],
        "network": "192.0.2.0/24",
        "services": [{"name": "http", "protocol": "tcp", "port": 80, "scheduler": "wrr"}],
        "tun_type": "ipip",
        "tun_port": 0,
        "nat_gateway": "",
        "hosts": [
            host("director", "director", "192.0.2.1"),
            host("rs1", "realserver", "192.0.2.11", weight=3),
            host("rs2", "realserver", "192.0.2.12"),
            host("nfs", "nfs", "192.0.2.20"),
        ],
    }


def nat_cluster() -> Dict[str, Any]:
    c = dr_cluster()
    c.update(
        name="web_nat",
        mode="nat",
        vips=["198.51.100.100"],
        services=[{"name": "http", "port": 80, "rs_port": 8080, "scheduler": "rr"}],
    )
    return c


def one_error(cluster: Dict[str, Any], *needles: str) -> str:
    errors = lvs_cluster_errors(cluster)
    assert len(errors) == 1, errors
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def test_valid_clusters_have_no_errors() -> None:
    assert lvs_cluster_errors(dr_cluster()) == []
    assert lvs_cluster_errors(nat_cluster()) == []
    tun = dr_cluster()
    tun.update(mode="tun", network="")
    tun["hosts"][1]["address"] = "203.0.113.11"  # TUN real servers may be elsewhere
    assert lvs_cluster_errors(tun) == []


def test_dr_real_server_off_the_segment_names_host_and_variable() -> None:
    c = dr_cluster()
    c["hosts"][2]["address"] = "198.51.100.12"
    one_error(c, "web_dr: rs2: lvs_address 198.51.100.12", "lvs_network 192.0.2.0/24", "L2 segment")


def test_dr_director_off_the_segment() -> None:
    c = dr_cluster()
    c["hosts"][0]["address"] = "203.0.113.1"
    one_error(c, "director: lvs_address 203.0.113.1 of the director")


@pytest.mark.parametrize("mode", ["dr", "tun"])
def test_no_port_mapping_in_dr_and_tun(mode: str) -> None:
    c = dr_cluster()
    c["mode"] = mode
    c["services"][0]["rs_port"] = 8080
    one_error(c, "rs_port (port mapping) is only possible in NAT mode, not " + mode.upper())


def test_nat_vip_must_be_outside_the_inner_network() -> None:
    c = nat_cluster()
    c["vips"] = ["192.0.2.100"]
    one_error(c, "lvs_vips entry 192.0.2.100 is inside lvs_network")


def test_nat_gateway_must_be_inside() -> None:
    c = nat_cluster()
    c["nat_gateway"] = "198.51.100.1"
    one_error(c, "lvs_nat_gateway 198.51.100.1 is not in lvs_network")


@pytest.mark.parametrize("gateway,needle", [("", "must be a floating address"), ("192.0.2.2", "address director2")])
def test_nat_ha_needs_a_floating_gateway(gateway: str, needle: str) -> None:
    """With two directors the real servers' gateway must move with the VIP (a VRRP address)."""
    c = nat_cluster()
    c.update(ha=True, nat_gateway=gateway)
    c["hosts"].append(host("director2", "director", "192.0.2.2"))
    one_error(c, "lvs_nat_gateway", needle)
    c["nat_gateway"] = "192.0.2.253"
    assert lvs_cluster_errors(c) == []


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"mode": "fast"}, "lvs_mode 'fast'"),
        ({"vips": ["192.0.2.300"]}, "lvs_vips entry '192.0.2.300'"),
        ({"vips": []}, "lvs_vips must be a non-empty list"),
        ({"network": "192.0.2.1/24"}, "host bits"),
        ({"network": ""}, "lvs_network (the real servers' network, CIDR) is required"),
        ({"services": []}, "lvs_services must be a non-empty list"),
    ],
)
def test_cluster_level_errors(change: Dict[str, Any], needle: str) -> None:
    c = dr_cluster()
    c.update(change)
    assert any(needle in e for e in lvs_cluster_errors(c)), lvs_cluster_errors(c)


@pytest.mark.parametrize(
    "service, needle",
    [
        ({"port": 80, "scheduler": "fast"}, "scheduler 'fast'"),
        ({"port": 80, "scheduler": "rr", "sched_flags": ["sh-port"]}, "does not fit scheduler 'rr'"),
        ({"port": 70000}, "port 70000 is outside 1..65535"),
        ({"port": 80, "protocol": "icmp"}, "protocol 'icmp'"),
        ({"port": 80, "vip": "192.0.2.101"}, "vip 192.0.2.101 is not in lvs_vips"),
        ({"port": 80, "netmask": "255.255.255.0"}, "netmask needs persistent"),
        ({"port": 80, "u_threshold": 5, "l_threshold": 9}, "l_threshold 9 exceeds u_threshold 5"),
        ({"port": 80, "weight": -1}, "weight must be"),
        ({"fwmark": 1}, "needs ports"),
        ({"fwmark": 1, "ports": [80], "port": 80}, "takes ports, not port"),
        ({"port": 80, "ports": [80]}, "ports is only for fwmark services"),
        ({"port": 80, "colour": "red"}, "unknown keys colour"),
    ],
)
def test_service_errors(service: Dict[str, Any], needle: str) -> None:
    c = dr_cluster()
    c["services"] = [dict(service, name="svc")]
    errors = lvs_cluster_errors(c)
    assert any(needle in e and "(svc)" in e for e in errors), errors


def test_host_errors() -> None:
    c = dr_cluster()
    c["hosts"][1]["address"] = "rs1.example"
    c["hosts"][2]["weights"] = {"nope": 2}
    c["hosts"][3]["address"] = "192.0.2.100"
    errors = lvs_cluster_errors(c)
    assert any("rs1: lvs_address 'rs1.example' is not an IP address" in e for e in errors), errors
    assert any("rs2: lvs_weights names unknown service 'nope'" in e for e in errors), errors
    assert any("nfs: lvs_address 192.0.2.100 is one of the VIPs" in e for e in errors), errors


def test_duplicate_address_and_missing_roles() -> None:
    c = dr_cluster()
    c["hosts"][2]["address"] = "192.0.2.11"
    assert any("is also used by rs1" in e for e in lvs_cluster_errors(c))
    c = dr_cluster()
    c["hosts"] = []
    errors = lvs_cluster_errors(c)
    assert any("no director" in e for e in errors) and any("no real server" in e for e in errors)


def test_tun_type_checks() -> None:
    c = dr_cluster()
    c.update(mode="tun", tun_type="vxlan")
    one_error(c, "lvs_tun_type 'vxlan'")
    c.update(tun_type="gue", tun_port=0)
    one_error(c, "lvs_tun_port")


def test_not_a_dict_raises() -> None:
    with pytest.raises(AnsibleFilterError):
        lvs_cluster_errors([])


@pytest.mark.parametrize(
    "path, unit",
    [
        ("/var/www/lvs", "var-www-lvs.mount"),
        ("/srv/my-site/", "srv-my\\x2dsite.mount"),
        ("/", "-.mount"),
        ("/a/.hidden", "a-\\x2ehidden.mount"),
    ],
)
def test_systemd_mount_unit(path: str, unit: str) -> None:
    assert lvs_systemd_mount_unit(path) == unit


def test_systemd_mount_unit_needs_absolute_path() -> None:
    with pytest.raises(AnsibleFilterError):
        lvs_systemd_mount_unit("var/www")


def test_filter_module_lists_all() -> None:
    assert set(FilterModule().filters()) == {
        "lvs_cluster_errors",
        "lvs_validate",
        "lvs_host_options",
        "lvs_drain_targets",
        "lvs_status",
        "lvs_file_entries",
        "lvs_director_plan",
        "lvs_realserver_plan",
        "lvs_nfs_plan",
        "lvs_systemd_mount_unit",
    }


def test_input_not_mutated() -> None:
    c = dr_cluster()
    before = copy.deepcopy(c)
    lvs_cluster_errors(c)
    assert c == before
