# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of ``lvs.cluster.vip_iface``: validation, planning, diffing.

Nothing here talks to the kernel or to Ansible.  The module reads the links
and addresses with ``_rtnl``, hands them to ``plan_vips`` and executes the
returned plan.  Every check runs before the first write.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.lvs.cluster.plugins.module_utils._fou import FouPort
from ansible_collections.lvs.cluster.plugins.module_utils._rtnl import (
    IFA_F_DEPRECATED,
    IFA_F_NODAD,
    IFNAMSIZ,
    SCOPES,
    Address,
    IPAddress,
    Link,
)

# fallback tunnel devices: created by the kernel when the module is loaded
TUNNEL_MODULES: Dict[str, str] = {
    "tunl0": "ipip",
    "ip6tnl0": "ip6_tunnel",
    "gre0": "ip_gre",
    "ip6gre0": "ip6_gre",
    "sit0": "sit",
}
# GUE receive ports (fou): the outer family of each tunnel device that takes GUE-decapsulated packets
GUE_INTERFACES: Dict[str, int] = {"tunl0": 4, "sit0": 4, "ip6tnl0": 6}
KINDS = ("auto", "dummy")
ROLES = ("auto", "realserver", "director")
IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")


class VipError(Exception):
    """Invalid request or a state the module refuses to change."""


@dataclass(frozen=True)
class Vip:
    address: IPAddress
    prefix: int

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.prefix}"

    @property
    def version(self) -> int:
        return self.address.version


@dataclass
class Request:
    vips: List[Vip]
    interface: str
    state: str = "present"
    kind: str = "auto"
    label: Optional[str] = None
    scope: str = "global"
    role: str = "auto"
    persist: bool = True
    gue_port: Optional[int] = None

    @property
    def gue_family(self) -> int:
        return GUE_INTERFACES.get(self.interface, 4)


@dataclass
class Step:
    """One write: ``op`` is modprobe, create, up, add, delete, destroy (a link), gue_add or gue_delete."""

    op: str
    interface: str
    vip: Optional[Vip] = None
    module: Optional[str] = None
    kind: Optional[str] = None
    prefix: Optional[int] = None  # prefix of an address to delete; the UDP port of gue_* steps
    flags: int = 0
    deprecated: bool = False  # add with preferred lifetime 0 (see ``deprecate``)

    def describe(self) -> str:
        if self.op == "modprobe":
            made = f" (creates {self.interface})" if self.module != "fou" else ""
            return f"load kernel module {self.module}{made}"
        if self.op in ("gue_add", "gue_delete"):
            verb = "add" if self.op == "gue_add" else "remove"
            return f"{verb} GUE receive port udp/{self.prefix} (fou) for {self.interface}"
        if self.op == "create":
            return f"create {self.kind} link {self.interface}"
        if self.op == "up":
            return f"set {self.interface} up"
        if self.op == "destroy":
            return f"delete {self.kind} link {self.interface} (no address left)"
        if self.vip is None:
            raise ValueError(f"step {self.op} without a VIP")
        if self.op == "delete":
            return f"delete {self.vip.address}/{self.prefix} from {self.interface}"
        return f"add {self.vip.cidr} to {self.interface}"


@dataclass
class Plan:
    steps: List[Step] = field(default_factory=list)
    before: List[str] = field(default_factory=list)
    after: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def parse_vip(text: str, default_prefix: Optional[int] = None) -> Vip:
    """``192.0.2.100``, ``192.0.2.100/32`` or ``2001:db8::100/128`` -> Vip.

    Host bits outside the prefix are refused: a VIP with prefix ``/24`` must
    be the network address, so ``192.0.2.100/24`` is a mistake (use ``/32``).
    """
    text = str(text).strip()
    if not text:
        raise VipError("empty VIP")
    addr_text, sep, prefix_text = text.partition("/")
    try:
        address = ipaddress.ip_address(addr_text)
    except ValueError:
        raise VipError(f"{text!r} is not an IPv4 or IPv6 address") from None
    maxlen = address.max_prefixlen
    if sep:
        if not prefix_text.isdigit():
            raise VipError(f"{text!r}: prefix {prefix_text!r} is not a number")
        prefix = int(prefix_text)
    elif default_prefix is not None:
        prefix = default_prefix
    else:
        prefix = maxlen
    if not 0 < prefix <= maxlen:
        raise VipError(f"{text!r}: prefix /{prefix} is out of range for IPv{address.version} (1-{maxlen})")
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    if network.network_address != address:
        raise VipError(
            f"{address}/{prefix} has host bits set: a VIP is a single address, use {address}/{maxlen}"
            f" (or the network address {network})"
        )
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        raise VipError(f"{address} cannot be a VIP (unspecified, multicast or loopback address)")
    return Vip(address, prefix)


def build_request(
    vips: Sequence[str],
    interface: str,
    state: str = "present",
    prefix: Optional[int] = None,
    kind: str = "auto",
    label: Optional[str] = None,
    scope: str = "global",
    role: str = "auto",
    gue_port: Optional[int] = None,
) -> Request:
    """Validate the parameters (no system access) and return a Request."""
    if gue_port is not None:
        if interface not in GUE_INTERFACES:
            raise VipError(
                "gue_port needs interface {} (the tunnel device that takes GUE-decapsulated packets), not {}".format(
                    " or ".join(sorted(GUE_INTERFACES)), interface
                )
            )
        if not 1 <= gue_port <= 65535:
            raise VipError(f"gue_port {gue_port} is outside 1..65535")
    if not vips:
        raise VipError("vips is empty: give at least one address")
    if not IFNAME_RE.match(interface or ""):
        raise VipError(f"{interface!r} is not a valid interface name (1-15 characters, no '/', ':' or blanks)")
    if kind not in KINDS:
        raise VipError("kind must be one of {}".format(", ".join(KINDS)))
    if role not in ROLES:
        raise VipError("role must be one of {}".format(", ".join(ROLES)))
    if scope not in SCOPES:
        raise VipError("scope must be one of {}".format(", ".join(sorted(SCOPES))))
    parsed = [parse_vip(v, prefix) for v in vips]
    seen: Dict[IPAddress, Vip] = {}
    for vip in parsed:
        if vip.address in seen:
            raise VipError(f"VIP {vip.address} is listed more than once")
        seen[vip.address] = vip
    if label is not None:
        if len(label) >= IFNAMSIZ:
            raise VipError(f"label {label!r} is longer than {IFNAMSIZ - 1} characters")
        if not (label == interface or label.startswith(interface + ":")):
            raise VipError(
                f"label {label!r} must be the interface name or start with '{interface}:' (e.g. {interface}:0)"
            )
        if all(v.version == 6 for v in parsed):
            raise VipError("labels exist for IPv4 addresses only")
    return Request(parsed, interface, state, kind, label, scope, role, gue_port=gue_port)


def deprecate(vip: Vip, link: Optional[Link]) -> bool:
    """An IPv6 VIP on a NIC (a director's) gets preferred lifetime 0.

    Served all the same, but never chosen as the source of the host's own packets:
    otherwise the director tunnels to its real servers from the VIP, and a TUN real
    server drops tunnel packets whose outer source is its own (VIP) address.
    """
    return vip.version == 6 and link is not None and link.does_arp


def nodad_flags(vip: Vip, link: Optional[Link]) -> int:
    """IPv6 VIPs on loopback, dummy and tunnel links skip duplicate address detection."""
    if vip.version == 6 and (link is None or not link.does_arp or link.kind == "dummy"):
        return IFA_F_NODAD
    return 0


def interface_hint(links: Sequence[Link]) -> str:
    names = sorted(link.name for link in links)
    return "existing interfaces: {}".format(", ".join(names))


def sort_lines(lines: Sequence[str]) -> List[str]:
    """Address lines in a stable order: IPv4 then IPv6, by address then prefix."""

    def key(line: str) -> Tuple[int, int, int]:
        iface = ipaddress.ip_interface(line.split()[0])
        return (iface.version, int(iface.ip), iface.network.prefixlen)

    return sorted(lines, key=key)


def format_addresses(addresses: Sequence[Address]) -> List[str]:
    lines = []
    for a in addresses:
        if a.address.version == 6 and a.address.is_link_local:
            continue  # the kernel adds these itself when a link comes up
        text = a.cidr
        if a.label and a.address.version == 4:
            text += f" label {a.label}"
        if a.scope and a.address.version == 4:
            text += f" scope {a.scope_name}"
        if a.address.version == 6 and a.flags & IFA_F_DEPRECATED:
            text += " deprecated"
        lines.append(text)
    return sort_lines(lines)


def _vip_line(vip: Vip, label: Optional[str], scope: str, interface: str, deprecated: bool = False) -> str:
    text = vip.cidr
    if vip.version == 4:
        # the kernel labels every IPv4 address, with the interface name by default
        text += f" label {label or interface}"
    if scope != "global" and vip.version == 4:
        text += f" scope {scope}"
    if deprecated:
        text += " deprecated"
    return text


def _matches(
    addr: Address, vip: Vip, label: Optional[str], scope: str, interface: str, deprecated: bool = False
) -> bool:
    if addr.prefixlen != vip.prefix:
        return False
    if vip.version == 4:
        # IPv6 derives the scope from the address itself; labels are IPv4 only
        return addr.scope == SCOPES[scope] and (addr.label or interface) == (label or interface)
    return bool(addr.flags & IFA_F_DEPRECATED) == deprecated


def check_arp_trap(req: Request, target: Optional[Link], links: Dict[int, Link], addresses: Sequence[Address]) -> None:
    """Refuse a real-server VIP that an ARP-answering NIC also carries.

    With ``role: realserver`` (or ``auto`` and a VIP on a non-ARP link such
    as ``lo``, a dummy or a tunnel), the VIP must not be on any ethernet
    NIC: the real server would answer ARP for it and steal the traffic.
    """
    if req.state != "present" or req.role == "director":
        return
    target_arps = target is not None and target.does_arp
    if req.role == "realserver" and target_arps:
        raise VipError(
            f"role realserver: {req.interface} answers ARP, a real server VIP belongs on lo, a dummy or a tunnel"
            " interface (with arp_ignore/arp_announce set by lvs.cluster.arp_sysctl)"
        )
    if req.role == "auto" and target_arps:
        return
    wanted = {v.address for v in req.vips}
    for addr in addresses:
        link = links.get(addr.index)
        if addr.address not in wanted or link is None or link.name == req.interface:
            continue
        if link.does_arp:
            raise VipError(
                f"VIP {addr.address} is already on {link.name}, an interface that answers ARP: a real server would"
                f" steal the VIP's traffic from the director (the ARP problem). Remove it from {link.name} first,"
                " or set role: director"
            )


def plan_vips(
    req: Request,
    links: Sequence[Link],
    addresses: Sequence[Address],
    ipv6_disabled: Callable[[str], bool],
    gue_ports: Optional[Sequence[FouPort]] = None,
) -> Plan:
    """Compute the steps that bring ``req.interface`` to the requested state.

    ``ipv6_disabled(name)`` tells whether IPv6 is disabled on an interface
    (``name`` may be ``default`` for a link that does not exist yet).
    ``gue_ports`` are the fou receive ports (None: the fou module is not loaded).
    Raises VipError for any invalid request before anything is written.
    """
    gue_steps = plan_gue(req, gue_ports)
    by_name = {link.name: link for link in links}
    by_index = {link.index: link for link in links}
    target = by_name.get(req.interface)
    plan = Plan()
    on_target = [a for a in addresses if target is not None and a.index == target.index]
    plan.before = format_addresses(on_target)

    if target is None:
        if req.state == "absent":
            plan.after = []
            plan.steps.extend(gue_steps)
            return plan
        if req.kind == "dummy":
            plan.steps.append(Step("create", req.interface, kind="dummy"))
        elif req.interface in TUNNEL_MODULES:
            plan.steps.append(Step("modprobe", req.interface, module=TUNNEL_MODULES[req.interface]))
        else:
            raise VipError(
                "interface {} does not exist ({}; use kind: dummy to create a dummy interface, or one of {}"
                " for a tunnel)".format(req.interface, interface_hint(links), ", ".join(sorted(TUNNEL_MODULES)))
            )
    elif req.kind == "dummy" and target.kind != "dummy":
        raise VipError(f"kind dummy: {req.interface} exists and is not a dummy interface (kind {target.kind})")

    if req.state == "present":
        if any(v.version == 6 for v in req.vips) and ipv6_disabled(req.interface if target else "default"):
            raise VipError(f"IPv6 is disabled on {req.interface} (net.ipv6.conf.{req.interface}.disable_ipv6 = 1)")
        check_arp_trap(req, target, by_index, addresses)

    if req.state == "present" and (target is None or (not target.is_up and not target.does_arp)):
        # virtual links (lo, dummy, tunnels) are brought up; a NIC's link state is left alone
        plan.steps.append(Step("up", req.interface))

    after: List[str] = list(plan.before)
    removed = set()
    for vip in req.vips:
        current = [a for a in on_target if a.address == vip.address]
        if req.state == "absent":
            for a in current:
                plan.steps.append(Step("delete", req.interface, vip=vip, prefix=a.prefixlen))
                after = [line for line in after if line.split()[0] != a.cidr]
                removed.add(a.address)
            continue
        old = deprecate(vip, target)
        if current and all(_matches(a, vip, req.label, req.scope, req.interface, old) for a in current):
            continue
        for a in current:
            plan.steps.append(Step("delete", req.interface, vip=vip, prefix=a.prefixlen))
            after = [line for line in after if line.split()[0] != a.cidr]
        plan.steps.append(Step("add", req.interface, vip=vip, flags=nodad_flags(vip, target), deprecated=old))
        after.append(_vip_line(vip, req.label, req.scope, req.interface, old))
    plan.after = sort_lines(after)
    if req.state == "absent" and req.kind == "dummy" and target is not None and target.kind == "dummy":
        # the dummy link exists for the VIPs: once none of its addresses is left, it goes too
        left = [a for a in on_target if a.address not in removed and not a.address.is_link_local]
        if not left:
            plan.steps.append(Step("destroy", req.interface, kind="dummy"))
    plan.steps.extend(gue_steps)
    return plan


def plan_gue(req: Request, ports: Optional[Sequence[FouPort]]) -> List[Step]:
    """The fou steps for ``req.gue_port``; a port taken by another kind of fou receiver is an error."""
    if req.gue_port is None:
        return []
    family = req.gue_family
    same = [p for p in ports or [] if p.port == req.gue_port and p.family == family]
    ours = [p for p in same if p.encap == "gue" and not p.bound]
    if req.state == "absent":
        return [Step("gue_delete", req.interface, prefix=req.gue_port)] if ours else []
    if ours:
        return []
    if same:
        raise VipError(
            f"udp port {req.gue_port} (ipv{family}) is already a fou receive port of another kind"
            f" ({same[0].encap}{', bound to an address or device' if same[0].bound else ''}): remove it first"
        )
    steps = [Step("modprobe", req.interface, module="fou")] if ports is None else []
    return steps + [Step("gue_add", req.interface, prefix=req.gue_port)]


def diff_text(lines: Sequence[str]) -> str:
    return "".join(line + "\n" for line in lines)


def summarize(steps: Sequence[Step]) -> List[str]:
    return [s.describe() for s in steps]
