#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_table
short_description: Converge a whole IPVS director table in one call
description:
  - Reads the live IPVS table over generic netlink, computes the minimal set of
    service and real server additions, edits and deletions, and sends them
    pipelined, so tables with thousands of services converge at kernel speed.
  - All entries are validated before the first write; on bad input nothing is written.
  - Validation also rejects addresses the kernel refuses as real servers (multicast, broadcast,
    unspecified, link-local, IPv4-mapped IPv6) and VIPs that cannot receive traffic (the same and loopback).
  - If the kernel still refuses a write (one validation cannot foresee), the writes already made in the
    call are undone, newest first, so the IPVS table is as it was before the call (a deleted service
    comes back with its attributes and real servers, with zeroed counters); the error names the refused
    write and the kernel's error and says the call was rolled back, or which writes stay if an undo failed.
  - Services not listed are left alone unless O(purge=true).
  - If the C(IPVS) generic netlink family is missing, the module runs C(modprobe ip_vs)
    once (see O(modprobe)) and fails with a clear message if it is still missing.
version_added: 0.1.0
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.ipvs
  - lvs.cluster.ipvs.changes
options:
  services:
    description:
      - The desired services. Each item is a dict with the keys of the
        M(lvs.cluster.ipvs_service) options C(protocol), C(address), C(port),
        C(fwmark), C(family), C(scheduler), C(sched_flags), C(persistent),
        C(netmask), C(one_packet), C(pe) and C(real_servers) (same meaning and
        defaults), plus C(state) (C(present) or C(absent), default C(present))
        and C(name), a label (for example the inventory's service name) that is
        not sent to the kernel.
      - Items are validated by the module itself (not by Ansible's argument
        spec) so that very large tables are checked quickly.
      - C(real_servers) items take the keys C(address), C(port), C(forward),
        C(weight), C(u_threshold), C(l_threshold), C(tun_type), C(tun_port), C(tun_csum).
      - The same list may be given as its JSON text. The collection's action plugin hands a list
        over that way. On the host, Ansible copies a module's arguments twice and decodes each entry,
        which costs seconds for thousands of services; one string costs nothing of it.
      - A text over 64 KiB goes to the host compressed (zlib, then base64, after the prefix
        C(zlib+base64:)); the module takes that form too.
    type: raw
    required: true
  purge:
    description:
      - Delete every live service that is not listed in O(services).
    type: bool
    default: false
  purge_real_servers:
    description:
      - For listed services that have a C(real_servers) key, delete live real
        servers that are not listed. Services without C(real_servers) keep theirs.
    type: bool
    default: true
  rules_path:
    description:
      - Also save the table as it is after the call in this file, in exactly the text of
        C(ipvsadm-save -n) (what M(lvs.cluster.ipvs_rules_file) writes, for the distribution's
        C(ipvsadm) restore at boot), mode C(0600), written atomically and only when its content
        or mode differs.
      - In check mode the file is compared with the table the call would leave.
      - Saves a second task (and its round trip to the host) after this one.
    type: path
  thresholds_path:
    description:
      - With O(rules_path), also write the C(ipvsadm -e) lines of the real servers' connection
        thresholds, which the rules format cannot hold (see M(lvs.cluster.ipvs_rules_file)).
    type: path
  drain_dir:
    description:
      - Directory of the drain files of M(lvs.cluster.ipvs_drain). The number in the file of a
        real server of O(services) is taken off its weight before the table is planned and saved,
        so that a drained real server stays drained (and a ramping one keeps its share).
    type: path
notes:
  - The diff is the table before and after in C(ipvsadm-save -n) format; with O(rules_path),
    the diff is a list that also holds each saved file's before and after.
  - With more than 100 services the result's C(invocation) (the arguments echoed
    back, shown with C(-vvv)) summarises O(services) instead of repeating it,
    because echoing a table of thousands of entries costs more than converging it.
"""

EXAMPLES = r"""
- name: Converge the director table
  lvs.cluster.ipvs_table:
    services:
      - protocol: tcp
        address: 198.51.100.10
        port: 80
        scheduler: wrr
        real_servers:
          - {address: 192.0.2.11, port: 8080, forward: masq, weight: 2}
          - {address: 192.0.2.12, port: 8080, forward: masq}
      - fwmark: 1
        scheduler: sh
        sched_flags: [sh-fallback, sh-port]
        persistent: 600
        real_servers:
          - {address: 192.0.2.11, forward: route}

- name: Converge the table and save it for the ipvsadm service's restore at boot
  lvs.cluster.ipvs_table:
    services: "{{ lvs_services }}"
    rules_path: /etc/ipvsadm.rules
    thresholds_path: /etc/lvs-cluster/ipvs-thresholds.rules

- name: Make the live table exactly this one
  lvs.cluster.ipvs_table:
    services: "{{ lvs_services }}"
    purge: true
"""

RETURN = r"""
changes:
  description: Number of writes per kind (new_service, set_service, del_service, new_dest, set_dest, del_dest).
  returned: always
  type: dict
  sample: {new_service: 1, new_dest: 2}
ops:
  description: The planned writes (at most the first 1000).
  returned: always
  type: list
  elements: str
  sample: ["new_service tcp:198.51.100.10:80", "new_dest tcp:198.51.100.10:80 -> 192.0.2.11:8080"]
services:
  description: Number of services in the table after the run.
  returned: always
  type: int
  sample: 2
drained:
  description: Real servers whose weight a drain file lowered (service, address, port, weights, number).
  returned: when O(drain_dir) is set
  type: list
  elements: dict
  sample: [{service: "tcp:192.0.2.100:80", address: 192.0.2.11, port: 80, inventory_weight: 3, drain: 65535, weight: 0}]
changed_paths:
  description: The saved files (O(rules_path), O(thresholds_path)) that were (or in check mode would be) written.
  returned: when O(rules_path) is set
  type: list
  elements: str
  sample: [/etc/ipvsadm.rules]
"""

from typing import Any, Dict, List  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._drain import (  # noqa: E402
    DrainError,
    apply_drains,
    read_drains,
)
from ansible_collections.lvs.cluster.plugins.module_utils._files import FilesError, converge_files  # noqa: E402
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    IpvsError,
    apply_plan_to_model,
    converge_table,
    module_client,
    render_rules,
    services_list,
    table_from_spec,
)

# above this many services the arguments are not echoed back (AnsibleModule scans the echo for secrets)
ECHO_LIMIT = 100


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "services": {"type": "raw", "required": True},
            "purge": {"type": "bool", "default": False},
            "purge_real_servers": {"type": "bool", "default": True},
            "modprobe": {"type": "bool", "default": True},
            "rules_path": {"type": "path"},
            "thresholds_path": {"type": "path"},
            "drain_dir": {"type": "path"},
        },
        required_by={"thresholds_path": "rules_path"},
        supports_check_mode=True,
    )
    p = module.params
    try:
        items = services_list(p["services"])
        wanted = [s for s in items if (s.get("state") or "present") == "present"]
        gone = [dict(s, state=None, real_servers=None) for s in items if (s.get("state") or "present") != "present"]
        for i, s in enumerate(items):
            if (s.get("state") or "present") not in ("present", "absent"):
                raise IpvsError(f"services[{i}]: state must be present or absent, got {s.get('state')!r}")
        desired = table_from_spec(wanted)
        drained = apply_drains(desired, read_drains(p["drain_dir"])) if p["drain_dir"] else []
        absent = list(table_from_spec(gone, "services (state=absent)"))
        dup = set(absent) & set(desired)
        if dup:
            raise IpvsError(
                "services listed both present and absent: {}".format(", ".join(sorted(desired[k].name for k in dup)))
            )
        with module_client(module) as client:
            current, plan = converge_table(
                client, desired, absent, p["purge"], p["purge_real_servers"], module.check_mode
            )
    except (IpvsError, DrainError) as exc:
        module.fail_json(msg=str(exc))
    after = apply_plan_to_model(current, plan)
    result: Dict[str, Any] = {
        "changed": plan.changed,
        "changes": plan.counts(),
        "ops": [op.describe() for op in plan.ops[:1000]],
        "services": len(after),
    }
    if p["drain_dir"]:
        result["drained"] = drained[:1000]
    # rendered only when used: the text of a table of thousands of services costs time
    after_text = render_rules(after) if p["rules_path"] or module._diff else ""
    file_diffs: List[Dict[str, str]] = []
    if p["rules_path"]:
        saved = [{"path": p["rules_path"], "content": after_text, "mode": "0600"}]
        if p["thresholds_path"]:
            thresholds = render_rules(after, thresholds=True)
            saved.append({"path": p["thresholds_path"], "content": thresholds, "mode": "0600"})
        try:  # the table is converged: a file that cannot be written is reported, the table stays
            result["changed_paths"], file_diffs = converge_files(saved, module.check_mode, module._diff)
        except FilesError as exc:
            module.fail_json(msg=f"the table is converged, but saving it failed: {exc}", **result)
        result["changed"] = result["changed"] or bool(result["changed_paths"])
    if module._diff:
        diff = {"before": render_rules(current), "after": after_text}
        result["diff"] = [diff] + file_diffs if p["rules_path"] else diff
    if len(items) > ECHO_LIMIT:
        summary = "{} services with {} real servers (not echoed)".format(
            len(items), sum(len(s.get("real_servers") or []) for s in items)
        )
        result["invocation"] = {"module_args": dict(p, services=summary)}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
