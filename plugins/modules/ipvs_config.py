#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_config
short_description: Manage IPVS connection timeouts and connection sync daemons
description:
  - Sets the IPVS TCP, TCP FIN and UDP connection timeouts and starts, restarts
    (when their settings differ) or stops the master and backup connection
    synchronisation daemons, over generic netlink.
  - Options left out are left alone.
version_added: 0.1.0
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.ipvs
  - lvs.cluster.ipvs.changes
options:
  timeout_tcp:
    description: TCP established timeout in seconds (1 or more).
    type: int
  timeout_tcpfin:
    description: TCP FIN-wait timeout in seconds (1 or more).
    type: int
  timeout_udp:
    description: UDP timeout in seconds (1 or more).
    type: int
  sync_daemons:
    description:
      - Desired sync daemons, at most one per role. Unlisted roles are left
        alone unless O(purge_sync_daemons=true).
    type: list
    elements: dict
    suboptions:
      role:
        description: Daemon role.
        type: str
        choices: [master, backup]
        required: true
      state:
        description: Whether the daemon runs.
        type: str
        choices: [present, absent]
        default: present
      mcast_ifn:
        description: Multicast interface. Required when O(sync_daemons[].state=present).
        type: str
      syncid:
        description: Sync id 0..255.
        type: int
        default: 0
      mcast_group:
        description: Multicast group (IPv4 or IPv6); kernel default 224.0.0.81.
        type: str
      mcast_port:
        description: Multicast UDP port; kernel default 8848.
        type: int
      mcast_ttl:
        description: Multicast TTL 1..255; kernel default 1.
        type: int
      sync_maxlen:
        description: Maximum sync message payload; kernel default from the interface MTU.
        type: int
  purge_sync_daemons:
    description: Stop running sync daemons whose role is not in O(sync_daemons).
    type: bool
    default: false"""

EXAMPLES = r"""
- name: Timeouts and a master sync daemon
  lvs.cluster.ipvs_config:
    timeout_tcp: 900
    timeout_tcpfin: 120
    timeout_udp: 300
    sync_daemons:
      - {role: master, mcast_ifn: eth1, syncid: 10}

- name: Stop the backup daemon
  lvs.cluster.ipvs_config:
    sync_daemons:
      - {role: backup, state: absent}
"""

RETURN = r"""
timeouts:
  description: Timeouts after the run.
  returned: always
  type: dict
  sample: {tcp: 900, tcpfin: 120, udp: 300}
daemons:
  description: Sync daemons after the run (values the kernel reports).
  returned: always
  type: list
  elements: dict
  sample: [{state: master, mcast_ifn: eth1, syncid: 10, mcast_group: 224.0.0.81, mcast_port: 8848, mcast_ttl: 1}]
"""

import ipaddress  # noqa: E402
from typing import Any, Dict, List, Optional  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import IpvsError, IpvsValidationError, module_client  # noqa: E402

DAEMON_KEYS = ("mcast_ifn", "syncid", "mcast_group", "mcast_port", "mcast_ttl", "sync_maxlen")


def validate_daemons(items: List[Dict[str, Any]]) -> Dict[str, Optional[Dict[str, Any]]]:
    """role -> wanted settings (None = stopped); raises IpvsValidationError."""
    out: Dict[str, Optional[Dict[str, Any]]] = {}
    limits = {"syncid": (0, 255), "mcast_port": (1, 65535), "mcast_ttl": (1, 255), "sync_maxlen": (1, 65507)}
    for i, item in enumerate(items):
        where = f"sync_daemons[{i}]"
        role = item["role"]
        if role in out:
            raise IpvsValidationError(f"{where}: duplicate sync daemon role {role}")
        if item["state"] == "absent":
            out[role] = None
            continue
        if not item.get("mcast_ifn") or len(item["mcast_ifn"]) > 15:
            raise IpvsValidationError(f"{where}: mcast_ifn must be an interface name of 1..15 characters")
        for key, (lo, hi) in limits.items():
            if item.get(key) is not None and not lo <= item[key] <= hi:
                raise IpvsValidationError(f"{where}: {key} {item[key]} is outside {lo}..{hi}")
        want = {k: item.get(k) for k in DAEMON_KEYS}
        if want["mcast_group"]:
            try:
                ip = ipaddress.ip_address(want["mcast_group"])
            except ValueError:
                raise IpvsValidationError(
                    "{}: mcast_group {!r} is not an IP address".format(where, want["mcast_group"])
                ) from None
            if not ip.is_multicast:
                raise IpvsValidationError(f"{where}: mcast_group {ip} is not a multicast address")
            want["mcast_group"] = ip.compressed
        out[role] = want
    return out


def daemon_matches(live: Dict[str, Any], want: Dict[str, Any]) -> bool:
    return all(want[k] is None or live.get(k) == want[k] for k in DAEMON_KEYS)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "timeout_tcp": {"type": "int"},
            "timeout_tcpfin": {"type": "int"},
            "timeout_udp": {"type": "int"},
            "sync_daemons": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "role": {"type": "str", "choices": ["master", "backup"], "required": True},
                    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
                    "mcast_ifn": {"type": "str"},
                    "syncid": {"type": "int", "default": 0},
                    "mcast_group": {"type": "str"},
                    "mcast_port": {"type": "int"},
                    "mcast_ttl": {"type": "int"},
                    "sync_maxlen": {"type": "int"},
                },
            },
            "purge_sync_daemons": {"type": "bool", "default": False},
            "modprobe": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    ops: List[str] = []
    try:
        want_to = {k: p["timeout_" + k] for k in ("tcp", "tcpfin", "udp")}
        for k, v in want_to.items():
            if v is not None and v < 1:
                raise IpvsValidationError(f"timeout_{k} must be 1 or more, got {v}")
        wanted = validate_daemons(p["sync_daemons"] or [])
        with module_client(module) as client:
            before_to = client.timeouts()
            after_to = dict(before_to)
            set_to = {k: v for k, v in want_to.items() if v is not None and before_to[k] != v}
            if set_to:
                ops.append("set timeouts {}".format(", ".join(f"{kv[0]}={kv[1]}" for kv in sorted(set_to.items()))))
                after_to.update(set_to)
            live = {d["state"]: d for d in client.daemons()}
            stop: List[str] = []
            start: List[Dict[str, Any]] = []
            for role in ("master", "backup"):
                want = wanted.get(role, "unset")
                if want == "unset":
                    if p["purge_sync_daemons"] and role in live:
                        stop.append(role)
                    continue
                if want is None:
                    if role in live:
                        stop.append(role)
                elif not isinstance(want, str):
                    if role in live and daemon_matches(live[role], want):
                        continue
                    if role in live:
                        stop.append(role)
                    start.append(dict(want, state=role))
            ops += [f"stop {r} sync daemon" for r in stop] + ["start {} sync daemon".format(d["state"]) for d in start]
            if not module.check_mode:
                if set_to:
                    client.set_timeouts(**set_to)
                for role in stop:
                    client.del_daemon(role)
                for daemon in start:
                    client.new_daemon(daemon)
            if ops and not module.check_mode:
                daemons = client.daemons()
                after_to = client.timeouts()
            else:
                daemons = [d for r, d in live.items() if r not in stop] + [
                    {k: v for k, v in d.items() if v is not None} for d in start
                ]
    except IpvsError as exc:
        module.fail_json(msg=str(exc))
    result: Dict[str, Any] = {"changed": bool(ops), "ops": ops, "timeouts": after_to, "daemons": daemons}
    if module._diff:
        result["diff"] = {
            "before": {"timeouts": before_to, "daemons": sorted(live.values(), key=lambda d: d["state"])},
            "after": {"timeouts": after_to, "daemons": sorted(daemons, key=lambda d: d["state"])},
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
