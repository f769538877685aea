# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure IPVS logic: desired-state model, validation, diffing, planning, rendering.

Nothing in here touches the kernel or Ansible.  Every helper raises typed
exceptions (``IpvsValidationError``) whose message names the offending item.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import socket
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

AF_INET = socket.AF_INET  # 2
AF_INET6 = socket.AF_INET6  # 10

# ip_vs.h: IP_VS_SVC_F_*
SVC_F_PERSISTENT = 0x0001
SVC_F_HASHED = 0x0002
SVC_F_ONEPACKET = 0x0004
SVC_F_SCHED1 = 0x0008
SVC_F_SCHED2 = 0x0010
SVC_F_SCHED3 = 0x0020

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")
# scheduler flags share the SCHED1..3 bits; their meaning depends on the scheduler
SCHED_FLAGS: Dict[str, Dict[str, int]] = {
    "sh": {"sh-fallback": SVC_F_SCHED1, "sh-port": SVC_F_SCHED2},
    "mh": {"mh-fallback": SVC_F_SCHED1, "mh-port": SVC_F_SCHED2},
}
ALL_SCHED_FLAGS = tuple(name for table in SCHED_FLAGS.values() for name in table)

PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "sctp": 132}
PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}

# IP_VS_CONN_F_* forwarding methods
FWD_METHODS = {"masq": 0, "tunnel": 2, "route": 3}
FWD_NAMES = {0: "masq", 1: "local", 2: "tunnel", 3: "route", 4: "bypass"}
TUN_TYPES = {"ipip": 0, "gue": 1, "gre": 2}
TUN_TYPE_NAMES = {v: k for k, v in TUN_TYPES.items()}
TUN_CSUM = {"none": 0, "csum": 1, "remcsum": 2}
TUN_CSUM_NAMES = {v: k for k, v in TUN_CSUM.items()}
PERSISTENCE_ENGINES = ("sip",)

DEFAULT_SCHEDULER = "wlc"
DEFAULT_PERSISTENCE = 300
MAX_TIMEOUT = 86400 * 31  # ipvsadm's limit for -p
MAX_THRESHOLD = 2**31 - 1
MAX_WEIGHT = 65535

ServiceKey = Tuple[int, str, str, int, int]  # (af, protocol, address, port, fwmark)
DestKey = Tuple[str, int]  # (address, port)


class IpvsError(Exception):
    """Base class of the IPVS helpers' errors."""


class IpvsValidationError(IpvsError):
    """Desired state is invalid; nothing has been written."""


class IpvsNotAvailable(IpvsError):
    """The IPVS generic netlink family is missing (ip_vs not loaded/loadable)."""


class IpvsKernelError(IpvsError):
    """Reading from the kernel failed: it refused a read, did not answer, or sent a reply that makes no sense."""


class IpvsApplyError(IpvsError):
    """The kernel refused one or more writes (or a batch of writes broke off).

    ``failures``: ``(write, kernel error)`` of each refused write.  ``rolled_back``:
    every write the call had made was undone, the table is as it was before the call.
    ``left``: the writes that stay made because their undo failed too.
    """

    def __init__(
        self,
        message: str,
        failures: Optional[List[Tuple[str, str]]] = None,
        rolled_back: bool = False,
        left: Optional[List[str]] = None,
    ) -> None:
        self.failures = failures or []
        self.rolled_back = rolled_back
        self.left = left or []
        super().__init__(message)


@dataclass
class Dest:
    """One real server (IPVS destination)."""

    address: str
    port: int
    af: int
    forward: str = "route"
    weight: int = 1
    u_threshold: int = 0
    l_threshold: int = 0
    tun_type: str = "ipip"
    tun_port: int = 0
    tun_csum: str = "none"
    # runtime only (read from the kernel)
    active_conns: int = 0
    inactive_conns: int = 0
    persistent_conns: int = 0
    stats: Optional[Dict[str, int]] = None

    @property
    def key(self) -> DestKey:
        return (self.address, self.port)

    def config(self) -> Tuple[Any, ...]:
        """Everything a user can configure, reduced to what the kernel uses."""
        tun: Tuple[Any, ...] = ()
        if self.forward == "tunnel":
            tun = (self.tun_type, self.tun_port if self.tun_type == "gue" else 0, self.tun_csum)
        return (self.forward, self.weight, self.u_threshold, self.l_threshold) + tun

    def to_dict(self, runtime: bool = False) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "address": self.address,
            "port": self.port,
            "family": family_name(self.af),
            "forward": self.forward,
            "weight": self.weight,
            "u_threshold": self.u_threshold,
            "l_threshold": self.l_threshold,
        }
        if self.forward == "tunnel":
            out.update(tun_type=self.tun_type, tun_port=self.tun_port, tun_csum=self.tun_csum)
        if runtime:
            out.update(
                active_conns=self.active_conns,
                inactive_conns=self.inactive_conns,
                persistent_conns=self.persistent_conns,
            )
            if self.stats is not None:
                out["stats"] = self.stats
        return out


@dataclass
class Service:
    """One virtual service; ``dests`` is None when its real servers are not managed."""

    af: int
    protocol: str  # tcp, udp, sctp or fwmark
    address: str = ""
    port: int = 0
    fwmark: int = 0
    scheduler: str = DEFAULT_SCHEDULER
    flags: int = 0
    timeout: int = 0
    netmask: int = 0xFFFFFFFF
    pe_name: str = ""
    dests: Optional[Dict[DestKey, Dest]] = None
    stats: Optional[Dict[str, int]] = None

    @property
    def key(self) -> ServiceKey:
        return (self.af, self.protocol, self.address, self.port, self.fwmark)

    @property
    def persistent(self) -> bool:
        return bool(self.flags & SVC_F_PERSISTENT)

    @property
    def sched_flags(self) -> List[str]:
        table = SCHED_FLAGS.get(self.scheduler, {})
        return [name for name, bit in table.items() if self.flags & bit]

    def config(self) -> Tuple[Any, ...]:
        persist: Tuple[Any, ...] = (self.timeout, self.netmask) if self.persistent else ()
        return (self.scheduler, self.flags & ~SVC_F_HASHED, self.pe_name) + persist

    @property
    def name(self) -> str:
        return service_name(self.key)

    def to_dict(self, runtime: bool = False) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name, "family": family_name(self.af), "protocol": self.protocol}
        if self.protocol == "fwmark":
            out["fwmark"] = self.fwmark
        else:
            out.update(address=self.address, port=self.port)
        out.update(
            scheduler=self.scheduler,
            sched_flags=self.sched_flags,
            persistent=self.timeout if self.persistent else 0,
            netmask=netmask_text(self.af, self.netmask),
            one_packet=bool(self.flags & SVC_F_ONEPACKET),
            pe=self.pe_name or None,
            flags=self.flags & ~SVC_F_HASHED,
        )
        if self.dests is not None:
            out["real_servers"] = [d.to_dict(runtime) for d in sort_dests(list(self.dests.values()))]
        if runtime and self.stats is not None:
            out["stats"] = self.stats
        return out


def family_name(af: int) -> str:
    return "ipv6" if af == AF_INET6 else "ipv4"


def service_name(key: ServiceKey) -> str:
    af, proto, addr, port, mark = key
    if proto == "fwmark":
        return f"fwmark:{mark}" + (":ipv6" if af == AF_INET6 else "")
    return f"{proto}:{hostport(af, addr, port)}"


def hostport(af: int, addr: str, port: int) -> str:
    return ("[%s]:%d" if af == AF_INET6 else "%s:%d") % (addr, port)


def netmask_text(af: int, netmask: int) -> str:
    if af == AF_INET6:
        return str(netmask)
    return str(ipaddress.IPv4Address(netmask & 0xFFFFFFFF))


# ---------------------------------------------------------------------------
# Validation of user input
# ---------------------------------------------------------------------------


_ADDR_CACHE: Dict[str, Tuple[int, str]] = {}


def normalize_address(text: str) -> Optional[Tuple[int, str]]:
    """``(af, text as inet_ntop prints it)`` or None; cached (tables repeat addresses)."""
    hit = _ADDR_CACHE.get(text)
    if hit is None:
        for af in (AF_INET, AF_INET6):
            try:
                hit = (af, socket.inet_ntop(af, socket.inet_pton(af, text)))
                break
            except (OSError, ValueError):
                continue
        else:
            return None
        if len(_ADDR_CACHE) < 100000:
            _ADDR_CACHE[text] = hit
    return hit


def parse_address(value: Any, where: str) -> Tuple[int, str]:
    """Return ``(af, normalized text)`` of an IP address or raise."""
    if not isinstance(value, str) or not value:
        raise IpvsValidationError(f"{where}: address must be a non-empty string, got {value!r}")
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    hit = normalize_address(text)
    if hit is None:
        raise IpvsValidationError(f"{where}: {value!r} is not a valid IPv4 or IPv6 address")
    return hit


_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_PROBLEMS: Dict[Tuple[str, bool], str] = {}


def address_problem(addr: str, vip: bool) -> str:
    """Why ``addr`` (normalized) cannot be a virtual address (``vip``) or a real server, else ''.

    The kernel refuses real servers whose address is not unicast (``ip_vs_ctl.c``:
    ``inet_addr_type`` must be RTN_UNICAST or RTN_LOCAL; IPv6 must be unicast and not
    link-local), with EINVAL and after the earlier writes of a call were made.  It takes
    any virtual address, but one that is no unicast address of this host receives nothing.
    """
    hit = _PROBLEMS.get((addr, vip))
    if hit is not None:
        return hit
    ip = ipaddress.ip_address(addr)
    problem = ""
    if ip.is_unspecified:
        problem = "the unspecified address"
    elif ip.version == 4 and ip in _THIS_NETWORK:
        problem = "in 0.0.0.0/8 ('this network', which the kernel treats as broadcast)"
    elif ip.is_multicast:
        problem = "a multicast address"
    elif ip.version == 4 and int(ip) == 0xFFFFFFFF:
        problem = "the broadcast address"
    elif ip.is_link_local:
        problem = "a link-local address"
    elif isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        problem = "an IPv4-mapped IPv6 address"
    elif vip and ip.is_loopback:
        problem = "a loopback address"
    if len(_PROBLEMS) < 100000:
        _PROBLEMS[(addr, vip)] = problem
    return problem


def _int(value: Any, where: str, name: str, lo: int, hi: int) -> int:
    if value.__class__ is int and lo <= value <= hi:  # the common case, cheaply (bool is not int here)
        return value
    if isinstance(value, bool):
        raise IpvsValidationError(f"{where}: {name} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise IpvsValidationError(f"{where}: {name} must be an integer, got {value!r}") from None
    if not lo <= number <= hi:
        raise IpvsValidationError(f"{where}: {name} {number} is outside {lo}..{hi}")
    return number


def _choice(value: Any, where: str, name: str, choices: Iterable[str]) -> str:
    options = list(choices)
    if value not in options:
        raise IpvsValidationError(
            "{}: unknown {} {!r} (expected one of: {})".format(where, name, value, ", ".join(options))
        )
    return str(value)


def _bool(value: Any, where: str, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("yes", "true", "on", "1", "no", "false", "off", "0"):
        return value.lower() in ("yes", "true", "on", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise IpvsValidationError(f"{where}: {name} must be a boolean, got {value!r}")


# "name" is a label (the inventory's service name): kept in the spec, never sent to the kernel
SERVICE_OPTIONS = frozenset(
    (
        "name",
        "protocol",
        "address",
        "port",
        "fwmark",
        "family",
        "scheduler",
        "sched_flags",
        "persistent",
        "netmask",
        "one_packet",
        "pe",
        "real_servers",
        "state",
    )
)
DEST_OPTIONS = frozenset(
    ("address", "port", "forward", "weight", "u_threshold", "l_threshold", "tun_type", "tun_port", "tun_csum", "state")
)


def _netmask(value: Any, af: int, where: str) -> int:
    if af == AF_INET6:
        if value is None:
            return 128
        return _int(value, where, "netmask (IPv6 prefix length)", 1, 128)
    if value is None:
        return 0xFFFFFFFF
    text = str(value).lstrip("/")
    if text.isdigit():
        plen = _int(text, where, "netmask (prefix length)", 1, 32)
        return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
    try:
        mask = int(ipaddress.IPv4Address(text))
    except ValueError:
        raise IpvsValidationError(f"{where}: netmask {value!r} is not an IPv4 netmask") from None
    inverted = ~mask & 0xFFFFFFFF
    if mask == 0 or inverted & (inverted + 1):
        raise IpvsValidationError(f"{where}: netmask {value!r} is not a contiguous IPv4 netmask")
    return mask


def service_key_from_spec(spec: Mapping[str, Any], where: str) -> ServiceKey:
    """Validate and return the identity part of a service spec."""
    fwmark = spec.get("fwmark")
    protocol = spec.get("protocol")
    if fwmark is not None and fwmark != 0:
        if spec.get("port") not in (None, 0):
            raise IpvsValidationError(
                "{}: a firewall-mark service takes no port (got port {!r})".format(where, spec["port"])
            )
        if spec.get("address") not in (None, ""):
            raise IpvsValidationError(f"{where}: a firewall-mark service takes no address")
        if protocol not in (None, "fwmark"):
            raise IpvsValidationError(f"{where}: a firewall-mark service takes no protocol (got {protocol!r})")
        mark = _int(fwmark, where, "fwmark", 1, 0xFFFFFFFF)
        family = _choice(spec.get("family") or "ipv4", where, "family", ("ipv4", "ipv6"))
        return (AF_INET6 if family == "ipv6" else AF_INET, "fwmark", "", 0, mark)
    if protocol in (None, "fwmark"):
        raise IpvsValidationError(f"{where}: set protocol (tcp, udp, sctp) with address and port, or fwmark")
    protocol = _choice(protocol, where, "protocol", PROTOCOLS)
    af, addr = parse_address(spec.get("address"), where)
    problem = address_problem(addr, vip=True)
    if problem:
        raise IpvsValidationError(f"{where}: virtual address {addr} is {problem}, which cannot be a VIP")
    want_family = spec.get("family")
    if want_family is not None and want_family != family_name(af):
        raise IpvsValidationError(f"{where}: family {want_family} does not match address {addr}")
    persistent = spec.get("persistent")
    lo = 0 if persistent not in (None, 0, False) else 1
    port = _int(spec.get("port"), where, "port", lo, 65535)
    return (af, protocol, addr, port, 0)


def service_from_spec(spec: Mapping[str, Any], where: str, with_dests: bool = True) -> Service:
    """Build a validated ``Service`` from a user dict (module options or a list item)."""
    unknown = (
        []
        if SERVICE_OPTIONS.issuperset(spec)
        else sorted({k for k, v in spec.items() if v is not None} - SERVICE_OPTIONS)
    )
    if unknown:
        raise IpvsValidationError("{}: unknown option(s) {}".format(where, ", ".join(unknown)))
    af, protocol, addr, port, mark = service_key_from_spec(spec, where)
    svc = Service(af=af, protocol=protocol, address=addr, port=port, fwmark=mark)
    where = f"{where} ({svc.name})"
    svc.scheduler = _choice(spec.get("scheduler") or DEFAULT_SCHEDULER, where, "scheduler", SCHEDULERS)
    flags = 0
    allowed = SCHED_FLAGS.get(svc.scheduler, {})
    for name in spec.get("sched_flags") or []:
        if name not in allowed:
            if name in ALL_SCHED_FLAGS:
                raise IpvsValidationError(
                    "{}: scheduler flag {!r} does not fit scheduler {!r} (it needs {!r})".format(
                        where, name, svc.scheduler, name.split("-")[0]
                    )
                )
            raise IpvsValidationError(
                "{}: unknown scheduler flag {!r} (expected one of: {})".format(where, name, ", ".join(ALL_SCHED_FLAGS))
            )
        flags |= allowed[name]
    persistent = spec.get("persistent")
    if isinstance(persistent, bool):
        persistent = DEFAULT_PERSISTENCE if persistent else 0
    timeout = 0 if persistent is None else _int(persistent, where, "persistent (timeout)", 0, MAX_TIMEOUT)
    if timeout:
        flags |= SVC_F_PERSISTENT
    svc.timeout = timeout
    if spec.get("netmask") is not None and not timeout:
        raise IpvsValidationError(f"{where}: netmask needs persistent")
    svc.netmask = _netmask(spec.get("netmask"), af, where)
    if spec.get("one_packet") is not None and _bool(spec["one_packet"], where, "one_packet"):
        if protocol not in ("udp", "fwmark"):
            raise IpvsValidationError(f"{where}: one_packet scheduling only applies to UDP (or fwmark) services")
        flags |= SVC_F_ONEPACKET
    svc.flags = flags
    pe = spec.get("pe")
    if pe:
        svc.pe_name = _choice(pe, where, "persistence engine", PERSISTENCE_ENGINES)
        if not timeout:
            raise IpvsValidationError(f"{where}: persistence engine {pe!r} needs persistent")
    rs = spec.get("real_servers")
    if with_dests and rs is not None:
        if not isinstance(rs, list):
            raise IpvsValidationError(f"{where}: real_servers must be a list")
        svc.dests = {}
        # big tables repeat the same real servers behind many services: validate each distinct one once
        context = (svc.af, svc.port, svc.protocol == "fwmark")
        for i, item in enumerate(rs):
            try:
                memo_key: Any = (context, tuple(item.items()))
                dest = _DEST_MEMO.get(memo_key)
            except (AttributeError, TypeError):  # not a dict, or unhashable values: the slow path explains
                memo_key = dest = None
            if dest is None:
                dwhere = f"{where} real_servers[{i}]"
                if not isinstance(item, (dict, Mapping)):
                    raise IpvsValidationError(f"{dwhere}: must be a dict, got {item!r}")
                dest = dest_from_spec(svc, item, dwhere)
                if memo_key is not None and len(_DEST_MEMO) < 100000:
                    _DEST_MEMO[memo_key] = dest
            if dest.key in svc.dests:
                raise IpvsValidationError(
                    f"{where} real_servers[{i}]: duplicate real server {hostport(dest.af, dest.address, dest.port)}"
                )
            svc.dests[dest.key] = dest
    return svc


# Validated real servers by (service context, spec items); the Dest objects are shared, never modified.
_DEST_MEMO: Dict[Any, Dest] = {}


def dest_from_spec(svc: Service, spec: Mapping[str, Any], where: str) -> Dest:
    """Validate one real server of ``svc``."""
    unknown = (
        [] if DEST_OPTIONS.issuperset(spec) else sorted({k for k, v in spec.items() if v is not None} - DEST_OPTIONS)
    )
    if unknown:
        raise IpvsValidationError("{}: unknown option(s) {}".format(where, ", ".join(unknown)))
    af, addr = parse_address(spec.get("address"), where)
    problem = address_problem(addr, vip=False)
    if problem:
        raise IpvsValidationError(
            f"{where}: real server {addr} is {problem}, which the kernel refuses as a real server"
        )
    forward = _choice(spec.get("forward") or "route", where, "forward method", FWD_METHODS)
    if af != svc.af and forward != "tunnel":
        raise IpvsValidationError(
            f"{where}: {family_name(af)} real server {addr} behind {family_name(svc.af)} service {svc.name} "
            "needs forward=tunnel (the kernel only mixes families for tunnels)"
        )
    port = spec.get("port")
    if svc.protocol == "fwmark":
        port = 0 if port is None else _int(port, where, "port", 0, 65535)
        if forward != "masq" and port:
            raise IpvsValidationError(f"{where}: port mapping (port {port}) needs forward=masq")
    elif port is None:
        port = svc.port
    else:
        port = _int(port, where, "port", 0 if svc.port == 0 else 1, 65535)
        if forward != "masq" and port != svc.port:
            raise IpvsValidationError(
                f"{where}: port mapping (real server port {port} != virtual port {svc.port}) "
                f"only works with forward=masq, not {forward}"
            )
    dest = Dest(address=addr, port=port, af=af, forward=forward)
    weight = spec.get("weight")
    dest.weight = 1 if weight is None else _int(weight, where, "weight", 0, MAX_WEIGHT)
    u = spec.get("u_threshold")
    lo = spec.get("l_threshold")
    dest.u_threshold = 0 if u is None else _int(u, where, "u_threshold", 0, MAX_THRESHOLD)
    dest.l_threshold = 0 if lo is None else _int(lo, where, "l_threshold", 0, MAX_THRESHOLD)
    if dest.l_threshold > dest.u_threshold:
        raise IpvsValidationError(
            f"{where}: lower threshold {dest.l_threshold} is above upper threshold {dest.u_threshold}"
        )
    tun_type, tun_port, tun_csum = spec.get("tun_type"), spec.get("tun_port"), spec.get("tun_csum")
    if forward != "tunnel":
        if tun_type is not None or tun_port is not None or tun_csum is not None:
            raise IpvsValidationError(f"{where}: tun_type, tun_port and tun_csum need forward=tunnel")
        return dest
    dest.tun_type = _choice(tun_type or "ipip", where, "tunnel type", TUN_TYPES)
    if dest.tun_type == "gue":
        if tun_port is None:
            raise IpvsValidationError(f"{where}: tun_type gue needs tun_port")
        dest.tun_port = _int(tun_port, where, "tun_port", 1, 65535)
    elif tun_port is not None:
        raise IpvsValidationError(f"{where}: tun_port only applies to tun_type gue")
    dest.tun_csum = _choice(tun_csum or "none", where, "tunnel checksum", TUN_CSUM)
    if dest.tun_type == "ipip" and dest.tun_csum != "none":
        raise IpvsValidationError(f"{where}: tun_csum only applies to tun_type gue or gre")
    if dest.tun_type == "gre" and dest.tun_csum == "remcsum":
        raise IpvsValidationError(f"{where}: tun_csum remcsum only applies to tun_type gue")
    return dest


# services as the action plugin hands a big table over: its JSON text, zlib-compressed, base64
PACKED_PREFIX = "zlib+base64:"


def pack_services(text: str) -> str:
    """The JSON text of services as ``services_list`` takes it packed (a tenth of the size or less)."""
    return PACKED_PREFIX + base64.b64encode(zlib.compress(text.encode("utf-8"), 6)).decode("ascii")


def services_list(value: Any, where: str = "services") -> List[Any]:
    """The services argument as a list: given as one, as its JSON text, or packed (``pack_services``)."""
    if isinstance(value, str) and value.startswith(PACKED_PREFIX):
        try:
            value = zlib.decompress(base64.b64decode(value[len(PACKED_PREFIX) :], validate=True))
        except (binascii.Error, ValueError, zlib.error) as exc:
            raise IpvsValidationError(f"{where}: packed text that cannot be unpacked ({exc})") from None
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise IpvsValidationError(f"{where}: text that is not a JSON list ({exc})") from None
    if not isinstance(value, list):
        raise IpvsValidationError(f"{where} must be a list (or its JSON text), got {type(value).__name__}")
    return value


def table_from_spec(items: Any, where: str = "services") -> Dict[ServiceKey, Service]:
    """Validate a list of service dicts; duplicates are errors."""
    if not isinstance(items, list):
        raise IpvsValidationError(f"{where} must be a list")
    table: Dict[ServiceKey, Service] = {}
    for i, item in enumerate(items):
        iwhere = f"{where}[{i}]"
        if not isinstance(item, (dict, Mapping)):
            raise IpvsValidationError(f"{iwhere}: must be a dict, got {item!r}")
        svc = service_from_spec(item, iwhere)
        if svc.key in table:
            raise IpvsValidationError(f"{iwhere}: duplicate service {svc.name}")
        table[svc.key] = svc
    return table


# ---------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------

NEW_SERVICE = "new_service"
SET_SERVICE = "set_service"
DEL_SERVICE = "del_service"
NEW_DEST = "new_dest"
SET_DEST = "set_dest"
DEL_DEST = "del_dest"


@dataclass
class Op:
    """One write: ``kind`` is one of the constants above."""

    kind: str
    service: Service
    dest: Optional[Dest] = None

    def describe(self) -> str:
        text = f"{self.kind} {self.service.name}"
        if self.dest is not None:
            text += f" -> {hostport(self.dest.af, self.dest.address, self.dest.port)}"
        return text


@dataclass
class Plan:
    ops: List[Op] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.ops)

    def counts(self) -> Dict[str, int]:
        out: Dict[str, int] = {}
        for op in self.ops:
            out[op.kind] = out.get(op.kind, 0) + 1
        return out


def plan_dests(
    desired: Service, current: Optional[Service], purge: bool, ops: List[Op], target: Optional[Service] = None
) -> None:
    """Append the dest writes that turn ``current``'s real servers into ``desired``'s."""
    if desired.dests is None:
        return
    svc = target or desired
    have = (current.dests or {}) if current is not None else {}
    if purge:
        for key, dest in have.items():
            if key not in desired.dests:
                ops.append(Op(DEL_DEST, svc, dest))
    for key, dest in desired.dests.items():
        old = have.get(key)
        if old is None:
            ops.append(Op(NEW_DEST, svc, dest))
        elif old.config() != dest.config():
            ops.append(Op(SET_DEST, svc, dest))


def plan_table(
    desired: Mapping[ServiceKey, Service],
    current: Mapping[ServiceKey, Service],
    purge_services: bool = False,
    purge_dests: bool = True,
    absent: Sequence[ServiceKey] = (),
) -> Plan:
    """The minimal list of writes turning ``current`` into ``desired``.

    Services in ``absent`` are deleted when present.  With ``purge_services``
    every current service not in ``desired`` is deleted.  ``purge_dests``
    removes real servers not listed from services whose list is given.
    """
    ops: List[Op] = []
    for key in absent:
        if key in current:
            ops.append(Op(DEL_SERVICE, current[key]))
    if purge_services:
        for key, svc in current.items():
            if key not in desired and key not in absent:
                ops.append(Op(DEL_SERVICE, svc))
    for key, svc in desired.items():
        old = current.get(key)
        if old is None:
            ops.append(Op(NEW_SERVICE, svc))
        elif old.config() != svc.config():
            ops.append(Op(SET_SERVICE, svc))
        plan_dests(svc, old, purge_dests, ops)
    return Plan(ops)


def apply_plan_to_model(current: Mapping[ServiceKey, Service], plan: Plan) -> Dict[ServiceKey, Service]:
    """What the table looks like after ``plan`` (used for check mode and diffs)."""
    table: Dict[ServiceKey, Service] = {k: replace(v, dests=dict(v.dests or {})) for k, v in current.items()}
    for op in plan.ops:
        key = op.service.key
        if op.kind == DEL_SERVICE:
            table.pop(key, None)
        elif op.kind in (NEW_SERVICE, SET_SERVICE):
            dests = table[key].dests if key in table else {}
            table[key] = replace(op.service, dests=dests, stats=None)
        elif op.dest is not None and key in table:
            dests = table[key].dests
            if dests is None:
                dests = table[key].dests = {}
            if op.kind == DEL_DEST:
                dests.pop(op.dest.key, None)
            else:
                dests[op.dest.key] = op.dest
    return table


# ---------------------------------------------------------------------------
# Transactional apply: undo what a refused call already wrote
# ---------------------------------------------------------------------------

# Makes writes in order, returns ``(index, kernel error text)`` of each refused one (every other was
# made); raises ``IpvsError`` when it cannot tell which were made (the batch broke off).
Writer = Callable[[Sequence[Op]], List[Tuple[int, str]]]


def undo_ops(
    plan: Plan, current: Mapping[ServiceKey, Service], done: Sequence[int]
) -> Tuple[List[Op], List[int], List[int]]:
    """The writes that undo ``plan.ops[i] for i in done`` (made in that order), last one first.

    ``current`` is the table the plan was made from: deleted services come back with
    its attributes and real servers, edits go back to its values.  Returns the undo
    writes, for each the index of the write it undoes, and the writes that cannot be
    undone (``current`` lacks what they changed).
    """
    ops = plan.ops
    # undoing a new service deletes it with its real servers: no need to delete those one by one
    created = {ops[i].service.key for i in done if ops[i].kind == NEW_SERVICE}
    undo: List[Op] = []
    origin: List[int] = []
    stuck: List[int] = []
    for i in reversed(done):
        op = ops[i]
        key = op.service.key
        old = current.get(key)
        inverse: List[Op] = []
        if op.kind == NEW_SERVICE:
            inverse = [Op(DEL_SERVICE, op.service)]
        elif op.kind == DEL_SERVICE:
            back = old if old is not None else op.service
            inverse = [Op(NEW_SERVICE, back)]
            inverse += [Op(NEW_DEST, back, d) for d in sort_dests((back.dests or {}).values())]
        elif op.kind == SET_SERVICE:
            if old is None:
                stuck.append(i)
                continue
            inverse = [Op(SET_SERVICE, old)]
        elif key in created or op.dest is None:
            continue
        elif op.kind == NEW_DEST:
            inverse = [Op(DEL_DEST, op.service, op.dest)]
        elif op.kind == DEL_DEST:
            inverse = [Op(NEW_DEST, op.service, op.dest)]
        elif op.kind == SET_DEST:
            before = (old.dests or {}).get(op.dest.key) if old is not None else None
            if before is None:
                stuck.append(i)
                continue
            inverse = [Op(SET_DEST, op.service, before)]
        undo.extend(inverse)
        origin.extend([i] * len(inverse))
    return undo, origin, stuck


def _listing(items: Sequence[str], limit: int = 10) -> str:
    more = f" (and {len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def apply_transaction(plan: Plan, current: Mapping[ServiceKey, Service], write: Writer) -> int:
    """Make the plan's writes; if the kernel refuses any, undo the ones made and raise.

    ``current`` is the live table the plan was made from.  Returns the number of
    writes.  Raises ``IpvsApplyError`` naming every refused write with the kernel's
    error, saying that the call was rolled back (the table is as it was) or, when an
    undo failed too, which writes are left.
    """
    failures = write(plan.ops)
    if not failures:
        return len(plan.ops)
    refused = [(plan.ops[i].describe(), text) for i, text in failures]
    head = "the kernel refused {} of {} write(s): {}".format(
        len(refused), len(plan.ops), _listing(["{}: {}".format(*f) for f in refused])
    )
    failed = {f[0] for f in failures}
    done = [i for i in range(len(plan.ops)) if i not in failed]
    undo, origin, stuck = undo_ops(plan, current, done)
    try:
        undo_failures = write(undo) if undo else []
    except IpvsError as exc:
        raise IpvsApplyError(
            f"{head}; rolling back the {len(done)} write(s) already made broke off ({exc}): "
            "the IPVS table may differ from before the call",
            refused,
        ) from None
    left_set = set(stuck) | {origin[f[0]] for f in undo_failures}
    # a new service that stays keeps the real servers added to it (their undo was its deletion)
    kept = {plan.ops[i].service.key for i in left_set if plan.ops[i].kind == NEW_SERVICE}
    left_set |= {i for i in done if plan.ops[i].dest is not None and plan.ops[i].service.key in kept}
    left_idx = sorted(left_set)
    if not left_idx:
        raise IpvsApplyError(
            f"{head}; rolled back: the {len(done)} other write(s) of this call were undone, "
            "the IPVS table is as it was before the call",
            refused,
            rolled_back=True,
        )
    left = [plan.ops[i].describe() for i in left_idx]
    why = ["{} failed: {}".format(undo[j].describe(), text) for j, text in undo_failures]
    why += [f"no earlier state known for {plan.ops[i].describe()}" for i in stuck]
    raise IpvsApplyError(
        f"{head}; rollback incomplete: {len(done) - len(left)} of the {len(done)} write(s) already made "
        f"were undone, these stay made: {_listing(left)} (undo errors: {_listing(why)})",
        refused,
        left=left,
    )


# ---------------------------------------------------------------------------
# ipvsadm-save -n rendering (byte-identical, including ipvsadm's sort order)
# ---------------------------------------------------------------------------


def _c_int(value: int) -> int:
    """``(int)`` of an unsigned 32-bit C expression, as ipvsadm's comparators compute it."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _addr_words(af: int, addr: str) -> List[int]:
    packed = b""
    if addr:
        packed = socket.inet_pton(AF_INET6 if ":" in addr else AF_INET, addr)
    packed = packed.ljust(16, b"\0")
    return [int.from_bytes(packed[i : i + 4], "big") for i in range(0, 16, 4)]


def _cmp_addr(af: int, a: str, b: str) -> int:
    wa, wb = _addr_words(af, a), _addr_words(af, b)
    if af == AF_INET6:
        r = 0
        for i in range(4):
            r = _c_int(wa[i] - wb[i])
            if r:
                break
        return r
    return _c_int(wa[0] - wb[0])


def _cmp_services(s1: Service, s2: Service) -> int:
    r = _c_int(s1.fwmark - s2.fwmark)
    if r:
        return r
    r = s1.af - s2.af
    if r:
        return r
    r = PROTOCOLS.get(s1.protocol, 0) - PROTOCOLS.get(s2.protocol, 0)
    if r:
        return r
    r = _cmp_addr(s1.af, s1.address, s2.address)
    if r:
        return r
    return s1.port - s2.port


def _cmp_dests(d1: Dest, d2: Dest) -> int:
    r = _cmp_addr(d1.af, d1.address, d2.address)
    if r:
        return r
    return d1.port - d2.port


def _msort(items: List[Any], cmp: Callable[[Any, Any], int]) -> List[Any]:
    """glibc's qsort (a top-down merge sort), so non-transitive C comparators order alike."""
    n = len(items)
    if n <= 1:
        return list(items)
    n1 = n // 2
    left = _msort(items[:n1], cmp)
    right = _msort(items[n1:], cmp)
    out: List[Any] = []
    i = j = 0
    while i < len(left) and j < len(right):
        if cmp(left[i], right[j]) <= 0:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    out.extend(left[i:])
    out.extend(right[j:])
    return out


def sort_services(services: Iterable[Service]) -> List[Service]:
    return _msort(list(services), _cmp_services)


def sort_dests(dests: Iterable[Dest]) -> List[Dest]:
    return _msort(list(dests), _cmp_dests)


_PROTO_SWITCH = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}
_FWD_SWITCH = {"masq": "-m", "tunnel": "-i", "route": "-g"}
_CSUM_SWITCH = {"none": "--tun-nocsum", "csum": "--tun-csum", "remcsum": "--tun-remcsum"}


def _sched_flags_text(svc: Service) -> str:
    names: List[str] = []
    if svc.scheduler in SCHED_FLAGS:
        for name, bit in SCHED_FLAGS[svc.scheduler].items():
            if svc.flags & bit:
                names.append(name)
    else:
        for i, bit in enumerate((SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3)):
            if svc.flags & bit:
                names.append(f"flag-{i + 1}")
    return ",".join(names)


def render_service_rules(svc: Service, thresholds: bool = False) -> List[str]:
    """``ipvsadm -S -n`` lines of one service and its real servers.

    With ``thresholds``: only ``-e`` (edit) lines for the real servers that have
    connection thresholds, which ``ipvsadm-save`` cannot express; fed to
    ``ipvsadm -R`` after the saved rules they set them again.
    """
    if svc.protocol == "fwmark":
        vname = f"-f {_c_int(svc.fwmark)}"  # ipvsadm prints the mark with %d
        if svc.af == AF_INET6:
            vname += " -6"
    else:
        vname = f"{_PROTO_SWITCH[svc.protocol]} {hostport(svc.af, svc.address, svc.port)}"
    line = f"-A {vname} -s {svc.scheduler}"
    if svc.persistent:
        line += f" -p {svc.timeout}"
        if svc.af == AF_INET and svc.netmask != 0xFFFFFFFF:
            line += f" -M {netmask_text(svc.af, svc.netmask)}"
        if svc.af == AF_INET6 and svc.netmask != 128:
            line += f" -M {svc.netmask}"
    if svc.pe_name:
        line += f" --pe {svc.pe_name}"
    if svc.flags & SVC_F_ONEPACKET:
        line += " -o"
    flags = _sched_flags_text(svc)
    if flags:
        line += f" -b {flags}"
    lines = [line]
    for dest in sort_dests((svc.dests or {}).values()):
        dname = hostport(dest.af, dest.address, dest.port)
        rule = f"-a {vname} -r {dname} {_FWD_SWITCH.get(dest.forward, '-g')} -w {dest.weight}"
        if dest.forward == "tunnel":
            if dest.tun_type == "gue":
                rule += f" --tun-type gue --tun-port {dest.tun_port} {_CSUM_SWITCH[dest.tun_csum]}"
            elif dest.tun_type == "gre":
                rule += f" --tun-type gre {_CSUM_SWITCH[dest.tun_csum]}"
            else:
                rule += " --tun-type ipip"
        if thresholds:
            if dest.u_threshold or dest.l_threshold:
                lines.append(f"-e{rule[2:]} -x {dest.u_threshold} -y {dest.l_threshold}")
            continue
        lines.append(rule)
    return lines[1:] if thresholds else lines


def render_rules(table: Mapping[ServiceKey, Service], thresholds: bool = False) -> str:
    """The whole table as ``ipvsadm-save -n`` prints it (``thresholds``: see ``render_service_rules``)."""
    lines: List[str] = []
    for svc in sort_services(table.values()):
        lines.extend(render_service_rules(svc, thresholds))
    return "".join(line + "\n" for line in lines)
