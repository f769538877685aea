"""After the reboot: rs1, drained before it (test_z_drain.py), is still drained; undrain ramps it back.
Then the slow start of a real server that joins the service (site.yml with lvs_slow_start).

Runs first in the verify after the side effect (the reboot), before test_dr.py checks the 3:1
distribution: the director restored its saved table at boot with rs1 at weight 0 (the drain
file is still there); playbooks/undrain.yml with a 3-step ramp
under a bounded request loop: 0 failed requests, the weights 1, 2, 3 seen on the director.
"""

from __future__ import annotations

import os

import pytest
from ha_load import report, slow_start, ssh, undrain, weight_of

EPH = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")


def test_drain_survives_the_reboot_and_undrain_ramps() -> None:
    if not os.path.exists(os.path.join(EPH, "drain-tested")) or os.path.exists(os.path.join(EPH, "undrain-tested")):
        pytest.skip("rs1 is drained by test_z_drain.py, then undrained here once, after the reboot")
    drained = ssh("director", "cat /var/lib/lvs-cluster/drain/tcp_192.0.2.100_80@192.0.2.11_80").strip()
    uptime = ssh("director", "cut -d' ' -f1 /proc/uptime").strip()
    report("standalone after the reboot", "uptime %s s; rs1 weight %d; drain file %s" % (
        uptime, weight_of("director", "192.0.2.11"), drained))  # fmt: skip
    assert weight_of("director", "192.0.2.11") == 0 and drained == "65535"
    seen = undrain(["director"], "192.0.2.11", "rs1", 3, "standalone ", "-e", "undrain_ramp_time=6")
    assert seen[0] == 0 and seen[-1] == 3 and seen == sorted(seen) and {1, 2} <= set(seen), seen
    with open(os.path.join(EPH, "undrain-tested"), "w", encoding="utf-8") as fh:
        fh.write("done\n")


def test_slow_start_of_a_real_server_that_joins() -> None:
    """rs1 taken out of the live table by hand stands for a real server new in the inventory:
    site.yml with lvs_slow_start (6 s, 3 steps) adds it at a third of its weight (1 of 3), then
    2, then 3, under load with 0 failed requests; no drain file is left."""
    done = os.path.join(EPH, "slow-start-tested")
    if not os.path.exists(os.path.join(EPH, "undrain-tested")) or os.path.exists(done):
        pytest.skip("once, after the undrain")
    seen = slow_start("director", "192.0.2.11", "rs1", 3, "standalone ", "-e", '{"lvs_slow_start": 6}')
    assert seen == [1, 2, 3], seen
    with open(done, "w", encoding="utf-8") as fh:
        fh.write("done\n")
