"""Make ``ansible_collections.lvs.cluster`` importable from the checkout.

``.build/collections`` is on pytest's ``pythonpath`` (pyproject.toml); this makes the link
``ansible_collections/lvs/cluster`` -> the checkout in it.
"""

from __future__ import annotations

import importlib
import os
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
    # the import system may have looked for modules in the directory before it existed
    importlib.invalidate_caches()
