"""Drain a real server of the standalone DR director under load, and rerun site.yml while drained.

Run last in the first verify (after the checks test, which drains in keepalived's mode):
playbooks/drain.yml sets rs1's weight to 0 (drain file, live table, saved table) under a bounded
request loop through the VIP (0 failed requests), waits 10 s for its connection entries and
expires the rest (drain_expire: the DR director keeps closed connections in FIN_WAIT for 120 s); then
site.yml runs again on the director: rs1 stays at weight 0 (ipvs_table subtracts the drain file)
and the run changes nothing. rs1 is left drained: the reboot (side effect) follows, and
test_0_undrain.py, first in the verify after it, checks the drain survived and undrains.
"""

from __future__ import annotations

import os
import re

import pytest
from ha_load import LAST_OUTPUT, drain, playbook, report, ssh, weight_of

EPH = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
MARKER = os.path.join(EPH, "drain-tested")


def test_drain_under_load_and_rerun_keeps_it() -> None:
    if os.path.exists(MARKER):
        pytest.skip("drained in the first verify")
    assert weight_of("director", "192.0.2.11") == 3
    out = drain(["director"], "192.0.2.11", "rs1", "standalone ", "-e", "drain_timeout=10", "-e", "drain_expire=true")
    expired = re.search(r"director\s+drained \(([\d.]+) s, (\d+) expired\)", out)
    assert expired and int(expired.group(2)) > 0, out[-3000:]
    assert ssh("director", "ipvsadm -Lnc | grep -c 192.0.2.11:80 || true").strip() == "0"
    took = playbook("site.yml", "--limit", "director", "--diff")  # a change shows what it is
    recap = re.search(r"director\s+: ok=\d+\s+changed=(\d+)", LAST_OUTPUT[0])
    rules = ssh("director", "grep 192.0.2.11 /etc/ipvsadm.rules")
    report(
        "standalone site.yml rerun while rs1 is drained",
        "drain.yml expired %s entries after %s s; site.yml took %.0f s; changed=%s; rs1 weight %d; saved table: %s"
        % (
            expired.group(2),
            expired.group(1),
            took,
            recap.group(1) if recap else "?",
            weight_of("director", "192.0.2.11"),
            rules.strip(),
        ),
    )
    assert weight_of("director", "192.0.2.11") == 0
    assert recap and recap.group(1) == "0", LAST_OUTPUT[0][-3000:]
    assert rules.strip() == "-a -t 192.0.2.100:80 -r 192.0.2.11:80 -g -w 0"
    with open(MARKER, "w", encoding="utf-8") as fh:
        fh.write("drained\n")
