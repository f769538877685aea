"""Guest side of the kernel-refusal test: the modules' apply path with validation bypassed.

Usage: ipvs_rollback_guest.py REQUEST.json, where the request is::

    {"path": "table" | "service", "services": [...], "purge": bool, "force": {"STAND-IN": "ADDRESS"}}

The services are validated as ``ipvs_table`` validates them, then every real server
at a stand-in address is moved to the forced address (one the validator rejects but
the kernel is asked to take anyway), and the call goes through ``converge_table``
(``ipvs_table``'s path, ``purge`` as its option) or ``converge_service`` (``ipvs_service``'s
path for the one service, with ``purge_real_servers``).  Prints one JSON object:
``failed``, ``msg``, ``rolled_back``, ``left``.  Needs
``ansible_collections/lvs/cluster/plugins/module_utils`` next to it.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from typing import Any, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    IpvsApplyError,
    IpvsClient,
    Service,
    ServiceKey,
    converge_service,
    converge_table,
    parse_address,
    table_from_spec,
)


def force_addresses(table: Dict[ServiceKey, Service], force: Dict[str, str]) -> Dict[ServiceKey, Service]:
    """``table`` with the real servers at each stand-in address moved to its forced address (no validation)."""
    out = {}
    for key, svc in table.items():
        dests = {}
        for dkey, dest in (svc.dests or {}).items():
            if dest.address in force:
                af, addr = parse_address(force[dest.address], "forced address")
                dest = replace(dest, address=addr, af=af)
                dkey = dest.key
            dests[dkey] = dest
        out[key] = replace(svc, dests=dests if svc.dests is not None else None)
    return out


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        request: Dict[str, Any] = json.load(handle)
    desired = force_addresses(table_from_spec(request["services"]), request.get("force", {}))
    result: Dict[str, Any] = {"failed": False, "msg": "", "rolled_back": False, "left": []}
    try:
        with IpvsClient() as client:
            if request["path"] == "table":
                converge_table(client, desired, purge=request.get("purge", False))
            else:
                svc = next(iter(desired.values()))
                converge_service(client, svc, purge_dests=request.get("purge", False))
    except IpvsApplyError as exc:
        result.update(failed=True, msg=str(exc), rolled_back=exc.rolled_back, left=exc.left)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
