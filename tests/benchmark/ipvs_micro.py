"""Pure-Python micro-benchmark of the IPVS hot paths (host only, no lab, not part of the suite).

Packs the writes of a 1000 x 10 table (``op_request``: service id + full real server) and decodes
captured GET_DEST replies (``fast_dest`` and the config-only read of ``IpvsClient.dests``), best of
several rounds, in microseconds per item.

    python3 tests/benchmark/ipvs_micro.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path
from typing import Any, Callable, List

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "benchmark"))
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins" / "module_utils"))

from labtools import ensure_collection_link  # noqa: E402

sys.path.insert(0, str(ensure_collection_link()))

from ipvs_bench import make_table  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils import _ipvs  # noqa: E402
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    NEW_DEST,
    IpvsClient,
    Op,
    fast_dest,
    op_request,
    plan_table,
    table_from_spec,
)


def best(rounds: int, items: int, func: Callable[[], Any]) -> float:
    times: List[float] = []
    for _round in range(rounds):
        t0 = time.process_time()  # CPU time: other processes on the host distort wall time
        func()
        times.append(time.process_time() - t0)
    return min(times) / items * 1e6


class _Genl:
    def __init__(self, replies: List[bytes]) -> None:
        self.replies = replies

    def dump(self, cmd: int, attrs: bytes, version: int = 1) -> List[Any]:
        return [(cmd, r) for r in self.replies]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    from test_ipvs_kernel_bytes import DEST_GUE, DEST_MASQ

    desired = table_from_spec(make_table(1000, 10))
    ops = plan_table(desired, {}).ops
    dest_ops = [op for op in ops if op.kind == NEW_DEST]

    def pack_all() -> None:
        cache: dict = {}
        for op in ops:
            op_request(op, cache)

    def pack_all_as_apply() -> None:
        """As ``IpvsClient.write`` packs them (with the real-server cache where this version has one)."""
        cache: dict = {}
        if "dest_cache" in inspect.signature(op_request).parameters:
            dest_cache: dict = {}
            for op in ops:
                op_request(op, cache, dest_cache)
        else:
            for op in ops:
                op_request(op, cache)

    def pack_dests() -> None:
        for op in dest_ops:
            _ipvs.pack_dest(op.dest)

    replies = [DEST_MASQ, DEST_GUE] * 500

    def parse_fast() -> None:
        for r in replies:
            fast_dest(r, 2)

    svc = next(iter(desired.values()))

    def read_config_only() -> None:
        client = IpvsClient.__new__(IpvsClient)
        client.sock = _Genl(replies)
        client._seen_dests = {}
        client.dests(svc, config_only=True)

    def read_full() -> None:
        client = IpvsClient.__new__(IpvsClient)
        client.sock = _Genl(replies)
        client._seen_dests = {}
        client.dests(svc)

    print(f"op_request, all {len(ops)} writes: {best(args.rounds, len(ops), pack_all):.2f} us/write")
    print(f"op_request as apply packs them: {best(args.rounds, len(ops), pack_all_as_apply):.2f} us/write")
    print(f"pack_dest (full), {len(dest_ops)} real servers: {best(args.rounds, len(dest_ops), pack_dests):.2f} us")
    print(f"fast_dest, {len(replies)} replies: {best(args.rounds, len(replies), parse_fast):.2f} us/reply")
    print(f"dests(config_only), {len(replies)} replies: {best(args.rounds, len(replies), read_config_only):.2f} us")
    print(f"dests(), {len(replies)} replies: {best(args.rounds, len(replies), read_full):.2f} us/reply")
    assert isinstance(dest_ops[0], Op)


if __name__ == "__main__":
    main()
