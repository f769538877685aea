#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_service
short_description: Manage one IPVS virtual service and optionally its real servers
description:
  - Adds, edits or removes one IPVS virtual service (TCP, UDP, SCTP or firewall
    mark; IPv4 or IPv6) over generic netlink, and optionally its real servers.
  - The service options describe the whole desired service; options left out
    take their defaults (for example leaving out O(persistent) turns persistence off).
  - Everything is validated before the first write; on bad input nothing is written.
  - Validation also rejects addresses the kernel refuses as real servers (multicast, broadcast,
    unspecified, link-local, IPv4-mapped IPv6) and VIPs that cannot receive traffic (the same and loopback).
  - If the kernel still refuses a write (one validation cannot foresee), the writes already made in the
    call are undone, newest first, so the IPVS table is as it was before the call (a deleted service
    comes back with its attributes and real servers, with zeroed counters); the error names the refused
    write and the kernel's error and says the call was rolled back, or which writes stay if an undo failed.
  - If the C(IPVS) generic netlink family is missing, the module runs C(modprobe ip_vs)
    once (see O(modprobe)) and fails with a clear message if it is still missing.
version_added: 0.1.0
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.ipvs
  - lvs.cluster.ipvs.changes
options:
  state:
    description: Whether the service exists.
    type: str
    choices: [present, absent]
    default: present
  protocol:
    description: Service protocol; required unless O(fwmark) is set.
    type: str
    choices: [tcp, udp, sctp]
  address:
    description: Virtual IPv4 or IPv6 address; required unless O(fwmark) is set.
    type: str
  port:
    description: Virtual port; required unless O(fwmark) is set (0 only for persistent services).
    type: int
  fwmark:
    description: Firewall mark of a firewall-mark service (then O(protocol), O(address) and O(port) must be unset).
    type: int
  family:
    description: Address family of a firewall-mark service.
    type: str
    choices: [ipv4, ipv6]
  scheduler:
    description: Scheduler.
    type: str
    choices: [rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh]
    default: wlc
  sched_flags:
    description:
      - Scheduler flags. C(sh-fallback) and C(sh-port) need O(scheduler=sh);
        C(mh-fallback) and C(mh-port) need O(scheduler=mh) (the kernel reuses the same bits).
    type: list
    elements: str
    choices: [sh-fallback, sh-port, mh-fallback, mh-port]
    default: []
  persistent:
    description: Persistence timeout in seconds; 0 turns persistence off.
    type: int
    default: 0
  netmask:
    description:
      - Persistence granularity, an IPv4 netmask (or prefix length) or an IPv6 prefix length.
      - Needs O(persistent).
    type: str
  one_packet:
    description: One-packet scheduling (UDP and firewall-mark services).
    type: bool
    default: false
  pe:
    description: Persistence engine. Needs O(persistent).
    type: str
    choices: [sip]
  real_servers:
    description:
      - Desired real servers of the service. When omitted, real servers are left alone.
      - Listed real servers not present are added, differing ones edited in place.
    type: list
    elements: dict
    suboptions:
      address:
        description:
          - Real server IPv4 or IPv6 address.
          - Another family than the service's only with O(real_servers[].forward=tunnel).
        type: str
        required: true
      port:
        description:
          - Real server port; defaults to the virtual port.
          - A different port needs O(real_servers[].forward=masq).
        type: int
      forward:
        description: Forwarding method (masq = NAT, route = direct routing, tunnel = IP tunnel).
        type: str
        choices: [masq, route, tunnel]
        default: route
      weight:
        description: Weight 0..65535; 0 drains the server.
        type: int
        default: 1
      u_threshold:
        description: Upper connection threshold (0 = none).
        type: int
        default: 0
      l_threshold:
        description: Lower connection threshold; must not exceed O(real_servers[].u_threshold).
        type: int
        default: 0
      tun_type:
        description: Tunnel type (forward=tunnel only).
        type: str
        choices: [ipip, gue, gre]
      tun_port:
        description: GUE destination port (tun_type=gue only, required there).
        type: int
      tun_csum:
        description: Tunnel checksum mode (gue and gre; remcsum gue only).
        type: str
        choices: [none, csum, remcsum]
  purge_real_servers:
    description: Remove real servers of the service that are not in O(real_servers).
    type: bool
    default: false
notes:
  - The diff shows the service in C(ipvsadm-save -n) format before and after.
"""

EXAMPLES = r"""
- name: HTTP service with two NAT real servers
  lvs.cluster.ipvs_service:
    protocol: tcp
    address: 198.51.100.10
    port: 80
    scheduler: wrr
    real_servers:
      - {address: 192.0.2.11, port: 8080, forward: masq, weight: 3}
      - {address: 192.0.2.12, port: 8080, forward: masq}
    purge_real_servers: true

- name: Persistent IPv6 service
  lvs.cluster.ipvs_service:
    protocol: tcp
    address: "2001:db8::10"
    port: 443
    persistent: 600
    netmask: "64"

- name: Remove a firewall-mark service
  lvs.cluster.ipvs_service:
    fwmark: 10
    state: absent
"""

RETURN = r"""
service:
  description: The service after the run (absent when removed).
  returned: always
  type: dict
  sample: {name: "tcp:198.51.100.10:80", scheduler: wrr, real_servers: []}
rules:
  description: The service and its real servers in C(ipvsadm-save -n) format after the run.
  returned: always
  type: list
  elements: str
  sample: ["-A -t 198.51.100.10:80 -s wrr", "-a -t 198.51.100.10:80 -r 192.0.2.11:8080 -m -w 3"]
ops:
  description: The writes made (or that would be made in check mode).
  returned: always
  type: list
  elements: str
  sample: ["new_service tcp:198.51.100.10:80"]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    IpvsError,
    apply_plan_to_model,
    converge_service,
    module_client,
    render_service_rules,
    service_from_spec,
)
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import SERVICE_OPTIONS  # noqa: E402

# every option the model knows but state, which this module handles itself, and name, the label
# that ipvs_table's service entries carry (this module manages one service: it has no label)
SERVICE_KEYS = sorted(SERVICE_OPTIONS - {"state", "name"})


def main() -> None:
    rs_spec = {
        "address": {"type": "str", "required": True},
        "port": {"type": "int"},
        "forward": {"type": "str", "choices": ["masq", "route", "tunnel"], "default": "route"},
        "weight": {"type": "int", "default": 1},
        "u_threshold": {"type": "int", "default": 0},
        "l_threshold": {"type": "int", "default": 0},
        "tun_type": {"type": "str", "choices": ["ipip", "gue", "gre"]},
        "tun_port": {"type": "int"},
        "tun_csum": {"type": "str", "choices": ["none", "csum", "remcsum"]},
    }
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "protocol": {"type": "str", "choices": ["tcp", "udp", "sctp"]},
            "address": {"type": "str"},
            "port": {"type": "int"},
            "fwmark": {"type": "int"},
            "family": {"type": "str", "choices": ["ipv4", "ipv6"]},
            "scheduler": {
                "type": "str",
                "choices": ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"],
                "default": "wlc",
            },
            "sched_flags": {
                "type": "list",
                "elements": "str",
                "choices": ["sh-fallback", "sh-port", "mh-fallback", "mh-port"],
                "default": [],
            },
            "persistent": {"type": "int", "default": 0},
            "netmask": {"type": "str"},
            "one_packet": {"type": "bool", "default": False},
            "pe": {"type": "str", "choices": ["sip"]},
            "real_servers": {"type": "list", "elements": "dict", "options": rs_spec},
            "purge_real_servers": {"type": "bool", "default": False},
            "modprobe": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    spec = {k: p[k] for k in SERVICE_KEYS}
    present = p["state"] == "present"
    try:
        svc = service_from_spec(spec, "service", with_dests=present)
        with module_client(module) as client:
            current, plan = converge_service(client, svc, present, p["purge_real_servers"], module.check_mode)
    except IpvsError as exc:
        module.fail_json(msg=str(exc))
    after = apply_plan_to_model(current, plan)
    now = after.get(svc.key)
    before = current.get(svc.key)
    result = {
        "changed": plan.changed,
        "service": now.to_dict() if now is not None else {},
        "rules": render_service_rules(now) if now is not None else [],
        "ops": [op.describe() for op in plan.ops],
    }
    if module._diff:
        result["diff"] = {
            "before": "".join(x + "\n" for x in render_service_rules(before)) if before is not None else "",
            "after": "".join(x + "\n" for x in render_service_rules(now)) if now is not None else "",
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
