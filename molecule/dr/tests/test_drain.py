"""Drain and undrain a real server of the standalone DR director under load (10 requests/s).

playbooks/drain.yml sets rs1's weight to 0 and waits for its connections to end;
playbooks/undrain.yml writes the inventory weight (3) back. Both run while a bounded
request loop goes through the VIP from the client: 0 failed requests is the target.
Run once per scenario (not again in the verify after the reboot).
"""

from __future__ import annotations

import os

import pytest
from ha_load import drain_cycle, weight_of

MARKER = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "drain-tested")


def test_drain_and_undrain_under_load() -> None:
    if os.path.exists(MARKER):
        pytest.skip("measured in the first verify")
    assert weight_of("director", "192.0.2.11") == 3
    drain_cycle(["director"], "192.0.2.11", "rs1", weight=3, title="standalone ")
    with open(MARKER, "w", encoding="utf-8") as fh:
        fh.write("done\n")
