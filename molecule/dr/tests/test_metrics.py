"""The director's lvs_cluster_* metrics (lvs_metrics: true), scraped from node_exporter as
Prometheus does: over the lab's network, from the lab namespace.

In the first verify, after a bounded request loop through the VIP: the timer's service runs
once more (restarted: a run begun during the loop would have older counters), node_exporter's
/metrics is scraped and every per-service and per-real-server number is checked against
lvs.cluster.ipvs_info read right after it (no traffic in between: the counters stand still).
After the reboot: the timer runs again on its own and the metrics say the table is read, with
the VIP held and no drift.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from typing import Dict, Tuple

import prom
from ha_load import VIP, Load, lab_inventory, report, ssh, wait_for
from prom import Samples

EPH = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
MARKER = os.path.join(EPH, "metrics-tested")
SERVICE = "tcp:%s:80" % VIP
NAMES = {"rs1": "192.0.2.11:80", "rs2": "192.0.2.12:80"}


def scrape() -> Tuple[str, Samples]:
    return prom.scrape("192.0.2.1")


def metric(samples: Samples, name: str, **labels: str) -> float:
    return prom.metric(samples, "web_dr", name, **labels)


def ipvs_info() -> Dict[str, object]:
    res = subprocess.run(
        [
            "ansible",
            "director",
            "-i",
            os.path.join(EPH, "inventory"),
            "-i",
            lab_inventory(),
            "-m",
            "lvs.cluster.ipvs_info",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    out = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)
    return json.loads(out[out.index("{") :])["ipvs"]


def test_metrics_match_ipvs_info() -> None:
    if os.path.exists(MARKER):  # after the reboot: the timer runs on its own
        prom = "cat /var/lib/prometheus/node-exporter/lvs_cluster.prom 2>/dev/null || true"
        took = wait_for(
            lambda: 'lvs_cluster_up{cluster="web_dr"} 1' in ssh("director", prom),
            120,
        )
        # the timer ran on its own; a run of now for the table as the tests before this one left it
        ssh("director", "systemctl restart lvs-cluster-metrics.service")
        _text, samples = scrape()
        assert metric(samples, "up") == 1
        assert metric(samples, "drift") == 0
        assert metric(samples, "vip_held", vip=VIP) == 1
        assert metric(samples, "real_server_weight", service="http", virtual=SERVICE, real_server="rs1") == 3
        report("metrics after the reboot", "timer's first file %.0f s into the verify; up 1, drift 0" % took)
        return
    res = Load(3, rate=10).start().wait()
    assert not res.failures, res.summary()
    # the kernel adds the per-CPU counters into the ones it reports every 2 s (its estimator):
    # they stand still once one period has passed after the loop's last request
    time.sleep(5)
    # a run of its own after the loop (start would join a timer run begun during the loop)
    ssh("director", "systemctl restart lvs-cluster-metrics.service")
    text, samples = scrape()
    info = ipvs_info()
    svc = next(s for s in info["services"] if s["name"] == SERVICE)  # type: ignore[union-attr]
    labels = {"service": "http", "virtual": SERVICE}
    assert metric(samples, "up") == 1
    assert metric(samples, "drift") == 0
    assert metric(samples, "vip_held", vip=VIP) == 1
    assert metric(samples, "service_up", **labels) == 1
    assert metric(samples, "service_connections_total", **labels) == svc["stats"]["conns"]
    for direction in ("in", "out"):
        assert (
            metric(samples, "service_packets_total", direction=direction, **labels) == svc["stats"][direction + "pkts"]
        )
        assert (
            metric(samples, "service_bytes_total", direction=direction, **labels) == svc["stats"][direction + "bytes"]
        )
    conns = 0
    for name, address in NAMES.items():
        rs = next(r for r in svc["real_servers"] if "%s:%s" % (r["address"], r["port"]) == address)
        rl = dict(labels, real_server=name)
        assert metric(samples, "real_server_up", **rl) == 1
        assert metric(samples, "real_server_weight", **rl) == rs["weight"]
        assert metric(samples, "real_server_expected_weight", **rl) == rs["weight"]
        assert metric(samples, "real_server_drained", **rl) == 0
        assert metric(samples, "real_server_connections_total", **rl) == rs["stats"]["conns"]
        for direction in ("in", "out"):
            assert (
                metric(samples, "real_server_packets_total", direction=direction, **rl)
                == rs["stats"][direction + "pkts"]
            )
            assert (
                metric(samples, "real_server_bytes_total", direction=direction, **rl)
                == rs["stats"][direction + "bytes"]
            )
        conns += rs["stats"]["conns"]
    assert conns >= len(res.requests), "the counters count the loop's %d requests: %d" % (len(res.requests), conns)
    # node_exporter read the file; the timer is on for the boot
    assert samples.get(("node_textfile_scrape_error", ())) == 0, [
        k for k in samples if k[0].startswith("node_textfile")
    ]
    assert ssh(
        "director", "systemctl is-enabled lvs-cluster-metrics.timer; systemctl is-active lvs-cluster-metrics.timer"
    ).split() == ["enabled", "active"]
    lines = [line for line in text.splitlines() if line.startswith("lvs_cluster_real_server_connections_total")]
    report("metrics", "%s; %d connections counted" % (res.summary(), conns) + "".join("\n  " + line for line in lines))
    with open(MARKER, "w", encoding="utf-8") as fh:
        fh.write("done\n")
