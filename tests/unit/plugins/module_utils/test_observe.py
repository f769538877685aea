"""module_utils/_observe.py: the live table against the inventory (status.yml and the metrics)."""

from __future__ import annotations

import re
from typing import Any, Dict, List

from ansible_collections.lvs.cluster.plugins.module_utils._observe import (
    compare,
    expected_services,
    live_services,
    metrics_text,
    vrrp_state,
)

SPECS = [
    {"name": "http", "protocol": "tcp", "address": "192.0.2.100", "port": 80, "scheduler": "wrr",
     "real_servers": [{"address": "192.0.2.11", "port": 80, "weight": 3},
                      {"address": "192.0.2.12", "port": 80, "weight": 1}]},
]  # fmt: skip
NAMES = {"192.0.2.11": "rs1", "192.0.2.12": "rs2"}


def observe(**kw: Any) -> Dict[str, Any]:
    return dict(
        {"cluster": "web", "keepalived": False, "vrrp": False, "vips": ["192.0.2.100"],
         "drain_dir": "/var/lib/lvs-cluster/drain", "services": expected_services(SPECS, NAMES)},
        **kw,
    )  # fmt: skip


def live_rs(address: str, weight: int, drain: int = 0, conns: int = 0) -> Dict[str, Any]:
    return {"address": address, "port": 80, "weight": weight, "drain": drain, "active_conns": 1,
            "inactive_conns": 2, "stats": {"conns": conns, "inpkts": 10, "outpkts": 0, "inbytes": 1000,
                                           "outbytes": 0, "cps": 1}}  # fmt: skip


def table(*rss: Dict[str, Any], extra: bool = False) -> List[Dict[str, Any]]:
    svcs = [{"name": "tcp:192.0.2.100:80", "scheduler": "wrr", "real_servers": list(rss),
             "stats": {"conns": 40, "inpkts": 400, "outpkts": 0, "inbytes": 9000, "outbytes": 0}}]  # fmt: skip
    if extra:
        svcs.append({"name": "udp:192.0.2.100:53", "scheduler": "rr", "real_servers": []})
    return svcs


def samples(text: str) -> Dict[str, float]:
    out = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_expected_services_name_the_live_table() -> None:
    assert expected_services(SPECS, NAMES) == [
        {"name": "http", "service": "tcp:192.0.2.100:80", "scheduler": "wrr",
         "real_servers": [{"name": "rs1", "address": "192.0.2.11:80", "weight": 3},
                          {"name": "rs2", "address": "192.0.2.12:80", "weight": 1}]}
    ]  # fmt: skip


def test_compare_drained_is_not_drift_a_hand_edit_is() -> None:
    exp = expected_services(SPECS, NAMES)
    states, drift = compare(
        "d1", exp, live_services(table(live_rs("192.0.2.11", 0, 65535), live_rs("192.0.2.12", 1))), False
    )
    assert drift == [] and states[("tcp:192.0.2.100:80", "192.0.2.11:80")]["expected_weight"] == 0
    _states, drift = compare("d1", exp, live_services(table(live_rs("192.0.2.11", 5), extra=True)), False)
    assert drift == [
        "d1: 192.0.2.11:80 in tcp:192.0.2.100:80 has weight 5, the inventory says 3",
        "d1: 192.0.2.12:80 is missing from tcp:192.0.2.100:80",
        "d1: service udp:192.0.2.100:53 is not in the inventory",
    ]
    # keepalived takes a real server whose checks fail out of the table: down, not drift
    states, drift = compare("d1", exp, live_services(table(live_rs("192.0.2.11", 3))), True)
    assert drift == [] and states[("tcp:192.0.2.100:80", "192.0.2.12:80")] == {"present": False, "health": "down"}


def test_vrrp_state_is_the_last_one_logged() -> None:
    log = "(VI_web) Entering BACKUP STATE (init)\n(VI_web) Entering MASTER STATE\nother line\n"
    assert vrrp_state(log) == "MASTER"
    assert vrrp_state("Entering BACKUP STATE\n") == "BACKUP"
    assert vrrp_state("") == "" and vrrp_state("Entering NOWHERE STATE") == ""


def test_metrics_per_service_and_real_server() -> None:
    text = metrics_text(observe(), table(live_rs("192.0.2.11", 0, 65535, conns=7), live_rs("192.0.2.12", 1, conns=3)),
                        held=["192.0.2.100"])  # fmt: skip
    got = samples(text)
    rs1 = 'cluster="web",service="http",virtual="tcp:192.0.2.100:80",real_server="rs1"'
    assert got['lvs_cluster_up{cluster="web"}'] == 1
    assert got['lvs_cluster_drift{cluster="web"}'] == 0
    assert got['lvs_cluster_vip_held{cluster="web",vip="192.0.2.100"}'] == 1
    assert got['lvs_cluster_service_connections_total{cluster="web",service="http",virtual="tcp:192.0.2.100:80"}'] == 40
    assert got["lvs_cluster_real_server_connections_total{%s}" % rs1] == 7
    assert got["lvs_cluster_real_server_drained{%s}" % rs1] == 1
    assert got["lvs_cluster_real_server_weight{%s}" % rs1] == 0
    assert got["lvs_cluster_real_server_expected_weight{%s}" % rs1] == 0
    assert got['lvs_cluster_real_server_packets_total{%s,direction="in"}' % rs1] == 10
    assert got['lvs_cluster_real_server_bytes_total{%s,direction="in"}' % rs1] == 1000
    assert not any("vrrp_state" in k for k in got)  # no VRRP without HA
    # one HELP and one TYPE per metric name, counters end in _total
    for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M):
        assert (m.group(2) == "counter") == m.group(1).endswith("_total")


def test_metrics_when_the_table_cannot_be_read_or_drifts() -> None:
    got = samples(metrics_text(observe(vrrp=True, cluster='we"b'), None, vrrp="BACKUP"))
    assert got['lvs_cluster_up{cluster="we\\"b"}'] == 0
    assert got['lvs_cluster_vrrp_state{cluster="we\\"b",state="BACKUP"}'] == 1
    assert got['lvs_cluster_vrrp_state{cluster="we\\"b",state="MASTER"}'] == 0
    assert got['lvs_cluster_vip_held{cluster="we\\"b",vip="192.0.2.100"}'] == 0
    assert not any("real_server" in k or "drift" in k for k in got)
    got = samples(metrics_text(observe(), table(live_rs("192.0.2.11", 5))))
    assert got['lvs_cluster_drift{cluster="web"}'] == 2
    rs2 = 'cluster="web",service="http",virtual="tcp:192.0.2.100:80",real_server="rs2"'
    assert got["lvs_cluster_real_server_up{%s}" % rs2] == 0
    assert "lvs_cluster_real_server_weight{%s}" % rs2 not in got
