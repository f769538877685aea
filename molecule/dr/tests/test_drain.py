"""Drain and undrain a real server of the standalone DR director under load (10 requests/s).

playbooks/drain.yml sets rs1's weight to 0 and waits for its connections to end;
playbooks/undrain.yml writes the inventory weight (3) back. Both run while a bounded
request loop goes through the VIP from the client: 0 failed requests is the target.
Run once per scenario (not again in the verify after the reboot).
"""

from __future__ import annotations

import os
import time

import pytest
from ha_load import Load, playbook, report, weight_of

MARKER = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "drain-tested")


def test_drain_and_undrain_under_load() -> None:
    if os.path.exists(MARKER):
        pytest.skip("measured in the first verify")
    assert weight_of("director", "192.0.2.11") == 3
    load = Load(600).start()
    try:
        time.sleep(5)
        took = playbook("drain.yml", "--limit", "rs1", "-e", "drain_timeout=60")
        t_drained = time.time()
        weight = weight_of("director", "192.0.2.11")
        time.sleep(10)
    finally:
        load.stop()
    res = load.result()
    after = len([1 for t, _ok, _who in res.requests if t >= t_drained])
    report(
        "standalone drain rs1 under load",
        "%s; drain.yml took %.0f s; rs1 weight %d; rs1 answers after the drain: %d (of %d)"
        % (res.summary(), took, weight, res.served_by("rs1", after=t_drained), after),
    )
    assert weight == 0
    assert not res.failures, res.failures
    assert res.served_by("rs1", after=t_drained) == 0

    load = Load(600).start()
    try:
        time.sleep(5)
        took = playbook("undrain.yml", "--limit", "rs1")
        t_back = time.time()
        time.sleep(10)
    finally:
        load.stop()
    res = load.result()
    weight = weight_of("director", "192.0.2.11")
    report(
        "standalone undrain rs1 under load",
        "%s; undrain.yml took %.0f s; rs1 weight %d; rs1 answers in the 10 s after: %d"
        % (res.summary(), took, weight, res.served_by("rs1", after=t_back)),
    )
    assert weight == 3
    assert not res.failures, res.failures
    assert res.served_by("rs1", after=t_back) > 0
    with open(MARKER, "w", encoding="utf-8") as fh:
        fh.write("done\n")
