# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rtnetlink (NETLINK_ROUTE) on top of the private netlink core.

Only what the host-side modules need: links (dump, create a virtual link,
set up), and interface addresses (dump, add, delete).  Constants and struct
layouts follow the kernel uapi headers ``linux/rtnetlink.h``,
``linux/if_link.h``, ``linux/if_addr.h`` and ``linux/if.h``.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

from ansible_collections.lvs.cluster.plugins.module_utils._netlink import (
    NETLINK_ROUTE,
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    Attr,
    Message,
    NetlinkProtocolError,
    NetlinkSocket,
    Schema,
)

# linux/rtnetlink.h: message types
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22

# linux/rtnetlink.h: enum rt_scope_t
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_SITE = 200
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
RT_SCOPE_NOWHERE = 255
SCOPES = {"global": RT_SCOPE_UNIVERSE, "site": RT_SCOPE_SITE, "link": RT_SCOPE_LINK, "host": RT_SCOPE_HOST}
SCOPE_NAMES = {v: k for k, v in SCOPES.items()}

# linux/if.h: net_device_flags
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
IFF_LOWER_UP = 0x10000

# linux/if_arp.h: device types (ifi_type)
ARPHRD_ETHER = 1
ARPHRD_TUNNEL = 768
ARPHRD_TUNNEL6 = 769
ARPHRD_LOOPBACK = 772
ARPHRD_IPGRE = 778
ARPHRD_NONE = 0xFFFE

# linux/if_addr.h: ifa_flags (low 8 bits in the header, all 32 in IFA_FLAGS)
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_OPTIMISTIC = 0x04
IFA_F_DADFAILED = 0x08
IFA_F_HOMEADDRESS = 0x10
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
IFA_F_NOPREFIXROUTE = 0x200

# struct ifaddrmsg { __u8 family, prefixlen, flags, scope; __u32 index; }
IFADDRMSG = struct.Struct("=BBBBI")
# struct ifinfomsg { __u8 family; __u8 pad; __u16 type; int index; __u32 flags, change; }
IFINFOMSG = struct.Struct("=BxHiII")

IFNAMSIZ = 16

# linux/if_addr.h: enum IFA_*
IFA_SCHEMA = Schema(
    "ifa",
    [
        Attr(1, "address", "bin"),  # IFA_ADDRESS
        Attr(2, "local", "bin"),  # IFA_LOCAL
        Attr(3, "label", "str"),  # IFA_LABEL
        Attr(4, "broadcast", "bin"),  # IFA_BROADCAST
        Attr(5, "anycast", "bin"),  # IFA_ANYCAST
        Attr(6, "cacheinfo", "bin"),  # IFA_CACHEINFO
        Attr(7, "multicast", "bin"),  # IFA_MULTICAST
        Attr(8, "flags", "u32"),  # IFA_FLAGS
        Attr(9, "rt_priority", "u32"),  # IFA_RT_PRIORITY
        Attr(11, "proto", "u8"),  # IFA_PROTO
    ],
)

# linux/if_link.h: enum IFLA_INFO_*
LINKINFO_SCHEMA = Schema(
    "ifla_info",
    [
        Attr(1, "kind", "str"),  # IFLA_INFO_KIND
        Attr(2, "data", "bin"),  # IFLA_INFO_DATA (kind specific, kept raw)
        Attr(4, "slave_kind", "str"),  # IFLA_INFO_SLAVE_KIND
    ],
)

# linux/if_link.h: enum IFLA_*
IFLA_SCHEMA = Schema(
    "ifla",
    [
        Attr(1, "address", "bin"),  # IFLA_ADDRESS
        Attr(2, "broadcast", "bin"),  # IFLA_BROADCAST
        Attr(3, "ifname", "str"),  # IFLA_IFNAME
        Attr(4, "mtu", "u32"),  # IFLA_MTU
        Attr(5, "link", "u32"),  # IFLA_LINK
        Attr(10, "master", "u32"),  # IFLA_MASTER
        Attr(16, "operstate", "u8"),  # IFLA_OPERSTATE
        Attr(18, "linkinfo", LINKINFO_SCHEMA),  # IFLA_LINKINFO
        Attr(20, "ifalias", "str"),  # IFLA_IFALIAS
    ],
)

FAMILIES = {4: socket.AF_INET, 6: socket.AF_INET6}
T = TypeVar("T")
IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


@dataclass
class Link:
    """One network interface as reported by RTM_GETLINK."""

    index: int
    name: str
    flags: int
    type: int
    kind: Optional[str] = None
    mac: Optional[str] = None

    @property
    def is_up(self) -> bool:
        return bool(self.flags & IFF_UP)

    @property
    def does_arp(self) -> bool:
        """True when the link answers ARP/ND by itself: an ethernet-like NIC."""
        return not (self.flags & (IFF_NOARP | IFF_LOOPBACK)) and self.type not in (
            ARPHRD_LOOPBACK,
            ARPHRD_TUNNEL,
            ARPHRD_TUNNEL6,
            ARPHRD_IPGRE,
            ARPHRD_NONE,
        )


@dataclass
class Address:
    """One interface address as reported by RTM_GETADDR."""

    family: int
    prefixlen: int
    flags: int
    scope: int
    index: int
    address: IPAddress
    label: Optional[str] = None
    attrs: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefixlen}"

    @property
    def scope_name(self) -> str:
        return SCOPE_NAMES.get(self.scope, str(self.scope))


def pack_ifaddrmsg(family: int, prefixlen: int, flags: int, scope: int, index: int) -> bytes:
    return IFADDRMSG.pack(family, prefixlen, flags & 0xFF, scope, index)


def pack_ifinfomsg(family: int = 0, type_: int = 0, index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return IFINFOMSG.pack(family, type_, index, flags, change)


def _mac(raw: Optional[bytes]) -> Optional[str]:
    if not raw:
        return None
    return ":".join(f"{b:02x}" for b in raw)


def _parse_replies(replies: List[Message], msg_type: int, parse: Callable[[bytes], T]) -> List[T]:
    """``parse`` of the payload of each reply of ``msg_type``; a reply too short for it is a protocol error."""
    try:
        return [parse(m.payload) for m in replies if m.type == msg_type]
    except (struct.error, ValueError) as exc:
        raise NetlinkProtocolError(f"malformed rtnetlink message (type {msg_type}): {exc}") from None


def parse_link(payload: bytes) -> Link:
    family, type_, index, flags, _change = IFINFOMSG.unpack_from(payload, 0)
    attrs = IFLA_SCHEMA.parse(payload, IFINFOMSG.size)
    kind = (attrs.get("linkinfo") or {}).get("kind")
    return Link(index, attrs.get("ifname", ""), flags, type_, kind, _mac(attrs.get("address")))


def parse_address(payload: bytes) -> Address:
    family, prefixlen, hflags, scope, index = IFADDRMSG.unpack_from(payload, 0)
    attrs = IFA_SCHEMA.parse(payload, IFADDRMSG.size)
    # IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    # point-to-point links (and the address itself elsewhere; IPv6 only sends it).
    raw = attrs.get("local") or attrs.get("address") or b""
    addr: IPAddress
    addr = ipaddress.IPv4Address(raw[:4]) if family == socket.AF_INET else ipaddress.IPv6Address(raw[:16])
    flags = attrs.get("flags", hflags)
    return Address(family, prefixlen, flags, scope, index, addr, attrs.get("label"), attrs)


INFINITY_LIFE_TIME = 0xFFFFFFFF


def address_attrs(
    addr: IPAddress, label: Optional[str] = None, flags: int = 0, deprecated: bool = False
) -> Dict[str, Any]:
    """The attribute values of an RTM_NEWADDR/RTM_DELADDR request.

    ``deprecated``: preferred lifetime 0, valid forever (``ip addr add ... preferred_lft 0``):
    the address is served but never chosen as the source of the host's own packets.
    """
    values: Dict[str, Any] = {"local": addr.packed, "address": addr.packed}
    if addr.version == 4 and label:
        values["label"] = label
    if flags > 0xFF:
        values["flags"] = flags
    if deprecated:
        # struct ifa_cacheinfo: ifa_prefered, ifa_valid, cstamp, tstamp
        values["cacheinfo"] = struct.pack("=IIII", 0, INFINITY_LIFE_TIME, 0, 0)
    return values


def pack_address_request(
    addr: IPAddress,
    prefixlen: int,
    index: int,
    scope: int = RT_SCOPE_UNIVERSE,
    label: Optional[str] = None,
    flags: int = 0,
    deprecated: bool = False,
) -> bytes:
    family = FAMILIES[addr.version]
    header = pack_ifaddrmsg(family, prefixlen, flags, scope, index)
    return header + IFA_SCHEMA.pack(address_attrs(addr, label, flags, deprecated))


def pack_link_create(name: str, kind: str) -> bytes:
    return pack_ifinfomsg() + IFLA_SCHEMA.pack({"ifname": name, "linkinfo": {"kind": kind}})


def pack_link_up(index: int) -> bytes:
    return pack_ifinfomsg(index=index, flags=IFF_UP, change=IFF_UP)


class Rtnl:
    """A small rtnetlink client: one NETLINK_ROUTE socket.

    Its errors are the netlink core's (``NetlinkFailure``) and ``OSError``.
    """

    def __init__(self, sock: Optional[NetlinkSocket] = None) -> None:
        self.sock = sock if sock is not None else NetlinkSocket(NETLINK_ROUTE)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _dump(self, msg_type: int, payload: bytes) -> List[Message]:
        return self.sock.transact(msg_type, NLM_F_DUMP, payload)

    def links(self) -> List[Link]:
        return _parse_replies(self._dump(RTM_GETLINK, pack_ifinfomsg()), RTM_NEWLINK, parse_link)

    def links_by_name(self) -> Dict[str, Link]:
        return {link.name: link for link in self.links()}

    def addresses(self, family: int = 0) -> List[Address]:
        return _parse_replies(self._dump(RTM_GETADDR, pack_ifaddrmsg(family, 0, 0, 0, 0)), RTM_NEWADDR, parse_address)

    def add_address(
        self,
        addr: IPAddress,
        prefixlen: int,
        index: int,
        scope: int = RT_SCOPE_UNIVERSE,
        label: Optional[str] = None,
        flags: int = 0,
        deprecated: bool = False,
    ) -> None:
        payload = pack_address_request(addr, prefixlen, index, scope, label, flags, deprecated)
        self.sock.transact(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, payload)

    def del_address(self, addr: IPAddress, prefixlen: int, index: int) -> None:
        payload = pack_address_request(addr, prefixlen, index)
        self.sock.transact(RTM_DELADDR, 0, payload)

    def create_link(self, name: str, kind: str) -> None:
        self.sock.transact(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, pack_link_create(name, kind))

    def delete_link(self, index: int) -> None:
        self.sock.transact(RTM_DELLINK, 0, pack_ifinfomsg(index=index))

    def set_up(self, index: int) -> None:
        self.sock.transact(RTM_NEWLINK, 0, pack_link_up(index))


def addresses_by_index(addresses: List[Address]) -> Dict[int, List[Address]]:
    out: Dict[int, List[Address]] = {}
    for a in addresses:
        out.setdefault(a.index, []).append(a)
    return out


def find_address(addresses: List[Address], addr: IPAddress) -> List[Tuple[int, Address]]:
    """Every ``(ifindex, Address)`` carrying ``addr``."""
    return [(a.index, a) for a in addresses if a.address == addr]
