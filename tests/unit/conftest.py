"""Make ``ansible_collections.lvs.cluster`` importable from the checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".build" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "lvs" / "cluster"

if not LINK.exists():
    LINK.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(REPO, LINK)
    except FileExistsError:
        pass
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
