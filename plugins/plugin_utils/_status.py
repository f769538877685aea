# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status report of playbooks/status.yml: a cluster's live state on its directors
(``lvs.cluster.ipvs_info``, who holds the VIPs, keepalived's VRRP state) joined with what the
planner makes of the inventory for each director, and the drift between the two.

Controller side, pure Python. The expected table is the planner's (``director_plan``), the
drained weights are ``_drain``'s: one vocabulary with the roles and the drain playbooks.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Tuple

from ansible_collections.lvs.cluster.plugins.module_utils._observe import (
    compare,
    live_services,
    vrrp_state,
)
from ansible_collections.lvs.cluster.plugins.plugin_utils._planner import (
    PlanError,
    _hosts,
    cluster_model,
    director_plan,
    host_options,
)


def cluster_status(model: Mapping[str, Any], live: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    """The report of one cluster.

    ``live``: director name -> ``{"ipvs": <ipvs_info's ipvs>, "vips_held": [...], "vrrp": "MASTER"...}``
    (a director missing from it is reported unreachable). Returns the cluster, its directors, one
    entry per service with one row per real server (and per director: weight, drain, health,
    connections, rates), and ``drift``: every difference from the inventory, one line each.
    """
    directors = [h["name"] for h in _hosts(model, "director")]
    drift: List[str] = []
    if not directors:
        raise PlanError(["cluster %s has no director" % model.get("name")])
    plan = director_plan(host_options(model, directors[0]), directors[0])
    expected = plan["observe"]["services"]
    tables: Dict[str, Dict[str, Dict[str, Any]]] = {}
    states: Dict[str, Dict[Tuple[str, str], Dict[str, Any]]] = {}
    heads: List[Dict[str, Any]] = []
    for d in directors:
        state = live.get(d)
        if state is None:
            heads.append({"name": d, "reachable": False})
            drift.append("%s: unreachable, its table is unknown" % d)
            continue
        held = [v for v in plan["vips"] if v in (state.get("vips_held") or [])]
        heads.append({"name": d, "reachable": True, "vrrp": state.get("vrrp") or "", "vips_held": held})
        tables[d] = live_services((state.get("ipvs") or {}).get("services") or [])
        states[d], own = compare(d, expected, tables[d], plan["observe"]["keepalived"])
        drift += own
    services: List[Dict[str, Any]] = []
    for exp in expected:
        sname = exp["service"]
        rows = [
            {"name": rs["name"], "address": rs["address"], "inventory_weight": rs["weight"],
             "directors": {d: states[d][(sname, rs["address"])] for d in tables}}
            for rs in exp["real_servers"]
        ]  # fmt: skip
        first = next((t[sname] for t in tables.values() if sname in t), None)
        services.append(
            {"name": exp["name"], "service": sname, "scheduler": exp["scheduler"],
             "live_scheduler": first.get("scheduler") if first else None, "real_servers": rows}
        )  # fmt: skip
    drift += _peer_drift(tables)
    return {
        "cluster": model.get("name"),
        "mode": plan["mode"],
        "owner": plan["owner"],
        "ha": plan["ha"],
        "directors": heads,
        "services": services,
        "drift": drift,
    }


def _peer_drift(tables: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> List[str]:
    """A line for each director whose table (services, real servers, weights) differs from the first one's."""

    def shape(table: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, Any]]:
        return {s: {r: v.get("weight") for r, v in svc["real_servers"].items()} for s, svc in table.items()}

    names = list(tables)
    out = []
    for other in names[1:]:
        a, b = shape(tables[names[0]]), shape(tables[other])
        if a != b:
            diff = sorted(s for s in set(a) | set(b) if a.get(s) != b.get(s))
            out.append("%s and %s: their tables differ in %s" % (names[0], other, ", ".join(diff)))
    return out


def render_status(reports: Sequence[Mapping[str, Any]]) -> List[str]:
    """The terminal lines of the reports: per cluster its directors, one table per service, the drift."""
    lines: List[str] = []
    for rep in reports:
        lines.append("cluster %s: %s mode, table owned by %s%s" % (
            rep["cluster"], rep["mode"].upper(), rep["owner"], ", HA" if rep["ha"] else ""))  # fmt: skip
        live = []
        for d in rep["directors"]:
            if not d["reachable"]:
                lines.append("  director %s: UNREACHABLE" % d["name"])
                continue
            live.append(d["name"])
            vrrp = ("VRRP %s, " % d["vrrp"]) if d["vrrp"] else ""
            lines.append("  director %s: %sVIPs held: %s" % (d["name"], vrrp, ", ".join(d["vips_held"]) or "none"))
        for svc in rep["services"]:
            lines.append("  %s (%s) %s" % (svc["service"], svc["name"], svc["scheduler"]))
            head = "    %-10s %-22s %6s" % ("server", "address", "weight")
            for d in live:
                head += " | %-12s %7s %5s %8s %5s %6s" % (d[:12], "weight", "drain", "health", "act", "inact")
            lines.append(head + " | cps")
            for row in svc["real_servers"]:
                line = "    %-10s %-22s %6s" % (row["name"][:10], row["address"], row["inventory_weight"])
                cps = 0
                for d in live:
                    st = row["directors"].get(d) or {}
                    if st.get("present"):
                        cells = (st["weight"], st["drain"] or "", st["health"], st["active"], st["inactive"])
                        line += " | %-12s %7s %5s %8s %5s %6s" % (("",) + cells)
                        cps += int(st.get("cps") or 0)
                    else:
                        line += " | %-12s %7s %5s %8s %5s %6s" % ("", "-", "", st.get("health", "-"), "", "")
                lines.append(line + " | %d" % cps)
        if rep["drift"]:
            lines.append("  DRIFT (%d):" % len(rep["drift"]))
            lines += ["    " + d for d in rep["drift"]]
        else:
            lines.append("  no drift: every director's table is what the inventory says")
    return lines


def host_state(text: str) -> Tuple[List[str], str]:
    """The addresses a director holds and keepalived's last VRRP state, from status.yml's
    command: ``ip -o addr`` addresses, a ``---`` line, keepalived's last ``Entering X STATE``."""
    addrs, _sep, rest = text.partition("---")
    return addrs.split(), vrrp_state(rest)


def status_report(
    hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], directors: Sequence[str]
) -> Dict[str, Any]:
    """status.yml's report over every cluster of ``directors`` (the play's hosts). A director's
    live state is its registered ``__lvs_status_ipvs`` and ``__lvs_status_host``; without them
    (unreachable, failed) it is reported unreachable."""
    clusters: Dict[str, str] = {}
    for d in sorted(str(h) for h in directors):
        clusters.setdefault(str(hostvars[d].get("lvs_cluster")), d)
    reports = []
    for _name, first in sorted(clusters.items()):
        model = cluster_model(hostvars, groups, first)
        live: Dict[str, Dict[str, Any]] = {}
        for h in _hosts(model, "director"):
            hv = hostvars.get(h["name"]) or {}
            ipvs, host = hv.get("__lvs_status_ipvs") or {}, hv.get("__lvs_status_host") or {}
            if h["name"] not in directors or ipvs.get("failed") or "ipvs" not in ipvs or "stdout" not in host:
                continue
            held, vrrp = host_state(host["stdout"])
            live[h["name"]] = {"ipvs": ipvs["ipvs"], "vips_held": held, "vrrp": vrrp}
        reports.append(cluster_status(model, live))
    drift = ["%s: %s" % (r["cluster"], line) for r in reports for line in r["drift"]]
    return {"reports": reports, "lines": render_status(reports), "drift": drift}
