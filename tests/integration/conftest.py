"""Session fixture ``lab``: the integration topology booted in the qemu lab.

``LVS_LAB_NAME`` picks the lab instance (default ``integ``); ``LVS_LAB_KEEP=1``
reuses a running lab and leaves it up afterwards (for development).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labtools import REPO, LabHandle, ensure_collection_link  # noqa: E402

collections = ensure_collection_link()
if str(collections) not in sys.path:
    sys.path.insert(0, str(collections))

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
