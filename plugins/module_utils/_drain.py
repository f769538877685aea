# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drain state of real servers, and the connection entries a drain waits for.

The state lives in one file per (virtual service, real server) on every director, in
``DRAIN_DIR``: its content is a number, the weight taken off the real server's inventory
weight (``MAX_WEIGHT``: drained; a smaller number: ramping back; no file: full weight).
The same files serve both owners of the IPVS table:
- keepalived (HA, single-director checks) reads them as FILE_CHECK track files with weight -1:
  it subtracts the number from the configured weight by itself (inotify), without a reload;
- ``ipvs_table`` subtracts it before it plans the table and saves the rules file, so a rerun of
  site.yml and the restore at boot keep the drain.

Standard library only (``_ipvs_model`` for the keys); no Ansible import; typed errors.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
from dataclasses import dataclass, replace
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import (
    AF_INET6,
    DEL_DEST,
    DEST_OPTIONS,
    MAX_WEIGHT,
    NEW_DEST,
    Dest,
    DestKey,
    IpvsError,
    IpvsValidationError,
    Op,
    Plan,
    Service,
    ServiceKey,
    apply_plan_to_model,
    dest_from_spec,
    normalize_address,
    plan_table,
    render_rules,
    service_key_from_spec,
    service_name,
    sort_services,
)

DRAIN_DIR = "/var/lib/lvs-cluster/drain"
# The saved table (director role, director_persist): where a drain saves the live table, so that
# the restore at boot keeps it. Written by the role; absent when the table is not saved.
PERSIST_MANIFEST = "/etc/lvs-cluster/persist.json"
CONN_TABLE = "/proc/net/ip_vs_conn"
# states of /proc/net/ip_vs_conn: persistence templates (not connections); TCP states IPVS counts
# as active (ipvsadm's ActiveConn: established, and the handshake); the others are inactive
TEMPLATE_STATES = frozenset(("NONE", "ASSURED"))
ACTIVE_TCP_STATES = frozenset(("ESTABLISHED", "SYN_SENT", "SYN_RECV", "SYNACK"))
TCP_STATES = ACTIVE_TCP_STATES | frozenset(("FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN"))
_NUMBER_RE = re.compile(r"^\s*(-?\d+)")


class DrainError(Exception):
    """A drain file or the connection table cannot be read or written."""


def drain_file_name(key: ServiceKey, dest: DestKey) -> str:
    """``tcp_192.0.2.100_80@192.0.2.11_80``, ``fwmark_1@192.0.2.11_0`` (``fwmark_1_ipv6@...``)."""
    af, proto, addr, port, mark = key
    if proto == "fwmark":
        svc = "fwmark_%d%s" % (mark, "_ipv6" if af == AF_INET6 else "")
    else:
        svc = "%s_%s_%d" % (proto, addr, port)
    return "%s@%s_%d" % (svc, dest[0], dest[1])


def spec_keys(spec: Mapping[str, Any], rs: Mapping[str, Any]) -> Tuple[ServiceKey, DestKey]:
    """The kernel's keys of a service spec (protocol, address, port, fwmark, family) and one of
    its real servers (address, port): what the planner knows, as the kernel prints it."""
    key = service_key_from_spec({k: spec.get(k) for k in ("protocol", "address", "port", "fwmark", "family")}, "drain")
    norm = normalize_address(str(rs.get("address", "")))
    if norm is None:
        raise IpvsValidationError("drain: real server address %r is not an IP address" % rs.get("address"))
    port = rs.get("port")
    if port is None:
        port = key[3]
    return key, (norm[1], int(port))


def drain_path(spec: Mapping[str, Any], rs: Mapping[str, Any], directory: str = DRAIN_DIR) -> str:
    return os.path.join(directory, drain_file_name(*spec_keys(spec, rs)))


def parse_value(text: str) -> int:
    """The number at the start of a drain file, as keepalived reads it (0 when there is none)."""
    m = _NUMBER_RE.match(text)
    return int(m.group(1)) if m else 0


def read_drains(directory: str) -> Dict[str, int]:
    """File name -> number of every drain file in ``directory`` ({} when it does not exist)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise DrainError("cannot list %s: %s" % (directory, exc)) from None
    out: Dict[str, int] = {}
    for name in names:
        if "@" not in name or name.startswith("."):
            continue
        try:
            with open(os.path.join(directory, name), encoding="ascii", errors="replace") as fh:
                out[name] = parse_value(fh.read(64))
        except FileNotFoundError:
            continue  # removed between the listing and the read
        except OSError as exc:
            raise DrainError("cannot read %s: %s" % (os.path.join(directory, name), exc)) from None
    return out


def drained_weight(weight: int, value: int) -> int:
    """The weight keepalived and ipvs_table apply: the inventory weight minus the file's number."""
    return min(max(weight - value, 0), MAX_WEIGHT)


def ramp_value(weight: int, percent: int) -> int:
    """The number to write for ``percent`` of ``weight``: MAX_WEIGHT at 0 (drained, whatever the
    inventory weight becomes), 0 at 100; in between, the weight rounded up, at least 1."""
    if percent <= 0:
        return MAX_WEIGHT
    if percent >= 100 or weight == 0:
        return 0
    return weight - max(1, math.ceil(weight * percent / 100.0))


def apply_drains(table: Mapping[ServiceKey, Service], drains: Mapping[str, int]) -> List[Dict[str, Any]]:
    """Subtract the drain files' numbers from the weights of ``table`` (in place); returns what
    was changed: service, real server, inventory weight, number, applied weight."""
    out: List[Dict[str, Any]] = []
    if not drains:
        return out
    for key, svc in table.items():
        for dkey, dest in (svc.dests or {}).items():
            value = drains.get(drain_file_name(key, dkey))
            if value:
                weight = drained_weight(dest.weight, value)
                out.append(
                    {"service": svc.name, "address": dest.address, "port": dest.port, "inventory_weight": dest.weight,
                     "drain": value, "weight": weight}
                )  # fmt: skip
                dest.weight = weight
    return out


@dataclass(frozen=True)
class Conn:
    """One entry of /proc/net/ip_vs_conn."""

    protocol: str  # tcp, udp, sctp, ip
    vaddr: str
    vport: int
    daddr: str
    dport: int
    state: str

    @property
    def template(self) -> bool:
        return self.state in TEMPLATE_STATES


def _hex_addr(text: str) -> str:
    if ":" in text:  # IPv6 is printed with %pI6 (full form)
        norm = normalize_address(text)
        if norm is None:
            raise DrainError("bad address %r in %s" % (text, CONN_TABLE))
        return norm[1]
    try:
        return socket.inet_ntop(socket.AF_INET, int(text, 16).to_bytes(4, "big"))
    except (ValueError, OverflowError):
        raise DrainError("bad address %r in %s" % (text, CONN_TABLE)) from None


def parse_conns(text: str) -> List[Conn]:
    """Entries of /proc/net/ip_vs_conn (header skipped): ``Pro FromIP FPrt ToIP TPrt DestIP DPrt State ...``."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 8 or f[0] == "Pro":
            continue
        try:
            out.append(Conn(f[0].lower(), _hex_addr(f[3]), int(f[4], 16), _hex_addr(f[5]), int(f[6], 16), f[7]))
        except ValueError:
            raise DrainError("bad line in %s: %r" % (CONN_TABLE, line)) from None
    return out


def read_conns(path: str = CONN_TABLE) -> List[Conn]:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return parse_conns(fh.read())
    except FileNotFoundError:
        return []  # no IPVS: no connection
    except OSError as exc:
        raise DrainError("cannot read %s: %s" % (path, exc)) from None


def entries_of(conns: Iterable[Conn], key: ServiceKey, dest: DestKey) -> Dict[str, int]:
    """Connection entries (not templates) of real server ``dest`` in service ``key``, by state.
    A fwmark service's entries are those of the real server whatever their virtual address."""
    _af, proto, vaddr, vport, _mark = key
    out: Dict[str, int] = {}
    for c in conns:
        if c.template or (c.daddr, c.dport) != dest:
            continue
        if proto != "fwmark" and (c.protocol != proto or c.vaddr != vaddr or c.vport != vport):
            continue
        out[c.state] = out.get(c.state, 0) + 1
    return out


def open_entries(entries: Mapping[str, int], inactive: bool = True) -> int:
    """How many of ``entries`` a drain waits for: all of them; without ``inactive`` not the TCP
    entries IPVS counts as inactive (FIN_WAIT, TIME_WAIT...: a DR director sees a closed
    connection in FIN_WAIT until the tcpfin timeout, 120 s by default)."""
    return sum(n for state, n in entries.items() if inactive or state not in TCP_STATES - ACTIVE_TCP_STATES)


def annotate(
    svc: Service, out: Dict[str, Any], drains: Mapping[str, int], conns: Optional[Sequence[Conn]] = None
) -> None:
    """Add ``drain`` (the number in its drain file, 0: none) and, with ``conns`` (the connection
    table), ``entries`` (connection entries by state) to each real server of ``out``, the dict of ``svc``."""
    for rs in out.get("real_servers") or []:
        dkey = (rs["address"], rs["port"])
        rs["drain"] = drains.get(drain_file_name(svc.key, dkey), 0)
        if conns is not None:
            rs["entries"] = entries_of(conns, svc.key, dkey)


def info_services(
    table: Mapping[ServiceKey, Service], drains: Mapping[str, int], conns: Optional[Sequence[Conn]] = None
) -> List[Dict[str, Any]]:
    """The live table as ipvs_info returns it (and the director's metrics read it): each service's
    dict, in ipvsadm's order, its real servers annotated (``annotate``)."""
    out = []
    for svc in sort_services(table.values()):
        svc_out = svc.to_dict(runtime=True)
        annotate(svc, svc_out, drains, conns)
        out.append(svc_out)
    return out


# --- lvs.cluster.ipvs_drain ------------------------------------------------------------------------

# its real_servers items: ipvs_real_server's arguments (what drain.yml hands over)
SERVICE_ARGS = {"protocol": "protocol", "virtual_address": "address", "virtual_port": "port", "fwmark": "fwmark",
                "family": "family"}  # fmt: skip
Wanted = List[Tuple[ServiceKey, Dest]]


def targets(items: Sequence[Mapping[str, Any]]) -> List[Tuple[ServiceKey, Dict[str, Any]]]:
    """(service key, real server spec) of each item."""
    known = set(SERVICE_ARGS) | DEST_OPTIONS
    out = []
    for i, item in enumerate(items):
        unknown = sorted(k for k, v in item.items() if v is not None and k not in known)
        if unknown:
            raise IpvsValidationError("real_servers[%d]: unknown option(s) %s" % (i, ", ".join(unknown)))
        spec = {SERVICE_ARGS[k]: item.get(k) for k in SERVICE_ARGS}
        key = service_key_from_spec(dict(spec, persistent=1), "real_servers[%d]" % i)
        out.append((key, {k: item.get(k) for k in DEST_OPTIONS}))
    return out


def plan_drain(
    items: Sequence[Mapping[str, Any]], percent: int, directory: str
) -> Tuple[List[Dict[str, Any]], Wanted, List[Dict[str, Any]]]:
    """The drain files (managed_files entries), the real servers with the weight they get, and
    the report of each, for ``percent`` of the inventory weight of every item."""
    if not 0 <= percent <= 100:
        raise IpvsValidationError("percent must be 0..100, got %d" % percent)
    files: List[Dict[str, Any]] = []
    wanted: Wanted = []
    report: List[Dict[str, Any]] = []
    for i, (key, rs) in enumerate(targets(items)):
        svc = Service(af=key[0], protocol=key[1], address=key[2], port=key[3], fwmark=key[4])
        dest = dest_from_spec(svc, rs, "real_servers[%d]" % i)
        value = ramp_value(dest.weight, percent)
        path = os.path.join(directory, drain_file_name(key, dest.key))
        files.append({"path": path, "content": "%d\n" % value, "mode": "0644"} if value else
                     {"path": path, "state": "absent"})  # fmt: skip
        weight = drained_weight(dest.weight, value)
        report.append(
            {"service": service_name(key), "address": dest.address, "port": dest.port,
             "inventory_weight": dest.weight, "drain": value, "weight": weight}
        )  # fmt: skip
        wanted.append((key, replace(dest, weight=weight)))
    return files, wanted, report


def live_services(client: Any, wanted: Wanted) -> Dict[ServiceKey, Service]:
    """The live services of ``wanted``, with their real servers (``client``: an IpvsClient)."""
    keys = {k for k, _d in wanted}
    current: Dict[ServiceKey, Service] = {}
    for svc in client.services():
        if svc.key in keys:
            svc.dests = client.dests(svc)
            current[svc.key] = svc
    return current


def select_added(live: Mapping[ServiceKey, Service], wanted: Wanted, drains: Mapping[str, int]) -> List[int]:
    """Indexes of ``wanted`` a slow start applies to: real servers their live service does not have
    yet while it has others (a new service starts all its real servers alike: nothing to ramp
    against), without a drain file (a drained real server stays drained)."""
    out = []
    for i, (key, dest) in enumerate(wanted):
        svc = live.get(key)
        if svc is None or not svc.dests or dest.key in svc.dests:
            continue
        if drains.get(drain_file_name(key, dest.key)):
            continue
        out.append(i)
    return out


def ramp_percents(percent: int, steps: int) -> List[int]:
    """The shares of the weight after ``percent``: ``steps`` equal steps up to 100."""
    if not 1 <= steps <= 100:
        raise IpvsValidationError("ramp_steps must be 1..100, got %d" % steps)
    return [percent + (100 - percent) * k // steps for k in range(1, steps + 1)]


def live_plan(client: Any, wanted: Wanted) -> Tuple[Dict[ServiceKey, Service], Plan]:
    """The live services of ``wanted`` and the writes that give their real servers these weights
    (a real server missing from its service is added)."""
    current = live_services(client, wanted)
    desired: Dict[ServiceKey, Service] = {}
    for key, dest in wanted:
        if key not in current:
            raise IpvsError("service %s is not in the live table; run the director role first" % service_name(key))
        base = desired.get(key, current[key])
        desired[key] = replace(base, dests={**(base.dests or {}), dest.key: dest})
    return current, plan_table(desired, current, purge_dests=False)


def save_specs(after: Mapping[ServiceKey, Service], manifest: str = PERSIST_MANIFEST) -> List[Dict[str, Any]]:
    """The saved table's files (managed_files entries) where the director role keeps them, named
    in ``manifest``; none when there is no manifest (the role does not save the table)."""
    try:
        with open(manifest, encoding="utf-8") as fh:
            paths = json.load(fh)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise DrainError("cannot read %s: %s" % (manifest, exc)) from None
    if not isinstance(paths, dict) or not isinstance(paths.get("rules_path"), str):
        raise DrainError("%s: rules_path is missing" % manifest)
    specs = [{"path": paths["rules_path"], "content": render_rules(after), "mode": "0600"}]
    if paths.get("thresholds_path"):
        specs.append(
            {"path": paths["thresholds_path"], "content": render_rules(after, thresholds=True), "mode": "0600"}
        )
    return specs


def entries_left(wanted: Wanted) -> Dict[str, Dict[str, int]]:
    """``service@address:port`` -> connection entries by state, of the real servers that have any."""
    conns = read_conns()
    entries = {}
    for key, dest in wanted:
        found = entries_of(conns, key, dest.key)
        if found:
            entries["%s@%s:%d" % (service_name(key), dest.address, dest.port)] = found
    return entries


def wait_entries(wanted: Wanted, timeout: float, poll: float, inactive: bool, check_mode: bool) -> Dict[str, Any]:
    """Poll the connection table until no open entry of the real servers is left, or ``timeout``
    seconds (no wait in check mode): entries, open_entries, waited, complete."""
    start = time.monotonic()
    while True:
        entries = entries_left(wanted)
        left = sum(open_entries(e, inactive) for e in entries.values())
        waited = time.monotonic() - start
        if left == 0 or waited >= timeout or check_mode:
            break
        time.sleep(max(0.1, min(poll, timeout - waited)))
    return {"entries": entries, "open_entries": left, "waited": round(waited, 1), "complete": left == 0}


def expire_entries(client: Any, wanted: Wanted, entries: Mapping[str, Any], bound: float = 5.0) -> Dict[str, Any]:
    """Take the real servers that have ``entries`` out of the live table, wait (at most ``bound``
    seconds) until the kernel has expired their entries (expire_nodest_conn), and put them back
    as they were: expired, entries_after_expire, ops."""
    before = sum(sum(e.values()) for e in entries.values())
    current = live_services(client, wanted)
    out, back = Plan(), Plan()
    for key, dest in wanted:
        live = (current[key].dests or {}).get(dest.key) if key in current else None
        if live is not None and "%s@%s:%d" % (service_name(key), dest.address, dest.port) in entries:
            out.ops.append(Op(DEL_DEST, current[key], live))
            back.ops.append(Op(NEW_DEST, current[key], live))
    if not out.ops:
        return {"expired": 0, "entries_after_expire": before, "ops": []}
    client.apply(out, current)
    try:
        deadline = time.monotonic() + bound
        while entries_left(wanted) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        client.apply(back, apply_plan_to_model(current, out))
    left = sum(sum(e.values()) for e in entries_left(wanted).values())
    return {"expired": before - left, "entries_after_expire": left, "ops": [op.describe() for op in out.ops + back.ops]}
