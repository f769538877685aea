"""Transactional apply: a write the kernel refuses undoes the call's earlier writes (fake kernel)."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (
    DEL_DEST,
    DEL_SERVICE,
    NEW_DEST,
    NEW_SERVICE,
    SET_DEST,
    SET_SERVICE,
    Dest,
    IpvsApplyError,
    IpvsClient,
    IpvsValidationError,
    Op,
    Service,
    ServiceKey,
    apply_transaction,
    converge_table,
    plan_table,
    render_rules,
    table_from_spec,
    undo_ops,
)
from ansible_collections.lvs.cluster.plugins.module_utils._netlink import (
    NetlinkBatchError,
    NetlinkError,
    NetlinkProtocolError,
)

Table = Dict[ServiceKey, Service]


def snapshot(table: Table) -> Any:
    """Everything the kernel keeps of a table that a write can change."""
    return {
        key: (svc.config(), svc.flags, {dk: (d.config(), d.af) for dk, d in (svc.dests or {}).items()})
        for key, svc in table.items()
    }


def _err(code: int, text: str = "") -> str:
    return str(NetlinkError(code, text))


class FakeKernel:
    """A ``Writer`` with the IPVS control path's answers (EEXIST, ESRCH, ENOENT, EINVAL).

    Real servers in ``refuse`` get EINVAL as ``ip_vs_new_dest`` gives multicast and broadcast
    addresses; ``refuse_ops`` refuses writes by their description (e.g. an undo);
    ``break_at`` makes the n-th call raise as a batch that broke off.
    """

    def __init__(self, table: Table, refuse: Sequence[str] = ("224.0.0.5",)) -> None:
        self.table: Table = {k: replace(v, dests=dict(v.dests or {})) for k, v in table.items()}
        self.refuse: Set[str] = set(refuse)
        self.refuse_ops: Set[str] = set()
        self.break_at: Optional[int] = None
        self.calls: List[List[Op]] = []

    def __call__(self, ops: Sequence[Op]) -> List[Tuple[int, str]]:
        from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import IpvsApplyError as Broke

        self.calls.append(list(ops))
        if self.break_at == len(self.calls):
            raise Broke("a batch of IPVS writes broke off (No buffer space available)")
        failures = []
        for i, op in enumerate(ops):
            err = self._one(op)
            if err:
                failures.append((i, err))
        return failures

    def _one(self, op: Op) -> str:
        if op.describe() in self.refuse_ops:
            return _err(errno.EPERM, "refused by the test")
        key = op.service.key
        svc = self.table.get(key)
        if op.kind == NEW_SERVICE:
            if svc is not None:
                return _err(errno.EEXIST)
            self.table[key] = replace(op.service, dests={})
            return ""
        if svc is None:
            return _err(errno.ESRCH)
        if op.kind == SET_SERVICE:
            self.table[key] = replace(op.service, dests=svc.dests)
            return ""
        if op.kind == DEL_SERVICE:
            del self.table[key]
            return ""
        assert op.dest is not None and svc.dests is not None
        have = svc.dests.get(op.dest.key)
        if op.kind == NEW_DEST:
            if op.dest.address in self.refuse:
                return _err(errno.EINVAL)
            if have is not None:
                return _err(errno.EEXIST)
            svc.dests[op.dest.key] = op.dest
        elif have is None:
            return _err(errno.ENOENT)
        elif op.kind == SET_DEST:
            svc.dests[op.dest.key] = op.dest
        elif op.kind == DEL_DEST:
            del svc.dests[op.dest.key]
        return ""


def with_refused_dest(table: Table, index: int, address: str) -> Table:
    """``table`` with the first real server of its ``index``-th service moved to ``address``
    (bypassing validation, which rejects the addresses the kernel refuses)."""
    key = list(table)[index]
    svc = table[key]
    assert svc.dests
    first = next(iter(svc.dests.values()))
    dests = {k: v for k, v in svc.dests.items() if v is not first}
    bad = replace(first, address=address)
    out = dict(table)
    out[key] = replace(svc, dests={bad.key: bad, **dests})
    return out


def test_refused_real_server_of_the_second_service_rolls_back_the_whole_table() -> None:
    """The issue's case: ipvs_table left the valid service, its real server and an empty service shell."""
    desired = table_from_spec(
        [
            {"protocol": "tcp", "address": "198.51.100.10", "port": 80, "real_servers": [{"address": "192.0.2.11"}]},
            {"protocol": "tcp", "address": "198.51.100.11", "port": 80, "real_servers": [{"address": "192.0.2.99"}]},
        ]
    )
    desired = with_refused_dest(desired, 1, "224.0.0.5")
    current: Table = {}
    kernel = FakeKernel(current)
    plan = plan_table(desired, current)
    with pytest.raises(IpvsApplyError) as info:
        apply_transaction(plan, current, kernel)
    assert kernel.table == {}
    msg = str(info.value)
    assert "new_dest tcp:198.51.100.11:80 -> 224.0.0.5:80" in msg
    assert os.strerror(errno.EINVAL) in msg and "errno 22" in msg
    assert "rolled back" in msg and "as it was before the call" in msg
    assert info.value.rolled_back and not info.value.left
    assert info.value.failures == [("new_dest tcp:198.51.100.11:80 -> 224.0.0.5:80", _err(errno.EINVAL))]
    # the two services are deleted (with their real servers), newest first; nothing more
    assert [op.describe() for op in kernel.calls[1]] == [
        "del_service tcp:198.51.100.11:80",
        "del_service tcp:198.51.100.10:80",
    ]


def live_table() -> Table:
    return table_from_spec(
        [
            {
                "protocol": "tcp",
                "address": "198.51.100.20",
                "port": 443,
                "scheduler": "wrr",
                "persistent": 600,
                "netmask": "255.255.255.0",
                "real_servers": [
                    {"address": "192.0.2.21", "weight": 3, "u_threshold": 100, "l_threshold": 10},
                    {"address": "192.0.2.22", "forward": "tunnel", "tun_type": "gue", "tun_port": 6080},
                ],
            },
            {
                "protocol": "udp",
                "address": "2001:db8::20",
                "port": 53,
                "real_servers": [{"address": "2001:db8::21", "port": 5353, "forward": "masq", "weight": 0}],
            },
            {"fwmark": 7, "scheduler": "sh", "sched_flags": ["sh-port"], "real_servers": [{"address": "192.0.2.23"}]},
        ]
    )


def test_every_kind_of_write_is_undone_to_the_exact_earlier_table() -> None:
    current = live_table()
    before = snapshot(current)
    desired = table_from_spec(
        [
            {
                "protocol": "tcp",
                "address": "198.51.100.20",
                "port": 443,
                "scheduler": "rr",  # set_service
                "real_servers": [
                    {"address": "192.0.2.21", "weight": 7},  # set_dest (thresholds and weight back on undo)
                    {"address": "192.0.2.24"},  # new_dest; 192.0.2.22 is purged (del_dest)
                ],
            },
            {"protocol": "tcp", "address": "198.51.100.21", "port": 80, "real_servers": [{"address": "192.0.2.99"}]},
        ]
    )
    desired = with_refused_dest(desired, 1, "255.255.255.255")
    plan = plan_table(desired, current, purge_services=True)  # deletes the UDP and the fwmark services
    assert {op.kind for op in plan.ops} == {NEW_SERVICE, SET_SERVICE, DEL_SERVICE, NEW_DEST, SET_DEST, DEL_DEST}
    kernel = FakeKernel(current, refuse=["255.255.255.255"])
    with pytest.raises(IpvsApplyError, match="rolled back") as info:
        apply_transaction(plan, current, kernel)
    assert snapshot(kernel.table) == before
    assert render_rules(kernel.table, thresholds=True) == render_rules(current, thresholds=True)
    assert "255.255.255.255" in str(info.value)


def test_undo_of_a_deleted_service_brings_back_its_real_servers() -> None:
    current = live_table()
    key = list(current)[1]
    plan = plan_table({}, current, absent=[key])
    undo, origin, stuck = undo_ops(plan, current, [0])
    assert [op.kind for op in undo] == [NEW_SERVICE, NEW_DEST]
    assert undo[1].dest == current[key].dests[("2001:db8::21", 5353)]
    assert origin == [0, 0] and stuck == []


def test_real_servers_of_an_undone_new_service_are_not_deleted_one_by_one() -> None:
    desired = table_from_spec([{"fwmark": 3, "real_servers": [{"address": "192.0.2.31"}, {"address": "192.0.2.32"}]}])
    plan = plan_table(desired, {})
    undo, _origin, _stuck = undo_ops(plan, {}, [0, 1, 2])
    assert [op.describe() for op in undo] == ["del_service fwmark:3"]


def test_nothing_to_undo_when_the_first_write_is_refused() -> None:
    desired = with_refused_dest(
        table_from_spec([{"fwmark": 3, "real_servers": [{"address": "192.0.2.31"}]}]), 0, "224.0.0.5"
    )
    current = live_table()
    kernel = FakeKernel(current)
    kernel.refuse_ops.add("new_service fwmark:3")
    plan = plan_table(desired, current)
    with pytest.raises(IpvsApplyError, match="rolled back: the 0 other write") as info:
        apply_transaction(plan, current, kernel)
    # the real server write failed too (no such service): both are named
    assert len(info.value.failures) == 2
    assert len(kernel.calls) == 1
    assert snapshot(kernel.table) == snapshot(current)


def test_a_failed_undo_is_reported_with_what_is_left() -> None:
    current = live_table()
    desired = table_from_spec(
        [
            {"protocol": "tcp", "address": "198.51.100.30", "port": 80, "real_servers": [{"address": "192.0.2.31"}]},
            {"protocol": "tcp", "address": "198.51.100.31", "port": 80, "real_servers": [{"address": "192.0.2.99"}]},
        ]
    )
    desired = with_refused_dest(desired, 1, "224.0.0.5")
    kernel = FakeKernel(current)
    kernel.refuse_ops.add("del_service tcp:198.51.100.30:80")  # its undo
    plan = plan_table(desired, current)
    with pytest.raises(IpvsApplyError) as info:
        apply_transaction(plan, current, kernel)
    msg = str(info.value)
    assert "rollback incomplete" in msg
    assert "these stay made: new_service tcp:198.51.100.30:80; new_dest tcp:198.51.100.30:80 -> 192.0.2.31:80" in msg
    assert "del_service tcp:198.51.100.30:80 failed: " + _err(errno.EPERM, "refused by the test") in msg
    assert not info.value.rolled_back
    assert info.value.left == ["new_service tcp:198.51.100.30:80", "new_dest tcp:198.51.100.30:80 -> 192.0.2.31:80"]
    # what is left is exactly that service; the other one was undone
    assert sorted(kernel.table) == sorted(list(current) + [list(desired)[0]])


def test_a_rollback_that_breaks_off_says_the_table_may_differ() -> None:
    current: Table = {}
    desired = with_refused_dest(
        table_from_spec([{"fwmark": 3, "real_servers": [{"address": "192.0.2.31"}, {"address": "192.0.2.32"}]}]),
        0,
        "224.0.0.5",
    )
    kernel = FakeKernel(current)
    kernel.break_at = 2
    with pytest.raises(IpvsApplyError, match="rolling back the 2 write.* broke off .*may differ"):
        apply_transaction(plan_table(desired, current), current, kernel)


def test_no_refusal_writes_once() -> None:
    current = live_table()
    desired = table_from_spec([{"fwmark": 9, "real_servers": [{"address": "192.0.2.91"}]}])
    kernel = FakeKernel(current)
    plan = plan_table(desired, current)
    assert apply_transaction(plan, current, kernel) == 2
    assert len(kernel.calls) == 1


# -- the client's writer: which writes were made, from the pipeline's answer -------------------


class _Sock:
    def __init__(self, exc: Optional[BaseException]) -> None:
        self.exc = exc
        self.sent: List[Tuple[int, bytes]] = []

    def pipeline_cmds(self, cmds: Any, window: int, version: int, acks: bool) -> int:
        self.sent = list(cmds)
        if self.exc is not None:
            raise self.exc
        return len(self.sent)


def _client(exc: Optional[BaseException]) -> IpvsClient:
    client = IpvsClient.__new__(IpvsClient)
    client.sock = _Sock(exc)
    client._seen_dests = {}
    return client


def test_client_write_maps_batch_failures_to_indexes() -> None:
    ops = plan_table(table_from_spec([{"fwmark": 3, "real_servers": [{"address": "192.0.2.31"}]}]), {}).ops
    batch = NetlinkBatchError([(1, NetlinkError(errno.EINVAL, "bad address", 1))])
    assert _client(batch).write(ops) == [(1, _err(errno.EINVAL, "bad address"))]
    assert _client(None).write(ops) == []
    with pytest.raises(IpvsApplyError, match="broke off .* unknown"):
        _client(NetlinkProtocolError("netlink receive buffer overrun")).write(ops)


def test_converge_table_rolls_back_through_the_client() -> None:
    """The module's path (read, plan, apply) with a kernel that refuses the second service's real server."""
    desired = table_from_spec(
        [
            {"protocol": "tcp", "address": "198.51.100.10", "port": 80, "real_servers": [{"address": "192.0.2.11"}]},
            {"protocol": "tcp", "address": "198.51.100.11", "port": 80, "real_servers": [{"address": "192.0.2.99"}]},
        ]
    )
    desired = with_refused_dest(desired, 1, "224.0.0.5")
    kernel = FakeKernel(live_table())

    class Client:
        def table(self, config_only: bool = False) -> Table:
            return {k: replace(v, dests=dict(v.dests or {})) for k, v in kernel.table.items()}

        def apply(self, plan: Any, current: Table) -> int:
            return apply_transaction(plan, current, kernel)

    before = snapshot(kernel.table)
    with pytest.raises(IpvsApplyError, match="rolled back"):
        converge_table(Client(), desired, purge=True)
    assert snapshot(kernel.table) == before


# -- what the validator rejects before any write --------------------------------------------------


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("224.0.0.5", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("169.254.1.1", "link-local"),
        ("::ffff:192.0.2.1", "IPv4-mapped"),
    ],
)
def test_real_servers_the_kernel_refuses_are_rejected_naming_the_item(address: str, problem: str) -> None:
    family = "2001:db8::1" if ":" in address else "198.51.100.1"
    spec = {
        "protocol": "tcp",
        "address": family,
        "port": 80,
        "real_servers": [{"address": "192.0.2.1" if ":" not in address else "2001:db8::2"}, {"address": address}],
    }
    with pytest.raises(IpvsValidationError, match=problem) as info:
        table_from_spec([spec])
    assert f"services[0] (tcp:{'[' + family + ']' if ':' in family else family}:80) real_servers[1]" in str(info.value)
    assert "refuses as a real server" in str(info.value)


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("224.0.0.5", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
    ],
)
def test_vips_that_cannot_receive_are_rejected(address: str, problem: str) -> None:
    with pytest.raises(IpvsValidationError, match=f"services\\[1\\]: virtual address .* is .*{problem}"):
        table_from_spec([{"fwmark": 1}, {"protocol": "udp", "address": address, "port": 53}])


def test_loopback_real_servers_stay_allowed() -> None:
    """The kernel takes a local address as a real server (local delivery)."""
    table = table_from_spec(
        [{"protocol": "tcp", "address": "198.51.100.1", "port": 80, "real_servers": [{"address": "127.0.0.1"}]}]
    )
    dest = next(iter(next(iter(table.values())).dests.values()))
    assert isinstance(dest, Dest) and dest.address == "127.0.0.1"
