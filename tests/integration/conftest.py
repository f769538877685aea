"""Session fixture ``lab``: the integration topology booted in the qemu lab.

``LVS_LAB_NAME`` picks the lab instance (default ``integ``); ``LVS_LAB_KEEP=1``
reuses a running lab and leaves it up afterwards (for development). Under pytest-xdist
(``scripts/test`` runs ``-n 2``) every worker boots its own lab, ``<name>-<worker>``: the tests
clean up the hosts they use, so any worker can run any test. ``labtools``
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
    name = os.environ.get("LVS_LAB_NAME", "integ")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    handle = LabHandle(f"{name}-{worker}" if worker else name)
    handle.up(TOPOLOGY, reuse=keep)
    try:
        yield handle
    finally:
        if keep:
            handle.release()
        else:
            handle.down()
