#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_drain
short_description: Drain real servers so that it lasts, ramp them back, wait for their connections
description:
  - Writes the drain state of real servers on a director, one file per virtual service and real
    server in O(drain_dir). The file holds the weight taken off the inventory weight (65535 when
    drained, less while ramping back); no file is the full weight.
  - keepalived (HA and single-director checks; the director role renders a C(FILE_CHECK) with weight
    -1 on each file) applies a change by itself, without a reload. With O(live=true) (a table owned
    by M(lvs.cluster.ipvs_table)) the module also sets the live weight, adds back a real server that
    is missing, and saves the table where the director role keeps it for the restore at boot.
  - M(lvs.cluster.ipvs_table) (the director role passes it O(drain_dir)) subtracts the same numbers,
    so a rerun of the role keeps the drain; M(lvs.cluster.ipvs_info) shows them.
  - O(ramp_time) steps the weight up to the inventory weight over time (slow start), and
    O(added_only) picks the real servers a slow start applies to (the director role's
    C(director_slow_start)).
  - With O(wait_timeout), waits until the real servers have no connection entry left in these
    services (TCP active and inactive, UDP, SCTP), read from C(/proc/net/ip_vs_conn), and reports
    what is left when the time is up (without failing). O(expire) then expires what is left.
version_added: 0.2.0
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.ipvs
  - lvs.cluster.ipvs.changes
options:
  real_servers:
    description:
      - The real servers, each in one service, with the options of M(lvs.cluster.ipvs_real_server)
        (C(protocol), C(virtual_address), C(virtual_port) or C(fwmark) and C(family); C(address), C(port),
        C(forward), C(weight) - the inventory weight - thresholds and tunnel settings).
    type: list
    elements: dict
    required: true
  percent:
    description: The share of the inventory weight to give; V(0) drains, V(100) removes the drain state.
    type: int
    default: 0
  live:
    description: Also set the live weight (tables owned by M(lvs.cluster.ipvs_table), not keepalived).
    type: bool
    default: false
  drain_dir:
    description: Directory of the drain files.
    type: path
    default: /var/lib/lvs-cluster/drain
  wait_timeout:
    description: Seconds to wait for the connection entries to end; V(0) does not wait.
    type: int
    default: 0
  wait_inactive:
    description:
      - Wait for the TCP entries IPVS counts as inactive too (C(FIN_WAIT), C(TIME_WAIT), C(CLOSE)...).
        A DR or TUN director never sees the end of a connection; its entry stays in C(FIN_WAIT) for the
        C(tcpfin) timeout (120 s by default, see M(lvs.cluster.ipvs_config)).
      - V(false) waits for active TCP connections and every UDP and SCTP entry only.
    type: bool
    default: true
  expire:
    description:
      - After the wait, expire the entries that are left (all of them when O(wait_timeout) is 0). The
        real server is taken out of the live table and put back as it was once the kernel has
        expired its entries (C(net.ipv4.vs.expire_nodest_conn=1), the director role's default;
        Linux 5.9 or later). A packet of such a connection then goes to another real server or is
        refused.
    type: bool
    default: false
  wait_poll:
    description: Seconds between two reads of the connection table.
    type: float
    default: 1.0
  added_only:
    description:
      - Act only on the real servers that their service in the live table does not have yet, while
        it has others, and that have no drain file (a drained real server stays drained). The others
        are left alone; RV(selected) lists the ones acted on.
      - Written before the real servers are added (by M(lvs.cluster.ipvs_table) or keepalived), the
        file makes them start at O(percent) of their weight (slow start).
    type: bool
    default: false
  ramp_time:
    description:
      - After O(percent), raise the weight to the inventory weight in O(ramp_steps) equal steps, one
        every O(ramp_time) / O(ramp_steps) seconds; the last step removes the files. V(0) does not ramp.
        Not in check mode.
    type: int
    default: 0
  ramp_steps:
    description: Steps of O(ramp_time).
    type: int
    default: 2
notes:
  - Connection entries of a firewall-mark service are those of the real server, whatever their
    virtual address.
"""

EXAMPLES = r"""
- name: Drain 192.0.2.11 in the HTTP service and wait up to 5 minutes for its connections
  lvs.cluster.ipvs_drain:
    real_servers:
      - {protocol: tcp, virtual_address: 192.0.2.100, virtual_port: 80, address: 192.0.2.11, weight: 3}
    percent: 0
    live: true
    wait_timeout: 300
  register: drained

- name: Slow start of real servers about to be added - a third of their weight first
  lvs.cluster.ipvs_drain:
    real_servers:
      - {protocol: tcp, virtual_address: 192.0.2.100, virtual_port: 80, address: 192.0.2.13, weight: 3}
    percent: 33
    added_only: true
  register: started

- name: The rest over 20 seconds, once they are in the table
  lvs.cluster.ipvs_drain:
    real_servers: "{{ started.selected }}"
    percent: 33
    ramp_time: 20
    ramp_steps: 2
    live: true
  when: started.selected | length > 0

- name: Half of its weight back
  lvs.cluster.ipvs_drain:
    real_servers:
      - {protocol: tcp, virtual_address: 192.0.2.100, virtual_port: 80, address: 192.0.2.11, weight: 3}
    percent: 50
    live: true
"""

RETURN = r"""
real_servers:
  description: Per real server, the service, the inventory weight, the number in its drain file and the weight it gets.
  returned: always
  type: list
  elements: dict
  sample: [{service: "tcp:192.0.2.100:80", address: 192.0.2.11, port: 80, inventory_weight: 3, drain: 65535, weight: 0}]
changed_paths:
  description: Files written or removed (drain files; the saved table with O(live)).
  returned: always
  type: list
  elements: str
ops:
  description: Writes to the live table (O(live)).
  returned: always
  type: list
  elements: str
entries:
  description: Connection entries left by real server (C(service@address:port)) and state, after the wait.
  returned: when O(wait_timeout) is set
  type: dict
  sample: {"tcp:192.0.2.100:80@192.0.2.11:80": {TIME_WAIT: 12}}
open_entries:
  description: How many of those the drain waits for (not the inactive TCP ones without O(wait_inactive)).
  returned: when O(wait_timeout) is set
  type: int
waited:
  description: Seconds waited.
  returned: when O(wait_timeout) is set
  type: float
complete:
  description: No open entry was left within O(wait_timeout).
  returned: when O(wait_timeout) is set
  type: bool
selected:
  description: The O(real_servers) items acted on (all of them without O(added_only)).
  returned: always
  type: list
  elements: dict
ramp:
  description: The shares of the weight set by O(ramp_time), in order.
  returned: when O(ramp_time) is set
  type: list
  elements: int
  sample: [66, 100]
expired:
  description: Entries expired by O(expire).
  returned: when O(expire) is set and entries were left
  type: int
entries_after_expire:
  description: Entries still there after O(expire) (0 when the kernel expired them all).
  returned: when O(expire) is set and entries were left
  type: int
"""

import time  # noqa: E402
from typing import Any, Dict, List  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._drain import (  # noqa: E402
    DrainError,
    expire_entries,
    live_plan,
    live_services,
    plan_drain,
    ramp_percents,
    read_drains,
    save_specs,
    select_added,
    wait_entries,
)
from ansible_collections.lvs.cluster.plugins.module_utils._files import FilesError, converge_files  # noqa: E402
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    IpvsError,
    apply_plan_to_model,
    module_client,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "real_servers": {"type": "list", "elements": "dict", "required": True},
            "percent": {"type": "int", "default": 0},
            "live": {"type": "bool", "default": False},
            "drain_dir": {"type": "path", "default": "/var/lib/lvs-cluster/drain"},
            "wait_timeout": {"type": "int", "default": 0},
            "wait_inactive": {"type": "bool", "default": True},
            "expire": {"type": "bool", "default": False},
            "wait_poll": {"type": "float", "default": 1.0},
            "modprobe": {"type": "bool", "default": True},
            "added_only": {"type": "bool", "default": False},
            "ramp_time": {"type": "int", "default": 0},
            "ramp_steps": {"type": "int", "default": 2},
        },
        supports_check_mode=True,
    )
    p = module.params
    result: Dict[str, Any] = {"changed": False, "changed_paths": [], "ops": [], "real_servers": []}
    diffs: List[Dict[str, str]] = []

    def converge(items: List[Dict[str, Any]], percent: int) -> Any:
        """The drain files (and with live, the live weights and the saved table) for ``percent``."""
        files, wanted, result["real_servers"] = plan_drain(items, percent, p["drain_dir"])
        if p["live"] and wanted:
            with module_client(module) as client:
                current, plan = live_plan(client, wanted)
                if plan.changed and not module.check_mode:
                    client.apply(plan, current)
                result["ops"] += [op.describe() for op in plan.ops]
                # the whole live table, saved where the role keeps it for the restore at boot
                table = client.table(config_only=True)
                files += save_specs(apply_plan_to_model(table, plan) if module.check_mode else table)
        changed_paths, step_diffs = converge_files(files, module.check_mode, module._diff)
        result["changed_paths"] += [path for path in changed_paths if path not in result["changed_paths"]]
        diffs.extend(step_diffs)
        return wanted

    try:
        items = p["real_servers"]
        if p["added_only"]:
            _files, wanted, _report = plan_drain(items, p["percent"], p["drain_dir"])
            with module_client(module) as client:
                live = live_services(client, wanted)
            items = [items[i] for i in select_added(live, wanted, read_drains(p["drain_dir"]))]
        result["selected"] = items
        wanted = converge(items, p["percent"])
        if p["ramp_time"] > 0:
            result["ramp"] = ramp_percents(p["percent"], p["ramp_steps"])
            for percent in result["ramp"] if items and not module.check_mode else []:
                time.sleep(p["ramp_time"] / p["ramp_steps"])
                wanted = converge(items, percent)
        result["changed"] = bool(result["ops"] or result["changed_paths"])
        if p["wait_timeout"] > 0 or p["expire"]:
            result.update(
                wait_entries(wanted, p["wait_timeout"], p["wait_poll"], p["wait_inactive"], module.check_mode)
            )
        if p["expire"] and result["entries"] and not module.check_mode:
            with module_client(module) as client:
                expired = expire_entries(client, wanted, result["entries"])
            result.update(expired)
            result["changed"] = result["changed"] or bool(expired["ops"])
            result["ops"] = result["ops"] + expired.pop("ops")
    except (IpvsError, DrainError, FilesError) as exc:
        module.fail_json(msg=str(exc), **result)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
