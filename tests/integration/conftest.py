"""Session fixture ``lab``: the integration topology booted in the qemu lab.

``LVS_LAB_NAME`` picks the lab instance (default ``integ``); ``LVS_LAB_KEEP=1``
reuses a running lab and leaves it up afterwards (for development). ``labtools``
(``tests/labtools.py``) comes from pytest's ``pythonpath`` (pyproject.toml).
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest
from labtools import REPO, LabHandle

TOPOLOGY = REPO / "tests" / "lab" / "topologies" / "integration.yml"


@pytest.fixture(scope="session")
def lab() -> Iterator[LabHandle]:
    keep = os.environ.get("LVS_LAB_KEEP") == "1"
    handle = LabHandle(os.environ.get("LVS_LAB_NAME", "integ"))
    handle.up(TOPOLOGY, reuse=keep)
    try:
        yield handle
    finally:
        if keep:
            handle.close_connections()
        else:
            handle.down()
