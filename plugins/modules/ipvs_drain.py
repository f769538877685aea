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
  - With O(wait_timeout), waits until the real servers have no connection entry left in these
    services (TCP active and inactive, UDP, SCTP), read from C(/proc/net/ip_vs_conn), and reports
    what is left when the time is up (without failing). O(expire) then expires what is left.
version_added: 0.4.0
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
        A DR or TUN director never sees the end of a connection: its entry stays in C(FIN_WAIT) for the
        C(tcpfin) timeout (120 s by default, see M(lvs.cluster.ipvs_config)).
      - V(false) waits for active TCP connections and every UDP and SCTP entry only.
    type: bool
    default: true
  expire:
    description:
      - After the wait, expire the entries that are left (or O(wait_timeout) is 0, all of them): the
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
expired:
  description: Entries expired by O(expire).
  returned: when O(expire) is set
  type: int
"""

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any, Dict, List, Tuple  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._drain import (  # noqa: E402
    PERSIST_MANIFEST,
    DrainError,
    drain_file_name,
    drained_weight,
    entries_of,
    open_entries,
    ramp_value,
    read_conns,
)
from ansible_collections.lvs.cluster.plugins.module_utils._files import (  # noqa: E402
    FilesError,
    apply_plan,
    plan_diffs,
    plan_files,
    validate_files,
)
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    IpvsError,
    apply_plan_to_model,
    module_client,
    plan_table,
    render_rules,
)
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import (  # noqa: E402
    DEL_DEST,
    DEST_OPTIONS,
    NEW_DEST,
    Dest,
    Op,
    Plan,
    Service,
    ServiceKey,
    dest_from_spec,
    service_key_from_spec,
    service_name,
)

SERVICE_ARGS = {"protocol": "protocol", "virtual_address": "address", "virtual_port": "port", "fwmark": "fwmark",
                "family": "family"}  # fmt: skip


def targets(items: List[Dict[str, Any]]) -> List[Tuple[ServiceKey, Dict[str, Any]]]:
    """(service key, real server spec) of each item."""
    out = []
    for i, item in enumerate(items):
        known = set(SERVICE_ARGS) | DEST_OPTIONS
        unknown = sorted(k for k, v in item.items() if v is not None and k not in known)
        if unknown:
            raise IpvsError("real_servers[%d]: unknown option(s) %s" % (i, ", ".join(unknown)))
        spec = {SERVICE_ARGS[k]: item.get(k) for k in SERVICE_ARGS}
        key = service_key_from_spec(dict(spec, persistent=1), "real_servers[%d]" % i)
        out.append((key, {k: item.get(k) for k in DEST_OPTIONS}))
    return out


def live_services(client: Any, wanted: List[Tuple[ServiceKey, Dest]]) -> Dict[ServiceKey, Service]:
    """The live services of ``wanted``, with their real servers."""
    keys = {k for k, _d in wanted}
    current: Dict[ServiceKey, Service] = {}
    for svc in client.services():
        if svc.key in keys:
            svc.dests = client.dests(svc)
            current[svc.key] = svc
    return current


def live_plan(client: Any, wanted: List[Tuple[ServiceKey, Dest]]) -> Tuple[Dict[ServiceKey, Service], Any]:
    """The live services of ``wanted`` and the writes that give their real servers these weights."""
    current = live_services(client, wanted)
    desired: Dict[ServiceKey, Service] = {}
    for key, dest in wanted:
        if key not in current:
            raise IpvsError("service %s is not in the live table; run the director role first" % service_name(key))
        base = desired.get(key, current[key])
        desired[key] = replace(base, dests={**(base.dests or {}), dest.key: dest})
    return current, plan_table(desired, current, purge_dests=False)


def save_specs(after: Dict[ServiceKey, Service]) -> List[Dict[str, Any]]:
    """The saved table's files, where the director role keeps them (none when it does not)."""
    try:
        with open(PERSIST_MANIFEST, encoding="utf-8") as fh:
            paths = json.load(fh)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise DrainError("cannot read %s: %s" % (PERSIST_MANIFEST, exc)) from None
    specs = [{"path": paths["rules_path"], "content": render_rules(after), "mode": "0600"}]
    if paths.get("thresholds_path"):
        thresholds = render_rules(after, thresholds=True)
        specs.append({"path": paths["thresholds_path"], "content": thresholds, "mode": "0600"})
    return specs


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
        },
        supports_check_mode=True,
    )
    p = module.params
    result: Dict[str, Any] = {"changed": False, "changed_paths": [], "ops": [], "real_servers": []}
    if not 0 <= p["percent"] <= 100:
        module.fail_json(msg="percent must be 0..100, got %d" % p["percent"])
    try:
        items = targets(p["real_servers"])
        files: List[Dict[str, Any]] = []
        wanted: List[Tuple[ServiceKey, Dest]] = []
        for i, (key, rs) in enumerate(items):
            dest = dest_from_spec(Service(af=key[0], protocol=key[1], address=key[2], port=key[3], fwmark=key[4]), rs,
                                  "real_servers[%d]" % i)  # fmt: skip
            value = ramp_value(dest.weight, p["percent"])
            path = os.path.join(p["drain_dir"], drain_file_name(key, dest.key))
            files.append({"path": path, "content": "%d\n" % value, "mode": "0644"} if value else
                         {"path": path, "state": "absent"})  # fmt: skip
            applied = drained_weight(dest.weight, value)
            result["real_servers"].append(
                {"service": service_name(key), "address": dest.address, "port": dest.port,
                 "inventory_weight": dest.weight, "drain": value, "weight": applied}
            )  # fmt: skip
            wanted.append((key, replace(dest, weight=applied)))
        diffs: List[Dict[str, str]] = []
        if p["live"]:
            with module_client(module) as client:
                current, plan = live_plan(client, wanted)
                if plan.changed and not module.check_mode:
                    client.apply(plan, current)
                result["ops"] = [op.describe() for op in plan.ops]
                # the whole live table, saved where the role keeps it for the restore at boot
                table = client.table(config_only=True)
                files += save_specs(apply_plan_to_model(table, plan) if module.check_mode else table)
        fplan = plan_files(validate_files(files))
        diffs = plan_diffs(fplan) if module._diff else []
        result["changed_paths"] = fplan.changed_paths if module.check_mode else apply_plan(fplan)
        result["changed"] = bool(result["ops"] or result["changed_paths"])
        if p["wait_timeout"] > 0 or p["expire"]:
            wait(module, wanted, result)
        if p["expire"] and result["entries"] and not module.check_mode:
            with module_client(module) as client:
                expire(client, wanted, result)
    except (IpvsError, DrainError, FilesError) as exc:
        module.fail_json(msg=str(exc), **result)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


def entries_left(wanted: List[Tuple[ServiceKey, Dest]]) -> Dict[str, Dict[str, int]]:
    """``service@address:port`` -> entries by state, of the real servers that have any."""
    conns = read_conns()
    entries = {}
    for key, dest in wanted:
        found = entries_of(conns, key, dest.key)
        if found:
            entries["%s@%s:%d" % (service_name(key), dest.address, dest.port)] = found
    return entries


def wait(module: AnsibleModule, wanted: List[Tuple[ServiceKey, Dest]], result: Dict[str, Any]) -> None:
    """Poll the connection table until no open entry of the real servers is left, or the timeout."""
    p = module.params
    start = time.monotonic()
    while True:
        entries = entries_left(wanted)
        left = sum(open_entries(e, p["wait_inactive"]) for e in entries.values())
        waited = time.monotonic() - start
        if left == 0 or waited >= p["wait_timeout"] or module.check_mode:
            break
        time.sleep(max(0.1, min(p["wait_poll"], p["wait_timeout"] - waited)))
    result.update(entries=entries, open_entries=left, waited=round(waited, 1), complete=left == 0)


def expire(client: Any, wanted: List[Tuple[ServiceKey, Dest]], result: Dict[str, Any]) -> None:
    """Take the real servers that have entries out of the live table, wait (at most 5 s) until the
    kernel has expired their entries (expire_nodest_conn), put them back as they were."""
    before = sum(sum(e.values()) for e in result["entries"].values())
    current = live_services(client, wanted)
    out = Plan()
    back = Plan()
    for key, dest in wanted:
        live = (current[key].dests or {}).get(dest.key) if key in current else None
        if live is not None and "%s@%s:%d" % (service_name(key), dest.address, dest.port) in result["entries"]:
            out.ops.append(Op(DEL_DEST, current[key], live))
            back.ops.append(Op(NEW_DEST, current[key], live))
    if not out.ops:
        result["expired"] = 0
        return
    client.apply(out, current)
    try:
        deadline = time.monotonic() + 5
        while entries_left(wanted) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        client.apply(back, apply_plan_to_model(current, out))
    left = sum(sum(e.values()) for e in entries_left(wanted).values())
    result.update(changed=True, expired=before - left, entries_after_expire=left)
    result["ops"] = result["ops"] + [op.describe() for op in out.ops + back.ops]


if __name__ == "__main__":
    main()
