"""Unit tests of the vip_iface logic: validation, planning, persistence files."""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any, Dict, List, Optional

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import _vip_persist as persist
from ansible_collections.lvs.cluster.plugins.module_utils._fou import FOU_SCHEMA, FouPort, port_from_attrs
from ansible_collections.lvs.cluster.plugins.module_utils._rtnl import (
    ARPHRD_ETHER,
    ARPHRD_LOOPBACK,
    ARPHRD_TUNNEL,
    IFA_F_NODAD,
    IFA_SCHEMA,
    IFF_LOOPBACK,
    IFF_NOARP,
    IFF_UP,
    RT_SCOPE_HOST,
    Address,
    Link,
    pack_address_request,
)
from ansible_collections.lvs.cluster.plugins.module_utils._vip import (
    Plan,
    VipError,
    build_request,
    parse_vip,
    plan_vips,
)

LO = Link(1, "lo", IFF_UP | IFF_LOOPBACK, ARPHRD_LOOPBACK)
ETH1 = Link(3, "eth1", IFF_UP, ARPHRD_ETHER, None, "52:54:00:00:00:01")
TUNL0_DOWN = Link(4, "tunl0", IFF_NOARP, ARPHRD_TUNNEL, "ipip")
LINKS = [LO, ETH1]


def addr(text: str, index: int, label: str | None = None, scope: int = 0) -> Address:
    a, _sep, p = text.partition("/")
    ip = ipaddress.ip_address(a)
    return Address(socket.AF_INET if ip.version == 4 else socket.AF_INET6, int(p), 0x80, scope, index, ip, label)


BASE = [addr("127.0.0.1/8", 1, "lo", RT_SCOPE_HOST), addr("192.0.2.11/24", 3, "eth1")]


def no_v6_disabled(name: str) -> bool:
    return False


def plan(links: Optional[List[Link]] = None, addresses: Optional[List[Address]] = None, **kw: Any) -> Plan:
    links = LINKS if links is None else links
    addresses = BASE if addresses is None else addresses
    kw.setdefault("interface", "lo")
    v6off = kw.pop("v6off", no_v6_disabled)
    fou = kw.pop("fou", None)
    return plan_vips(build_request(**kw), links, addresses, v6off, fou)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("192.0.2.100", "192.0.2.100/32"),
        ("192.0.2.100/32", "192.0.2.100/32"),
        ("2001:db8:0:1::100", "2001:db8:0:1::100/128"),
        (" 203.0.113.0/24 ", "203.0.113.0/24"),
    ],
)
def test_parse_vip(text: str, expected: str) -> None:
    assert parse_vip(text).cidr == expected


def test_parse_vip_default_prefix() -> None:
    assert parse_vip("203.0.113.0", 24).cidr == "203.0.113.0/24"


@pytest.mark.parametrize(
    "text,message",
    [
        ("192.0.2.100/24", "host bits set"),
        ("2001:db8::1/64", "host bits set"),
        ("192.0.2.300", "not an IPv4 or IPv6 address"),
        ("192.0.2.1/33", "out of range"),
        ("192.0.2.1/x", "not a number"),
        ("", "empty"),
        ("127.0.0.2", "loopback"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_parse_vip_errors(text: str, message: str) -> None:
    with pytest.raises(VipError, match=message):
        parse_vip(text)


def test_build_request_validation() -> None:
    with pytest.raises(VipError, match="more than once"):
        build_request(["192.0.2.100", "192.0.2.100/32"], "lo")
    with pytest.raises(VipError, match="must be the interface name or start with 'lo:'"):
        build_request(["192.0.2.100"], "lo", label="eth1:0")
    with pytest.raises(VipError, match="longer than"):
        build_request(["192.0.2.100"], "lo", label="lo:0123456789abc")
    with pytest.raises(VipError, match="IPv4 addresses only"):
        build_request(["2001:db8::100"], "lo", label="lo:0")
    with pytest.raises(VipError, match="not a valid interface name"):
        build_request(["192.0.2.100"], "lo:0")
    with pytest.raises(VipError, match="empty"):
        build_request([], "lo")


def test_add_to_lo_then_idempotent() -> None:
    p = plan(vips=["192.0.2.100", "2001:db8:0:1::100"], label="lo:0")
    assert [s.describe() for s in p.steps] == ["add 192.0.2.100/32 to lo", "add 2001:db8:0:1::100/128 to lo"]
    assert p.steps[1].flags == IFA_F_NODAD and p.steps[0].flags == 0
    assert p.before == ["127.0.0.1/8 label lo scope host"]
    assert p.after == ["127.0.0.1/8 label lo scope host", "192.0.2.100/32 label lo:0", "2001:db8:0:1::100/128"]
    now = BASE + [addr("192.0.2.100/32", 1, "lo:0"), addr("2001:db8:0:1::100/128", 1)]
    again = plan(addresses=now, vips=["192.0.2.100", "2001:db8:0:1::100"], label="lo:0")
    assert not again.changed
    assert again.after == again.before


def test_other_prefix_or_label_is_replaced() -> None:
    now = BASE + [addr("192.0.2.100/32", 1, "lo")]
    p = plan(addresses=now, vips=["192.0.2.100"], label="lo:0")
    assert [s.op for s in p.steps] == ["delete", "add"]
    p = plan(addresses=now, vips=["192.0.2.100"], scope="host")
    assert [s.op for s in p.steps] == ["delete", "add"]
    assert p.after[-1] == "192.0.2.100/32 label lo scope host"


def test_absent_removes_only_the_vips() -> None:
    now = BASE + [addr("192.0.2.100/32", 1, "lo"), addr("192.0.2.101/32", 1, "lo")]
    p = plan(addresses=now, vips=["192.0.2.100", "192.0.2.102"], state="absent")
    assert [s.describe() for s in p.steps] == ["delete 192.0.2.100/32 from lo"]
    assert p.after == ["127.0.0.1/8 label lo scope host", "192.0.2.101/32 label lo"]
    assert not plan(vips=["192.0.2.100"], state="absent").changed


def test_unknown_interface_lists_existing() -> None:
    with pytest.raises(VipError, match=r"interface eth7 does not exist \(existing interfaces: eth1, lo"):
        plan(vips=["192.0.2.100"], interface="eth7")
    # absent on a missing interface is a no-op
    assert not plan(vips=["192.0.2.100"], interface="eth7", state="absent").changed


def test_tunl0_is_created_by_modprobe_and_brought_up() -> None:
    p = plan(vips=["192.0.2.100"], interface="tunl0")
    assert p.after == ["192.0.2.100/32 label tunl0"]
    assert [(s.op, s.module) for s in p.steps] == [("modprobe", "ipip"), ("up", None), ("add", None)]
    p = plan(links=LINKS + [TUNL0_DOWN], vips=["192.0.2.100"], interface="tunl0")
    assert [s.op for s in p.steps] == ["up", "add"]


def test_ipv6_vip_on_a_nic_is_deprecated() -> None:
    p = plan(links=LINKS, vips=["2001:db8:0:1::100"], interface="eth1", role="director")
    (add,) = p.steps
    assert add.op == "add" and add.deprecated and p.after[-1] == "2001:db8:0:1::100/128 deprecated"
    fresh = addr("2001:db8:0:1::100/128", 3)
    # present but preferred: replaced; already deprecated: nothing to do
    assert [s.op for s in plan(addresses=BASE + [fresh], vips=["2001:db8:0:1::100"], interface="eth1").steps] == [
        "delete",
        "add",
    ]
    old = Address(socket.AF_INET6, 128, 0x80 | 0x20, 0, 3, ipaddress.ip_address("2001:db8:0:1::100"))
    assert not plan(addresses=BASE + [old], vips=["2001:db8:0:1::100"], interface="eth1").changed
    # on lo (real servers) IPv6 VIPs stay preferred
    assert not plan(vips=["2001:db8:0:1::100"], interface="lo").steps[0].deprecated
    raw = pack_address_request(ipaddress.ip_address("2001:db8:0:1::100"), 128, 3, deprecated=True)
    assert IFA_SCHEMA.parse(raw, 8)["cacheinfo"] == bytes(4) + b"\xff" * 4 + bytes(8)


TUNL0_UP = Link(4, "tunl0", IFF_UP | IFF_NOARP, ARPHRD_TUNNEL, "ipip")


def test_gue_port_is_added_after_loading_fou_then_idempotent() -> None:
    vip = [addr("192.0.2.100/32", 4, "tunl0")]
    p = plan(links=LINKS + [TUNL0_UP], addresses=BASE + vip, vips=["192.0.2.100"], interface="tunl0", gue_port=6080)
    assert [(s.op, s.module, s.prefix) for s in p.steps] == [("modprobe", "fou", None), ("gue_add", None, 6080)]
    assert [s.describe() for s in p.steps] == [
        "load kernel module fou",
        "add GUE receive port udp/6080 (fou) for tunl0",
    ]
    kw: Dict[str, Any] = {"links": LINKS + [TUNL0_UP], "addresses": BASE + vip, "interface": "tunl0"}
    assert [s.op for s in plan(vips=["192.0.2.100"], gue_port=6080, fou=[], **kw).steps] == ["gue_add"]
    have = [FouPort(6080, 4, "gue")]
    assert not plan(vips=["192.0.2.100"], gue_port=6080, fou=have, **kw).changed
    # an IPv6 port of the same number is another port
    assert [s.op for s in plan(vips=["192.0.2.100"], gue_port=6080, fou=[FouPort(6080, 6, "gue")], **kw).steps] == [
        "gue_add"
    ]
    absent = plan(vips=["192.0.2.100"], gue_port=6080, fou=have, state="absent", **kw)
    assert [s.op for s in absent.steps] == ["delete", "gue_delete"]
    # the interface is gone already: the port is still removed
    gone = plan(vips=["192.0.2.100"], interface="tunl0", gue_port=6080, fou=have, state="absent")
    assert [s.op for s in gone.steps] == ["gue_delete"]


def test_gue_port_validation_and_conflicts() -> None:
    with pytest.raises(VipError, match="gue_port needs interface ip6tnl0 or sit0 or tunl0"):
        build_request(["192.0.2.100"], "lo", gue_port=6080)
    with pytest.raises(VipError, match="outside 1..65535"):
        build_request(["192.0.2.100"], "tunl0", gue_port=70000)
    assert build_request(["2001:db8::100"], "ip6tnl0", gue_port=6080).gue_family == 6
    kw: Dict[str, Any] = {"links": LINKS + [TUNL0_UP], "vips": ["192.0.2.100"], "interface": "tunl0"}
    with pytest.raises(
        VipError, match=r"udp port 6080 \(ipv4\) is already a fou receive port of another kind \(direct"
    ):
        plan(gue_port=6080, fou=[FouPort(6080, 4, "direct", 4)], **kw)
    with pytest.raises(VipError, match="bound to an address or device"):
        plan(gue_port=6080, fou=[FouPort(6080, 4, "gue", bound=True)], **kw)


def test_fou_messages_match_ip_fou() -> None:
    # FOU_CMD_ADD of a GUE port (fou.h): port be16, af u8, type u8 (FOU_ENCAP_GUE)
    attrs = FOU_SCHEMA.pack({"port": 6080, "af": socket.AF_INET, "type": 2})
    assert attrs.hex() == "0600010017c00000050002000200000005000400020000 00".replace(" ", "")
    parsed = port_from_attrs(FOU_SCHEMA.parse(attrs + bytes.fromhex("0800630001000000")))  # unknown id ignored
    assert parsed == FouPort(6080, 4, "gue")
    # what 6.1 lists for `ip fou add port 6080 gue`: local/peer 0.0.0.0, peer port 0, ifindex 0 - not bound
    unbound = {"local_v4": bytes(4), "peer_v4": bytes(4), "peer_port": 0, "ifindex": 0}
    listed = FOU_SCHEMA.parse(attrs + FOU_SCHEMA.pack(unbound))
    assert port_from_attrs(listed) == FouPort(6080, 4, "gue")
    bound = FOU_SCHEMA.parse(attrs + FOU_SCHEMA.pack(dict(unbound, local_v4=bytes([192, 0, 2, 11]))))
    assert port_from_attrs(bound).bound


def test_dummy_is_created() -> None:
    p = plan(vips=["203.0.113.10"], interface="lvs0", kind="dummy")
    assert [s.op for s in p.steps] == ["create", "up", "add"]
    lvs0 = Link(5, "lvs0", IFF_UP | IFF_NOARP, ARPHRD_ETHER, "dummy")
    two = [addr("203.0.113.10/32", 5), addr("203.0.113.11/32", 5)]
    kw: Dict[str, Any] = {"links": LINKS + [lvs0], "addresses": BASE + two, "interface": "lvs0", "state": "absent"}
    # absent: the link goes once its last address does, and only with kind dummy
    assert [s.op for s in plan(vips=["203.0.113.10"], kind="dummy", **kw).steps] == ["delete"]
    last = plan(vips=["203.0.113.10", "203.0.113.11"], kind="dummy", **kw)
    assert [s.op for s in last.steps] == ["delete", "delete", "destroy"]
    assert last.steps[-1].describe() == "delete dummy link lvs0 (no address left)"
    assert [s.op for s in plan(vips=["203.0.113.10", "203.0.113.11"], **kw).steps] == ["delete", "delete"]
    with pytest.raises(VipError, match="not a dummy"):
        plan(vips=["203.0.113.10"], interface="eth1", kind="dummy")


def test_nic_link_state_is_left_alone() -> None:
    down_eth = Link(3, "eth1", 0, ARPHRD_ETHER)
    p = plan(links=[LO, down_eth], vips=["192.0.2.100"], interface="eth1", role="director")
    assert [s.op for s in p.steps] == ["add"]


def test_ipv6_disabled_is_refused() -> None:
    with pytest.raises(VipError, match="IPv6 is disabled on lo"):
        plan(vips=["192.0.2.100", "2001:db8::100"], v6off=lambda name: True)


def test_arp_trap_vip_on_nic_of_real_server() -> None:
    now = BASE + [addr("192.0.2.100/32", 3, "eth1")]
    with pytest.raises(VipError, match="already on eth1, an interface that answers ARP"):
        plan(addresses=now, vips=["192.0.2.100"])
    with pytest.raises(VipError, match="role realserver: eth1 answers ARP"):
        plan(vips=["192.0.2.100"], interface="eth1", role="realserver")
    # a director may carry it anywhere; auto on a NIC is a director-style VIP
    assert plan(addresses=now, vips=["192.0.2.100"], role="director").changed
    assert not plan(addresses=now, vips=["192.0.2.100"], interface="eth1").changed


# ---------------------------------------------------------------------------
# persistence
# ---------------------------------------------------------------------------


def entry(address: str, interface: str = "lo", **kw: Any) -> Dict[str, Any]:
    args: Dict[str, Any] = {
        "kind": "auto",
        "module": None,
        "label": None,
        "scope": "global",
        "up": True,
        "nodad": False,
    }
    args.update(kw)
    return persist.make_entry(interface, address, 128 if ":" in address else 32, **args)


def test_state_file_update_is_deterministic() -> None:
    text = persist.update_state("", "lo", [entry("192.0.2.101"), entry("192.0.2.100", label="lo:0")], [])
    again = persist.update_state(text, "lo", [entry("192.0.2.100", label="lo:0")], [])
    assert text == again
    data = json.loads(text)
    assert [e["address"] for e in data["vips"]] == ["192.0.2.100", "192.0.2.101"]
    assert data["vips"][0]["label"] == "lo:0"
    text = persist.update_state(text, "tunl0", [entry("192.0.2.100", "tunl0", module="ipip")], [])
    assert len(json.loads(text)["vips"]) == 3
    removed = persist.update_state(text, "lo", [], ["192.0.2.100", "192.0.2.101"])
    assert [(e["interface"], e["module"]) for e in json.loads(removed)["vips"]] == [("tunl0", "ipip")]


def test_load_state_tolerates_garbage() -> None:
    assert persist.load_state("not json") == []
    assert persist.load_state('{"vips": [{"bogus": 1}]}') == []
    assert persist.load_state("") == []


def test_unit_is_ordered_after_network_online() -> None:
    unit = persist.render_unit("/usr/bin/python3")
    assert "After=network-online.target" in unit
    assert "ExecStart=/usr/bin/python3 " + persist.SCRIPT_FILE in unit
    assert "WantedBy=multi-user.target" in unit


def test_boot_script_applies_entries(tmp_path: Any) -> None:
    state = tmp_path / "vips.json"
    state.write_text(
        persist.update_state(
            "",
            "tunl0",
            [entry("192.0.2.100", "tunl0", module="ipip"), entry("2001:db8::100", "tunl0", module="ipip", nodad=True)],
            [],
        )
    )
    state.write_text(
        persist.update_state(
            state.read_text(), "lvs0", [entry("203.0.113.10", "lvs0", kind="dummy", label="lvs0:1")], []
        )
    )
    code = compile(persist.BOOT_SCRIPT, "lvs-vips", "exec")
    ns: Dict[str, Any] = {"__name__": "lvs_vips"}
    exec(code, ns)
    calls: List[tuple] = []
    created = {"tunl0"}

    def run(*args: str) -> int:
        calls.append(args)
        if args[:3] == ("ip", "link", "add"):
            created.add(args[3])
        return 0

    ns.update(
        STATE=str(state),
        SYSCTL=str(tmp_path / "missing.conf"),
        run=run,
        exists=lambda n: n in created,
        networkd_active=lambda: False,
    )
    assert ns["main"]() == 0
    assert calls == [
        ("modprobe", "dummy"),
        ("ip", "link", "add", "lvs0", "type", "dummy"),
        ("ip", "link", "set", "dev", "lvs0", "up"),
        ("ip", "addr", "replace", "203.0.113.10/32", "dev", "lvs0", "scope", "global", "label", "lvs0:1"),
        ("modprobe", "ipip"),
        ("ip", "link", "set", "dev", "tunl0", "up"),
        ("ip", "addr", "replace", "192.0.2.100/32", "dev", "tunl0", "scope", "global"),
        ("ip", "addr", "replace", "2001:db8::100/128", "dev", "tunl0", "nodad"),
    ]


def boot_script(tmp_path: Any, interface: str, states: List[str]) -> Dict[str, Any]:
    """The boot script with one VIP on ``interface`` and networkd reporting ``states`` in turn."""
    state = tmp_path / "vips.json"
    state.write_text(persist.update_state("", interface, [entry("198.51.100.100", interface)], []))
    ns: Dict[str, Any] = {"__name__": "lvs_vips"}
    exec(compile(persist.BOOT_SCRIPT, "lvs-vips", "exec"), ns)
    seen: List[str] = []
    clock = [0.0]

    def admin_state(name: str) -> str:
        seen.append(name)
        return states.pop(0) if len(states) > 1 else states[0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    ns.update(
        STATE=str(state),
        SYSCTL=str(tmp_path / "missing.conf"),
        run=lambda *args: ns["calls"].append(args) or 0,
        calls=[],
        exists=lambda n: True,
        networkd_active=lambda: True,
        admin_state=admin_state,
        seen=seen,
    )
    ns["time"] = type("T", (), {"monotonic": staticmethod(lambda: clock[0]), "sleep": staticmethod(sleep)})
    return ns


def test_boot_script_waits_for_networkd_to_configure_the_nic(tmp_path: Any) -> None:
    """A VIP added before networkd configures its NIC would be flushed by networkd: the script waits."""
    ns = boot_script(tmp_path, "eth2", ["pending", "configuring", "configuring", "configured"])
    assert ns["main"]() == 0
    assert ns["seen"] == ["eth2"] * 4
    assert ns["calls"][-1] == ("ip", "addr", "replace", "198.51.100.100/32", "dev", "eth2", "scope", "global")


@pytest.mark.parametrize("settled", ["configured", "unmanaged", "failed", "linger"])
def test_boot_script_does_not_wait_for_a_settled_link(tmp_path: Any, settled: str) -> None:
    ns = boot_script(tmp_path, "lo", [settled])
    assert ns["main"]() == 0
    assert ns["seen"] == ["lo"]


def test_boot_script_waits_for_networkd_boundedly(tmp_path: Any, capsys: Any) -> None:
    ns = boot_script(tmp_path, "eth2", ["configuring"])
    assert ns["main"]() == 0
    assert len(ns["seen"]) == ns["WAIT_SECONDS"] * 2 + 1  # every half second until the deadline
    assert ns["calls"][-1][:3] == ("ip", "addr", "replace")
    assert "systemd-networkd has not configured eth2 (configuring)" in capsys.readouterr().err
