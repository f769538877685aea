"""playbooks/status.yml on the converged DR cluster, then after a weight changed by hand.

Once, in the first verify (standalone director): the report lists the http service with rs1 and
rs2 and says there is no drift; after `ipvsadm -e` gives rs2 weight 7, status.yml with
status_fail_on_drift fails and names the weight; the weight is put back by hand. Both runs write
the HTML report (status_html), which headless Chromium shows (tests/report_browser.py): the
director, rs1, rs2 and the NFS server in the picture, green when converged, rs2 in the drift
colour after the hand edit; the converged page's screenshot goes to the test logs.
"""

from __future__ import annotations

import os

import pytest
from ha_load import LAST_OUTPUT, playbook, report, ssh
from report_browser import check_layout, hex_rgb, look

from ansible_collections.lvs.cluster.plugins.plugin_utils._status import COLOURS

EPH = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
MARKER = os.path.join(EPH, "status-tested")
# ipvsadm -e sets every attribute: the inventory's thresholds go with the weight
RS2 = "-t 192.0.2.100:80 -r 192.0.2.12:80 -g -x 1000 -y 500"


def test_status_report_and_drift() -> None:
    if os.path.exists(MARKER):
        pytest.skip("once, in the first verify")
    # weights (ipvsadm-save) and thresholds (not in ipvsadm-save), without the connection counters
    table = "ipvsadm-save -n; ipvsadm -Ln --thresholds | awk '{print $1, $2, $3, $4}'"
    before = ssh("director", table)
    pages = [os.path.join(EPH, "status-%s.html" % n) for n in ("clean", "drift")]
    took = playbook("status.yml", "-e", "status_html=" + pages[0])
    clean = LAST_OUTPUT[0]
    ssh("director", "ipvsadm -e %s -w 7" % RS2)
    try:
        took_drift = playbook(
            "status.yml", "-e", "status_fail_on_drift=true", "-e", "status_html=" + pages[1], ok=False
        )
        drifted = LAST_OUTPUT[0]
    finally:
        ssh("director", "ipvsadm -e %s -w 1" % RS2)
    assert ssh("director", table) == before  # the table as it was, for the tests after this one
    lines = [line.strip().strip('",') for line in clean.splitlines() if "tcp:192.0.2.100:80" in line or "rs" in line]
    report("status.yml", "%.0f s clean, %.0f s with drift; %s" % (took, took_drift, " / ".join(lines[:4])))
    assert "cluster web_dr: DR mode, table owned by ipvs_table" in clean
    assert "tcp:192.0.2.100:80 (http) wrr" in clean
    assert "no drift: every director's table is what the inventory says" in clean
    assert "director: 192.0.2.12:80 in tcp:192.0.2.100:80 has weight 7, the inventory says 1" in drifted
    logs = os.environ.get("LVS_TEST_LOGS")
    states = []
    for page in pages:
        with open(page, encoding="utf-8") as fh:
            seen = look(fh.read(), os.path.join(logs, os.path.basename(page)[:-5] + ".png") if logs else None)
        check_layout(seen)
        nodes = {(n["kind"], n["name"]): n for n in seen["nodes"]}
        assert {("director", "director"), ("vip", "192.0.2.100"), ("nfs", "nfs")} <= set(nodes), nodes
        for n in nodes.values():
            if n["kind"] in ("director", "realserver"):
                assert n["fill"] == hex_rgb(COLOURS[n["state"]]), n
        states.append({name: nodes[("realserver", name)]["state"] for name in ("rs1", "rs2")})
    assert states == [{"rs1": "up", "rs2": "up"}, {"rs1": "up", "rs2": "drift"}]
    with open(MARKER, "w", encoding="utf-8") as fh:
        fh.write("done\n")
