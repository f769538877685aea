"""Guest side of the IPVS benchmark: converge a table with the module_utils code directly.

Usage: ipvs_bench_guest.py TABLE.json  (a list of services as ipvs_table takes them)
Prints one JSON object: timings of validation, read, plan, apply and the plan's size.
Needs ``ansible_collections/lvs/cluster/plugins/module_utils`` next to this script (the
benchmark driver copies it there; python puts the script's directory first on ``sys.path``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    IpvsClient,
    plan_table,
    table_from_spec,
)


def modprobe_ip_vs() -> str:
    """Loads ip_vs if the IPVS family is missing (the modules do it through their run_command)."""
    res = subprocess.run(["modprobe", "ip_vs"], capture_output=True, text=True, check=False)
    return "" if res.returncode == 0 else (res.stderr.strip() or f"modprobe exited {res.returncode}")


def main() -> None:
    t0 = time.perf_counter()
    with open(sys.argv[1], encoding="utf-8") as handle:
        items = json.load(handle)
    t1 = time.perf_counter()
    desired = table_from_spec(items)
    t2 = time.perf_counter()
    with IpvsClient(modprobe=modprobe_ip_vs) as client:
        current = client.table(config_only=True)
        t3 = time.perf_counter()
        plan = plan_table(desired, current)
        t4 = time.perf_counter()
        if plan.changed:
            client.apply(plan, current)
        t5 = time.perf_counter()
    print(
        json.dumps(
            {
                "load": t1 - t0,
                "validate": t2 - t1,
                "read": t3 - t2,
                "plan": t4 - t3,
                "apply": t5 - t4,
                "total": t5 - t0,
                "changed": plan.changed,
                "ops": len(plan.ops),
            }
        )
    )


if __name__ == "__main__":
    main()
