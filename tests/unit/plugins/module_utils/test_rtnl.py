"""Unit tests of the rtnetlink message packing and parsing (no kernel needed)."""

from __future__ import annotations

import ipaddress
import socket
import struct

from ansible_collections.lvs.cluster.plugins.module_utils._netlink import NLA_F_NESTED, NLATTR, iter_attrs
from ansible_collections.lvs.cluster.plugins.module_utils._rtnl import (
    ARPHRD_ETHER,
    ARPHRD_LOOPBACK,
    ARPHRD_TUNNEL,
    IFA_F_NODAD,
    IFA_F_PERMANENT,
    IFA_SCHEMA,
    IFADDRMSG,
    IFF_LOOPBACK,
    IFF_NOARP,
    IFF_UP,
    IFINFOMSG,
    IFLA_SCHEMA,
    RT_SCOPE_HOST,
    Link,
    address_attrs,
    pack_address_request,
    pack_link_create,
    pack_link_up,
    parse_address,
    parse_link,
)


def test_header_sizes_match_uapi() -> None:
    assert IFADDRMSG.size == 8  # struct ifaddrmsg
    assert IFINFOMSG.size == 16  # struct ifinfomsg


def test_ipv4_address_request_round_trip() -> None:
    addr = ipaddress.ip_address("192.0.2.100")
    payload = pack_address_request(addr, 32, 1, RT_SCOPE_HOST, "lo:0")
    family, prefixlen, flags, scope, index = IFADDRMSG.unpack_from(payload)
    assert (family, prefixlen, flags, scope, index) == (socket.AF_INET, 32, 0, RT_SCOPE_HOST, 1)
    parsed = parse_address(payload)
    assert parsed.address == addr
    assert parsed.label == "lo:0"
    assert parsed.cidr == "192.0.2.100/32"
    assert parsed.scope_name == "host"
    ids = [atype for atype, _payload in iter_attrs(payload, IFADDRMSG.size)]
    assert ids == [2, 1, 3]  # IFA_LOCAL, IFA_ADDRESS, IFA_LABEL


def test_ipv6_request_has_no_label_and_big_flags_go_to_ifa_flags() -> None:
    addr = ipaddress.ip_address("2001:db8:0:1::100")
    values = address_attrs(addr, "lo:0", IFA_F_NODAD)
    assert "label" not in values and "flags" not in values
    values = address_attrs(addr, None, 0x200)
    assert values["flags"] == 0x200
    payload = pack_address_request(addr, 128, 3, flags=IFA_F_NODAD)
    assert IFADDRMSG.unpack_from(payload)[0] == socket.AF_INET6
    assert IFADDRMSG.unpack_from(payload)[2] == IFA_F_NODAD
    assert parse_address(payload).address == addr


def test_parse_kernel_style_address_uses_ifa_flags_and_local() -> None:
    # a point-to-point address: IFA_ADDRESS is the peer, IFA_LOCAL ours
    header = IFADDRMSG.pack(socket.AF_INET, 32, 0, 0, 7)
    attrs = IFA_SCHEMA.pack(
        {
            "address": ipaddress.ip_address("203.0.113.9").packed,
            "local": ipaddress.ip_address("203.0.113.1").packed,
            "flags": IFA_F_PERMANENT | 0x200,
            "cacheinfo": struct.pack("=IIII", 0xFFFFFFFF, 0xFFFFFFFF, 1, 2),
        }
    )
    parsed = parse_address(header + attrs + NLATTR.pack(8, 99) + b"\0\0\0\0")  # unknown attribute ignored
    assert str(parsed.address) == "203.0.113.1"
    assert parsed.flags == IFA_F_PERMANENT | 0x200
    assert parsed.index == 7


def test_link_create_nests_linkinfo_kind() -> None:
    payload = pack_link_create("lvs0", "dummy")
    attrs = dict(iter_attrs(payload, IFINFOMSG.size))
    assert attrs[3] == b"lvs0\0"  # IFLA_IFNAME
    nested = attrs[18 | NLA_F_NESTED]  # IFLA_LINKINFO
    assert dict(iter_attrs(nested)) == {1: b"dummy\0"}  # IFLA_INFO_KIND
    parsed = parse_link(payload)
    assert parsed.name == "lvs0" and parsed.kind == "dummy"


def test_link_up_sets_flag_and_change_mask() -> None:
    family, type_, index, flags, change = IFINFOMSG.unpack(pack_link_up(5))
    assert (index, flags, change) == (5, IFF_UP, IFF_UP)


def test_parse_link_with_mac() -> None:
    payload = IFINFOMSG.pack(0, ARPHRD_ETHER, 2, IFF_UP, 0) + IFLA_SCHEMA.pack(
        {"ifname": "eth1", "address": bytes.fromhex("525400123456"), "mtu": 1500}
    )
    link = parse_link(payload)
    assert link == Link(2, "eth1", IFF_UP, ARPHRD_ETHER, None, "52:54:00:12:34:56")
    assert link.is_up and link.does_arp


def test_does_arp() -> None:
    assert not Link(1, "lo", IFF_LOOPBACK | IFF_UP, ARPHRD_LOOPBACK).does_arp
    assert not Link(4, "tunl0", IFF_NOARP, ARPHRD_TUNNEL, "ipip").does_arp
    assert not Link(5, "lvs0", IFF_NOARP, ARPHRD_ETHER, "dummy").does_arp
    assert Link(2, "eth1", IFF_UP, ARPHRD_ETHER).does_arp
