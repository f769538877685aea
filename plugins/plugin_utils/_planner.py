# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where group vars become module arguments: the one planner of lvs.cluster.

Controller side, pure Python (standard library and ``_ipvs_model``), no Ansible import.

* ``cluster_model(hostvars, groups, host)``: the inventory model of a host's cluster
  (``lvs_*`` variables, group membership) as one dict.
* ``cluster_errors(model)``: the one validator - inventory-level checks plus every check of
  the role plans below, for every host of the cluster; messages name the cluster, host and item.
* ``host_options(model, host)``: the role options of one host (``director_*``,
  ``realserver_*``, ``nfs_*``), what ``playbooks/site.yml`` passes to the roles.
* ``director_plan(options, host)``, ``realserver_plan(options)``, ``nfs_plan(options)``: role
  options -> module arguments and template data (the IPVS table with service names, VIPs,
  firewall rules, kernel modules, keepalived instance and checks; VIP, tunnel, ARP sysctls,
  routes, mounts; exports). The roles render these and hold no model logic.
* ``drain_targets(model, host)``: the services of a real server, by name, for drain/undrain.

The vocabulary (schedulers, protocols, scheduler flags, tunnel types, limits) and the
IPVS service checks come from ``_ipvs_model`` only.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ansible_collections.lvs.cluster.plugins.module_utils._drain import DRAIN_DIR, drain_path
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import (
    MAX_THRESHOLD,
    MAX_WEIGHT,
    PROTOCOLS,
    TUN_TYPES,
    IpvsValidationError,
    service_from_spec,
)
from ansible_collections.lvs.cluster.plugins.module_utils._observe import expected_services

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class PlanError(Exception):
    """Invalid input of a plan; ``errors`` lists every problem found, each naming its item."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


MODES = ("nat", "dr", "tun")
FORWARD = {"nat": "masq", "dr": "route", "tun": "tunnel"}
KEEPALIVED_METHOD = {"nat": "NAT", "dr": "DR", "tun": "TUN"}
HOST_ROLES = ("director", "realserver", "nfs")
ROLE_GROUPS = {"director": "lvs_directors", "realserver": "lvs_realservers", "nfs": "lvs_nfs"}
TUN_DEVICES = {"ipip": "tunl0", "gre": "gre0", "gue": "tunl0"}
TUN_MODULES = {"ipip": ["ipip"], "gre": ["ip_gre"], "gue": ["fou"]}
DEFAULT_SCHEDULER = "wlc"

# The one default name of a service without ``name`` (lvs_weights, keepalived, drain/undrain).
DEFAULT_SERVICE_NAME = "lvs_services[{index}]"

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

# Health checks of HA mode: the defaults of every virtual server (the role's
# director_ha_virtual_server default repeats them for its documentation) and the check keys.
CHECK_DEFAULTS: Dict[str, Any] = {
    "delay_loop": 3,
    "retry": 1,
    "delay_before_retry": 1,
    "connect_timeout": 2,
    "inhibit_on_failure": False,
    "sorry_server": "",
    "quorum": 1,
    "hysteresis": 0,
}
CHECK_TYPES = ("TCP_CHECK", "HTTP_GET", "SSL_GET", "DNS_CHECK", "UDP_CHECK", "MISC_CHECK", "FILE_CHECK")
# Keys of one checker (a service's flat keys describe its one checker; ``checkers`` lists several);
# the other check keys are the virtual server's (delay_loop, quorum, hysteresis, sorry_server,
# inhibit_on_failure) or defaults of its checkers (retry, delay_before_retry, connect_timeout).
CHECKER_KEYS = frozenset(
    (
        "type",
        "connect_port",
        "connect_timeout",
        "retry",
        "delay_before_retry",
        "delay_loop",
        "warmup",
        "alpha",
        "path",
        "status_code",
        "urls",
        "virtualhost",
        "sni",
        "misc_path",
        "misc_timeout",
        "misc_dynamic",
        "dns_type",
        "dns_name",
        "payload",
        "require_reply",
        "file",
    )
)
DNS_TYPES = ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA")
HOST_NAME_RE = re.compile(r"^(\.|[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?)$")
HEX_RE = re.compile(r"^[0-9A-Fa-f]([0-9A-Fa-f ]{0,510}[0-9A-Fa-f])?$")
STATUS_RE = re.compile(r"^[1-5][0-9]{2}(-[1-5][0-9]{2})?$")
FILE_PATH_RE = re.compile(r"^(/[A-Za-z0-9_.%+-]+)+$")
CHECK_INTS = {
    "delay_loop": (1, 86400),
    "retry": (0, 1000),
    "delay_before_retry": (0, 86400),
    "connect_timeout": (1, 86400),
    "quorum": (0, 2**31 - 1),
    "hysteresis": (0, 2**31 - 1),
    "status_code": (100, 599),
    "connect_port": (0, 65535),
    "misc_timeout": (1, 86400),
    "warmup": (0, 86400),
}
CHECK_KEYS = frozenset(CHECK_DEFAULTS) | frozenset(CHECK_INTS) | CHECKER_KEYS | {"checkers"}

# Allow-lists of the strings written into files (keepalived.conf, /etc/default/ipvsadm, the
# ifupdown hook, nft/iptables rules, mount units, nginx, exports): nothing that ends a token,
# a line, a block or a quoted string there.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\[\]-]{0,63}$")
CLUSTER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
IFACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")  # IFNAMSIZ - 1
PATH_RE = re.compile(r"^(/[A-Za-z0-9_.+-]+)+/?$|^/$")
HTTP_PATH_RE = re.compile(r"^/[A-Za-z0-9._~%/?=&+,:@-]*$")
MISC_PATH_RE = re.compile(r"^/[A-Za-z0-9._/%@+=:, -]*$")
NFS_OPTION_RE = re.compile(r"^[a-z0-9_]+(=[A-Za-z0-9_.:/@-]+)?$")
NFS_REFUSED_OPTIONS = ("no_root_squash", "insecure")
MOUNT_REFUSED_OPTIONS = ("suid", "dev")
MOUNT_HARDENING = ["nosuid", "nodev"]


def service_name(svc: Mapping[str, Any], index: int) -> str:
    """The service's ``name``, or the one default name of an unnamed service."""
    name = svc.get("name") if isinstance(svc, Mapping) else None
    return str(name) if name else DEFAULT_SERVICE_NAME.format(index=index)


def rs_marker(address: str, name: str) -> str:
    """The comment above a real server block of keepalived.conf (where a reader finds it)."""
    return "# lvs.cluster rs %s service %s" % (address, name)


# --- small checks ------------------------------------------------------------------------------


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


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "on", "1", "y")
    return bool(value)


def _match(regex: re.Pattern[str], value: Any, what: str, errors: List[str], hint: str) -> bool:
    if isinstance(value, str) and regex.match(value) and "\n" not in value:
        return True
    errors.append("%s %r is refused (%s)" % (what, value, hint))
    return False


def check_iface(value: Any, what: str, errors: List[str]) -> bool:
    return _match(IFACE_RE, value, what, errors, "an interface name: letters, digits, _ . -, at most 15")


def check_path(value: Any, what: str, errors: List[str]) -> bool:
    ok = _match(PATH_RE, value, what, errors, "an absolute path of letters, digits and _ . + -")
    if ok and any(part in (".", "..") for part in str(value).split("/")):
        errors.append("%s %r is refused (no . or .. components)" % (what, value))
        return False
    return ok


def vip_problem(addr: IPAddress) -> Optional[str]:
    """Why an address cannot be a VIP (None when it can)."""
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_loopback:
        return "a loopback address"
    if isinstance(addr, ipaddress.IPv4Address) and addr == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if addr.is_link_local:
        return "a link-local address"
    return None


def _family(address: str) -> str:
    return "ipv6" if ":" in address else "ipv4"


# --- the inventory model -----------------------------------------------------------------------


def _host_entry(name: str, hv: Mapping[str, Any], role: str) -> Dict[str, Any]:
    address = hv.get("lvs_address")
    if address in (None, ""):
        address = hv.get("ansible_host", name)
    prefix = role + "_"
    return {
        "name": str(name),
        "role": role,
        "address": str(address),
        "weight": hv.get("lvs_weight"),
        "weights": dict(hv.get("lvs_weights") or {}),
        # the role options the user set for the host (group_vars/host_vars), checked with the plan
        "options": {str(k): hv[k] for k in list(hv.keys()) if str(k).startswith(prefix)},
    }


# inventory variable -> (model key, default)
CLUSTER_VARS: Dict[str, Tuple[str, Any]] = {
    "lvs_cluster": ("name", ""),
    "lvs_mode": ("mode", ""),
    "lvs_vips": ("vips", []),
    "lvs_network": ("network", ""),
    "lvs_interface": ("interface", "eth1"),
    "lvs_vip_interface": ("vip_interface", ""),
    "lvs_services": ("services", []),
    "lvs_tun_type": ("tun_type", "ipip"),
    "lvs_tun_port": ("tun_port", 0),
    "lvs_nat_gateway": ("nat_gateway", ""),
    "lvs_firewall": ("firewall", "auto"),
    "lvs_nat_masquerade": ("nat_masquerade", False),
    "lvs_nat_forward_policy": ("nat_forward_policy", True),
    "lvs_purge": ("purge", False),
    "lvs_nfs_exports": ("nfs_exports", []),
    "lvs_content_path": ("content_path", "/var/www/lvs"),
    "lvs_web_server": ("web_server", True),
    "lvs_web_port": ("web_port", 80),
    "lvs_ha": ("ha", False),
    "lvs_checks": ("checks", False),
    "lvs_slow_start": ("slow_start", 0),
    "lvs_metrics": ("metrics", False),
    "lvs_ha_router_id": ("ha_router_id", 51),
    "lvs_ha_priority": ("ha_priority", 0),
    "lvs_ha_nopreempt": ("ha_nopreempt", False),
    "lvs_ha_auth_pass": ("ha_auth_pass", ""),
    "lvs_ha_unicast": ("ha_unicast", False),
    "lvs_ha_advert_int": ("ha_advert_int", 0),
    "lvs_ha_vrrp_version": ("ha_vrrp_version", 0),
    "lvs_ha_track_interfaces": ("ha_track_interfaces", []),
    "lvs_ha_track_scripts": ("ha_track_scripts", []),
    "lvs_ha_notify": ("ha_notify", {}),
    "lvs_ha_garp": ("ha_garp", {}),
    "lvs_ha_preempt_delay": ("ha_preempt_delay", 0),
    "lvs_ha_virtual_server": ("ha_virtual_server", {}),
    "lvs_ha_checks": ("ha_checks", {}),
}


def _complete(model: Mapping[str, Any]) -> Dict[str, Any]:
    """The model with the defaults of the keys it does not have."""
    out = dict(CLUSTER_VARS.values())
    out.update(model)
    out["vip_interface"] = out["vip_interface"] or out["interface"]
    return out


def cluster_model(hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], host: str) -> Dict[str, Any]:
    """The inventory model of ``host``'s cluster: its ``lvs_*`` variables (as ``host`` sees them)
    and its hosts (sorted by name: inventory order is not stable, what is rendered must be)."""
    hv = hostvars[host]
    model: Dict[str, Any] = {key: hv.get(var, default) for var, (key, default) in CLUSTER_VARS.items()}
    model["vip_interface"] = model["vip_interface"] or model["interface"]
    members = set(groups.get(str(model["name"]), []) or []) if model["name"] else set()
    hosts: List[Dict[str, Any]] = []
    for role in HOST_ROLES:
        for name in sorted(members & set(groups.get(ROLE_GROUPS[role], []) or []), key=str):
            hosts.append(_host_entry(name, hostvars[name], role))
    model["hosts"] = hosts
    return model


def _hosts(model: Mapping[str, Any], role: str) -> List[Dict[str, Any]]:
    return [h for h in model.get("hosts") or [] if h.get("role") == role]


# --- the one validator --------------------------------------------------------------------------


def _check_services(model: Mapping[str, Any], vips: List[IPAddress], errors: List[str]) -> None:
    """Inventory-level service checks; the IPVS checks are _ipvs_model's (ipvs_services)."""
    prefix = "%s: lvs_services" % (model.get("name") or "?")
    mode = model.get("mode")
    services = model.get("services")
    if not isinstance(services, list) or not services:
        errors.append("%s must be a non-empty list" % prefix)
        return
    seen = set()
    for index, svc in enumerate(services):
        name = service_name(svc, index)
        where = "%s[%d] (%s)" % (prefix, index, name)
        if not isinstance(svc, Mapping):
            errors.append("%s must be a dict" % where)
            continue
        if "name" in svc:
            _match(NAME_RE, svc["name"], where + ": name", errors, "letters, digits and _ . : - [ ], at most 64")
        unknown = sorted(set(svc) - SERVICE_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
        if name in seen:
            errors.append("%s: duplicate service name" % where)
        seen.add(name)
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
            ports = svc.get("ports")
            if not isinstance(ports, list) or not ports or not all(_int_in(p, 1, 65535) for p in ports):
                errors.append("%s: a fwmark service needs ports, a list of ports 1..65535 to mark" % where)
            if "port" in svc:
                errors.append("%s: a fwmark service takes ports, not port" % where)
            if "rs_port" in svc:
                errors.append("%s: rs_port is not possible with a fwmark service" % where)
        elif "ports" in svc:
            errors.append("%s: ports is only for fwmark services" % where)
        if "rs_port" in svc:
            if mode != "nat":
                errors.append(
                    "%s: rs_port (port mapping) is only possible in NAT mode, not %s" % (where, str(mode).upper())
                )
            elif not _int_in(svc["rs_port"], 1, 65535):
                errors.append("%s: rs_port must be an integer 1..65535" % where)
        if not _int_in(svc.get("weight", 1), 0, MAX_WEIGHT):
            errors.append("%s: weight must be an integer 0..%d" % (where, MAX_WEIGHT))
        upper, lower = svc.get("u_threshold", 0), svc.get("l_threshold", 0)
        if not _int_in(upper, 0, MAX_THRESHOLD) or not _int_in(lower, 0, MAX_THRESHOLD):
            errors.append("%s: u_threshold and l_threshold must be integers >= 0" % where)
        elif upper and lower > upper:
            errors.append("%s: l_threshold %d exceeds u_threshold %d" % (where, lower, upper))


def _check_real_server(model: Mapping[str, Any], host: Mapping[str, Any], errors: List[str]) -> None:
    cname = model.get("name") or "?"
    hname = host.get("name", "?")
    weight = host.get("weight")
    if weight is not None and not _int_in(weight, 0, MAX_WEIGHT):
        errors.append("%s: %s: lvs_weight %r must be an integer 0..%d" % (cname, hname, weight, MAX_WEIGHT))
    weights = host.get("weights") or {}
    if not isinstance(weights, Mapping):
        errors.append("%s: %s: lvs_weights must be a dict of service name to weight" % (cname, hname))
        return
    names = {service_name(s, i) for i, s in enumerate(model.get("services") or [])}
    for svc_name, value in weights.items():
        if svc_name not in names:
            errors.append("%s: %s: lvs_weights names unknown service %r" % (cname, hname, svc_name))
        if not _int_in(value, 0, MAX_WEIGHT):
            errors.append("%s: %s: lvs_weights[%s] must be an integer 0..%d" % (cname, hname, svc_name, MAX_WEIGHT))


def cluster_errors(model: Mapping[str, Any]) -> List[str]:
    """Every problem of a cluster model; empty when it is valid.

    ``model``: see ``cluster_model`` (``name``, ``mode``, ``vips``, ``network``, ``services``,
    ``tun_type``, ``tun_port``, ``nat_gateway``, ..., ``hosts``: dicts with ``name``, ``role``,
    ``address``, ``weight``, ``weights``).
    """
    if not isinstance(model, Mapping):
        raise PlanError(["the cluster model must be a dict, got %s" % type(model).__name__])
    model = _complete(model)
    errors: List[str] = []
    name = str(model.get("name") or "")
    cname = name or "?"
    if not name:
        errors.append("?: lvs_cluster (the cluster's identity, its group name) is not set")
    elif not CLUSTER_RE.match(name):
        errors.append("%r: lvs_cluster is refused (a letter, then letters, digits and _, at most 32)" % name)
        cname = "?"
    mode = model.get("mode")
    if mode not in MODES:
        errors.append("%s: lvs_mode %r must be one of nat, dr, tun" % (cname, mode))

    vips: List[IPAddress] = []
    raw_vips = model.get("vips")
    if not isinstance(raw_vips, list) or not raw_vips:
        errors.append("%s: lvs_vips must be a non-empty list of addresses" % cname)
        raw_vips = []
    for vip in raw_vips:
        addr = _ip(vip)
        if addr is None:
            errors.append("%s: lvs_vips entry %r is not an IP address" % (cname, vip))
            continue
        problem = vip_problem(addr)
        if problem:
            errors.append("%s: lvs_vips entry %s is %s" % (cname, addr, problem))
        vips.append(addr)

    network: Optional[IPNetwork] = None
    raw_net = model.get("network")
    if raw_net in (None, ""):
        if mode in ("nat", "dr"):
            errors.append("%s: lvs_network (the real servers' network, CIDR) is required in %s mode" % (cname, mode))
    else:
        network = _net(raw_net)
        if network is None:
            errors.append("%s: lvs_network %r is not a network in CIDR form (host bits must be 0)" % (cname, raw_net))

    for var, key in (("lvs_interface", "interface"), ("lvs_vip_interface", "vip_interface")):
        check_iface(model.get(key), "%s: %s" % (cname, var), errors)

    if mode == "tun":
        tun_type = model.get("tun_type", "ipip")
        if tun_type not in TUN_TYPES:
            errors.append("%s: lvs_tun_type %r must be one of %s" % (cname, tun_type, ", ".join(TUN_TYPES)))
        if tun_type == "gue" and not _int_in(model.get("tun_port"), 1, 65535):
            errors.append("%s: lvs_tun_port (1..65535) is required with lvs_tun_type gue" % cname)

    _check_services(model, vips, errors)

    addresses: Dict[IPAddress, str] = {}
    for host in model.get("hosts") or []:
        hname = host.get("name", "?")
        role = host.get("role")
        if role not in HOST_ROLES:
            errors.append("%s: %s: role %r must be one of %s" % (cname, hname, role, ", ".join(HOST_ROLES)))
            continue
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
            problem = vip_problem(addr)
            if problem:
                errors.append("%s: %s: lvs_address %s is %s" % (cname, hname, addr, problem))
            if network is not None and mode in ("nat", "dr") and addr not in network:
                why = (
                    "DR real servers must be on the director's L2 segment"
                    if mode == "dr"
                    else "NAT real servers must be behind the director"
                )
                errors.append(
                    "%s: %s: lvs_address %s is not in lvs_network %s (%s)" % (cname, hname, addr, network, why)
                )
            _check_real_server(model, host, errors)
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

    if not _hosts(model, "director"):
        errors.append("%s: no director (add a host to lvs_directors and to the cluster group)" % cname)
    if not _hosts(model, "realserver"):
        errors.append("%s: no real server (add hosts to lvs_realservers and to the cluster group)" % cname)

    if mode == "nat":
        for vip in vips:
            if network is not None and vip in network:
                errors.append(
                    "%s: lvs_vips entry %s is inside lvs_network %s; a NAT VIP must be on the director's outer network"
                    % (cname, vip, network)
                )
        gateway = model.get("nat_gateway")
        if gateway not in (None, ""):
            gw = _ip(gateway)
            if gw is None:
                errors.append("%s: lvs_nat_gateway %r is not an IP address" % (cname, gateway))
            elif network is not None and gw not in network:
                errors.append("%s: lvs_nat_gateway %s is not in lvs_network %s" % (cname, gw, network))
        if _bool(model.get("ha")) and len(_hosts(model, "director")) > 1:
            owned = [h["name"] for h in _hosts(model, "director") if str(h.get("address")) == str(gateway or "")]
            if gateway in (None, "") or owned:
                errors.append(
                    "%s: lvs_nat_gateway must be a floating address of lvs_network (not a director's own"
                    " address%s): with lvs_ha the real servers' gateway moves with the VIP"
                    % (cname, " " + owned[0] if owned else "")
                )
    if errors:
        return errors
    # The role plans' checks (IPVS services, strings written to files, NFS, health checks), per host.
    for host in model.get("hosts") or []:
        options = host_options(model, host["name"])
        try:
            if host["role"] == "director":
                director_plan(options, host["name"])
            elif host["role"] == "realserver":
                realserver_plan(options)
            elif options.get("nfs_exports"):  # without exports the nfs role says so itself
                nfs_plan(options)
        except PlanError as exc:
            errors.extend("%s: %s: %s" % (cname, host["name"], e) for e in exc.errors if e not in errors)
    return errors


# --- inventory -> role options ------------------------------------------------------------------


def host_options(model: Mapping[str, Any], host: str) -> Dict[str, Any]:
    """The role options of ``host`` (``director_*``, ``realserver_*``, ``nfs_*``): what
    ``site.yml`` passes to the role of the host. Options the model does not set are left out
    (the role's defaults or the user's group_vars/host_vars apply)."""
    model = _complete(model)
    entry = next((h for h in model.get("hosts") or [] if h["name"] == host), None)
    role = entry["role"] if entry else ""
    own = dict(entry.get("options") or {}) if entry else {}
    return dict(own, **_planned_options(model, role))


def _planned_options(model: Mapping[str, Any], role: str) -> Dict[str, Any]:
    mode = model.get("mode")
    directors = _hosts(model, "director")
    nfs_hosts = _hosts(model, "nfs")
    exports = list(model.get("nfs_exports") or [])
    network = model.get("network") or ""
    if role == "nfs":
        return {"nfs_exports": exports, "nfs_clients": [network] if network else []}
    if role == "realserver":
        gateway = model.get("nat_gateway") or (directors[0]["address"] if directors else "")
        nfs_server = nfs_hosts[0]["address"] if nfs_hosts and exports else ""
        first = exports[0] if exports and isinstance(exports[0], Mapping) else {}
        return {
            "realserver_mode": mode,
            "realserver_vips": list(model.get("vips") or []),
            "realserver_interface": model.get("interface"),
            "realserver_tun_type": model.get("tun_type"),
            "realserver_tun_port": model.get("tun_port"),
            "realserver_nat_gateway": gateway if mode == "nat" else "",
            "realserver_nfs_server": nfs_server,
            "realserver_nfs_export": first.get("path", "") if nfs_server else "",
            "realserver_nfs_path": model.get("content_path"),
            "realserver_nfs_options": [first.get("mode", "ro") if nfs_server else "ro", "nfsvers=4.2", "_netdev"],
            "realserver_web_server": model.get("web_server"),
            "realserver_web_port": model.get("web_port"),
        }
    if role == "director":
        return {
            "director_mode": mode,
            "director_vips": list(model.get("vips") or []),
            "director_vip_interface": model.get("vip_interface"),
            "director_interface": model.get("interface"),
            "director_services": list(model.get("services") or []),
            "director_real_servers": [
                {k: h[k] for k in ("name", "address", "weight", "weights")} for h in _hosts(model, "realserver")
            ],
            "director_tun_type": model.get("tun_type"),
            "director_tun_port": model.get("tun_port"),
            "director_purge": model.get("purge"),
            "director_firewall": model.get("firewall"),
            "director_nat_masquerade": model.get("nat_masquerade"),
            "director_nat_forward_policy": model.get("nat_forward_policy"),
            "director_nat_masquerade_source": network,
            "director_nat_masquerade_interface": model.get("vip_interface"),
            "director_vs_conntrack": mode == "nat",
            "director_ha": model.get("ha"),
            "director_checks": model.get("checks"),
            "director_slow_start": model.get("slow_start") or 0,
            "director_cluster": model.get("name"),
            "director_metrics": model.get("metrics"),
            "director_ha_directors": [{"name": h["name"], "address": h["address"]} for h in directors],
            "director_ha_instance": "VI_%s" % model.get("name"),
            "director_ha_router_id": model.get("ha_router_id"),
            "director_ha_priority": model.get("ha_priority"),
            "director_ha_nopreempt": model.get("ha_nopreempt"),
            "director_ha_auth_pass": model.get("ha_auth_pass"),
            "director_ha_unicast": model.get("ha_unicast"),
            "director_ha_advert_int": model.get("ha_advert_int"),
            "director_ha_vrrp_version": model.get("ha_vrrp_version"),
            "director_ha_track_interfaces": model.get("ha_track_interfaces") or [],
            "director_ha_track_scripts": model.get("ha_track_scripts") or [],
            "director_ha_notify": model.get("ha_notify") or {},
            "director_ha_garp": model.get("ha_garp") or {},
            "director_ha_preempt_delay": model.get("ha_preempt_delay") or 0,
            "director_ha_nat_gateway": (model.get("nat_gateway") or "") if mode == "nat" else "",
            "director_ha_virtual_server": model.get("ha_virtual_server") or {},
            "director_ha_checks": model.get("ha_checks") or {},
        }
    return {}


# --- director -----------------------------------------------------------------------------------


def ipvs_services(
    services: Sequence[Mapping[str, Any]],
    real_servers: Sequence[Mapping[str, Any]],
    mode: str,
    vips: Sequence[str],
    tun_type: str = "ipip",
    tun_port: Optional[int] = None,
) -> List[Dict[str, Any]]:
    """The ``services`` argument of ``lvs.cluster.ipvs_table``: one spec per service, with its
    ``name`` kept as a label, and validated by ``_ipvs_model.service_from_spec``."""
    if mode not in FORWARD:
        raise PlanError(["mode must be one of nat, dr, tun, got %r" % (mode,)])
    if not vips:
        raise PlanError(["at least one VIP is needed"])
    result: List[Dict[str, Any]] = []
    errors: List[str] = []
    for index, svc in enumerate(services):
        name = service_name(svc, index)
        vip = str(svc.get("vip") or vips[0])
        out: Dict[str, Any] = {
            "name": name,
            "scheduler": svc.get("scheduler", DEFAULT_SCHEDULER),
            "sched_flags": list(svc.get("sched_flags") or []),
            "persistent": svc.get("persistent", 0),
        }
        if svc.get("netmask") is not None:
            out["netmask"] = str(svc["netmask"])
        if svc.get("one_packet"):
            out["one_packet"] = True
        if "fwmark" in svc:
            out["fwmark"] = svc["fwmark"]
            out["family"] = _family(vip)
        else:
            out["protocol"] = svc.get("protocol", "tcp")
            out["address"] = vip
            out["port"] = svc.get("port")
        rs_list: List[Dict[str, Any]] = []
        for rs in real_servers:
            weights = rs.get("weights") or {}
            weight = weights.get(name, rs.get("weight"))
            if weight is None:
                weight = svc.get("weight", 1)
            entry: Dict[str, Any] = {
                "address": str(rs["address"]),
                "forward": FORWARD[mode],
                "weight": weight,
                "u_threshold": svc.get("u_threshold", 0),
                "l_threshold": svc.get("l_threshold", 0),
            }
            if "fwmark" not in svc:
                entry["port"] = svc.get("rs_port", svc.get("port")) if mode == "nat" else svc.get("port")
            if mode == "tun":
                entry["tun_type"] = tun_type
                if tun_type == "gue":
                    entry["tun_port"] = tun_port or 0
            rs_list.append(entry)
        out["real_servers"] = rs_list
        try:
            checked = service_from_spec(out, "lvs_services[%d] (%s)" % (index, name))
        except IpvsValidationError as exc:
            errors.append(str(exc))
        else:
            # integers of the validated spec (inventory values may be strings of digits)
            out["persistent"] = checked.timeout
            if "fwmark" in out:
                out["fwmark"] = checked.fwmark
            else:
                out["port"] = checked.port
            for entry in rs_list:
                for key in ("weight", "u_threshold", "l_threshold", "port", "tun_port"):
                    if key in entry:
                        entry[key] = int(entry[key])
        result.append(out)
    if errors:
        raise PlanError(errors)
    return result


def _mark_rules(services: Sequence[Mapping[str, Any]], vips: Sequence[str]) -> Tuple[List[str], Dict[int, List[str]]]:
    """nftables rule lines (inet table) and iptables-restore lines per family (4, 6) that set
    the firewall mark of fwmark services."""
    nft: List[str] = []
    ipt: Dict[int, List[str]] = {4: [], 6: []}
    for svc in services:
        if "fwmark" not in svc:
            continue
        vip = str(svc.get("vip") or vips[0])
        v6 = ":" in vip
        protocol = svc.get("protocol", "tcp")
        ports = [str(int(p)) for p in svc.get("ports", [])]
        nft.append(
            "%s daddr %s %s dport { %s } meta mark set %d"
            % ("ip6" if v6 else "ip", vip, protocol, ", ".join(ports), int(svc["fwmark"]))
        )
        ipt[6 if v6 else 4].append(
            "-A LVS_CLUSTER_MARK -d %s/%d -p %s -m multiport --dports %s -j MARK --set-mark %d"
            % (vip, 128 if v6 else 32, protocol, ",".join(ports), int(svc["fwmark"]))
        )
    return nft, ipt


def _sorry_server(value: Any, where: str, errors: List[str]) -> str:
    """keepalived's ``sorry_server <address> <port>`` from ``address:port``, ``[v6]:port`` or ``address port``."""
    text = str(value).strip()
    match = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d+)$", text) or re.match(r"^([0-9.]+)[: ](\d+)$", text)
    match = match or re.match(r"^([0-9A-Fa-f:.]+) (\d+)$", text)
    if not match or _ip(match.group(1)) is None or not _int_in(int(match.group(2)), 0, 65535):
        errors.append("%s: sorry_server %r must be address:port, [IPv6]:port or 'address port'" % (where, value))
        return ""
    return "%s %d" % (ipaddress.ip_address(match.group(1)), int(match.group(2)))


def _checker(
    raw: Mapping[str, Any], defaults: Mapping[str, Any], protocol: str, where: str, errors: List[str]
) -> Dict[str, Any]:
    """One checker of a service: its own keys over the service's flat check keys, checked."""
    unknown = sorted(set(raw) - CHECKER_KEYS)
    if unknown:
        errors.append(
            "%s: unknown keys %s (a checker's keys: %s)" % (where, ", ".join(unknown), ", ".join(sorted(CHECKER_KEYS)))
        )
    ck: Dict[str, Any] = {
        k: defaults[k] for k in ("type", "connect_port", "connect_timeout", "retry", "delay_before_retry")
    }
    for key in ("path", "status_code", "misc_path", "misc_timeout", "misc_dynamic", "virtualhost", "sni", "dns_type",
                "dns_name", "payload", "require_reply", "file", "urls", "warmup", "alpha"):  # fmt: skip
        if key in defaults:
            ck[key] = defaults[key]
    ck.update(raw)
    kind = ck["type"]
    if kind not in CHECK_TYPES:
        errors.append("%s: type %r must be one of %s" % (where, kind, ", ".join(CHECK_TYPES)))
    for key, (low, high) in CHECK_INTS.items():
        if key in ck and key != "status_code" and not _int_in(ck[key], low, high):  # status_code: with the URLs
            errors.append("%s: %s %r must be an integer %d..%d" % (where, key, ck[key], low, high))
    out: Dict[str, Any] = {
        "type": kind,
        "connect_port": ck.get("connect_port") or 0,
        "connect_timeout": ck["connect_timeout"],
        "retry": ck["retry"],
        "delay_before_retry": ck["delay_before_retry"],
        # only where the checker sets them (keepalived's own defaults otherwise)
        "delay_loop": raw.get("delay_loop", 0),
        "warmup": ck.get("warmup", ""),
        "alpha": _bool(ck.get("alpha", False)),
    }
    if kind in ("HTTP_GET", "SSL_GET"):
        if protocol == "udp" and not out["connect_port"]:
            errors.append(
                "%s: %s cannot check the UDP port of the service: set connect_port (a TCP port of the real"
                " servers) or use TCP_CHECK or MISC_CHECK" % (where, kind)
            )
        flat = not ck.get("urls")
        urls = ck.get("urls") or [{"path": ck.get("path", "/"), "status_code": ck.get("status_code", 200)}]
        if not isinstance(urls, list) or not all(isinstance(u, Mapping) for u in urls):
            errors.append("%s: urls must be a list of dicts (path, status_code, digest)" % where)
            urls = []
        out["urls"] = []
        for index, url in enumerate(urls):
            uwhere = where if flat else "%s: urls[%d]" % (where, index)
            extra = sorted(set(url) - {"path", "status_code", "digest"})
            if extra:
                errors.append("%s: unknown keys %s" % (uwhere, ", ".join(extra)))
            path = url.get("path", "/")
            _match(HTTP_PATH_RE, path, uwhere + ": path", errors, '/ then URL characters, no space # ! { } "')
            codes = url.get("status_code", 200 if "digest" not in url else "")
            codes_list = [str(c) for c in (codes if isinstance(codes, list) else [codes] if codes != "" else [])]
            for code in codes_list:
                _match(STATUS_RE, code, uwhere + ": status_code", errors, "a code 100..599 or a range like 200-299")
            digest = str(url.get("digest", ""))
            if digest:
                _match(
                    re.compile(r"^[0-9a-f]{32}$"),
                    digest,
                    uwhere + ": digest",
                    errors,
                    "32 lower-case hex digits (genhash)",
                )
            out["urls"].append({"path": path, "status_code": " ".join(codes_list), "digest": digest})
        out["virtualhost"] = str(ck.get("virtualhost") or "")
        if out["virtualhost"]:
            _match(HOST_NAME_RE, out["virtualhost"], where + ": virtualhost", errors, "a host name")
        out["sni"] = _bool(ck.get("sni", False))
        if out["sni"] and kind != "SSL_GET":
            errors.append("%s: sni is for SSL_GET" % where)
    elif kind == "DNS_CHECK":
        out["dns_type"] = str(ck.get("dns_type", "A")).upper()
        out["dns_name"] = str(ck.get("dns_name", "."))
        if out["dns_type"] not in DNS_TYPES:
            errors.append("%s: dns_type %r must be one of %s" % (where, out["dns_type"], ", ".join(DNS_TYPES)))
        _match(HOST_NAME_RE, out["dns_name"], where + ": dns_name", errors, "a domain name")
    elif kind == "UDP_CHECK":
        out["payload"] = str(ck.get("payload", ""))
        reply = ck.get("require_reply", "")
        out["require_reply"] = "" if reply in ("", None, False) else (True if reply is True else str(reply))
        for key in ("payload", "require_reply"):
            if isinstance(out[key], str) and out[key]:
                _match(HEX_RE, out[key], "%s: %s" % (where, key), errors, "hex digits (and spaces)")
    elif kind == "MISC_CHECK":
        _match(MISC_PATH_RE, ck.get("misc_path"), where + ": misc_path", errors, "an absolute command line")
        out["misc_path"] = str(ck.get("misc_path", ""))
        out["misc_timeout"] = ck.get("misc_timeout", ck["connect_timeout"])
        out["misc_dynamic"] = _bool(ck.get("misc_dynamic", False))
    elif kind == "FILE_CHECK":
        _match(FILE_PATH_RE, ck.get("file"), where + ": file", errors, "an absolute path (%a, %p: the real server)")
        out["file"] = str(ck.get("file", ""))
    return out


def _checks(options: Mapping[str, Any], name: str, protocol: str, errors: List[str]) -> Dict[str, Any]:
    """The health check settings of service ``name``: defaults, director_ha_virtual_server,
    director_ha_checks[name], checked; ``checkers``: the checkers of each of its real servers."""
    where = "director_ha_checks[%s]" % name
    check: Dict[str, Any] = dict(CHECK_DEFAULTS, type="TCP_CHECK", path="/", status_code=200, connect_port=0)
    base = options.get("director_ha_virtual_server") or {}
    all_checks = options.get("director_ha_checks") or {}
    if not isinstance(all_checks, Mapping):
        errors.append("director_ha_checks must be a dict of service name to check settings")
        return dict(check, checkers=[])
    own = all_checks.get(name) or {}
    for what, value in (("director_ha_virtual_server", base), (where, own)):
        if not isinstance(value, Mapping):
            errors.append("%s must be a dict" % what)
            return dict(check, checkers=[])
        unknown = sorted(set(value) - CHECK_KEYS)
        if unknown:
            errors.append("%s: unknown keys %s" % (what, ", ".join(unknown)))
    if "checkers" in base:
        errors.append("director_ha_virtual_server: checkers are set per service (director_ha_checks)")
    check.update(base)
    check.update(own)
    for key, (low, high) in CHECK_INTS.items():
        # the virtual server's own (delay_loop, quorum, hysteresis); the checkers' keys in _checker
        own_key = key == "delay_loop" or key not in CHECKER_KEYS | {"status_code"}
        if key in check and own_key and not _int_in(check[key], low, high):
            errors.append("%s: %s %r must be an integer %d..%d" % (where, key, check[key], low, high))
    check["inhibit_on_failure"] = _bool(check["inhibit_on_failure"])
    check["misc_dynamic"] = _bool(check.get("misc_dynamic", False))
    raw_checkers = check.pop("checkers", None)
    if raw_checkers is None:
        raw_checkers = [{}]  # the service's flat keys are its one checker
    if not isinstance(raw_checkers, list) or not raw_checkers or not all(isinstance(c, Mapping) for c in raw_checkers):
        errors.append("%s: checkers must be a non-empty list of dicts" % where)
        raw_checkers = []
    check["checkers"] = [
        _checker(
            raw,
            check,
            protocol,
            where if len(raw_checkers) == 1 and not raw else "%s: checkers[%d]" % (where, i),
            errors,
        )
        for i, raw in enumerate(raw_checkers)
    ]
    check["sorry_server"] = _sorry_server(check["sorry_server"], where, errors) if check["sorry_server"] else ""
    return check


def _track_file_name(path: str) -> str:
    return "lvs_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")


NOTIFY_KEYS = ("master", "backup", "fault", "stop")
GARP_KEYS = {"master_delay": (0, 1000), "master_repeat": (1, 1000), "master_refresh": (0, 86400)}
TRACK_SCRIPT_INTS = {"interval": (1, 86400), "timeout": (1, 86400), "weight": (-253, 253), "fall": (1, 1000),
                     "rise": (1, 1000)}  # fmt: skip


# The automatic VRRP timing (version 0, advert_int 0): VRRPv3 with adverts every 0.8 s, so that a
# BACKUP takes over 3 x 0.8 s + skew = 2.4-2.45 s after the MASTER's last advert (docs/ha.md: the
# failover gap stays <= 3 s); VRRPv2 with 1 s when a PASS authentication is set (VRRPv3 has none).
AUTO_ADVERT_V3 = 0.8
AUTO_ADVERT_V2 = 1


def vrrp_timing(version: Any, advert: Any, auth: str) -> Tuple[Any, Any]:
    """(VRRP version, advert_int) from the options; 0 or None is automatic."""
    if not version:
        version = 2 if auth else 3
    if not advert:
        advert = AUTO_ADVERT_V2 if version == 2 else AUTO_ADVERT_V3
    return version, advert


def _vrrp_extras(options: Mapping[str, Any], errors: List[str]) -> Dict[str, Any]:
    """Production VRRP settings: tracked interfaces and scripts, notify scripts, GARP knobs, preempt_delay."""
    tracked = options.get("director_ha_track_interfaces") or []
    if not isinstance(tracked, list):
        errors.append("director_ha_track_interfaces must be a list of interface names")
        tracked = []
    for iface in tracked:
        check_iface(iface, "director_ha_track_interfaces", errors)
    scripts = []
    raw_scripts = options.get("director_ha_track_scripts") or []
    if not isinstance(raw_scripts, list) or not all(isinstance(s, Mapping) for s in raw_scripts):
        errors.append("director_ha_track_scripts must be a list of dicts (name, script, interval, ...)")
        raw_scripts = []
    for index, raw in enumerate(raw_scripts):
        where = "director_ha_track_scripts[%d]" % index
        unknown = sorted(set(raw) - {"name", "script"} - set(TRACK_SCRIPT_INTS))
        if unknown:
            errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
        _match(NAME_RE, raw.get("name"), where + ": name", errors, "letters, digits and _ . : -")
        _match(MISC_PATH_RE, raw.get("script"), where + ": script", errors, "an absolute command line")
        entry = {"name": str(raw.get("name")), "script": str(raw.get("script")), "interval": 2, "fall": 2, "rise": 2}
        entry.update({k: raw[k] for k in TRACK_SCRIPT_INTS if k in raw})
        for key, (low, high) in TRACK_SCRIPT_INTS.items():
            if key in entry and not _int_in(entry[key], low, high):
                errors.append("%s: %s %r must be an integer %d..%d" % (where, key, entry[key], low, high))
        scripts.append(entry)
    notify = options.get("director_ha_notify") or {}
    if not isinstance(notify, Mapping) or set(notify) - set(NOTIFY_KEYS):
        errors.append("director_ha_notify must be a dict with the keys %s" % ", ".join(NOTIFY_KEYS))
        notify = {}
    for key, value in notify.items():
        _match(MISC_PATH_RE, value, "director_ha_notify: " + key, errors, "an absolute command line")
    garp = options.get("director_ha_garp") or {}
    if not isinstance(garp, Mapping) or set(garp) - set(GARP_KEYS) - {"min_garp"}:
        errors.append("director_ha_garp must be a dict with the keys %s, min_garp" % ", ".join(GARP_KEYS))
        garp = {}
    for key, (low, high) in GARP_KEYS.items():
        if key in garp and not _int_in(garp[key], low, high):
            errors.append("director_ha_garp: %s %r must be an integer %d..%d" % (key, garp[key], low, high))
    preempt_delay = options.get("director_ha_preempt_delay") or 0
    if not _int_in(preempt_delay, 0, 1000):
        errors.append("director_ha_preempt_delay %r must be an integer 0..1000 (seconds)" % (preempt_delay,))
    return {
        "track_interfaces": [str(i) for i in tracked],
        "track_scripts": scripts,
        "notify": {k: str(notify[k]) for k in NOTIFY_KEYS if notify.get(k)},
        "garp": {k: garp[k] for k in GARP_KEYS if k in garp},
        "min_garp": _bool(garp.get("min_garp", False)),
        "preempt_delay": preempt_delay,
    }


def _keepalived(
    options: Mapping[str, Any],
    host: str,
    services: Sequence[Mapping[str, Any]],
    table: Sequence[Mapping[str, Any]],
    errors: List[str],
    vrrp: bool = True,
) -> Dict[str, Any]:
    """keepalived.conf's data: global_defs, the VRRP instance (``vrrp``: HA mode; without it
    keepalived only checks the real servers and owns the table), the virtual servers with their checks."""
    mode = options["director_mode"]
    directors = list(options.get("director_ha_directors") or [])
    names = sorted(str(d.get("name")) for d in directors)
    me = [d for d in directors if d.get("name") == host]
    if len(me) != 1 and vrrp:
        errors.append("director_ha_directors must list this host (%s) once" % host)
    address = str(me[0].get("address", "")) if me else ""
    pos = names.index(host) if host in names else 0
    priority = options.get("director_ha_priority") or 0
    router_id = options.get("director_ha_router_id", 51)
    if not _int_in(router_id, 1, 255):
        errors.append("director_ha_router_id %r must be 1..255" % (router_id,))
    if not _int_in(priority, 0, 255):
        errors.append("director_ha_priority %r must be 0..255" % (priority,))
        priority = 0
    auth = str(options.get("director_ha_auth_pass") or "")
    if len(auth) > 8 or not re.match(r"^[\x21-\x7e]*$", auth) or any(c in auth for c in "{}#!\"'\\"):
        errors.append("director_ha_auth_pass must be at most 8 printable characters without space { } # ! quotes \\")
    # PASS authentication is VRRPv2's, and VRRPv2 is IPv4's: an IPv6-only instance goes without it
    v4_auth = auth if any(":" not in str(v) for v in options["director_vips"]) else ""
    version, advert = vrrp_timing(
        options.get("director_ha_vrrp_version"), options.get("director_ha_advert_int"), v4_auth
    )
    if version not in (2, 3):
        errors.append("director_ha_vrrp_version %r must be 0 (automatic), 2 or 3" % (version,))
    try:
        advert_f = float(advert)
    except (TypeError, ValueError):
        advert_f = -1.0
    if advert_f <= 0 or (version == 2 and advert_f != round(advert_f)):
        errors.append("director_ha_advert_int %r must be > 0, whole seconds with VRRPv2" % (advert,))
    instance = options.get("director_ha_instance", "VI_LVS")
    _match(NAME_RE, instance, "director_ha_instance", errors, "letters, digits and _ . : -")
    ha_iface = options.get("director_ha_interface") or options["director_interface"]
    check_iface(ha_iface, "director_ha_interface", errors)
    state = options.get("director_ha_state", "auto")
    nopreempt = _bool(options.get("director_ha_nopreempt"))
    if state not in ("auto", "MASTER", "BACKUP"):
        errors.append("director_ha_state %r must be auto, MASTER or BACKUP" % (state,))
    extras = _vrrp_extras(options, errors) if vrrp else _vrrp_extras({}, errors)
    if ha_iface in extras["track_interfaces"]:
        errors.append("director_ha_track_interfaces: %s is the VRRP interface (keepalived tracks it anyway)" % ha_iface)
    if state not in ("MASTER", "BACKUP"):
        # keepalived refuses nopreempt and preempt_delay with state MASTER: the priorities decide
        state = "MASTER" if pos == 0 and not nopreempt and not extras["preempt_delay"] else "BACKUP"
    vips = [str(v) for v in options["director_vips"]]
    v6 = [v for v in vips if ":" in v]
    v4 = [v for v in vips if ":" not in v]
    ipv6_instance = not v4
    vip_iface = options["director_vip_interface"]
    vip_lines = ["%s/%d dev %s" % (v, 128 if ":" in v else 32, vip_iface) for v in (v6 if ipv6_instance else v4)]
    gateway = str(options.get("director_ha_nat_gateway") or "")
    if gateway and mode == "nat" and gateway != address:
        if _ip(gateway) is None:
            errors.append("director_ha_nat_gateway %r is not an IP address" % gateway)
        else:
            vip_lines.append("%s/%d dev %s" % (gateway, 128 if ":" in gateway else 32, options["director_interface"]))
    unicast = _bool(options.get("director_ha_unicast"))
    peers = [str(d.get("address")) for d in directors if d.get("name") != host]
    for peer in peers + ([address] if address else []):
        if _ip(peer) is None:
            errors.append("director_ha_directors: address %r is not an IP address" % peer)
    tun_type = options.get("director_tun_type", "ipip")
    method = KEEPALIVED_METHOD.get(mode, "DR")
    if mode == "tun":
        method += " type %s" % tun_type
        if tun_type == "gue":
            method += " port %d" % int(options.get("director_tun_port") or 0)
    virtual_servers: List[Dict[str, Any]] = []
    track_files: Dict[str, str] = {}
    # the drain file of each real server (lvs.cluster.ipvs_drain): keepalived subtracts its number
    # from the weight (track_file weight -1), no reload needed to drain, ramp back or undrain
    drain_files: Dict[str, str] = {}
    for svc, spec in zip(services, table):
        name = spec["name"]
        check = _checks(options, name, str(spec.get("protocol", "")), errors)
        # a fwmark service's checks connect to its first port unless connect_port says otherwise
        first_port = int((svc.get("ports") or [0])[0]) if "fwmark" in spec else 0
        check_port = check["connect_port"] or first_port
        real_servers = []
        for rs in spec["real_servers"]:
            port = str(rs.get("port", 0))
            checkers = []
            for ck in check["checkers"]:
                ck = dict(ck, connect_port=ck["connect_port"] or first_port)
                if ck["type"] == "MISC_CHECK":
                    ck["misc_path"] = ck["misc_path"].replace("%a", rs["address"]).replace("%p", port)
                if ck["type"] == "FILE_CHECK":
                    path = ck["file"].replace("%a", rs["address"]).replace("%p", port)
                    ck["track_file"] = track_files.setdefault(path, _track_file_name(path))
                checkers.append(ck)
            try:
                path = drain_path(spec, rs)
            except IpvsValidationError as exc:
                errors.append("%s: %s" % (name, exc))
                path = ""
            if path:
                checkers.append(
                    {"type": "FILE_CHECK", "track_file": drain_files.setdefault(path, _track_file_name(path))}
                )
            real_servers.append(
                dict(rs, port=rs.get("port", 0), marker=rs_marker(rs["address"], name), checkers=checkers)
            )
        virtual_servers.append(
            {
                "name": name,
                "header": "fwmark %d" % spec["fwmark"]
                if "fwmark" in spec
                else "%s %d" % (spec["address"], spec["port"]),
                "ipv6_fwmark": "fwmark" in spec and spec["family"] == "ipv6",
                "protocol": str(spec.get("protocol", "")).upper(),
                "scheduler": spec["scheduler"],
                "sched_flags": spec["sched_flags"],
                "method": method,
                "persistence_timeout": spec["persistent"],
                "persistence_granularity": spec.get("netmask", ""),
                "ops": bool(spec.get("one_packet")),
                "check": dict(check, connect_port=check_port),
                "real_servers": real_servers,
            }
        )
    scripts = any(ck["type"] == "MISC_CHECK" for vs in virtual_servers for ck in vs["check"]["checkers"])
    scripts = scripts or bool(extras["track_scripts"] or extras["notify"])
    return dict(
        extras,
        **{
            "vrrp": vrrp,
            # unicast VRRP: adverts from an address that is not a peer are dropped
            "check_unicast_src": bool(unicast and address),
            "router_id": host,
            # MISC_CHECK scripts run as this unprivileged system user (the role creates it), never root
            "script_user": "keepalived_script" if scripts else "",
            "vrrp_version": version,
            "sync_daemon": (
                "%s %s id %s" % (ha_iface, instance, router_id)
                if vrrp and _bool(options.get("director_ha_sync_daemon", True))
                else ""
            ),
            "instance": instance,
            "state": state,
            "interface": ha_iface,
            "router_id_vrrp": router_id,
            "priority": priority if priority else max(254 - 10 * pos, 1),
            "advert_int": advert,
            "nopreempt": nopreempt,
            "unicast_src_ip": address if unicast and address else "",
            "unicast_peers": peers if unicast and address else [],
            "auth_pass": auth if auth and not ipv6_instance and version == 2 else "",
            "virtual_ipaddress": vip_lines,
            "virtual_ipaddress_excluded": [
                "%s/128 dev %s" % (v, vip_iface) for v in (v6 if v6 and not ipv6_instance else [])
            ],
            "virtual_servers": virtual_servers,
            # FILE_CHECK files (track_file blocks): a non-zero number in the file fails the real server
            "track_files": [
                {"name": n, "file": f, "weight": 0} for f, n in sorted(track_files.items(), key=lambda i: i[1])
            ]
            + [{"name": n, "file": f, "weight": -1} for f, n in sorted(drain_files.items(), key=lambda i: i[1])],
            # their directories (managed_files entries): keepalived 2.3 refuses a track_file whose
            # directory does not exist (init_file creates the file, not the directory)
            "track_file_dirs": [
                {"path": d, "state": "directory", "mode": "0755"}
                for d in sorted({posixpath.dirname(f) for f in track_files} - {DRAIN_DIR})
            ],
        },
    )


def director_plan(options: Mapping[str, Any], host: str) -> Dict[str, Any]:
    """The director role's module arguments and template data from its options (``director_*``)."""
    errors: List[str] = []
    mode = options.get("director_mode")
    if mode not in MODES:
        raise PlanError(["director_mode %r must be one of nat, dr, tun" % (mode,)])
    vips = [str(v) for v in options.get("director_vips") or []]
    for vip in vips:
        addr = _ip(vip)
        if addr is None:
            errors.append("director_vips entry %r is not an IP address" % vip)
        elif vip_problem(addr):
            errors.append("director_vips entry %s is %s" % (vip, vip_problem(addr)))
    if errors or not vips:
        raise PlanError(errors or ["director_vips must list at least one VIP"])
    for key in ("director_interface", "director_vip_interface"):
        check_iface(options.get(key), key, errors)
    tun_type = options.get("director_tun_type") or "ipip"
    if mode == "tun" and tun_type not in TUN_TYPES:
        errors.append("director_tun_type %r must be one of %s" % (tun_type, ", ".join(TUN_TYPES)))
    model = {
        "name": "director",
        "mode": mode,
        "services": list(options.get("director_services") or []),
        "hosts": [dict(rs, role="realserver") for rs in options.get("director_real_servers") or []],
    }
    svc_errors: List[str] = []
    _check_services(model, [a for a in (_ip(v) for v in vips) if a is not None], svc_errors)
    for rs in model["hosts"]:
        _check_real_server(model, rs, svc_errors)
        if _ip(rs.get("address")) is None:
            svc_errors.append(
                "director_real_servers: %s: address %r is not an IP address" % (rs.get("name"), rs.get("address"))
            )
    errors.extend(e.replace("director: lvs_services", "director_services", 1) for e in svc_errors)
    if errors:
        raise PlanError(errors)
    services = model["services"]
    table = ipvs_services(services, model["hosts"], mode, vips, tun_type, options.get("director_tun_port") or 0)
    nft, ipt = _mark_rules(services, vips)
    masquerade = mode == "nat" and _bool(options.get("director_nat_masquerade"))
    source = str(options.get("director_nat_masquerade_source") or "")
    out_iface = options.get("director_nat_masquerade_interface") or options.get("director_vip_interface")
    if masquerade:
        if _net(source) is None:
            errors.append("director_nat_masquerade_source %r is not a network in CIDR form" % source)
        check_iface(out_iface, "director_nat_masquerade_interface", errors)
    masq_rule = ""
    masq_ipt: Dict[int, List[str]] = {4: [], 6: []}
    if masquerade and not errors:
        v6 = ":" in source
        masq_rule = '%s saddr %s oifname "%s" masquerade' % ("ip6" if v6 else "ip", source, out_iface)
        masq_ipt[6 if v6 else 4].append("-A LVS_CLUSTER_NAT -s %s -o %s -j MASQUERADE" % (source, out_iface))
    # NAT: the director routes between the real servers' network and the outside; it forwards
    # only the real servers' own traffic (their replies, and their outbound traffic when masqueraded)
    # and what belongs to it (established, related), nothing else of the cluster's address family.
    forward = mode == "nat" and _bool(options.get("director_nat_forward_policy", True))
    fwd_rules: List[str] = []
    fwd_ipt: Dict[int, List[str]] = {4: [], 6: []}
    if forward:
        inner = options["director_interface"]
        if _net(source) is None:
            errors.append(
                "director_nat_masquerade_source %r (the real servers' network) is not a network in CIDR form;"
                " director_nat_forward_policy needs it" % source
            )
        elif check_iface(inner, "director_interface", errors):
            v6 = ":" in source
            fwd_rules = [
                "ct state established,related accept",
                '%s saddr %s iifname "%s" accept' % ("ip6" if v6 else "ip", source, inner),
                "meta nfproto %s drop" % ("ipv6" if v6 else "ipv4"),
            ]
            fwd_ipt[6 if v6 else 4] = [
                "-A LVS_CLUSTER_FWD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
                "-A LVS_CLUSTER_FWD -s %s -i %s -j ACCEPT" % (source, inner),
                "-A LVS_CLUSTER_FWD -j DROP",
            ]
    # HA with the iptables backend: VRRP adverts and the sync daemon's packets from the peers are
    # accepted by the role's own chain, jumped to first from INPUT, where the host's INPUT is
    # restrictive (nftables cannot: an accept in one table does not overrule a drop in another).
    in_ipt: Dict[int, List[str]] = {4: [], 6: []}
    if _bool(options.get("director_ha")):
        ha_iface = options.get("director_ha_interface") or options["director_interface"]
        for peer in options.get("director_ha_directors") or []:
            addr = _ip(peer.get("address"))
            if peer.get("name") == host or addr is None or not IFACE_RE.match(str(ha_iface)):
                continue
            bits = 128 if addr.version == 6 else 32
            in_ipt[addr.version] += [
                "-A LVS_CLUSTER_IN -s %s/%d -i %s -p vrrp -j ACCEPT" % (addr, bits, ha_iface),
                "-A LVS_CLUSTER_IN -s %s/%d -i %s -p udp --dport 8848 -j ACCEPT" % (addr, bits, ha_iface),
            ]
    sysctls = dict(options.get("director_vs_sysctls") or {})
    sysctls["conntrack"] = 1 if _bool(options.get("director_vs_conntrack")) else 0
    for key, value in sysctls.items():
        if not re.match(r"^[a-z0-9_]+$", str(key)) or not re.match(r"^-?[0-9]+$", str(value)):
            errors.append("director_vs_sysctls: %s = %r must be a knob name and an integer" % (key, value))
    schedulers = sorted({s["scheduler"] for s in table})
    ha = _bool(options.get("director_ha"))
    # keepalived owns the IPVS table with health checks in HA mode (with VRRP) and, with
    # director_checks, on a director without VRRP; otherwise ipvs_table does (docs/ha.md)
    owner = "keepalived" if ha or _bool(options.get("director_checks")) else "ipvs_table"
    keepalived = _keepalived(options, host, services, table, errors, vrrp=ha) if owner == "keepalived" else {}
    if errors:
        raise PlanError(errors)
    firewall = options.get("director_firewall", "auto")
    if firewall not in ("auto", "nftables", "iptables"):
        errors.append("director_firewall %r must be auto, nftables or iptables" % (firewall,))
    slow_start = _slow_start(options, table, errors)
    metrics = _metrics(options, errors)
    if errors:
        raise PlanError(errors)
    names = {str(rs.get("address")): str(rs.get("name")) for rs in model["hosts"] if rs.get("name")}
    return {
        "mode": mode,
        "ha": ha,
        "owner": owner,
        "persist": _bool(options.get("director_persist", True)) and owner == "ipvs_table",
        # drain state (lvs.cluster.ipvs_drain), read by ipvs_table and keepalived alike
        "drain_dir": DRAIN_DIR,
        "purge": _bool(options.get("director_purge", False)),
        "firewall": firewall,
        "interface": options["director_interface"],
        "vip_interface": options["director_vip_interface"],
        "vips": vips,
        "ipvs_services": table,
        "modules": ["ip_vs"] + ["ip_vs_" + s for s in schedulers] + (TUN_MODULES[tun_type] if mode == "tun" else []),
        "sysctls": dict(sorted(sysctls.items())),
        # arp_sysctl runs in every mode (owner director, purge): None is put back (ip_forward after NAT)
        "arp_sysctl": {
            "ip_forward": True if mode == "nat" else None,
            "send_redirects": False if mode in ("nat", "dr") else None,
            "interfaces": list(dict.fromkeys([options["director_interface"], options["director_vip_interface"]])),
        },
        "nft_rules": nft,
        "iptables_rules": {4: ipt[4], 6: ipt[6]},
        "masquerade": masquerade,
        "nft_masquerade": masq_rule,
        "iptables_masquerade": masq_ipt,
        "nft_forward": fwd_rules,
        "iptables_forward": fwd_ipt,
        "iptables_input": in_ipt,
        # the INPUT chain alone installs the iptables backend where it is chosen (lvs_firewall: iptables)
        "firewall_needed": bool(nft)
        or masquerade
        or bool(fwd_rules)
        or (firewall == "iptables" and bool(in_ipt[4] or in_ipt[6])),
        "keepalived": keepalived,
        "slow_start": slow_start,
        # the live table's view of the inventory: status.yml's report and the director's metrics
        "observe": {
            "cluster": str(options.get("director_cluster") or ""),
            "keepalived": owner == "keepalived",
            "vrrp": ha,
            "vips": vips,
            "drain_dir": DRAIN_DIR,
            "services": expected_services(table, names),
        },
        "metrics": metrics,
    }


def rs_args(spec: Mapping[str, Any], rs: Mapping[str, Any]) -> Dict[str, Any]:
    """A real server of an ``ipvs_services`` spec as ``ipvs_drain``/``ipvs_real_server`` take it."""
    key = {k: spec[k] for k in ("protocol", "address", "port", "fwmark", "family") if k in spec}
    return dict({"virtual_" + k if k in ("address", "port") else k: v for k, v in key.items()}, **rs)


def _metrics(options: Mapping[str, Any], errors: List[str]) -> Dict[str, Any]:
    """director_metrics: the timer that writes the director's metrics for node_exporter's
    textfile collector (off: {"enabled": False})."""
    enabled = options.get("director_metrics", False)
    interval = options.get("director_metrics_interval", 15)
    if not isinstance(enabled, bool):
        errors.append("director_metrics %r must be true or false" % (enabled,))
    if not _int_in(interval, 1, 3600):
        errors.append("director_metrics_interval %r must be an integer 1..3600 (seconds)" % (interval,))
    return {"enabled": enabled is True, "interval": interval}


def _slow_start(options: Mapping[str, Any], table: Sequence[Mapping[str, Any]], errors: List[str]) -> Dict[str, Any]:
    """director_slow_start: the ``ipvs_drain`` arguments of the role's slow start (none when off).
    An added real server starts at 1/steps of its weight and gets the rest in steps - 1 more
    steps over the time."""
    seconds = options.get("director_slow_start") or 0
    steps = options.get("director_slow_start_steps", 3)
    if not _int_in(seconds, 0, 3600):
        errors.append("director_slow_start %r must be an integer 0..3600 (seconds)" % (seconds,))
        return {"real_servers": []}
    if not _int_in(steps, 2, 100):
        errors.append("director_slow_start_steps %r must be an integer 2..100" % (steps,))
        return {"real_servers": []}
    if not seconds:
        return {"real_servers": []}
    return {
        "real_servers": [rs_args(spec, rs) for spec in table for rs in spec["real_servers"]],
        "percent": 100 // int(steps),
        "ramp_time": int(seconds),
        "ramp_steps": int(steps) - 1,
    }


# --- real server --------------------------------------------------------------------------------


def realserver_plan(options: Mapping[str, Any]) -> Dict[str, Any]:
    """The real server role's module arguments and template data from its options (``realserver_*``)."""
    errors: List[str] = []
    mode = options.get("realserver_mode")
    if mode not in MODES:
        raise PlanError(["realserver_mode %r must be one of nat, dr, tun" % (mode,)])
    vips = [str(v) for v in options.get("realserver_vips") or []]
    if mode != "nat" and not vips:
        errors.append("realserver_vips must list the VIPs in %s mode" % mode.upper())
    for vip in vips:
        addr = _ip(vip)
        if addr is None or vip_problem(addr):
            errors.append("realserver_vips entry %r is not a usable VIP" % vip)
    iface = options.get("realserver_interface")
    check_iface(iface, "realserver_interface", errors)
    tun_type = options.get("realserver_tun_type") or "ipip"
    tun_port = options.get("realserver_tun_port") or 0
    if mode == "tun":
        if tun_type not in TUN_DEVICES:
            errors.append("realserver_tun_type %r must be one of %s" % (tun_type, ", ".join(TUN_DEVICES)))
        elif tun_type == "gue" and not _int_in(tun_port, 1, 65535):
            errors.append("realserver_tun_port %r must be 1..65535 with realserver_tun_type gue" % (tun_port,))
    gateway = str(options.get("realserver_nat_gateway") or "")
    routes: List[Dict[str, str]] = []
    if mode == "nat":
        if _ip(gateway) is None:
            errors.append("realserver_nat_gateway %r must be the director's inner address in NAT mode" % gateway)
        for route in options.get("realserver_nat_routes") or []:
            net = _net(route)
            if net is None:
                errors.append("realserver_nat_routes entry %r is not a network in CIDR form" % (route,))
                continue
            routes.append({"destination": str(net), "ip": "default" if net.prefixlen == 0 else str(net)})
        if not _int_in(options.get("realserver_nat_route_metric", 10), 0, 2**32 - 1):
            errors.append("realserver_nat_route_metric must be an integer >= 0")
    nfs_server = str(options.get("realserver_nfs_server") or "")
    path = options.get("realserver_nfs_path") or "/var/www/lvs"
    check_path(path, "realserver_nfs_path", errors)
    mount_options: List[str] = []
    if nfs_server:
        if _ip(nfs_server) is None:
            errors.append("realserver_nfs_server %r is not an IP address" % nfs_server)
        check_path(options.get("realserver_nfs_export"), "realserver_nfs_export", errors)
        raw = options.get("realserver_nfs_options") or []
        for item in [raw] if isinstance(raw, str) else raw:
            for opt in str(item).split(","):
                if not NFS_OPTION_RE.match(opt):
                    errors.append("realserver_nfs_options element %r is refused" % opt)
                elif opt in MOUNT_REFUSED_OPTIONS:
                    errors.append("realserver_nfs_options: %s is refused (the mount gets nosuid,nodev)" % opt)
                elif opt not in mount_options:
                    mount_options.append(opt)
        mount_options += [o for o in MOUNT_HARDENING if o not in mount_options]
    port = options.get("realserver_web_port", 80)
    if not _int_in(port, 1, 65535):
        errors.append("realserver_web_port %r must be 1..65535" % (port,))
    if errors:
        raise PlanError(errors)
    # arp_sysctl runs in every mode (owner realserver, purge): what a mode does not want (None) is put back.
    # TUN: decapsulated packets arrive on the tunnel device with the client as source. Loose mode (2)
    # only drops a source that no route at all leads to, and the client is routable through the
    # default route; the kernel takes max(all, device), so 2 on both is what counts.
    arp: Dict[str, Any] = {
        "arp_ignore": 1 if mode in ("dr", "tun") else None,
        "arp_announce": 2 if mode in ("dr", "tun") else None,
        "rp_filter": 2 if mode == "tun" else None,
        "interfaces": [iface, TUN_DEVICES[tun_type]] if mode == "tun" else [iface],
    }
    web = _bool(options.get("realserver_web_server", True))
    identity = options.get("realserver_identity")  # absent when the cluster validator checks
    if web and identity is not None and ("\n" in str(identity) or not str(identity)):
        errors.append("realserver_identity %r must be one non-empty line" % identity)
    backend = options.get("realserver_network_backend", "auto")
    if backend not in ("auto", "networkd", "ifupdown", "none"):
        errors.append("realserver_network_backend %r must be auto, networkd, ifupdown or none" % (backend,))
    package = str(options.get("realserver_web_package") or "")
    if package and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", package):
        errors.append("realserver_web_package %r is not a package name" % package)
    if errors:
        raise PlanError(errors)
    return {
        "mode": mode,
        "interface": iface,
        "network_backend": backend,
        "route_metric": int(options.get("realserver_nat_route_metric", 10)),
        "web": web,
        "web_package": package,
        "web_port": int(port),
        "identity": str(identity or ""),
        "vips": vips,
        "vip_interface": "lo" if mode == "dr" else (TUN_DEVICES[tun_type] if mode == "tun" else ""),
        "gue_port": int(tun_port) if mode == "tun" and tun_type == "gue" else None,
        "arp_sysctl": arp,
        "nat_gateway": gateway,
        "nat_routes": routes,
        "nfs": bool(nfs_server),
        "nfs_what": "%s:%s"
        % ("[%s]" % nfs_server if ":" in nfs_server else nfs_server, options.get("realserver_nfs_export"))
        if nfs_server
        else "",
        "nfs_path": path,
        "mount_options": ",".join(mount_options),
    }


# --- NFS ----------------------------------------------------------------------------------------


INDEX_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>lvs.cluster</title></head>\n<body><p>%s</p><p>export %s%s</p></body></html>\n"
)


def nfs_plan(options: Mapping[str, Any], host: str = "") -> Dict[str, Any]:
    """The NFS role's exports lines, exported paths, their directories and, with
    ``nfs_seed_content``, each export's seed index page (``managed_files`` entries; a seed is
    written only when missing: ``force: false``) from its options (``nfs_*``); ``host`` names the
    server on the seed pages."""
    errors: List[str] = []
    exports = options.get("nfs_exports") or []
    clients = options.get("nfs_clients") or []
    if not isinstance(exports, list) or not exports:
        raise PlanError(["nfs_exports must list at least one export"])
    networks = [n for n in (_net(c) for c in clients) if n is not None]
    if len(networks) != len(clients):
        errors.append("nfs_clients %r must be networks in CIDR form" % (clients,))
    raw = options.get("nfs_export_options") or []
    base: List[str] = []
    for item in [raw] if isinstance(raw, str) else raw:
        for opt in str(item).split(","):
            if not NFS_OPTION_RE.match(opt):
                errors.append("nfs_export_options element %r is refused" % opt)
            elif opt in NFS_REFUSED_OPTIONS:
                errors.append("nfs_export_options: %s is refused" % opt)
            elif opt not in base:
                base.append(opt)
    lines: List[str] = []
    paths: List[str] = []
    for index, export in enumerate(exports):
        where = "nfs_exports[%d]" % index
        if not isinstance(export, Mapping) or "path" not in export:
            errors.append("%s needs a path" % where)
            continue
        if not check_path(export["path"], where + ": path", errors):
            continue
        mode = export.get("mode", "ro")
        if mode not in ("ro", "rw"):
            errors.append("%s: mode %r must be ro or rw" % (where, mode))
        own = export.get("clients", clients)
        if not own:
            errors.append("%s: no clients (set clients or nfs_clients)" % where)
        entries = []
        for client in own or []:
            net = _net(client) or (_ip(client) and ipaddress.ip_network(str(client)))
            if not net:
                errors.append(
                    "%s: client %r must be an address or a network in CIDR form (no * or names)" % (where, client)
                )
            elif networks and not any(net.version == n.version and net.subnet_of(n) for n in networks):  # type: ignore[arg-type]
                errors.append(
                    "%s: client %s is outside the cluster network(s) %s" % (where, net, ", ".join(map(str, networks)))
                )
            else:
                entries.append("%s(%s)" % (net, ",".join([mode] + base)))
        lines.append("%s %s" % (export["path"], " ".join(entries)))
        paths.append(str(export["path"]))
    if errors:
        raise PlanError(errors)
    # the exported directories as entries of the role's managed_files task, before its config files
    directories = [{"path": path, "state": "directory", "mode": "0755"} for path in paths]
    seeds: List[Dict[str, Any]] = []
    if _bool(options.get("nfs_seed_content", True)):
        marker = str(options.get("nfs_index_marker", ""))
        seeds = [
            {
                "path": posixpath.join(path, "index.html"),
                "content": INDEX_PAGE % (marker, path, " on " + host if host else ""),
                "mode": "0644",
                "force": False,
            }
            for path in paths
        ]
    return {"exports": lines, "paths": paths, "directories": directories, "seed_files": seeds}


# --- drain and undrain --------------------------------------------------------------------------


def drain_targets(model: Mapping[str, Any], host: str) -> Dict[str, Any]:
    """What drain.yml and undrain.yml change for real server ``host``: its address, the
    directors, whether keepalived owns their table, and per service (by name) the arguments of
    the real server (``ipvs_drain``, ``ipvs_real_server``) with the inventory weight. Fails when
    nothing matches."""
    entry = next((h for h in _hosts(model, "realserver") if h["name"] == host), None)
    if entry is None:
        raise PlanError(["%s is not a real server of cluster %s" % (host, model.get("name"))])
    options = host_options(model, _hosts(model, "director")[0]["name"]) if _hosts(model, "director") else {}
    if not options:
        raise PlanError(["cluster %s has no director" % model.get("name")])
    plan = director_plan(options, options["director_ha_directors"][0]["name"])
    services = []
    for spec in plan["ipvs_services"]:
        rs = [r for r in spec["real_servers"] if r["address"] == entry["address"]]
        if len(rs) != 1:
            continue
        services.append({"name": spec["name"], "args": rs_args(spec, rs[0])})
    if not services:
        raise PlanError(["%s (%s) is in no service of cluster %s" % (host, entry["address"], model.get("name"))])
    return {
        "address": entry["address"],
        "ha": plan["owner"] == "keepalived",  # keepalived.conf holds the weights (HA or checks)
        "directors": [d["name"] for d in _hosts(model, "director")],
        "services": services,
    }
