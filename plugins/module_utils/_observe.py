# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A director's live IPVS table next to what the inventory wants of it.

One vocabulary for the two views of a cluster: ``playbooks/status.yml``'s report, joined on the
controller (``plugin_utils/_status.py``), and the director's metrics, written on the director by
its timer (``lvs-cluster-metrics``) for node_exporter's textfile collector. Both take the
planner's ``observe`` data (``expected_services``: each service by the name ipvs_info gives it,
its real servers with their names and inventory weights) and ipvs_info's services (the live
table with each real server's drain number).

Standard library only; no AnsibleModule and no commands (the timer's script runs those).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.lvs.cluster.plugins.module_utils._drain import drained_weight
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import service_key_from_spec, service_name

# the rates of ipvs_info's statistics a report row shows
RATES = ("cps", "inbps", "outbps")
# keepalived's VRRP states, as its log names them ("Entering MASTER STATE")
VRRP_STATES = ("MASTER", "BACKUP", "FAULT")


def rs_key(address: Any, port: Any) -> str:
    """A real server as the report and the metrics name it: ``address:port``."""
    return "%s:%s" % (address, port or 0)


def expected_services(table: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> List[Dict[str, Any]]:
    """The planner's ``ipvs_services`` as the live table names them: per service its inventory
    name, its ipvs_info name (``tcp:192.0.2.100:80``), scheduler and real servers (name - the
    inventory host of ``names``, address -> name - ``address:port`` and inventory weight)."""
    out = []
    for spec in table:
        key = service_key_from_spec(dict(spec, persistent=1), spec["name"])
        out.append(
            {"name": spec["name"], "service": service_name(key), "scheduler": spec["scheduler"],
             "real_servers": [{"name": names.get(str(rs["address"]), str(rs["address"])),
                               "address": rs_key(rs["address"], rs.get("port")), "weight": rs["weight"]}
                              for rs in spec["real_servers"]]}
        )  # fmt: skip
    return out


def live_services(services: Iterable[Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
    """ipvs_info's services by name, each with its real servers by ``address:port``."""
    out: Dict[str, Dict[str, Any]] = {}
    for svc in services:
        rss = {rs_key(rs["address"], rs["port"]): rs for rs in svc.get("real_servers") or []}
        out[svc["name"]] = dict(svc, real_servers=rss)
    return out


def rs_state(
    director: str,
    sname: str,
    rs: Mapping[str, Any],
    live_rs: Optional[Mapping[str, Any]],
    keepalived: bool,
    service_live: bool,
    drift: List[str],
) -> Dict[str, Any]:
    """One real server (an ``expected_services`` entry) on one director; appends its drift.

    ``health``: where keepalived owns the table, ``up`` when the real server is in it (keepalived
    takes one that fails its checks out: not drift) and ``down`` when not; without keepalived
    ``-``, or ``missing`` (drift)."""
    rkey, weight = rs["address"], int(rs["weight"])
    if live_rs is None:
        if not service_live:
            return {"present": False, "health": "-"}
        if not keepalived:
            drift.append("%s: %s is missing from %s" % (director, rkey, sname))
        return {"present": False, "health": "down" if keepalived else "missing"}
    drain = int(live_rs.get("drain") or 0)
    want = drained_weight(weight, drain)
    stats = live_rs.get("stats") or {}
    out = {
        "present": True,
        "weight": live_rs.get("weight"),
        "expected_weight": want,
        "drain": drain,
        "health": "up" if keepalived else "-",
        "active": live_rs.get("active_conns", 0),
        "inactive": live_rs.get("inactive_conns", 0),
    }
    out.update({k: stats.get(k, 0) for k in RATES})
    if live_rs.get("weight") != want:
        drift.append("%s: %s in %s has weight %s, the inventory says %s%s" % (
            director, rkey, sname, live_rs.get("weight"), want,
            " (%s less %s of its drain file)" % (weight, drain) if drain else ""))  # fmt: skip
    return out


def compare(
    director: str, expected: Sequence[Mapping[str, Any]], table: Mapping[str, Mapping[str, Any]], keepalived: bool
) -> Tuple[Dict[Tuple[str, str], Dict[str, Any]], List[str]]:
    """One director's live table (``live_services``) against ``expected``: the state of each
    expected real server by (service, address) and the drift - services or real servers missing
    or not in the inventory, schedulers and weights that differ."""
    drift: List[str] = []
    states: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for exp in expected:
        sname = exp["service"]
        svc = table.get(sname)
        for rs in exp["real_servers"]:
            live_rs = (svc or {}).get("real_servers", {}).get(rs["address"])
            states[(sname, rs["address"])] = rs_state(director, sname, rs, live_rs, keepalived, svc is not None, drift)
        if svc is None:
            drift.append("%s: service %s (%s) is missing" % (director, sname, exp["name"]))
        elif svc.get("scheduler") != exp["scheduler"]:
            drift.append("%s: %s schedules with %s, the inventory says %s" % (
                director, sname, svc.get("scheduler"), exp["scheduler"]))  # fmt: skip
    wanted = {exp["service"]: {rs["address"] for rs in exp["real_servers"]} for exp in expected}
    for sname, svc in sorted(table.items()):
        if sname not in wanted:
            drift.append("%s: service %s is not in the inventory" % (director, sname))
            continue
        for rkey in sorted(set(svc["real_servers"]) - wanted[sname]):
            drift.append("%s: %s has real server %s, which is not in the inventory" % (director, sname, rkey))
    return states, drift


def vrrp_state(journal: str) -> str:
    """keepalived's last VRRP state in its log lines (``Entering MASTER STATE``), '' without one."""
    state = ""
    for line in journal.splitlines():
        words = line.split()
        for i, word in enumerate(words[:-2]):
            if word == "Entering" and words[i + 2] == "STATE" and words[i + 1] in VRRP_STATES:
                state = words[i + 1]
    return state


# --- metrics: node_exporter's textfile collector ---------------------------------------------------

# name, type, help; the labels: cluster (every metric), service and virtual (the services'),
# real_server (the real servers'), direction (packets and bytes), state, vip
METRICS = {
    "up": ("gauge", "1 when the metrics script read the IPVS table, 0 when it could not (its unit's journal says why)"),
    "drift": ("gauge", "Differences between this director's IPVS table and the inventory"),
    "vrrp_state": ("gauge", "1 for keepalived's last VRRP state of this director (MASTER, BACKUP, FAULT)"),
    "vip_held": ("gauge", "1 when this director holds the VIP"),
    "service_up": ("gauge", "1 when the service is in the IPVS table"),
    "service_connections_total": ("counter", "Connections the service scheduled"),
    "service_packets_total": ("counter", "Packets of the service"),
    "service_bytes_total": ("counter", "Bytes of the service"),
    "real_server_up": ("gauge", "1 when the real server is in the IPVS table (keepalived: its checks pass)"),
    "real_server_weight": ("gauge", "The real server's weight in the IPVS table"),
    "real_server_expected_weight": ("gauge", "The weight the inventory wants: its weight less the drain file's number"),
    "real_server_drained": ("gauge", "1 when a drain file holds the real server's weight down"),
    "real_server_active_connections": ("gauge", "Active connections to the real server"),
    "real_server_inactive_connections": ("gauge", "Inactive connections (FIN_WAIT, TIME_WAIT...) to the real server"),
    "real_server_connections_total": ("counter", "Connections scheduled to the real server"),
    "real_server_packets_total": ("counter", "Packets to and from the real server"),
    "real_server_bytes_total": ("counter", "Bytes to and from the real server"),
}
PREFIX = "lvs_cluster_"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _traffic(stats: Mapping[str, Any], what: str) -> List[Tuple[Dict[str, str], Any]]:
    """The in and out counters of ``what`` (pkts, bytes) as (labels, value)."""
    return [({"direction": d}, stats.get(d + what, 0)) for d in ("in", "out")]


def metrics_text(
    observe: Mapping[str, Any],
    services: Optional[Sequence[Mapping[str, Any]]],
    vrrp: str = "",
    held: Sequence[str] = (),
    director: str = "",
) -> str:
    """The Prometheus text exposition of a director: ``observe`` (the planner's, as the role
    writes it), ``services`` (ipvs_info's, with drain numbers and stats; None: not readable),
    keepalived's last VRRP state and the addresses the director holds. Bounded cardinality: per
    service and per real server of the inventory, never per connection."""
    cluster = {"cluster": str(observe.get("cluster") or "")}
    samples: Dict[str, List[Tuple[Dict[str, str], Any]]] = {name: [] for name in METRICS}
    samples["up"].append(({}, 0 if services is None else 1))
    if observe.get("vrrp"):
        for state in VRRP_STATES:
            samples["vrrp_state"].append(({"state": state}, 1 if vrrp == state else 0))
    for vip in observe.get("vips") or []:
        samples["vip_held"].append(({"vip": vip}, 1 if vip in held else 0))
    if services is not None:
        table = live_services(services)
        states, drift = compare(
            director or "director", observe.get("services") or [], table, bool(observe.get("keepalived"))
        )
        samples["drift"].append(({}, len(drift)))
        for exp in observe.get("services") or []:
            svc_labels = {"service": exp["name"], "virtual": exp["service"]}
            svc = table.get(exp["service"])
            samples["service_up"].append((svc_labels, 0 if svc is None else 1))
            stats = (svc or {}).get("stats") or {}
            if svc is not None:
                samples["service_connections_total"].append((svc_labels, stats.get("conns", 0)))
                for part in ("pkts", "bytes"):
                    metric = "service_%s_total" % ("packets" if part == "pkts" else "bytes")
                    samples[metric] += [(dict(svc_labels, **lab), v) for lab, v in _traffic(stats, part)]
            for rs in exp["real_servers"]:
                labels = dict(svc_labels, real_server=rs["name"])
                st = states[(exp["service"], rs["address"])]
                live_rs = (svc or {}).get("real_servers", {}).get(rs["address"]) or {}
                samples["real_server_up"].append((labels, 1 if st["present"] else 0))
                samples["real_server_expected_weight"].append(
                    (labels, drained_weight(int(rs["weight"]), int(live_rs.get("drain") or 0)))
                )
                samples["real_server_drained"].append((labels, 1 if live_rs.get("drain") else 0))
                if not st["present"]:
                    continue
                rstats = live_rs.get("stats") or {}
                samples["real_server_weight"].append((labels, st["weight"]))
                samples["real_server_active_connections"].append((labels, st["active"]))
                samples["real_server_inactive_connections"].append((labels, st["inactive"]))
                samples["real_server_connections_total"].append((labels, rstats.get("conns", 0)))
                for part in ("pkts", "bytes"):
                    metric = "real_server_%s_total" % ("packets" if part == "pkts" else "bytes")
                    samples[metric] += [(dict(labels, **lab), v) for lab, v in _traffic(rstats, part)]
    lines: List[str] = []
    for name, (kind, text) in METRICS.items():
        if not samples[name]:
            continue
        full = PREFIX + name
        lines += ["# HELP %s %s" % (full, text), "# TYPE %s %s" % (full, kind)]
        for labels, value in samples[name]:
            pairs = ",".join('%s="%s"' % (k, _label(v)) for k, v in dict(cluster, **labels).items())
            lines.append("%s{%s} %s" % (full, pairs, int(value)))
    return "\n".join(lines) + "\n"
