# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status report of playbooks/status.yml: a cluster's live state on its directors
(``lvs.cluster.ipvs_info``, who holds the VIPs, keepalived's VRRP state) joined with what the
planner makes of the inventory for each director, and the drift between the two.

Controller side, pure Python. The expected table is the planner's (``director_plan``), the
drained weights are ``_drain``'s: one vocabulary with the roles and the drain playbooks.
"""

from __future__ import annotations

import html
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
        "vips": list(plan["vips"]),
        "nfs": [h["name"] for h in _hosts(model, "nfs")],
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


# --- the HTML report: one file, no external assets ---------------------------------------------------

# a real server's state over all directors, and a director's, with their colours
COLOURS = {
    "up": "#2e7d32",  # in the table with its inventory weight (keepalived: its checks pass)
    "ramping": "#f9a825",  # drained in part: a slow start or an undrain under way
    "drained": "#ef6c00",  # weight 0 by its drain file
    "down": "#c62828",  # out of the table (keepalived: checks fail) or missing
    "drift": "#ad1457",  # a weight that is not the inventory's
    "active": "#2e7d32",  # a director without VRRP
    "master": "#2e7d32",
    "backup": "#546e7a",
    "unreachable": "#c62828",
    "node": "#37474f",
}
_CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212121;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 6px}h3{font-size:15px;margin:16px 0 4px}
.meta{color:#616161}table{border-collapse:collapse;margin:4px 0 12px;background:#fff}
th,td{border:1px solid #cfd8dc;padding:3px 8px;text-align:right}th{background:#eceff1}th[colspan]{text-align:center}
td.l,th.l{text-align:left}.state{color:#fff;border-radius:3px;padding:0 6px;font-weight:600}
.drift{color:#b71c1c}.clean{color:#1b5e20}svg{background:#fff;border:1px solid #cfd8dc;max-width:100%}
svg text{font:13px system-ui,sans-serif}.scroll{overflow-x:auto}.legend span{margin-right:12px}"""


def rs_overall(row: Mapping[str, Any]) -> str:
    """One real server over all directors: down, drift, drained, ramping or up (the worst wins)."""
    states = list(row["directors"].values())
    if not states:
        return "down"
    if any(not st.get("present") for st in states):
        return "down"
    if any(st.get("weight") != st.get("expected_weight") for st in states):
        return "drift"
    if any(st.get("drain") for st in states):
        return "drained" if all(st.get("weight") == 0 for st in states) else "ramping"
    return "up"


def director_state(head: Mapping[str, Any]) -> str:
    if not head.get("reachable"):
        return "unreachable"
    vrrp = head.get("vrrp")
    return "backup" if vrrp in ("BACKUP", "FAULT") else ("master" if vrrp == "MASTER" else "active")


def _box(x: int, y: int, label: str, sub: str, colour: str, kind: str, state: str) -> str:
    e = html.escape
    return (
        '<g class="node" data-kind="%s" data-name="%s" data-state="%s">'
        '<rect x="%d" y="%d" width="150" height="44" rx="6" fill="%s"/>'
        '<text x="%d" y="%d" fill="#fff" font-weight="600">%s</text>'
        '<text x="%d" y="%d" fill="#fff">%s</text></g>'
    ) % (e(kind), e(label), e(state), x, y, colour, x + 8, y + 18, e(label), x + 8, y + 36, e(sub))


def topology_svg(rep: Mapping[str, Any]) -> str:
    """Clients -> VIPs -> directors (MASTER/BACKUP) -> real servers -> NFS, coloured by state."""
    servers: Dict[str, Tuple[str, str]] = {}  # name -> (state, address), the worst over its services
    order = ["up", "ramping", "drained", "drift", "down"]
    for svc in rep["services"]:
        for row in svc["real_servers"]:
            state = rs_overall(row)
            old = servers.get(row["name"])
            if old is None or order.index(state) > order.index(old[0]):
                servers[row["name"]] = (state, row["address"].rsplit(":", 1)[0])
    cols = [("clients", ["clients"]), ("vip", rep["vips"]), ("director", [d["name"] for d in rep["directors"]]),
            ("realserver", list(servers)), ("nfs", rep.get("nfs") or [])]  # fmt: skip
    rows = max(len(items) for _kind, items in cols)
    height = 40 + rows * 64
    pos: Dict[Tuple[str, str], Tuple[int, int]] = {}
    for i, (kind, items) in enumerate(cols):
        top = 20 + (rows - len(items)) * 32
        for j, item in enumerate(items):
            pos[(kind, item)] = (20 + i * 190, top + j * 64)
    heads = {d["name"]: d for d in rep["directors"]}
    edges: List[Tuple[Tuple[str, str], Tuple[str, str], bool]] = []
    for vip in rep["vips"]:
        edges.append((("clients", "clients"), ("vip", vip), True))
        for d in rep["directors"]:
            edges.append((("vip", vip), ("director", d["name"]), vip in (d.get("vips_held") or [])))
    for d in rep["directors"]:
        for name in servers:
            edges.append((("director", d["name"]), ("realserver", name), bool(d.get("reachable"))))
    for name in servers:
        for nfs in rep.get("nfs") or []:
            edges.append((("realserver", name), ("nfs", nfs), True))
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="960" height="%d" viewBox="0 0 960 %d" role="img">' % (
        height, height)]  # fmt: skip
    for a, b, solid in edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#90a4ae" stroke-width="2"%s/>' % (
            x1 + 150, y1 + 22, x2, y2 + 22, "" if solid else ' stroke-dasharray="6 5"'))  # fmt: skip
    for (kind, item), (x, y) in pos.items():
        if kind == "director":
            head = heads[item]
            state = director_state(head)
            sub = "unreachable" if state == "unreachable" else (head.get("vrrp") or "standalone")
            out.append(_box(x, y, item, sub, COLOURS[state], kind, state))
        elif kind == "realserver":
            state, address = servers[item]
            out.append(_box(x, y, item, "%s %s" % (address, state), COLOURS[state], kind, state))
        else:
            sub = {"clients": "", "vip": "VIP", "nfs": "NFS"}[kind]
            out.append(_box(x, y, item, sub, COLOURS["node"], kind, "-"))
    out.append("</svg>")
    return "".join(out)


def render_html(reports: Sequence[Mapping[str, Any]], generated: str = "") -> str:
    """The status report as one HTML page: per cluster the topology and the tables; no script,
    no external asset (it works offline and in a mail)."""
    e = html.escape
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           "<title>lvs.cluster status</title><style>%s</style></head><body>" % _CSS,
           "<h1>lvs.cluster status</h1>",
           '<p class="meta">%s</p>' % e(("generated %s" % generated) if generated else ""),
           '<p class="legend">%s</p>' % "".join(
               '<span><span class="state" style="background:%s">%s</span></span>' % (COLOURS[k], k)
               for k in ("up", "ramping", "drained", "drift", "down"))]  # fmt: skip
    for rep in reports:
        drift = rep["drift"]
        out.append('<section class="cluster" data-cluster="%s" data-drift="%d">' % (e(str(rep["cluster"])), len(drift)))
        out.append("<h2>cluster %s</h2>" % e(str(rep["cluster"])))
        out.append('<p class="meta">%s mode, table owned by %s%s</p>' % (
            e(rep["mode"].upper()), e(rep["owner"]), ", HA" if rep["ha"] else ""))  # fmt: skip
        out.append(topology_svg(rep))
        live = [d["name"] for d in rep["directors"] if d["reachable"]]
        for svc in rep["services"]:
            out.append("<h3>%s (%s) %s</h3>" % (e(svc["service"]), e(svc["name"]), e(svc["scheduler"])))
            out.append('<div class="scroll"><table data-service="%s">' % e(svc["service"]))
            out.append(
                '<tr><th class="l">real server</th><th class="l">address</th><th>inventory weight</th><th>state</th>'
            )
            out += ['<th colspan="5">%s</th>' % e(d) for d in live]
            out.append("<th>cps</th></tr><tr><th></th><th></th><th></th><th></th>")
            out += ["<th>weight</th><th>drain</th><th>health</th><th>active</th><th>inactive</th>" for _d in live]
            out.append("<th></th></tr>")
            for row in svc["real_servers"]:
                state = rs_overall(row)
                out.append('<tr data-rs="%s" data-state="%s"><td class="l">%s</td><td class="l">%s</td><td>%s</td>'
                           '<td><span class="state" style="background:%s">%s</span></td>' % (
                               e(row["name"]), state, e(row["name"]), e(row["address"]), row["inventory_weight"],
                               COLOURS[state], state))  # fmt: skip
                cps = 0
                for d in live:
                    st = row["directors"].get(d) or {}
                    if st.get("present"):
                        cells = (st["weight"], st["drain"] or "", st["health"], st["active"], st["inactive"])
                        cps += int(st.get("cps") or 0)
                    else:
                        cells = ("-", "", st.get("health", "-"), "", "")
                    out += ["<td>%s</td>" % e(str(c)) for c in cells]
                out.append("<td>%d</td></tr>" % cps)
            out.append("</table></div>")
        if drift:
            out.append('<h3 class="drift">drift (%d)</h3><ul class="drift">' % len(drift))
            out += ["<li>%s</li>" % e(line) for line in drift]
            out.append("</ul>")
        else:
            out.append('<p class="clean">no drift: every director\'s table is what the inventory says</p>')
        out.append("</section>")
    out.append("</body></html>\n")
    return "".join(out)


def status_report(
    hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], directors: Sequence[str], generated: str = ""
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
    return {
        "reports": reports,
        "lines": render_status(reports),
        "drift": drift,
        "html": render_html(reports, generated),
    }
