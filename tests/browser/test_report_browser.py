"""status.yml's HTML report in headless Chromium (Debian's chromium): reports of every state,
made by the report's own code from inventories and live tables, as the page shows them.

- an HA cluster: director1 MASTER holding the VIP, director2 BACKUP; rs1 drained (weight 0 by its
  drain file), rs2 ramping (a slow start: weight 1 of 3), rs3 down (keepalived took it out);
- a standalone cluster with drift: a weight changed by hand, and its second director unreachable.

What the page shows is checked in Chromium's layout (tests/report_browser.py): each node of
the topology inside its picture, seen at its centre, overlapping no other, coloured by its state;
each table row with its state badge; the drift list; nothing fetched. The screenshot goes to
the test logs (LVS_TEST_LOGS) when set.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

from report_browser import check_layout, hex_rgb, look

from ansible_collections.lvs.cluster.plugins.plugin_utils._status import COLOURS, status_report


def inventory() -> Tuple[Dict[str, Dict[str, Any]], Dict[str, List[str]]]:
    common = {"lvs_network": "192.0.2.0/24", "lvs_mode": "dr"}
    ha = dict(common, lvs_cluster="web_ha", lvs_vips=["192.0.2.100"], lvs_ha=True, lvs_checks=True,
              lvs_services=[{"name": "http", "protocol": "tcp", "port": 80, "scheduler": "wrr"}])  # fmt: skip
    plain = dict(common, lvs_cluster="api", lvs_vips=["192.0.2.200"],
                 lvs_services=[{"name": "api", "protocol": "tcp", "port": 443, "scheduler": "wlc"}])  # fmt: skip
    hosts: Dict[str, Tuple[str, Dict[str, Any], Dict[str, Any]]] = {
        "director1": ("lvs_directors", ha, {"lvs_address": "192.0.2.1"}),
        "director2": ("lvs_directors", ha, {"lvs_address": "192.0.2.2"}),
        "rs1": ("lvs_realservers", ha, {"lvs_address": "192.0.2.11", "lvs_weight": 3}),
        "rs2": ("lvs_realservers", ha, {"lvs_address": "192.0.2.12", "lvs_weight": 3}),
        "rs3": ("lvs_realservers", ha, {"lvs_address": "192.0.2.13", "lvs_weight": 3}),
        "nfs": ("lvs_nfs", ha, {"lvs_address": "192.0.2.20"}),
        "api-d1": ("lvs_directors", plain, {"lvs_address": "192.0.2.3"}),
        "api-d2": ("lvs_directors", plain, {"lvs_address": "192.0.2.4"}),
        "api-rs1": ("lvs_realservers", plain, {"lvs_address": "192.0.2.21"}),
        "api-rs2": ("lvs_realservers", plain, {"lvs_address": "192.0.2.22"}),
    }
    hostvars: Dict[str, Dict[str, Any]] = {}
    groups: Dict[str, List[str]] = {"lvs_directors": [], "lvs_realservers": [], "lvs_nfs": []}
    for name, (group, cvars, hv) in hosts.items():
        hostvars[name] = dict(cvars, **hv)
        groups[group].append(name)
        groups.setdefault(cvars["lvs_cluster"], []).append(name)
    return hostvars, groups


def rs(address: str, port: int, weight: int, drain: int = 0, active: int = 0) -> Dict[str, Any]:
    return {"address": address, "port": port, "weight": weight, "drain": drain, "active_conns": active,
            "inactive_conns": 2, "stats": {"cps": 4, "inbps": 800, "outbps": 100}}  # fmt: skip


def live(hostvars: Dict[str, Dict[str, Any]]) -> None:
    http = {"name": "tcp:192.0.2.100:80", "scheduler": "wrr"}
    table = {"services": [dict(http, real_servers=[rs("192.0.2.11", 80, 0, 65535), rs("192.0.2.12", 80, 1, 2, 5)])]}
    for d, state, held in (("director1", "MASTER", "192.0.2.100\n"), ("director2", "BACKUP", "")):
        hostvars[d].update(
            __lvs_status_ipvs={"ipvs": table},
            __lvs_status_host={"stdout": "127.0.0.1\n192.0.2.%s\n%s---\nEntering %s STATE\n" % (d[-1], held, state)},
        )
    api = {"name": "tcp:192.0.2.200:443", "scheduler": "wlc"}
    hostvars["api-d1"].update(
        __lvs_status_ipvs={"ipvs": {"services": [dict(api, real_servers=[rs("192.0.2.21", 443, 7),
                                                                         rs("192.0.2.22", 443, 1, active=9)])]}},
        __lvs_status_host={"stdout": "192.0.2.3\n192.0.2.200\n---\n"},
    )  # fmt: skip


def test_every_state_as_chromium_shows_it() -> None:
    hostvars, groups = inventory()
    live(hostvars)
    directors = ["director1", "director2", "api-d1"]  # api-d2 did not answer
    report = status_report(hostvars, groups, directors, "2026-12-05 05:00:00 UTC")
    logs = os.environ.get("LVS_TEST_LOGS")
    shot = os.path.join(logs, "status-report-states.png") if logs else None
    seen = look(report["html"], shot)
    check_layout(seen)
    nodes = {(n["kind"], n["name"]): n for n in seen["nodes"]}
    want = {
        ("director", "director1"): "master",
        ("director", "director2"): "backup",
        ("realserver", "rs1"): "drained",
        ("realserver", "rs2"): "ramping",
        ("realserver", "rs3"): "down",
        ("director", "api-d1"): "active",
        ("director", "api-d2"): "unreachable",
        ("realserver", "api-rs1"): "drift",
        ("realserver", "api-rs2"): "up",
    }
    for key, state in want.items():
        assert nodes[key]["state"] == state, nodes[key]
        assert nodes[key]["fill"] == hex_rgb(COLOURS[state]), nodes[key]
    assert "MASTER" in nodes[("director", "director1")]["text"]
    assert "BACKUP" in nodes[("director", "director2")]["text"]
    assert {("vip", "192.0.2.100"), ("vip", "192.0.2.200"), ("nfs", "nfs"), ("clients", "clients")} <= set(nodes)
    rows = {r["rs"]: r for r in seen["rows"]}
    assert {name: r["state"] for name, r in rows.items()} == {
        "rs1": "drained", "rs2": "ramping", "rs3": "down", "api-rs1": "drift", "api-rs2": "up"}  # fmt: skip
    for r in rows.values():
        assert r["badge"] == hex_rgb(COLOURS[r["state"]]), r
    assert "65535" in rows["rs1"]["text"] and "192.0.2.12:80" in rows["rs2"]["text"]
    assert seen["drift"] == [
        "api-d1: 192.0.2.21:443 in tcp:192.0.2.200:443 has weight 7, the inventory says 1",
        "api-d2: unreachable, its table is unknown",
    ]
    assert seen["clean"] == 1  # web_ha: no drift (rs3 is down: keepalived's doing, not drift)
