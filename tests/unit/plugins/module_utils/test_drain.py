"""Drain state files and the connection entries a drain waits for (pure logic of _drain)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._drain import (
    MAX_WEIGHT,
    DrainError,
    annotate,
    apply_drains,
    drain_file_name,
    drain_path,
    drained_weight,
    entries_of,
    open_entries,
    parse_conns,
    parse_value,
    ramp_value,
    read_drains,
)
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import table_from_spec

V4 = (socket.AF_INET, "tcp", "192.0.2.100", 80, 0)
MARK6 = (socket.AF_INET6, "fwmark", "", 0, 7)
# /proc/net/ip_vs_conn as the kernel prints it (ip_vs_conn_seq_show): hex addresses and ports
CONN_TABLE = """Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C00002FE 9C40 C0000264 0050 C000020B 0050 ESTABLISHED    899
TCP C00002FE 9C41 C0000264 0050 C000020B 0050 TIME_WAIT      110
TCP C00002FE 9C42 C0000264 0050 C000020C 0050 ESTABLISHED    899
UDP C00002FE 9C43 C0000264 0035 C000020B 0035 UDP            290
TCP C00002FE 0000 C0000264 0050 C000020B 0050 NONE           300
IP  C00002FE 0000 00000000 0000 C000020B 0000 ASSURED        300
TCP 2001:0db8:0000:0000:0000:0000:0000:00fe 9C44 2001:0db8:0000:0000:0000:0000:0000:0100 01BB \
2001:0db8:0000:0000:0000:0000:0000:000b 01BB FIN_WAIT        60
"""


def test_file_names_are_the_kernel_identity() -> None:
    assert drain_file_name(V4, ("192.0.2.11", 80)) == "tcp_192.0.2.100_80@192.0.2.11_80"
    assert drain_file_name(MARK6, ("2001:db8::b", 0)) == "fwmark_7_ipv6@2001:db8::b_0"
    # the planner's spec, unnormalized addresses and a real server without a port
    spec = {"protocol": "tcp", "address": "2001:db8:0::100", "port": 443}
    assert (
        drain_path(spec, {"address": "2001:DB8::b"})
        == "/var/lib/lvs-cluster/drain/tcp_2001:db8::100_443@2001:db8::b_443"
    )
    assert drain_path({"fwmark": 3, "family": "ipv4"}, {"address": "192.0.2.11"}, "/d") == "/d/fwmark_3@192.0.2.11_0"


@pytest.mark.parametrize(
    ("weight", "percent", "value", "applied"),
    [
        (3, 0, MAX_WEIGHT, 0),
        (3, 33, 2, 1),
        (3, 66, 1, 2),
        (3, 100, 0, 3),
        (1, 33, 0, 1),
        (100, 25, 75, 25),
        (0, 50, 0, 0),
    ],
)
def test_ramp(weight: int, percent: int, value: int, applied: int) -> None:
    assert ramp_value(weight, percent) == value
    assert drained_weight(weight, value) == applied


def test_values_are_read_like_keepalived(tmp_path: Path) -> None:
    assert [parse_value(t) for t in ("65535\n", " 2 ramp", "x", "", "-1")] == [65535, 2, 0, 0, -1]
    assert drained_weight(3, -1) == 4 and drained_weight(65535, -1) == MAX_WEIGHT
    assert read_drains(str(tmp_path / "missing")) == {}
    (tmp_path / "tcp_192.0.2.100_80@192.0.2.11_80").write_text("65535\n")
    (tmp_path / ".tcp_192.0.2.100_80@192.0.2.12_80.tmp").write_text("1\n")  # a write in progress
    (tmp_path / "README").write_text("not a drain file\n")
    assert read_drains(str(tmp_path)) == {"tcp_192.0.2.100_80@192.0.2.11_80": 65535}
    (tmp_path / "sub@dir").mkdir()
    with pytest.raises(DrainError, match="cannot read"):
        read_drains(str(tmp_path))


def test_apply_drains_lowers_only_listed_real_servers() -> None:
    table = table_from_spec(
        [{"protocol": "tcp", "address": "192.0.2.100", "port": 80,
          "real_servers": [{"address": "192.0.2.11", "weight": 3}, {"address": "192.0.2.12", "weight": 1}]}]
    )  # fmt: skip
    done = apply_drains(table, {"tcp_192.0.2.100_80@192.0.2.11_80": 2, "tcp_192.0.2.100_80@192.0.2.99_80": 9})
    assert done == [
        {"service": "tcp:192.0.2.100:80", "address": "192.0.2.11", "port": 80, "inventory_weight": 3, "drain": 2,
         "weight": 1}
    ]  # fmt: skip
    assert [d.weight for d in table[V4].dests.values()] == [1, 1]


def test_connection_entries_by_real_server_and_state() -> None:
    conns = parse_conns(CONN_TABLE)
    assert len(conns) == 7 and sum(c.template for c in conns) == 2
    rs1 = entries_of(conns, V4, ("192.0.2.11", 80))
    assert rs1 == {"ESTABLISHED": 1, "TIME_WAIT": 1}  # not the template, not the UDP service
    assert entries_of(conns, (socket.AF_INET, "udp", "192.0.2.100", 53, 0), ("192.0.2.11", 53)) == {"UDP": 1}
    assert open_entries(rs1) == 2 and open_entries(rs1, inactive=False) == 1
    assert open_entries({"UDP": 2, "FIN_WAIT": 1}, inactive=False) == 2
    v6 = (socket.AF_INET6, "tcp", "2001:db8::100", 443, 0)
    assert entries_of(conns, v6, ("2001:db8::b", 443)) == {"FIN_WAIT": 1}
    assert entries_of(conns, MARK6, ("2001:db8::b", 443)) == {"FIN_WAIT": 1}  # any virtual address
    with pytest.raises(DrainError, match="bad"):
        parse_conns("TCP 0 0 ZZ 0050 C000020B 0050 ESTABLISHED 1")


def test_annotate_adds_drain_and_entries() -> None:
    table = table_from_spec(
        [{"protocol": "tcp", "address": "192.0.2.100", "port": 80, "real_servers": [{"address": "192.0.2.11"}]}]
    )
    svc = table[V4]
    out = svc.to_dict(runtime=True)
    annotate(svc, out, {"tcp_192.0.2.100_80@192.0.2.11_80": 65535}, parse_conns(CONN_TABLE))
    assert out["real_servers"][0]["drain"] == 65535
    assert out["real_servers"][0]["entries"] == {"ESTABLISHED": 1, "TIME_WAIT": 1}
    out = svc.to_dict(runtime=True)
    annotate(svc, out, {}, [])
    assert out["real_servers"][0]["drain"] == 0 and out["real_servers"][0]["entries"] == {}
    out = svc.to_dict(runtime=True)
    annotate(svc, out, {})
    assert "entries" not in out["real_servers"][0]


def test_targets_and_plan_take_drain_yml_arguments() -> None:
    from ansible_collections.lvs.cluster.plugins.module_utils._drain import plan_drain, targets
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import IpvsError

    args = {"protocol": "tcp", "virtual_address": "192.0.2.100", "virtual_port": 80, "address": "192.0.2.11",
            "port": 80, "forward": "route", "weight": 3, "u_threshold": 0, "l_threshold": 0}  # fmt: skip
    mark = {"fwmark": 7, "family": "ipv6", "address": "2001:db8::b", "forward": "tunnel", "weight": 2}
    (key, rs), (mkey, mrs) = targets([args, mark])
    assert key == V4 and rs["weight"] == 3 and rs["address"] == "192.0.2.11"
    assert mkey == MARK6 and mrs["port"] is None
    with pytest.raises(IpvsError, match=r"real_servers\[0\]: unknown option\(s\) wieght"):
        targets([dict(args, wieght=1)])
    files, wanted, report = plan_drain([args, mark], 50, "/d")
    assert files == [
        {"path": "/d/tcp_192.0.2.100_80@192.0.2.11_80", "content": "1\n", "mode": "0644"},
        {"path": "/d/fwmark_7_ipv6@2001:db8::b_0", "content": "1\n", "mode": "0644"},
    ]
    assert [d.weight for _k, d in wanted] == [2, 1] and [r["drain"] for r in report] == [1, 1]
    files, wanted, report = plan_drain([args], 100, "/d")
    assert files == [{"path": "/d/tcp_192.0.2.100_80@192.0.2.11_80", "state": "absent"}] and wanted[0][1].weight == 3
    with pytest.raises(IpvsError, match="percent must be 0..100"):
        plan_drain([args], 101, "/d")


def test_slow_start_picks_real_servers_added_to_a_live_service() -> None:
    from ansible_collections.lvs.cluster.plugins.module_utils._drain import plan_drain, ramp_percents, select_added
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import IpvsError

    def rs(vip: str, address: str) -> dict:
        return {"protocol": "tcp", "virtual_address": vip, "virtual_port": 80, "address": address, "weight": 3}

    live = table_from_spec(
        [
            {"protocol": "tcp", "address": "192.0.2.100", "port": 80, "real_servers": [{"address": "192.0.2.11"}]},
            {"protocol": "tcp", "address": "192.0.2.101", "port": 80, "real_servers": []},
        ]
    )
    items = [
        rs("192.0.2.100", "192.0.2.11"),  # already in the table
        rs("192.0.2.100", "192.0.2.12"),  # added next to .11: slow start
        rs("192.0.2.100", "192.0.2.13"),  # added, but drained: stays drained
        rs("192.0.2.101", "192.0.2.12"),  # its service has no other real server
        rs("192.0.2.102", "192.0.2.12"),  # its service is new
    ]
    _files, wanted, _report = plan_drain(items, 33, "/d")
    drains = {drain_file_name(V4[:2] + ("192.0.2.100", 80, 0), ("192.0.2.13", 80)): MAX_WEIGHT}
    assert select_added(live, wanted, drains) == [1]
    assert ramp_percents(33, 2) == [66, 100]
    assert ramp_percents(0, 3) == [33, 66, 100]
    assert ramp_percents(50, 1) == [100]
    with pytest.raises(IpvsError, match="ramp_steps must be 1..100"):
        ramp_percents(33, 0)
