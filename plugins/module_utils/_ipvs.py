# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IPVS over generic netlink, built on ``_netlink``.

The single declarative table of IPVS commands and attributes below follows
the kernel's ``include/uapi/linux/ip_vs.h`` (enum values, attribute types and
byte orders as ``net/netfilter/ipvs/ip_vs_ctl.c`` reads and writes them).
Each real-server attribute is declared once, in ``DEST_FIELDS``, with the
``Dest`` field it carries; the hot paths (compiled write packers, the reply
decoder and its cache key) are derived from it, the reply's attribute order
learnt from the kernel's first reply.

``IpvsClient`` reads the live table and applies a ``Plan`` (see
``_ipvs_model``) with pipelined writes.  When the "IPVS" generic netlink
family is missing it runs ``modprobe ip_vs`` once (unless told not to) and
raises ``IpvsNotAvailable`` with a clear message if the family is still
missing.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
import socket
import struct
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    cast,
)

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import (
    AF_INET,
    AF_INET6,
    DEFAULT_SCHEDULER,
    DEL_DEST,
    DEL_SERVICE,
    FWD_METHODS,
    FWD_NAMES,
    NEW_DEST,
    NEW_SERVICE,
    PROTOCOL_NAMES,
    PROTOCOLS,
    SCHED_FLAGS,
    SCHEDULERS,
    SET_DEST,
    SET_SERVICE,
    SVC_F_HASHED,
    TUN_CSUM,
    TUN_CSUM_NAMES,
    TUN_TYPE_NAMES,
    TUN_TYPES,
    Dest,
    DestKey,
    IpvsApplyError,
    IpvsError,
    IpvsKernelError,
    IpvsNotAvailable,
    IpvsValidationError,
    Op,
    Plan,
    Service,
    ServiceKey,
    apply_plan_to_model,
    apply_transaction,
    dest_from_spec,
    family_name,
    hostport,
    parse_address,
    plan_dests,
    plan_table,
    render_rules,
    render_service_rules,
    service_from_spec,
    service_key_from_spec,
    service_name,
    services_list,
    sort_dests,
    sort_services,
    table_from_spec,
    undo_ops,
)
from ansible_collections.lvs.cluster.plugins.module_utils._kmod import try_load
from ansible_collections.lvs.cluster.plugins.module_utils._netlink import (
    NLA_TYPE_MASK,
    Attr,
    Codec,
    FamilyNotFound,
    GenlSocket,
    NetlinkBatchError,
    NetlinkFailure,
    Schema,
    fixed_size,
    register_codec,
)

__all__ = [
    "AF_INET",
    "AF_INET6",
    "CMD_SCHEMA",
    "DAEMON_SCHEMA",
    "DEFAULT_SCHEDULER",
    "DEL_DEST",
    "DEL_SERVICE",
    "DEST_SCHEMA",
    "Dest",
    "DestKey",
    "FWD_METHODS",
    "FWD_NAMES",
    "INFO_SCHEMA",
    "IpvsApplyError",
    "IpvsClient",
    "IpvsError",
    "IpvsKernelError",
    "IpvsNotAvailable",
    "IpvsValidationError",
    "NEW_DEST",
    "NEW_SERVICE",
    "Op",
    "PROTOCOLS",
    "PROTOCOL_NAMES",
    "Plan",
    "SCHEDULERS",
    "SCHED_FLAGS",
    "SERVICE_SCHEMA",
    "SET_DEST",
    "SET_SERVICE",
    "STATS64_SCHEMA",
    "STATS_SCHEMA",
    "SVC_F_HASHED",
    "Service",
    "ServiceKey",
    "TUN_CSUM",
    "TUN_CSUM_NAMES",
    "TUN_TYPES",
    "TUN_TYPE_NAMES",
    "apply_plan_to_model",
    "apply_transaction",
    "converge_service",
    "converge_table",
    "daemon_attrs",
    "daemon_from_attrs",
    "dest_attrs",
    "dest_from_attrs",
    "dest_from_spec",
    "family_name",
    "hostport",
    "iter_rules",
    "modprobe_ip_vs",
    "module_client",
    "op_request",
    "parse_address",
    "plan_dests",
    "plan_table",
    "render_rules",
    "render_service_rules",
    "service_from_attrs",
    "service_from_spec",
    "service_full_attrs",
    "service_id_attrs",
    "service_key_from_spec",
    "service_name",
    "sort_dests",
    "sort_services",
    "services_list",
    "table_from_spec",
    "undo_ops",
]

IPVS_GENL_NAME = "IPVS"
IPVS_GENL_VERSION = 1

# enum of IPVS_CMD_*
CMD_NEW_SERVICE = 1
CMD_SET_SERVICE = 2
CMD_DEL_SERVICE = 3
CMD_GET_SERVICE = 4
CMD_NEW_DEST = 5
CMD_SET_DEST = 6
CMD_DEL_DEST = 7
CMD_GET_DEST = 8
CMD_NEW_DAEMON = 9
CMD_DEL_DAEMON = 10
CMD_GET_DAEMON = 11
CMD_SET_CONFIG = 12
CMD_GET_CONFIG = 13
CMD_SET_INFO = 14
CMD_GET_INFO = 15
CMD_ZERO = 16
CMD_FLUSH = 17
CMD_NAMES = {
    CMD_NEW_SERVICE: "NEW_SERVICE",
    CMD_SET_SERVICE: "SET_SERVICE",
    CMD_DEL_SERVICE: "DEL_SERVICE",
    CMD_GET_SERVICE: "GET_SERVICE",
    CMD_NEW_DEST: "NEW_DEST",
    CMD_SET_DEST: "SET_DEST",
    CMD_DEL_DEST: "DEL_DEST",
    CMD_GET_DEST: "GET_DEST",
    CMD_NEW_DAEMON: "NEW_DAEMON",
    CMD_DEL_DAEMON: "DEL_DAEMON",
    CMD_GET_DAEMON: "GET_DAEMON",
    CMD_SET_CONFIG: "SET_CONFIG",
    CMD_GET_CONFIG: "GET_CONFIG",
    CMD_SET_INFO: "SET_INFO",
    CMD_GET_INFO: "GET_INFO",
    CMD_ZERO: "ZERO",
    CMD_FLUSH: "FLUSH",
}
# the commands that only read: their failures are IpvsKernelError, a write's IpvsApplyError
READ_CMDS = frozenset((CMD_GET_SERVICE, CMD_GET_DEST, CMD_GET_DAEMON, CMD_GET_CONFIG, CMD_GET_INFO))

# IP_VS_STATE_* of the sync daemon
DAEMON_STATES = {"master": 1, "backup": 2}
DAEMON_STATE_NAMES = {v: k for k, v in DAEMON_STATES.items()}


def _flags_pack(value: Any) -> bytes:
    flags, mask = value
    return struct.pack("=II", flags, mask)


def _flags_unpack(data: bytes) -> Tuple[int, int]:
    flags, mask = struct.unpack_from("=II", data.ljust(8, b"\0"))
    return flags, mask


# struct ip_vs_flags {__u32 flags; __u32 mask;}
register_codec(Codec("ipvs_flags", _flags_pack, _flags_unpack))
# union nf_inet_addr: always 16 bytes on the wire (IPv4 in the first 4)
register_codec(Codec("ipvs_addr", lambda v: bytes(v).ljust(16, b"\0"), bytes))

# enum IPVS_STATS_ATTR_* (32-bit counters; bytes are 64-bit)
STATS_SCHEMA = Schema(
    "ipvs_stats",
    [
        Attr(1, "conns", "u32"),
        Attr(2, "inpkts", "u32"),
        Attr(3, "outpkts", "u32"),
        Attr(4, "inbytes", "u64"),
        Attr(5, "outbytes", "u64"),
        Attr(6, "cps", "u32"),
        Attr(7, "inpps", "u32"),
        Attr(8, "outpps", "u32"),
        Attr(9, "inbps", "u32"),
        Attr(10, "outbps", "u32"),
    ],
)
# the same ids, every counter 64-bit (IPVS_*_ATTR_STATS64)
STATS64_SCHEMA = Schema("ipvs_stats64", [Attr(a.id, a.name, "u64") for a in STATS_SCHEMA.attrs])

# enum IPVS_SVC_ATTR_*
SERVICE_SCHEMA = Schema(
    "ipvs_service",
    [
        Attr(1, "af", "u16"),
        Attr(2, "protocol", "u16"),
        Attr(3, "addr", "ipvs_addr"),
        Attr(4, "port", "be16"),
        Attr(5, "fwmark", "u32"),
        Attr(6, "sched_name", "str"),
        Attr(7, "flags", "ipvs_flags"),
        Attr(8, "timeout", "u32"),
        Attr(9, "netmask", "u32"),  # raw __be32 mask (IPv4) or prefix length (IPv6)
        Attr(10, "stats", STATS_SCHEMA),
        Attr(11, "pe_name", "str"),
        Attr(12, "stats64", STATS64_SCHEMA),
    ],
)


@dataclass(frozen=True)
class DestField:
    """One ``IPVS_DEST_ATTR_*`` attribute and the ``Dest`` field it carries.

    ``role``: ``key`` identifies the real server (every write sends it), ``config`` is
    what NEW_DEST/SET_DEST set, ``counter`` is only read, ``stats`` a nested counter
    set.  ``put`` turns the field's value into the attribute's, ``get`` the attribute's
    into the field's (None: the same value).  ``address``: an address of the real
    server's family (``af``), 16 bytes on the wire.  ``tunnel``: meaningful with
    forward=tunnel only, written as 0 otherwise.  The wire forms of both directions
    (the generic ``Schema`` and the compiled hot paths) are derived from these rows.
    """

    attr: Attr
    field: str = ""
    role: str = "counter"
    put: Optional[Callable[[Any], Any]] = None
    get: Optional[Callable[[Any], Any]] = None
    address: bool = False
    tunnel: bool = False


# enum IPVS_DEST_ATTR_*
DEST_FIELDS = (
    DestField(Attr(1, "addr", "ipvs_addr"), "address", "key", address=True),
    DestField(Attr(2, "port", "be16"), "port", "key"),
    DestField(
        Attr(3, "fwd_method", "u32"),
        "forward",
        "config",
        FWD_METHODS.__getitem__,
        lambda v: FWD_NAMES.get(v & 0x7, str(v & 0x7)),  # IP_VS_CONN_F_FWD_MASK
    ),
    DestField(Attr(4, "weight", "u32"), "weight", "config"),
    DestField(Attr(5, "u_thresh", "u32"), "u_threshold", "config"),
    DestField(Attr(6, "l_thresh", "u32"), "l_threshold", "config"),
    DestField(Attr(7, "active_conns", "u32"), "active_conns"),
    DestField(Attr(8, "inact_conns", "u32"), "inactive_conns"),
    DestField(Attr(9, "persist_conns", "u32"), "persistent_conns"),
    DestField(Attr(10, "stats", STATS_SCHEMA), role="stats"),
    DestField(Attr(11, "addr_family", "u16"), "af", "key"),
    DestField(Attr(12, "stats64", STATS64_SCHEMA), role="stats"),
    DestField(
        Attr(13, "tun_type", "u8"),
        "tun_type",
        "config",
        TUN_TYPES.__getitem__,
        lambda v: TUN_TYPE_NAMES.get(v, "ipip"),
        tunnel=True,
    ),
    DestField(Attr(14, "tun_port", "be16"), "tun_port", "config", tunnel=True),
    DestField(
        Attr(15, "tun_flags", "u16"),
        "tun_csum",
        "config",
        TUN_CSUM.__getitem__,
        lambda v: TUN_CSUM_NAMES.get(v, "none"),
        tunnel=True,
    ),
)
DEST_SCHEMA = Schema("ipvs_dest", [f.attr for f in DEST_FIELDS])

# enum IPVS_DAEMON_ATTR_*
DAEMON_SCHEMA = Schema(
    "ipvs_daemon",
    [
        Attr(1, "state", "u32"),
        Attr(2, "mcast_ifn", "str"),
        Attr(3, "sync_id", "u32"),
        Attr(4, "sync_maxlen", "u16"),
        Attr(5, "mcast_group", "bin"),  # struct in_addr
        Attr(6, "mcast_group6", "bin"),  # struct in6_addr
        Attr(7, "mcast_port", "u16"),  # host byte order
        Attr(8, "mcast_ttl", "u8"),
    ],
)

# enum IPVS_CMD_ATTR_* (top level of every IPVS message)
CMD_SCHEMA = Schema(
    "ipvs_cmd",
    [
        Attr(1, "service", SERVICE_SCHEMA),
        Attr(2, "dest", DEST_SCHEMA),
        Attr(3, "daemon", DAEMON_SCHEMA),
        Attr(4, "timeout_tcp", "u32"),
        Attr(5, "timeout_tcp_fin", "u32"),
        Attr(6, "timeout_udp", "u32"),
    ],
)

# enum IPVS_INFO_ATTR_* (top level of the GET_INFO reply)
INFO_SCHEMA = Schema("ipvs_info", [Attr(1, "version", "u32"), Attr(2, "conn_tab_size", "u32")])

# Compiled packers for the hot path (thousands of writes); same bytes as CMD_SCHEMA.pack
_SVC_ID_LAYOUT = SERVICE_SCHEMA.layout(["af", "protocol", "addr", "port"], nest=1, sizes={"addr": 16})
_SVC_FWMARK_LAYOUT = SERVICE_SCHEMA.layout(["af", "fwmark"], nest=1)
_DEST_SIZES = {f.attr.name: 16 for f in DEST_FIELDS if f.address}
_DEST_KEY = [f for f in DEST_FIELDS if f.role == "key"]
_DEST_CONFIG = [f for f in DEST_FIELDS if f.role == "config"]


_Steps = Tuple[List[Tuple[int, Callable[[Any], Any]]], List[Tuple[int, Callable[[Any], Any]]]]


def _then(
    first: Optional[Callable[[Any], Any]], second: Optional[Callable[[Any], Any]]
) -> Optional[Callable[[Any], Any]]:
    if first is None or second is None:
        return first or second
    return lambda value: second(first(value))


class _DestWriter:
    """A real server's attributes for a write: ``fields``' values, as a dict or packed in one ``struct``."""

    def __init__(self, fields: Sequence[DestField]) -> None:
        self.names = [f.attr.name for f in fields]
        self.layout = DEST_SCHEMA.layout(self.names, nest=2, sizes=_DEST_SIZES)
        self._get = operator.attrgetter(*[f.field for f in fields])
        self._addrs = [i for i, f in enumerate(fields) if f.address]
        # attribute values (for Schema.pack), and wire values with the layout's byte swaps folded in
        self._attr_steps = self._steps(fields, {})
        self._wire_steps = self._steps(fields, dict(self.layout.convs))
        tunnel = [i for i, f in enumerate(fields) if f.tunnel]
        # tunnel settings (contiguous) are zeroed by one slice assignment
        self._no_tunnel = slice(min(tunnel), max(tunnel) + 1) if tunnel else slice(0, 0)
        self._zeros = [0] * len(tunnel)
        if tunnel != list(range(len(fields)))[self._no_tunnel]:
            raise ValueError("the tunnel attributes of a real server must be declared one after another")

    @staticmethod
    def _steps(fields: Sequence[DestField], convs: Dict[int, Callable[[Any], Any]]) -> _Steps:
        puts, tunnel_puts = [], []
        for i, f in enumerate(fields):
            put = _then(f.put, convs.get(i))
            if f.tunnel:
                tunnel_puts.append((i, put or int))
            elif put is not None:
                puts.append((i, put))
        return puts, tunnel_puts

    def _convert(self, dest: Dest, steps: _Steps) -> List[Any]:
        values = list(self._get(dest))
        for i in self._addrs:
            values[i] = socket.inet_pton(dest.af, values[i])
        puts, tunnel_puts = steps
        for i, put in puts:
            values[i] = put(values[i])
        if dest.forward == "tunnel":
            for i, put in tunnel_puts:
                values[i] = put(values[i])
        else:
            values[self._no_tunnel] = self._zeros
        return values

    def values(self, dest: Dest) -> List[Any]:
        return self._convert(dest, self._attr_steps)

    def pack(self, dest: Dest) -> bytes:
        return self.layout.pack_wire(*self._convert(dest, self._wire_steps))


_DEST_ID_WRITER = _DestWriter(_DEST_KEY)
_DEST_FULL_WRITER = _DestWriter(_DEST_KEY + _DEST_CONFIG)

# Faster parsers for the convergence path: same ids, counters left out.
_SERVICE_STATE_SCHEMA = SERVICE_SCHEMA.subset([a.name for a in SERVICE_SCHEMA.attrs if not isinstance(a.kind, Schema)])
_DEST_STATE_SCHEMA = DEST_SCHEMA.subset(_DEST_FULL_WRITER.names)
_CMD_SVC_STATE = CMD_SCHEMA.subset(["service"], {"service": _SERVICE_STATE_SCHEMA})
_CMD_DEST_STATE = CMD_SCHEMA.subset(["dest"], {"dest": _DEST_STATE_SCHEMA})


class _DestReplyLayout:
    """One order of fixed-size attributes in GET_DEST replies, decoded in one ``struct`` call.

    Learnt from a reply (``learn``): the run of fixed-size attributes the kernel
    writes before the nested statistics, if it carries every ``Dest`` field.
    ``slicer`` cuts out the key and config attributes (headers included).
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.layout = DEST_SCHEMA.layout(names, sizes=_DEST_SIZES)
        pos = {name: i for i, name in enumerate(names)}
        by_name = {f.attr.name: f for f in DEST_FIELDS}
        self._gets: List[Tuple[int, Callable[[Any], Any]]] = []
        for n in names:
            get = by_name[n].get
            if get is not None:
                self._gets.append((pos[n], get))
        field_at = {by_name[n].field: pos[n] for n in names}
        self._af = field_at["af"]  # 0 in old replies: the service's family
        self._addrs = [pos[n] for n in names if by_name[n].address]
        init = [f.name for f in dataclass_fields(Dest) if f.init and f.name != "stats"]
        self._order = operator.itemgetter(*[field_at[name] for name in init])
        spans = sorted(self.layout.spans[n] for n in _DEST_FULL_WRITER.names)
        merged: List[List[int]] = []
        for lo, hi in spans:
            if merged and merged[-1][1] == lo:
                merged[-1][1] = hi
            else:
                merged.append([lo, hi])
        # the layout starts after the dest nest header (4 bytes); at least two slices: a tuple
        slices = [slice(4 + lo, 4 + hi) for lo, hi in merged] + [slice(0, 0)] * (2 - len(merged))
        self.slicer = operator.itemgetter(*slices)

    @staticmethod
    def learn(data: bytes) -> Optional[_DestReplyLayout]:
        names: List[str] = []
        offset, end = 4, len(data)
        while offset + 4 <= end:
            alen, atype = struct.unpack_from("=HH", data, offset)
            attr = DEST_SCHEMA.by_id.get(atype & NLA_TYPE_MASK)
            if attr is None or attr.name in names:
                break
            size = _DEST_SIZES.get(attr.name) or fixed_size(attr.kind)
            if size is None or alen != 4 + size:
                break
            names.append(attr.name)
            offset += (alen + 3) & ~3
        if not {f.attr.name for f in DEST_FIELDS if f.field} <= set(names):
            return None
        return _DestReplyLayout(names)

    def decode(self, data: bytes, svc_af: int) -> Optional[Dest]:
        values = self.layout.unpack(data, 4)
        if values is None:
            return None
        for i, get in self._gets:
            values[i] = get(values[i])
        af = values[self._af] = values[self._af] or svc_af
        for i in self._addrs:
            values[i] = addr_text(af, values[i])
        return Dest(*self._order(values))


class _DestReader:
    """Decodes GET_DEST replies with the layouts learnt so far (the kernel sends one)."""

    def __init__(self) -> None:
        self.layouts: List[_DestReplyLayout] = []
        self.current: Optional[_DestReplyLayout] = None

    def decode(self, data: bytes, svc_af: int) -> Optional[Dest]:
        if len(data) < 4 or struct.unpack_from("=H", data, 2)[0] & 0x3FFF != 2:
            return None
        for layout in self.layouts:
            dest = layout.decode(data, svc_af)
            if dest is not None:
                self.current = layout
                return dest
        learnt = _DestReplyLayout.learn(data)
        if learnt is None or len(self.layouts) >= 4:
            return None
        self.layouts.insert(0, learnt)
        self.current = learnt
        return learnt.decode(data, svc_af)

    def slicer(self) -> Optional[Callable[[bytes], Tuple[bytes, ...]]]:
        """Cuts the state (key and config attributes, headers included) out of a reply in the layout
        last decoded (None before any): equal state, equal real server apart from its counters."""
        return self.current.slicer if self.current is not None else None


_DEST_READER = _DestReader()


# ---------------------------------------------------------------------------
# Model <-> attributes
# ---------------------------------------------------------------------------


def addr_bytes(af: int, addr: str) -> bytes:
    return socket.inet_pton(af, addr).ljust(16, b"\0")


def addr_text(af: int, raw: bytes) -> str:
    if af == AF_INET6:
        return socket.inet_ntop(AF_INET6, raw[:16].ljust(16, b"\0"))
    return socket.inet_ntop(AF_INET, raw[:4].ljust(4, b"\0"))


def service_id_attrs(svc: Service) -> Dict[str, Any]:
    """The attributes identifying a service (what GET_DEST and DEL_* need)."""
    if svc.protocol == "fwmark":
        return {"af": svc.af, "fwmark": svc.fwmark}
    return {
        "af": svc.af,
        "protocol": PROTOCOLS[svc.protocol],
        "addr": addr_bytes(svc.af, svc.address),
        "port": svc.port,
    }


def _netmask_wire(svc: Service) -> int:
    if svc.af == AF_INET6:
        return svc.netmask
    # the kernel reads an IPv4 netmask as __be32
    return struct.unpack("=I", struct.pack(">I", svc.netmask))[0]


def service_full_attrs(svc: Service) -> Dict[str, Any]:
    attrs = service_id_attrs(svc)
    attrs.update(
        sched_name=svc.scheduler,
        flags=(svc.flags & ~SVC_F_HASHED, 0xFFFFFFFF),
        timeout=svc.timeout,
        netmask=_netmask_wire(svc),
        pe_name=svc.pe_name or None,
    )
    return attrs


def dest_attrs(dest: Dest, full: bool = True) -> Dict[str, Any]:
    """The attributes of a real server for a write (``full``: with its configuration)."""
    writer = _DEST_FULL_WRITER if full else _DEST_ID_WRITER
    return dict(zip(writer.names, writer.values(dest)))


def service_from_attrs(attrs: Dict[str, Any]) -> Service:
    af = attrs.get("af", AF_INET)
    fwmark = attrs.get("fwmark", 0)
    flags = attrs.get("flags", (0, 0))[0] & ~SVC_F_HASHED
    netmask = attrs.get("netmask", 0)
    if af == AF_INET:
        netmask = struct.unpack(">I", struct.pack("=I", netmask))[0]
    if fwmark:
        svc = Service(af=af, protocol="fwmark", fwmark=fwmark)
    else:
        proto = attrs.get("protocol", 0)
        svc = Service(
            af=af,
            protocol=PROTOCOL_NAMES.get(proto, str(proto)),
            address=addr_text(af, attrs.get("addr", b"")),
            port=attrs.get("port", 0),
        )
    svc.scheduler = attrs.get("sched_name", "")
    svc.flags = flags
    svc.timeout = attrs.get("timeout", 0)
    svc.netmask = netmask
    svc.pe_name = attrs.get("pe_name", "")
    if "stats64" in attrs or "stats" in attrs:
        svc.stats = attrs.get("stats64") or attrs.get("stats")
    return svc


def dest_from_attrs(attrs: Dict[str, Any], svc_af: int) -> Dest:
    af = attrs.get("addr_family") or svc_af
    values: Dict[str, Any] = {"af": af}
    for f in DEST_FIELDS:
        if f.field and f.field != "af":
            value = attrs.get(f.attr.name, 0)
            values[f.field] = f.get(value) if f.get is not None else value
    values["address"] = addr_text(af, attrs.get("addr", b""))
    dest = Dest(**values)
    if "stats64" in attrs or "stats" in attrs:
        dest.stats = attrs.get("stats64") or attrs.get("stats")
    return dest


def fast_dest(data: bytes, svc_af: int) -> Optional[Dest]:
    """A GET_DEST reply in a fixed layout (the kernel's), decoded in one ``struct`` call (else None)."""
    return _DEST_READER.decode(data, svc_af)


def op_request(
    op: Op,
    id_cache: Optional[Dict[ServiceKey, bytes]] = None,
    dest_cache: Optional[Dict[Tuple[int, bool], bytes]] = None,
) -> Tuple[int, bytes]:
    """``(command, attribute bytes)`` of one planned write.

    ``id_cache`` keeps packed service ids by service; ``dest_cache`` packed real servers by
    ``id()`` of the ``Dest`` object (big tables share them between services), so it must
    live no longer than the ops that hold those objects.
    """
    svc = op.service
    if op.kind == NEW_SERVICE:
        return CMD_NEW_SERVICE, CMD_SCHEMA.pack({"service": service_full_attrs(svc)})
    if op.kind == SET_SERVICE:
        return CMD_SET_SERVICE, CMD_SCHEMA.pack({"service": service_full_attrs(svc)})
    svc_bytes = id_cache.get(svc.key) if id_cache is not None else None
    if svc_bytes is None:
        svc_bytes = pack_service_id(svc)
        if id_cache is not None:
            id_cache[svc.key] = svc_bytes
    if op.kind == DEL_SERVICE:
        return CMD_DEL_SERVICE, svc_bytes
    if op.dest is None:
        raise ValueError(f"{op.kind} needs a real server")
    cmd = {NEW_DEST: CMD_NEW_DEST, SET_DEST: CMD_SET_DEST, DEL_DEST: CMD_DEL_DEST}[op.kind]
    full = op.kind != DEL_DEST
    if dest_cache is None:
        return cmd, svc_bytes + pack_dest(op.dest, full)
    key = (id(op.dest), full)
    dest_bytes = dest_cache.get(key)
    if dest_bytes is None:
        dest_bytes = dest_cache[key] = pack_dest(op.dest, full)
    return cmd, svc_bytes + dest_bytes


def pack_service_id(svc: Service) -> bytes:
    """``CMD_SCHEMA.pack({"service": service_id_attrs(svc)})``, compiled."""
    if svc.protocol == "fwmark":
        return _SVC_FWMARK_LAYOUT.pack(svc.af, svc.fwmark)
    return _SVC_ID_LAYOUT.pack(svc.af, PROTOCOLS[svc.protocol], addr_bytes(svc.af, svc.address), svc.port)


def pack_dest(dest: Dest, full: bool = True) -> bytes:
    """``CMD_SCHEMA.pack({"dest": dest_attrs(dest, full)})``, compiled."""
    return (_DEST_FULL_WRITER if full else _DEST_ID_WRITER).pack(dest)


# ---------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------

NOT_AVAILABLE_HINT = (
    "the IPVS generic netlink family is not available: load the kernel module with 'modprobe ip_vs' "
    "(and check the kernel has CONFIG_IP_VS)"
)


def modprobe_ip_vs(module: Any) -> str:
    """Try ``modprobe ip_vs`` through the module's ``run_command``; returns its error text ('' on success)."""
    return try_load(module, ["ip_vs"])


def module_client(module: Any) -> IpvsClient:
    """The client of a module; ``modprobe ip_vs`` runs through the module when its O(modprobe) option allows."""
    if module.params.get("modprobe", True):
        return IpvsClient(modprobe=lambda: modprobe_ip_vs(module))
    return IpvsClient()


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _reading(method: _Method) -> _Method:
    """A reader of the client: replies it cannot parse raise ``IpvsKernelError`` (``_request`` converts the rest)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (NetlinkFailure, OSError) as exc:
            raise IpvsKernelError(f"reading the IPVS {method.__name__} failed: {exc}") from None

    return cast(_Method, wrapper)


class IpvsClient:
    """Talks to the kernel's IPVS generic netlink family.

    Every failure to talk to the kernel is raised as an ``IpvsError``: ``IpvsNotAvailable``
    (the family cannot be opened), ``IpvsKernelError`` (a read), ``IpvsApplyError`` (a write).
    """

    def __init__(self, modprobe: Optional[Callable[[], str]] = None) -> None:
        """``modprobe``: loads ip_vs when the family is missing, returns its error text ('' on success).

        Module code gets one from ``module_client`` (module_utils run no commands themselves).
        """
        # decoded real servers by address family and state bytes (see dests(config_only=True))
        self._seen_dests: Dict[int, Dict[bytes, Dest]] = {}
        try:
            try:
                self.sock = GenlSocket(IPVS_GENL_NAME)
            except FamilyNotFound:
                detail = modprobe() if modprobe is not None else "modprobe not attempted"
                try:
                    self.sock = GenlSocket(IPVS_GENL_NAME)
                except FamilyNotFound:
                    raise IpvsNotAvailable(f"{NOT_AVAILABLE_HINT} ({detail})") from None
        except (NetlinkFailure, OSError) as exc:
            raise IpvsNotAvailable(f"cannot open the IPVS generic netlink family: {exc}") from None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> IpvsClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _request(self, cmd: int, attrs: Union[Dict[str, Any], bytes], dump: bool = False) -> List[bytes]:
        """One IPVS command; ``attrs`` as a dict for CMD_SCHEMA or already packed.

        Every failure (the kernel's refusal, no or a garbled answer, a failing socket)
        is raised as ``IpvsKernelError`` for a read, ``IpvsApplyError`` for a write.
        """
        payload = attrs if isinstance(attrs, bytes) else CMD_SCHEMA.pack(attrs)
        try:
            if dump:
                replies = self.sock.dump(cmd, payload, IPVS_GENL_VERSION)
            else:
                replies = self.sock.request(cmd, payload, 0, IPVS_GENL_VERSION)
        except (NetlinkFailure, OSError) as exc:
            error = IpvsKernelError if cmd in READ_CMDS else IpvsApplyError
            raise error(f"IPVS command {CMD_NAMES.get(cmd, cmd)} failed: {exc}") from None
        return [data for _cmd, data in replies]

    # -- reading --------------------------------------------------------

    @_reading
    def services(self, stats: bool = False) -> List[Service]:
        schema = CMD_SCHEMA if stats else _CMD_SVC_STATE
        out = []
        for data in self._request(CMD_GET_SERVICE, {}, dump=True):
            attrs = schema.parse(data).get("service")
            if attrs:
                out.append(service_from_attrs(attrs))
        return out

    @_reading
    def dests(self, svc: Service, stats: bool = False, config_only: bool = False) -> Dict[DestKey, Dest]:
        """The real servers of ``svc``.

        ``config_only`` (the convergence path) leaves the counters at 0 and
        decodes each distinct real-server state once per client: big tables
        repeat the same real servers behind many services.  The ``Dest``
        objects it returns are then shared and must not be modified.
        """
        schema = CMD_SCHEMA if stats else _CMD_DEST_STATE
        out: Dict[DestKey, Dest] = {}
        seen = self._seen_dests.setdefault(svc.af, {}) if config_only and not stats else None
        reader = _DEST_READER
        slicer = reader.slicer()
        for data in self._request(CMD_GET_DEST, pack_service_id(svc), dump=True):
            if seen is not None:
                # the key and config attributes with their headers: equal bytes, equal real server
                fast = seen.get(b"".join(slicer(data))) if slicer is not None else None
                if fast is None:
                    fast = reader.decode(data, svc.af)
                    slicer = reader.slicer()
                    if fast is not None and slicer is not None:
                        fast.active_conns = fast.inactive_conns = fast.persistent_conns = 0
                        if len(seen) < 100000:
                            seen[b"".join(slicer(data))] = fast
            else:
                fast = None if stats else reader.decode(data, svc.af)
            if fast is not None:
                out[fast.key] = fast
                continue
            attrs = schema.parse(data).get("dest")
            if attrs:
                dest = dest_from_attrs(attrs, svc.af)
                out[dest.key] = dest
        return out

    def table(
        self, stats: bool = False, only: Optional[Iterable[ServiceKey]] = None, config_only: bool = False
    ) -> Dict[ServiceKey, Service]:
        """The live table; with ``only``, real servers are read for those services only.

        ``config_only``: see ``dests``.
        """
        wanted = None if only is None else set(only)
        table: Dict[ServiceKey, Service] = {}
        for svc in self.services(stats):
            if wanted is None or svc.key in wanted:
                svc.dests = self.dests(svc, stats, config_only)
            table[svc.key] = svc
        return table

    @_reading
    def info(self) -> Dict[str, Any]:
        replies = self._request(CMD_GET_INFO, {})
        attrs = INFO_SCHEMA.parse(replies[0]) if replies else {}
        version = attrs.get("version", 0)
        return {
            "version": f"{(version >> 16) & 0xFF}.{(version >> 8) & 0xFF}.{version & 0xFF}",
            "version_code": version,
            "conn_tab_size": attrs.get("conn_tab_size", 0),
        }

    @_reading
    def timeouts(self) -> Dict[str, int]:
        replies = self._request(CMD_GET_CONFIG, {})
        attrs = CMD_SCHEMA.parse(replies[0]) if replies else {}
        return {
            "tcp": attrs.get("timeout_tcp", 0),
            "tcpfin": attrs.get("timeout_tcp_fin", 0),
            "udp": attrs.get("timeout_udp", 0),
        }

    @_reading
    def daemons(self) -> List[Dict[str, Any]]:
        out = []
        for data in self._request(CMD_GET_DAEMON, {}, dump=True):
            attrs = CMD_SCHEMA.parse(data).get("daemon")
            if attrs:
                out.append(daemon_from_attrs(attrs))
        return out

    # -- writing --------------------------------------------------------

    def apply(self, plan: Plan, current: Mapping[ServiceKey, Service]) -> int:
        """Pipeline the plan's writes, all or nothing (see ``apply_transaction``).

        ``current``: the live table the plan was made from (with the real servers of
        every service the plan touches).  When the kernel refuses a write, the writes
        already made are undone and ``IpvsApplyError`` names the refused ones.
        """
        return apply_transaction(plan, current, self.write)

    def write(self, ops: Sequence[Op], window: int = 256) -> List[Tuple[int, str]]:
        """Pipeline writes; ``(index, kernel error)`` of each refused one, every other was made.

        The errors-only pipeline ends with an acknowledged barrier, so when it returns the
        kernel has processed every write and reported each failure.  Raises
        ``IpvsApplyError`` if the batch breaks off before that (then which writes were
        made is unknown).
        """
        cache: Dict[ServiceKey, bytes] = {}
        dest_cache: Dict[Tuple[int, bool], bytes] = {}  # lives while ``ops`` holds its Dest objects
        requests = (op_request(op, cache, dest_cache) for op in ops)
        try:
            self.sock.pipeline_cmds(requests, window, IPVS_GENL_VERSION, acks=False)
        except NetlinkBatchError as exc:
            return [(i, str(err)) for i, err in exc.failures]
        except (NetlinkFailure, OSError) as exc:
            raise IpvsApplyError(
                f"a batch of {len(ops)} IPVS write(s) broke off ({exc}); which of them the kernel made is unknown"
            ) from None
        return []

    def set_timeouts(self, tcp: int = 0, tcpfin: int = 0, udp: int = 0) -> None:
        """Set timeouts; 0 leaves a value unchanged (kernel semantics)."""
        self._request(CMD_SET_CONFIG, {"timeout_tcp": tcp, "timeout_tcp_fin": tcpfin, "timeout_udp": udp})

    def new_daemon(self, daemon: Dict[str, Any]) -> None:
        self._request(CMD_NEW_DAEMON, {"daemon": daemon_attrs(daemon)})

    def del_daemon(self, state: str) -> None:
        self._request(CMD_DEL_DAEMON, {"daemon": {"state": DAEMON_STATES[state]}})

    def zero(self, svc: Optional[Service] = None) -> None:
        self._request(CMD_ZERO, {"service": service_id_attrs(svc)} if svc is not None else {})

    def flush(self) -> None:
        self._request(CMD_FLUSH, {})


def converge_table(
    client: IpvsClient,
    desired: Mapping[ServiceKey, Service],
    absent: Sequence[ServiceKey] = (),
    purge: bool = False,
    purge_dests: bool = True,
    check_mode: bool = False,
) -> Tuple[Dict[ServiceKey, Service], Plan]:
    """What ``ipvs_table`` does once its input is validated: read, plan, apply (all or nothing)."""
    current = client.table(config_only=True)
    plan = plan_table(desired, current, purge, purge_dests, absent)
    if plan.changed and not check_mode:
        client.apply(plan, current)
    return current, plan


def converge_service(
    client: IpvsClient, svc: Service, present: bool = True, purge_dests: bool = False, check_mode: bool = False
) -> Tuple[Dict[ServiceKey, Service], Plan]:
    """What ``ipvs_service`` does once its input is validated: read, plan, apply (all or nothing)."""
    current: Dict[ServiceKey, Service] = {}
    for live in client.services():
        if live.key == svc.key:
            live.dests = client.dests(live)
            current[live.key] = live
    if present:
        plan = plan_table({svc.key: svc}, current, purge_dests=purge_dests)
    else:
        plan = plan_table({}, current, absent=[svc.key])
    if plan.changed and not check_mode:
        client.apply(plan, current)
    return current, plan


def daemon_from_attrs(attrs: Dict[str, Any]) -> Dict[str, Any]:
    group = ""
    if attrs.get("mcast_group6"):
        group = str(ipaddress.IPv6Address(attrs["mcast_group6"][:16]))
    elif attrs.get("mcast_group"):
        group = str(ipaddress.IPv4Address(attrs["mcast_group"][:4]))
    return {
        "state": DAEMON_STATE_NAMES.get(attrs.get("state", 0), str(attrs.get("state"))),
        "mcast_ifn": attrs.get("mcast_ifn", ""),
        "syncid": attrs.get("sync_id", 0),
        "sync_maxlen": attrs.get("sync_maxlen", 0),
        "mcast_group": group,
        "mcast_port": attrs.get("mcast_port", 0),
        "mcast_ttl": attrs.get("mcast_ttl", 0),
    }


def daemon_attrs(daemon: Dict[str, Any]) -> Dict[str, Any]:
    attrs: Dict[str, Any] = {
        "state": DAEMON_STATES[daemon["state"]],
        "mcast_ifn": daemon["mcast_ifn"],
        "sync_id": daemon.get("syncid", 0),
    }
    if daemon.get("sync_maxlen"):
        attrs["sync_maxlen"] = daemon["sync_maxlen"]
    group = daemon.get("mcast_group")
    if group:
        ip = ipaddress.ip_address(group)
        attrs["mcast_group6" if ip.version == 6 else "mcast_group"] = ip.packed
    if daemon.get("mcast_port"):
        attrs["mcast_port"] = daemon["mcast_port"]
    if daemon.get("mcast_ttl"):
        attrs["mcast_ttl"] = daemon["mcast_ttl"]
    return attrs


def iter_rules(table: Dict[ServiceKey, Service]) -> Iterator[str]:
    for svc in sort_services(table.values()):
        yield from render_service_rules(svc)
