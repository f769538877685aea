"""Pure IPVS logic: validation, planning, ipvsadm-save rendering."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (
    DEL_DEST,
    DEL_SERVICE,
    NEW_DEST,
    NEW_SERVICE,
    SET_DEST,
    SET_SERVICE,
    IpvsValidationError,
    apply_plan_to_model,
    plan_table,
    render_rules,
    service_from_spec,
    services_list,
    sort_services,
    table_from_spec,
)


def svc(**kw: Any) -> Dict[str, Any]:
    base: Dict[str, Any] = {"protocol": "tcp", "address": "198.51.100.10", "port": 80}
    base.update(kw)
    return base


def kinds(plan: Any) -> List[str]:
    return [op.kind for op in plan.ops]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (svc(address="300.1.1.1"), "not a valid IPv4 or IPv6 address"),
        (svc(scheduler="foo"), "unknown scheduler 'foo'"),
        (svc(scheduler="rr", sched_flags=["sh-port"]), "does not fit scheduler 'rr'"),
        (svc(scheduler="mh", sched_flags=["sh-fallback"]), "does not fit scheduler 'mh'"),
        (svc(sched_flags=["bogus"]), "unknown scheduler flag"),
        ({"fwmark": 5, "port": 80}, "takes no port"),
        ({"fwmark": 5, "address": "1.2.3.4"}, "takes no address"),
        (svc(port=70000), "port 70000 is outside"),
        (svc(port=0), "port 0 is outside 1..65535"),
        (svc(netmask="255.255.0.0"), "netmask needs persistent"),
        (svc(persistent=60, netmask="255.0.255.0"), "not a contiguous"),
        (svc(address="2001:db8::1", persistent=60, netmask="129"), "outside 1..128"),
        (svc(pe="sip"), "needs persistent"),
        (svc(one_packet=True), "only applies to UDP"),
        (svc(real_servers=[{"address": "192.0.2.11", "port": 8080}]), "only works with forward=masq"),
        (svc(real_servers=[{"address": "192.0.2.11", "port": 8080, "forward": "tunnel"}]), "forward=masq, not tunnel"),
        (svc(real_servers=[{"address": "192.0.2.11", "weight": 65536}]), "weight 65536 is outside 0..65535"),
        (svc(real_servers=[{"address": "192.0.2.11", "weight": -1}]), "weight -1 is outside"),
        (svc(real_servers=[{"address": "192.0.2.11", "u_threshold": 5, "l_threshold": 6}]), "lower threshold"),
        (svc(real_servers=[{"address": "2001:db8::11", "forward": "masq"}]), "needs forward=tunnel"),
        (svc(real_servers=[{"address": "192.0.2.11"}, {"address": "192.0.2.11"}]), "duplicate real server"),
        (svc(real_servers=[{"address": "192.0.2.11", "forward": "tunnel", "tun_type": "gue"}]), "needs tun_port"),
        (svc(real_servers=[{"address": "192.0.2.11", "forward": "masq", "tun_type": "gue"}]), "need forward=tunnel"),
        (
            svc(
                real_servers=[{"address": "192.0.2.11", "forward": "tunnel", "tun_type": "gre", "tun_csum": "remcsum"}]
            ),
            "remcsum only applies to tun_type gue",
        ),
        (svc(real_servers=[{"address": "192.0.2.11", "forward": "tunnel", "tun_csum": "csum"}]), "gue or gre"),
        (svc(real_servers=[{"address": "192.0.2.11", "bogus": 1}]), "unknown option(s) bogus"),
        ({"fwmark": 1, "real_servers": [{"address": "192.0.2.11", "port": 80}]}, "needs forward=masq"),
        ({"address": "1.2.3.4", "port": 1}, "set protocol"),
    ],
)
def test_bad_input(spec: Dict[str, Any], message: str) -> None:
    with pytest.raises(IpvsValidationError) as err:
        table_from_spec([spec])
    assert message in str(err.value)
    assert "services[0]" in str(err.value)


def test_duplicate_service() -> None:
    with pytest.raises(IpvsValidationError, match=r"services\[1\]: duplicate service tcp:198.51.100.10:80"):
        table_from_spec([svc(), svc(scheduler="rr")])


def test_duplicate_after_normalisation() -> None:
    with pytest.raises(IpvsValidationError, match="duplicate service"):
        table_from_spec([svc(address="2001:db8::1"), svc(address="2001:0db8:0::1")])


def test_defaults_and_port_inheritance() -> None:
    s = service_from_spec(svc(real_servers=[{"address": "192.0.2.11"}]), "x")
    assert s.scheduler == "wlc" and s.flags == 0 and s.netmask == 0xFFFFFFFF
    dest = s.dests[("192.0.2.11", 80)]
    assert (dest.forward, dest.weight, dest.port) == ("route", 1, 80)


def test_mixed_family_tunnel_ok_and_sched_flags_bits() -> None:
    s = service_from_spec(
        svc(
            address="2001:db8::10",
            scheduler="mh",
            sched_flags=["mh-fallback", "mh-port"],
            persistent=60,
            netmask=64,
            real_servers=[{"address": "192.0.2.11", "forward": "tunnel", "tun_type": "gue", "tun_port": 6080}],
        ),
        "x",
    )
    assert s.flags == 0x1 | 0x8 | 0x10
    assert s.netmask == 64
    assert s.dests is not None and s.dests[("192.0.2.11", 80)].af == 2


def test_netmask_forms() -> None:
    a = service_from_spec(svc(persistent=10, netmask="24"), "x")
    b = service_from_spec(svc(persistent=10, netmask="255.255.255.0"), "x")
    assert a.netmask == b.netmask == 0xFFFFFF00


def test_plan_create_then_noop() -> None:
    desired = table_from_spec([svc(real_servers=[{"address": "192.0.2.11"}, {"address": "192.0.2.12"}])])
    plan = plan_table(desired, {})
    assert kinds(plan) == [NEW_SERVICE, NEW_DEST, NEW_DEST]
    after = apply_plan_to_model({}, plan)
    assert not plan_table(desired, after).changed


def test_plan_edits_in_place_and_purges() -> None:
    current = apply_plan_to_model(
        {},
        plan_table(
            table_from_spec(
                [
                    svc(real_servers=[{"address": "192.0.2.11"}, {"address": "192.0.2.12"}]),
                    svc(port=443),
                ]
            ),
            {},
        ),
    )
    desired = table_from_spec([svc(scheduler="rr", real_servers=[{"address": "192.0.2.11", "weight": 0}])])
    plan = plan_table(desired, current)
    assert kinds(plan) == [SET_SERVICE, DEL_DEST, SET_DEST]
    plan = plan_table(desired, current, purge_services=True, purge_dests=False)
    assert kinds(plan) == [DEL_SERVICE, SET_SERVICE, SET_DEST]
    # real servers not given: left alone
    plan = plan_table(table_from_spec([svc()]), current)
    assert not plan.changed


def test_plan_absent() -> None:
    current = apply_plan_to_model({}, plan_table(table_from_spec([svc()]), {}))
    key = next(iter(current))
    assert kinds(plan_table({}, current, absent=[key])) == [DEL_SERVICE]
    assert not plan_table({}, {}, absent=[key]).changed


def test_forward_change_is_an_edit() -> None:
    current = apply_plan_to_model({}, plan_table(table_from_spec([svc(real_servers=[{"address": "192.0.2.11"}])]), {}))
    desired = table_from_spec([svc(real_servers=[{"address": "192.0.2.11", "forward": "masq"}])])
    assert kinds(plan_table(desired, current)) == [SET_DEST]


def test_non_persistent_timeout_ignored() -> None:
    a = service_from_spec(svc(), "x")
    b = service_from_spec(svc(), "x")
    b.timeout = 77  # kernel keeps whatever was sent; it means nothing without persistence
    assert a.config() == b.config()


FULL = [
    svc(
        scheduler="sh",
        sched_flags=["sh-fallback", "sh-port"],
        persistent=600,
        netmask="255.255.255.0",
        real_servers=[
            {"address": "192.0.2.12", "port": 8080, "forward": "masq", "weight": 3},
            {"address": "192.0.2.11", "port": 8080, "forward": "masq", "weight": 0},
        ],
    ),
    {
        "protocol": "udp",
        "address": "198.51.100.10",
        "port": 53,
        "scheduler": "rr",
        "one_packet": True,
        "real_servers": [{"address": "192.0.2.11"}],
    },
    {"protocol": "udp", "address": "198.51.100.10", "port": 5060, "persistent": 30, "pe": "sip"},
    {"protocol": "sctp", "address": "198.51.100.10", "port": 9, "scheduler": "mh", "sched_flags": ["mh-port"]},
    {
        "fwmark": 7,
        "scheduler": "wrr",
        "real_servers": [
            {"address": "192.0.2.11", "forward": "tunnel", "tun_type": "gue", "tun_port": 6080, "tun_csum": "remcsum"},
            {"address": "192.0.2.12", "forward": "tunnel", "tun_type": "gre", "tun_csum": "csum"},
            {"address": "192.0.2.13", "forward": "tunnel"},
        ],
    },
    {"fwmark": 8, "family": "ipv6", "scheduler": "lc"},
    {
        "protocol": "tcp",
        "address": "2001:db8::10",
        "port": 443,
        "persistent": 60,
        "netmask": 64,
        "real_servers": [{"address": "2001:db8::11"}, {"address": "192.0.2.11", "forward": "tunnel"}],
    },
]

FULL_RULES = """\
-A -t 198.51.100.10:80 -s sh -p 600 -M 255.255.255.0 -b sh-fallback,sh-port
-a -t 198.51.100.10:80 -r 192.0.2.11:8080 -m -w 0
-a -t 198.51.100.10:80 -r 192.0.2.12:8080 -m -w 3
-A -u 198.51.100.10:53 -s rr -o
-a -u 198.51.100.10:53 -r 192.0.2.11:53 -g -w 1
-A -u 198.51.100.10:5060 -s wlc -p 30 --pe sip
-A --sctp-service 198.51.100.10:9 -s mh -b mh-port
-A -t [2001:db8::10]:443 -s wlc -p 60 -M 64
-a -t [2001:db8::10]:443 -r 192.0.2.11:443 -i -w 1 --tun-type ipip
-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -g -w 1
-A -f 7 -s wrr
-a -f 7 -r 192.0.2.11:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum
-a -f 7 -r 192.0.2.12:0 -i -w 1 --tun-type gre --tun-csum
-a -f 7 -r 192.0.2.13:0 -i -w 1 --tun-type ipip
-A -f 8 -6 -s lc
"""


def test_render_rules_full_table() -> None:
    table = table_from_spec(FULL)
    assert render_rules(table) == FULL_RULES
    assert render_rules(table, thresholds=True) == ""


def test_threshold_rules_edit_what_save_cannot_express() -> None:
    spec = [
        {
            "fwmark": 7,
            "real_servers": [
                {"address": "192.0.2.11", "forward": "tunnel", "tun_type": "gue", "tun_port": 6080, "u_threshold": 9},
                {"address": "192.0.2.12", "forward": "tunnel"},
            ],
        },
        svc(
            real_servers=[
                {"address": "192.0.2.12", "port": 8080, "forward": "masq", "u_threshold": 100, "l_threshold": 50}
            ]
        ),
    ]
    table = table_from_spec(spec)
    assert "-x" not in render_rules(table)
    assert render_rules(table, thresholds=True) == (
        "-e -t 198.51.100.10:80 -r 192.0.2.12:8080 -m -w 1 -x 100 -y 50\n"
        "-e -f 7 -r 192.0.2.11:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum -x 9 -y 0\n"
    )


def test_sort_emulates_c_int_wraparound() -> None:
    # ipvsadm compares ntohl() differences as int: 10.0.0.1 - 200.0.0.1 wraps positive
    table = table_from_spec([svc(address="200.0.0.1"), svc(address="10.0.0.1")])
    assert [s.address for s in sort_services(table.values())] == ["200.0.0.1", "10.0.0.1"]
    table = table_from_spec([svc(address="10.0.0.1"), svc(address="100.0.0.1")])
    assert [s.address for s in sort_services(table.values())] == ["10.0.0.1", "100.0.0.1"]


def test_repeated_real_servers_validated_once_and_errors_still_name_the_item() -> None:
    rs = [{"address": "192.0.2.11", "port": 8080, "forward": "masq", "weight": 3}]
    table = table_from_spec(
        [
            {"protocol": "tcp", "address": "198.51.100.1", "port": 80, "real_servers": rs},
            {"protocol": "tcp", "address": "198.51.100.2", "port": 80, "real_servers": list(rs)},
        ]
    )
    a, b = (svc.dests[("192.0.2.11", 8080)] for svc in table.values())
    assert a is b and a.weight == 3
    # the same item behind a service on another port: validated again (port mapping rules differ)
    with pytest.raises(IpvsValidationError, match=r"services\[1\] \(tcp:198.51.100.2:81\) real_servers\[1\]: dup"):
        table_from_spec(
            [
                {"protocol": "tcp", "address": "198.51.100.1", "port": 80, "real_servers": rs},
                {"protocol": "tcp", "address": "198.51.100.2", "port": 81, "real_servers": rs + rs},
            ]
        )
    # unhashable values take the slow path and its message
    with pytest.raises(IpvsValidationError, match="weight must be an integer"):
        table_from_spec(
            [
                {
                    "protocol": "tcp",
                    "address": "198.51.100.1",
                    "port": 80,
                    "real_servers": [{"address": "192.0.2.1", "weight": [1]}],
                }
            ]
        )


def test_service_name_is_a_label_only() -> None:
    """The inventory's service name travels with the spec (ipvs_table) and changes nothing in the kernel's view."""
    named = service_from_spec(svc(name="http", real_servers=[{"address": "192.0.2.11"}]), "x")
    plain = service_from_spec(svc(real_servers=[{"address": "192.0.2.11"}]), "x")
    assert named.key == plain.key and named.config() == plain.config()
    assert named.name == plain.name == "tcp:198.51.100.10:80"


def test_services_as_list_or_json_text() -> None:
    """ipvs_table takes its services as a list or as the list's JSON text (the action plugin's way)."""
    items = [{"protocol": "tcp", "address": "198.51.100.1", "port": 80, "real_servers": [{"address": "192.0.2.1"}]}]
    assert services_list(items) is items
    assert services_list('[{"protocol": "tcp"}]') == [{"protocol": "tcp"}]
    assert services_list(b"[]") == []
    with pytest.raises(IpvsValidationError, match="text that is not a JSON list"):
        services_list('[{"protocol": "tcp"}')
    with pytest.raises(IpvsValidationError, match="must be a list .or its JSON text., got dict"):
        services_list('{"protocol": "tcp"}')
    with pytest.raises(IpvsValidationError, match="got int"):
        services_list(3)
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import pack_services

    text = json.dumps(items * 500)
    packed = pack_services(text)
    assert packed.startswith("zlib+base64:") and len(packed) < len(text) / 10
    assert services_list(packed) == items * 500
    with pytest.raises(IpvsValidationError, match="packed text that cannot be unpacked"):
        services_list("zlib+base64:AAAA")
