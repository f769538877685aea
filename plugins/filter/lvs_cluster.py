# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side planning and validation of an LVS cluster described by an inventory.

Only the Python standard library (``ipaddress``) is used, so no netaddr or
ansible.utils is needed on the controller.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from ansible.errors import AnsibleFilterError

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

MODES = ("nat", "dr", "tun")
FORWARD = {"nat": "masq", "dr": "route", "tun": "tunnel"}
PROTOCOLS = ("tcp", "udp", "sctp")
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")
SCHED_FLAGS = {"sh-fallback": "sh", "sh-port": "sh", "mh-fallback": "mh", "mh-port": "mh"}
TUN_TYPES = ("ipip", "gue", "gre")
HOST_ROLES = ("director", "realserver", "nfs")
SERVICE_KEYS = frozenset(
    (
        "name",
        "vip",
        "protocol",
        "port",
        "ports",
        "fwmark",
        "scheduler",
        "sched_flags",
        "persistent",
        "netmask",
        "one_packet",
        "rs_port",
        "weight",
        "u_threshold",
        "l_threshold",
    )
)


def _ip(value: Any) -> Optional[IPAddress]:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _net(value: Any) -> Optional[IPNetwork]:
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return None


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _service_name(svc: Mapping[str, Any], index: int) -> str:
    return str(svc.get("name") or "lvs_services[%d]" % index)


def _check_services(cluster: Mapping[str, Any], vips: List[IPAddress], errors: List[str]) -> None:
    prefix = "%s: lvs_services" % cluster.get("name", "?")
    mode = cluster.get("mode")
    services = cluster.get("services")
    if not isinstance(services, list) or not services:
        errors.append("%s must be a non-empty list" % prefix)
        return
    seen_names = set()
    for index, svc in enumerate(services):
        name = _service_name(svc if isinstance(svc, Mapping) else {}, index)
        where = "%s[%d] (%s)" % (prefix, index, name)
        if not isinstance(svc, Mapping):
            errors.append("%s must be a dict" % where)
            continue
        unknown = sorted(set(svc) - SERVICE_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
        if name in seen_names:
            errors.append("%s: duplicate service name" % where)
        seen_names.add(name)
        vip = svc.get("vip")
        if vip is not None:
            addr = _ip(vip)
            if addr is None:
                errors.append("%s: vip %r is not an IP address" % (where, vip))
            elif addr not in vips:
                errors.append("%s: vip %s is not in lvs_vips" % (where, vip))
        protocol = svc.get("protocol", "tcp")
        if protocol not in PROTOCOLS:
            errors.append("%s: protocol %r must be one of %s" % (where, protocol, ", ".join(PROTOCOLS)))
        if "fwmark" in svc:
            if not _int_in(svc["fwmark"], 1, 0xFFFFFFFF):
                errors.append("%s: fwmark must be an integer 1..4294967295" % where)
            ports = svc.get("ports")
            if not isinstance(ports, list) or not ports or not all(_int_in(p, 1, 65535) for p in ports):
                errors.append("%s: a fwmark service needs ports, a list of ports 1..65535 to mark" % where)
            if "port" in svc:
                errors.append("%s: a fwmark service takes ports, not port" % where)
            if "rs_port" in svc:
                errors.append("%s: rs_port is not possible with a fwmark service" % where)
        else:
            if not _int_in(svc.get("port"), 0, 65535):
                errors.append("%s: port must be an integer 0..65535" % where)
            if "ports" in svc:
                errors.append("%s: ports is only for fwmark services" % where)
        if "rs_port" in svc:
            if mode != "nat":
                errors.append(
                    "%s: rs_port (port mapping) is only possible in NAT mode, not %s" % (where, str(mode).upper())
                )
            elif not _int_in(svc["rs_port"], 1, 65535):
                errors.append("%s: rs_port must be an integer 1..65535" % where)
        scheduler = svc.get("scheduler", "wlc")
        if scheduler not in SCHEDULERS:
            errors.append("%s: scheduler %r must be one of %s" % (where, scheduler, ", ".join(SCHEDULERS)))
        for flag in svc.get("sched_flags", []) or []:
            if SCHED_FLAGS.get(flag) != scheduler:
                errors.append("%s: sched_flags %r does not go with scheduler %s" % (where, flag, scheduler))
        if not _int_in(svc.get("persistent", 0), 0, 0x7FFFFFFF):
            errors.append("%s: persistent must be a number of seconds >= 0" % where)
        if "netmask" in svc and not svc.get("persistent"):
            errors.append("%s: netmask needs persistent" % where)
        if not _int_in(svc.get("weight", 1), 0, 65535):
            errors.append("%s: weight must be an integer 0..65535" % where)
        upper = svc.get("u_threshold", 0)
        lower = svc.get("l_threshold", 0)
        if not _int_in(upper, 0, 0xFFFFFFFF) or not _int_in(lower, 0, 0xFFFFFFFF):
            errors.append("%s: u_threshold and l_threshold must be integers >= 0" % where)
        elif upper and lower > upper:
            errors.append("%s: l_threshold %d exceeds u_threshold %d" % (where, lower, upper))


def lvs_cluster_errors(cluster: Mapping[str, Any]) -> List[str]:
    """Return the list of problems of a cluster model; empty when it is valid.

    ``cluster`` keys: ``name``, ``mode``, ``vips``, ``network``, ``services``,
    ``tun_type``, ``tun_port``, ``nat_gateway`` and ``hosts`` (a list of dicts
    with ``name``, ``role``, ``address``, ``weight``, ``weights``).
    """
    if not isinstance(cluster, Mapping):
        raise AnsibleFilterError("lvs_cluster_errors expects a dict, got %s" % type(cluster).__name__)
    errors: List[str] = []
    name = str(cluster.get("name") or "")
    cname = name or "?"
    if not name:
        errors.append("?: lvs_cluster (the cluster's identity, its group name) is not set")
    mode = cluster.get("mode")
    if mode not in MODES:
        errors.append("%s: lvs_mode %r must be one of nat, dr, tun" % (cname, mode))

    vips: List[IPAddress] = []
    raw_vips = cluster.get("vips")
    if not isinstance(raw_vips, list) or not raw_vips:
        errors.append("%s: lvs_vips must be a non-empty list of addresses" % cname)
        raw_vips = []
    for vip in raw_vips:
        addr = _ip(vip)
        if addr is None:
            errors.append("%s: lvs_vips entry %r is not an IP address" % (cname, vip))
        else:
            vips.append(addr)

    network: Optional[IPNetwork] = None
    raw_net = cluster.get("network")
    if raw_net in (None, ""):
        if mode in ("nat", "dr"):
            errors.append("%s: lvs_network (the real servers' network, CIDR) is required in %s mode" % (cname, mode))
    else:
        network = _net(raw_net)
        if network is None:
            errors.append("%s: lvs_network %r is not a network in CIDR form (host bits must be 0)" % (cname, raw_net))

    if mode == "tun":
        tun_type = cluster.get("tun_type", "ipip")
        if tun_type not in TUN_TYPES:
            errors.append("%s: lvs_tun_type %r must be one of %s" % (cname, tun_type, ", ".join(TUN_TYPES)))
        if tun_type == "gue" and not _int_in(cluster.get("tun_port"), 1, 65535):
            errors.append("%s: lvs_tun_port (1..65535) is required with lvs_tun_type gue" % cname)

    _check_services(cluster, vips, errors)

    hosts = cluster.get("hosts") or []
    by_role: Dict[str, List[Mapping[str, Any]]] = {r: [] for r in HOST_ROLES}
    addresses: Dict[IPAddress, str] = {}
    for host in hosts:
        hname = host.get("name", "?")
        role = host.get("role")
        if role not in HOST_ROLES:
            errors.append("%s: %s: role %r must be one of %s" % (cname, hname, role, ", ".join(HOST_ROLES)))
            continue
        by_role[role].append(host)
        addr = _ip(host.get("address"))
        if addr is None:
            errors.append(
                "%s: %s: lvs_address %r is not an IP address (set lvs_address in its host_vars)"
                % (cname, hname, host.get("address"))
            )
            continue
        if addr in addresses and addresses[addr] != hname:
            errors.append("%s: %s: lvs_address %s is also used by %s" % (cname, hname, addr, addresses[addr]))
        addresses[addr] = hname
        if addr in vips:
            errors.append("%s: %s: lvs_address %s is one of the VIPs (lvs_vips)" % (cname, hname, addr))
        if role == "realserver":
            _check_real_server(cluster, host, addr, network, errors)
        if role == "director" and network is not None and mode in ("nat", "dr") and addr not in network:
            errors.append(
                "%s: %s: lvs_address %s of the director is not in lvs_network %s (%s)"
                % (
                    cname,
                    hname,
                    addr,
                    network,
                    "DR needs the director on the real servers' L2 segment"
                    if mode == "dr"
                    else "NAT needs the director's inner address there",
                )
            )
        if role == "nfs" and network is not None and addr not in network:
            errors.append(
                "%s: %s: lvs_address %s of the NFS server is not in lvs_network %s" % (cname, hname, addr, network)
            )

    if not by_role["director"]:
        errors.append("%s: no director (add a host to lvs_directors and to the cluster group)" % cname)
    if not by_role["realserver"]:
        errors.append("%s: no real server (add hosts to lvs_realservers and to the cluster group)" % cname)

    if mode == "nat":
        for vip in vips:
            if network is not None and vip in network:
                errors.append(
                    "%s: lvs_vips entry %s is inside lvs_network %s; a NAT VIP must be on the director's outer network"
                    % (cname, vip, network)
                )
        gateway = cluster.get("nat_gateway")
        if gateway not in (None, ""):
            gw = _ip(gateway)
            if gw is None:
                errors.append("%s: lvs_nat_gateway %r is not an IP address" % (cname, gateway))
            elif network is not None and gw not in network:
                errors.append("%s: lvs_nat_gateway %s is not in lvs_network %s" % (cname, gw, network))
    return errors


def _check_real_server(
    cluster: Mapping[str, Any],
    host: Mapping[str, Any],
    addr: IPAddress,
    network: Optional[IPNetwork],
    errors: List[str],
) -> None:
    cname = cluster.get("name") or "?"
    hname = host.get("name", "?")
    mode = cluster.get("mode")
    if network is not None and mode in ("nat", "dr") and addr not in network:
        why = (
            "DR real servers must be on the director's L2 segment"
            if mode == "dr"
            else "NAT real servers must be behind the director"
        )
        errors.append("%s: %s: lvs_address %s is not in lvs_network %s (%s)" % (cname, hname, addr, network, why))
    weight = host.get("weight")
    if weight is not None and not _int_in(weight, 0, 65535):
        errors.append("%s: %s: lvs_weight %r must be an integer 0..65535" % (cname, hname, weight))
    weights = host.get("weights") or {}
    if not isinstance(weights, Mapping):
        errors.append("%s: %s: lvs_weights must be a dict of service name to weight" % (cname, hname))
        return
    names = {_service_name(s, i) for i, s in enumerate(cluster.get("services") or []) if isinstance(s, Mapping)}
    for svc_name, value in weights.items():
        if svc_name not in names:
            errors.append("%s: %s: lvs_weights names unknown service %r" % (cname, hname, svc_name))
        if not _int_in(value, 0, 65535):
            errors.append("%s: %s: lvs_weights[%s] must be an integer 0..65535" % (cname, hname, svc_name))


def lvs_cluster_hosts(names: Sequence[str], hostvars: Mapping[str, Any], role: str) -> List[Dict[str, Any]]:
    """Describe inventory hosts for the cluster model: name, role, address, weight, weights.

    Sorted by name: the group order of an inventory is not stable from run to run, and
    what is rendered from it (keepalived.conf) must be, or a second run is not a no-op.
    """
    result: List[Dict[str, Any]] = []
    for name in sorted(names, key=str):
        hv = hostvars[name]
        address = hv.get("lvs_address")
        if address in (None, ""):
            address = hv.get("ansible_host", name)
        result.append(
            {
                "name": str(name),
                "role": role,
                "address": str(address),
                "weight": hv.get("lvs_weight"),
                "weights": dict(hv.get("lvs_weights") or {}),
            }
        )
    return result


def lvs_ipvs_services(
    services: Sequence[Mapping[str, Any]],
    real_servers: Sequence[Mapping[str, Any]],
    mode: str,
    vips: Sequence[str],
    tun_type: str = "ipip",
    tun_port: Optional[int] = None,
) -> List[Dict[str, Any]]:
    """Build the ``services`` argument of ``lvs.cluster.ipvs_table`` from the cluster model."""
    if mode not in FORWARD:
        raise AnsibleFilterError("lvs_ipvs_services: mode must be one of nat, dr, tun, got %r" % (mode,))
    if not vips:
        raise AnsibleFilterError("lvs_ipvs_services: at least one VIP is needed")
    result: List[Dict[str, Any]] = []
    for index, svc in enumerate(services):
        name = _service_name(svc, index)
        vip = str(svc.get("vip") or vips[0])
        out: Dict[str, Any] = {
            "scheduler": svc.get("scheduler", "wlc"),
            "sched_flags": list(svc.get("sched_flags") or []),
            "persistent": int(svc.get("persistent", 0)),
        }
        if svc.get("netmask") is not None:
            out["netmask"] = str(svc["netmask"])
        if svc.get("one_packet"):
            out["one_packet"] = True
        if "fwmark" in svc:
            out["fwmark"] = int(svc["fwmark"])
            out["family"] = "ipv6" if ":" in vip else "ipv4"
        else:
            out["protocol"] = svc.get("protocol", "tcp")
            out["address"] = vip
            out["port"] = int(svc["port"])
        rs_list: List[Dict[str, Any]] = []
        for rs in real_servers:
            weights = rs.get("weights") or {}
            weight = weights.get(name, rs.get("weight"))
            if weight is None:
                weight = svc.get("weight", 1)
            entry: Dict[str, Any] = {
                "address": str(rs["address"]),
                "forward": FORWARD[mode],
                "weight": int(weight),
                "u_threshold": int(svc.get("u_threshold", 0)),
                "l_threshold": int(svc.get("l_threshold", 0)),
            }
            if "fwmark" not in svc:
                entry["port"] = int(svc.get("rs_port", svc["port"])) if mode == "nat" else int(svc["port"])
            if mode == "tun":
                entry["tun_type"] = tun_type
                if tun_type == "gue":
                    entry["tun_port"] = int(tun_port or 0)
            rs_list.append(entry)
        out["real_servers"] = rs_list
        result.append(out)
    return result


def lvs_nft_rules(services: Sequence[Mapping[str, Any]], vips: Sequence[str]) -> List[str]:
    """nftables rule lines (inet family) that set the firewall mark of fwmark services."""
    lines: List[str] = []
    for svc in services:
        if "fwmark" not in svc:
            continue
        vip = str(svc.get("vip") or vips[0])
        family = "ip6" if ":" in vip else "ip"
        ports = ", ".join(str(int(p)) for p in svc.get("ports", []))
        protocol = svc.get("protocol", "tcp")
        lines.append(
            "%s daddr %s %s dport { %s } meta mark set %d" % (family, vip, protocol, ports, int(svc["fwmark"]))
        )
    return lines


def lvs_iptables_rules(services: Sequence[Mapping[str, Any]], vips: Sequence[str], family: int = 4) -> List[str]:
    """iptables-restore lines for the chain LVS_CLUSTER_MARK (table mangle) that set the firewall
    mark of fwmark services; ``family`` 4 for iptables, 6 for ip6tables (the VIPs of that family)."""
    lines: List[str] = []
    for svc in services:
        if "fwmark" not in svc:
            continue
        vip = str(svc.get("vip") or vips[0])
        if (6 if ":" in vip else 4) != int(family):
            continue
        ports = ",".join(str(int(p)) for p in svc.get("ports", []))
        lines.append(
            "-A LVS_CLUSTER_MARK -d %s/%d -p %s -m multiport --dports %s -j MARK --set-mark %d"
            % (vip, 128 if ":" in vip else 32, svc.get("protocol", "tcp"), ports, int(svc["fwmark"]))
        )
    return lines


def lvs_systemd_mount_unit(path: str) -> str:
    """Name of the systemd mount unit for an absolute path (like ``systemd-escape -p --suffix=mount``)."""
    path = str(path)
    if not path.startswith("/"):
        raise AnsibleFilterError("lvs_systemd_mount_unit: %r is not an absolute path" % path)
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "-.mount"
    escaped = []
    for part in parts:
        chars = []
        for i, ch in enumerate(part):
            if ch.isalnum() and ch.isascii() or ch in "_:" or (ch == "." and i > 0):
                chars.append(ch)
            else:
                chars.append("".join("\\x%02x" % b for b in ch.encode("utf-8")))
        escaped.append("".join(chars))
    return "-".join(escaped) + ".mount"


class FilterModule:
    """lvs.cluster cluster-model filters."""

    def filters(self) -> Dict[str, Any]:
        return {
            "lvs_cluster_errors": lvs_cluster_errors,
            "lvs_cluster_hosts": lvs_cluster_hosts,
            "lvs_ipvs_services": lvs_ipvs_services,
            "lvs_nft_rules": lvs_nft_rules,
            "lvs_iptables_rules": lvs_iptables_rules,
            "lvs_systemd_mount_unit": lvs_systemd_mount_unit,
        }
