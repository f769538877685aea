#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_real_server
short_description: Manage one real server of one IPVS virtual service
description:
  - Adds a real server (IPVS destination) to an existing virtual service,
    edits it in place (weight, thresholds, forwarding method, tunnel settings)
    or removes it.
  - Options left out keep their current value on an existing real server, and
    take the defaults (O(forward=route), O(weight=1), thresholds 0) on a new one.
  - Weight 0 drains the server (no new connections, existing ones continue).
  - The service must exist (see M(lvs.cluster.ipvs_service)).
version_added: 0.1.0
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.ipvs
  - lvs.cluster.ipvs.changes
options:
  state:
    description: Whether the real server exists.
    type: str
    choices: [present, absent]
    default: present
  protocol:
    description: Protocol of the virtual service; required unless O(fwmark) is set.
    type: str
    choices: [tcp, udp, sctp]
  virtual_address:
    description: Address of the virtual service; required unless O(fwmark) is set.
    type: str
  virtual_port:
    description: Port of the virtual service; required unless O(fwmark) is set.
    type: int
  fwmark:
    description: Firewall mark of the virtual service.
    type: int
  family:
    description: Address family of a firewall-mark service.
    type: str
    choices: [ipv4, ipv6]
  address:
    description: Real server address.
    type: str
    required: true
  port:
    description: Real server port; defaults to the virtual port (0 for firewall-mark services).
    type: int
  forward:
    description: Forwarding method. A port other than the virtual port needs C(masq).
    type: str
    choices: [masq, route, tunnel]
  weight:
    description: Weight 0..65535; 0 drains the server.
    type: int
  u_threshold:
    description: Upper connection threshold (0 = none).
    type: int
  l_threshold:
    description: Lower connection threshold; must not exceed O(u_threshold).
    type: int
  tun_type:
    description: Tunnel type (O(forward=tunnel) only).
    type: str
    choices: [ipip, gue, gre]
  tun_port:
    description: GUE destination port (required with O(tun_type=gue)).
    type: int
  tun_csum:
    description: Tunnel checksum mode (gue and gre; remcsum gue only).
    type: str
    choices: [none, csum, remcsum]"""

EXAMPLES = r"""
- name: Add a NAT real server with port mapping
  lvs.cluster.ipvs_real_server:
    protocol: tcp
    virtual_address: 198.51.100.10
    virtual_port: 80
    address: 192.0.2.11
    port: 8080
    forward: masq
    weight: 5

- name: Drain it
  lvs.cluster.ipvs_real_server:
    protocol: tcp
    virtual_address: 198.51.100.10
    virtual_port: 80
    address: 192.0.2.11
    port: 8080
    weight: 0

- name: Remove a real server of a firewall-mark service
  lvs.cluster.ipvs_real_server:
    fwmark: 1
    address: 192.0.2.12
    state: absent
"""

RETURN = r"""
real_server:
  description: The real server after the run (empty when removed).
  returned: always
  type: dict
  sample: {address: 192.0.2.11, port: 8080, forward: masq, weight: 5, u_threshold: 0, l_threshold: 0}
ops:
  description: The writes made (or that would be made in check mode).
  returned: always
  type: list
  elements: str
  sample: ["set_dest tcp:198.51.100.10:80 -> 192.0.2.11:8080"]
"""

from dataclasses import replace  # noqa: E402
from typing import Optional  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    DEL_DEST,
    Dest,
    IpvsError,
    Op,
    Plan,
    dest_from_spec,
    hostport,
    module_client,
    parse_address,
    plan_table,
    service_key_from_spec,
    service_name,
)

DEST_KEYS = ("forward", "weight", "u_threshold", "l_threshold", "tun_type", "tun_port", "tun_csum")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "protocol": {"type": "str", "choices": ["tcp", "udp", "sctp"]},
            "virtual_address": {"type": "str"},
            "virtual_port": {"type": "int"},
            "fwmark": {"type": "int"},
            "family": {"type": "str", "choices": ["ipv4", "ipv6"]},
            "address": {"type": "str", "required": True},
            "port": {"type": "int"},
            "forward": {"type": "str", "choices": ["masq", "route", "tunnel"]},
            "weight": {"type": "int"},
            "u_threshold": {"type": "int"},
            "l_threshold": {"type": "int"},
            "tun_type": {"type": "str", "choices": ["ipip", "gue", "gre"]},
            "tun_port": {"type": "int"},
            "tun_csum": {"type": "str", "choices": ["none", "csum", "remcsum"]},
            "modprobe": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    before: Optional[Dest] = None
    after: Optional[Dest] = None
    plan = Plan()
    try:
        key = service_key_from_spec(
            {
                "protocol": p["protocol"],
                "address": p["virtual_address"],
                "port": p["virtual_port"],
                "fwmark": p["fwmark"],
                "family": p["family"],
                "persistent": 1,  # port 0 is a valid (persistent) service
            },
            "service",
        )
        where = f"real server of {service_name(key)}"
        af, addr = parse_address(p["address"], where)
        with module_client(module) as client:
            live = next((s for s in client.services() if s.key == key), None)
            if live is None:
                if p["state"] == "absent":
                    module.exit_json(changed=False, real_server={}, ops=[])
                raise IpvsError(
                    f"service {service_name(key)} does not exist; create it first (lvs.cluster.ipvs_service)"
                )
            live.dests = client.dests(live)
            port = p["port"]
            if port is None:
                port = live.port
            before = live.dests.get((addr, port))
            if p["state"] == "absent":
                if before is not None:
                    plan.ops.append(Op(DEL_DEST, live, before))
            else:
                spec = {k: p[k] for k in DEST_KEYS}
                spec.update(address=addr, port=p["port"])
                if before is not None:
                    cur = before.to_dict()
                    keep_tunnel = spec["forward"] in (None, "tunnel")
                    for k in DEST_KEYS:
                        if spec[k] is None and k in cur and (keep_tunnel or not k.startswith("tun_")):
                            spec[k] = cur[k]
                    if spec.get("tun_type") not in (None, "gue"):
                        spec["tun_port"] = None
                    if spec.get("tun_type") == "ipip":
                        spec["tun_csum"] = None
                dest = dest_from_spec(live, spec, where)
                after = dest
                desired = replace(live, dests={**live.dests, dest.key: dest})
                plan = plan_table({key: desired}, {key: live}, purge_dests=False)
            if plan.changed and not module.check_mode:
                client.apply(plan, {key: live})
    except IpvsError as exc:
        module.fail_json(msg=str(exc))
    result = {
        "changed": plan.changed,
        "real_server": after.to_dict() if after is not None else {},
        "ops": [op.describe() for op in plan.ops],
    }
    if module._diff:
        result["diff"] = {
            "before": describe(before),
            "after": describe(after),
        }
    module.exit_json(**result)


def describe(dest: Optional[Dest]) -> str:
    if dest is None:
        return ""
    lines = [f"real_server: {hostport(dest.af, dest.address, dest.port)}"]
    lines += [f"  {k}: {v}" for k, v in dest.to_dict().items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
