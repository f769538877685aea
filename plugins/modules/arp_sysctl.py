#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402  (imports follow the documentation, as in every Ansible module)

DOCUMENTATION = r"""
---
module: arp_sysctl
short_description: ARP, reverse-path filter, redirect and forwarding sysctls of LVS directors and real servers
version_added: 0.1.0
description:
  - Sets in one call the kernel parameters a DR or TUN real server or an LVS director needs, live (C(/proc/sys))
    and persistently in one file the module owns, C(/etc/sysctl.d/90-lvs-cluster.conf) (atomic write, only when
    its content changes; keys set by earlier calls are kept, keys of this call take the new values).
  - "Real server (DR/TUN): O(arp_ignore=1) and O(arp_announce=2) on C(all) and the NICs so the host does not
    answer ARP for the VIP it carries on C(lo) or C(tunl0). TUN: O(rp_filter=0) or V(2) on C(tunl0) and C(all)
    (the kernel uses the maximum of both). Director: O(send_redirects=false) (DR), O(ip_forward=true) (NAT)."
  - Interfaces named in O(interfaces) must exist, except the fallback tunnel devices C(tunl0), C(ip6tnl0),
    C(gre0), C(ip6gre0) and C(sit0) whose kernel module is loaded to create them. Such modules are also listed in
    C(/etc/modules-load.d/lvs-cluster.conf) so the device exists when C(systemd-sysctl) applies the file at boot;
    interfaces created later get their keys from the udev rule of systemd that runs C(systemd-sysctl) for new
    network devices, and C(lvs-cluster-vips.service) (M(lvs.cluster.vip_iface)) re-applies the file after it
    created its interfaces.
  - Values are validated before anything is written; out-of-range values are refused.
author:
  - lvs.cluster contributors (@lvs-cluster)
options:
  arp_ignore:
    description:
      - C(net.ipv4.conf.<if>.arp_ignore) on C(all) (see O(include_all)) and on O(interfaces). V(1) = reply only
        for addresses configured on the incoming interface. Allowed values 0-3 and 8.
    type: int
  arp_announce:
    description:
      - C(net.ipv4.conf.<if>.arp_announce) on C(all) and on O(interfaces). V(2) = always use the best local
        source address for ARP requests. Allowed values 0-2.
    type: int
  rp_filter:
    description:
      - C(net.ipv4.conf.<if>.rp_filter) on C(all) and on O(interfaces); 0 (off), 1 (strict) or 2 (loose).
        TUN real servers need 0 or 2 on C(tunl0) and C(all).
    type: int
  send_redirects:
    description:
      - C(net.ipv4.conf.<if>.send_redirects) on C(all) and on O(interfaces). A DR director sets V(false).
    type: bool
  ip_forward:
    description:
      - C(net.ipv4.ip_forward). A NAT director sets V(true).
    type: bool
  interfaces:
    description:
      - Interfaces to set the per-interface values on, in addition to C(all). C(default) is accepted too.
    type: list
    elements: str
    default: []
  include_all:
    description:
      - Also set the per-interface values on C(all).
    type: bool
    default: true
  persist:
    description:
      - Write the values to C(/etc/sysctl.d/90-lvs-cluster.conf) (and needed tunnel modules to
        C(/etc/modules-load.d/lvs-cluster.conf)). With V(false), only the live values change.
    type: bool
    default: true
notes:
  - Needs root. Supports check mode and diff mode.
seealso:
  - module: lvs.cluster.vip_iface
"""

EXAMPLES = r"""
- name: DR real server - do not answer ARP for the VIP on lo
  lvs.cluster.arp_sysctl:
    arp_ignore: 1
    arp_announce: 2
    interfaces: [eth1]

- name: TUN real server - ARP plus loose reverse-path filter on tunl0
  lvs.cluster.arp_sysctl:
    arp_ignore: 1
    arp_announce: 2
    rp_filter: 2
    interfaces: [eth1, tunl0]

- name: DR director - no ICMP redirects
  lvs.cluster.arp_sysctl:
    send_redirects: false
    interfaces: [eth1]

- name: NAT director - forwarding
  lvs.cluster.arp_sysctl:
    ip_forward: true
"""

RETURN = r"""
sysctl_values:
  description: The sysctl keys and the values enforced by this call.
  returned: always
  type: dict
  sample: {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.eth1.arp_ignore": "1"}
previous:
  description: The live values before the call (null for a key that did not exist yet).
  returned: always
  type: dict
  sample: {"net.ipv4.conf.all.arp_ignore": "0", "net.ipv4.conf.eth1.arp_ignore": "0"}
changed_keys:
  description: Keys whose live value changed (or would change in check mode).
  returned: always
  type: list
  elements: str
  sample: ["net.ipv4.conf.all.arp_ignore"]
file:
  description: The sysctl.d file the module owns.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-lvs-cluster.conf
loaded_modules:
  description: Kernel modules loaded to create tunnel interfaces named in O(interfaces).
  returned: always
  type: list
  elements: str
  sample: [ipip]
"""

import os
from typing import Any, Dict, List

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils._sysctl import (
    MODULES_LOAD_FILE,
    SYSCTL_FILE,
    SysctlError,
    SysctlPlan,
    atomic_write,
    desired_settings,
    plan_sysctl,
    read_proc,
    read_text,
    write_proc,
)
from ansible_collections.lvs.cluster.plugins.module_utils._vip import TUNNEL_MODULES

CONF_DIR = "/proc/sys/net/ipv4/conf"


def missing_tunnels(interfaces: List[str]) -> Dict[str, str]:
    """Named interfaces that do not exist yet: ``{interface: kernel module}``; other missing ones raise."""
    existing = sorted(os.listdir(CONF_DIR)) if os.path.isdir(CONF_DIR) else []
    out: Dict[str, str] = {}
    for name in interfaces:
        if name in existing:
            continue
        if name in TUNNEL_MODULES:
            out[name] = TUNNEL_MODULES[name]
            continue
        raise SysctlError(f"interface {name} does not exist (existing: {', '.join(existing)})")
    return out


def live_diff(plan: SysctlPlan) -> Dict[str, str]:
    keys = sorted(plan.desired)
    before = "".join(
        f"{k} = {plan.previous.get(k) if plan.previous.get(k) is not None else '(absent)'}\n" for k in keys
    )
    after = "".join(f"{k} = {plan.desired[k]}\n" for k in keys)
    return {"before_header": "live /proc/sys", "after_header": "live /proc/sys", "before": before, "after": after}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "arp_ignore": {"type": "int"},
            "arp_announce": {"type": "int"},
            "rp_filter": {"type": "int"},
            "send_redirects": {"type": "bool"},
            "ip_forward": {"type": "bool"},
            "interfaces": {"type": "list", "elements": "str", "default": []},
            "include_all": {"type": "bool", "default": True},
            "persist": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    p = module.params
    result: Dict[str, Any] = {"changed": False, "file": SYSCTL_FILE, "loaded_modules": []}
    try:
        desired = desired_settings(
            p["interfaces"],
            p["include_all"],
            p["arp_ignore"],
            p["arp_announce"],
            p["rp_filter"],
            p["send_redirects"],
            p["ip_forward"],
        )
        tunnels = missing_tunnels([i for i in p["interfaces"] if i not in ("all", "default")])
        wanted_modules = sorted({TUNNEL_MODULES[i] for i in p["interfaces"] if i in TUNNEL_MODULES})
        plan = plan_sysctl(
            desired,
            read_proc,
            read_text(SYSCTL_FILE),
            p["persist"],
            wanted_modules,
            read_text(MODULES_LOAD_FILE),
        )
        if not module.check_mode:
            for name, kmod in sorted(tunnels.items()):
                modprobe = module.get_bin_path("modprobe", opt_dirs=["/sbin", "/usr/sbin"])
                if modprobe is None:
                    raise SysctlError(f"modprobe not found: cannot load {kmod} to create {name}")
                rc, _out, err = module.run_command([modprobe, kmod])
                if rc != 0:
                    raise SysctlError(f"modprobe {kmod} failed: {err.strip()}")
                result["loaded_modules"].append(kmod)
            for key, value in plan.live_changes.items():
                write_proc(key, value)
            if plan.file_changed:
                atomic_write(SYSCTL_FILE, plan.file_after, 0o644)
            if plan.modules_changed:
                atomic_write(MODULES_LOAD_FILE, plan.modules_after, 0o644)
    except (SysctlError, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    result.update(
        changed=plan.changed or bool(tunnels),
        sysctl_values=plan.desired,
        previous=plan.previous,
        changed_keys=sorted(plan.live_changes),
    )
    if module._diff:
        diffs = [live_diff(plan)]
        if plan.file_changed:
            diffs.append(
                {
                    "before_header": SYSCTL_FILE,
                    "after_header": SYSCTL_FILE,
                    "before": plan.file_before,
                    "after": plan.file_after,
                }
            )
        if plan.modules_changed:
            diffs.append(
                {
                    "before_header": MODULES_LOAD_FILE,
                    "after_header": MODULES_LOAD_FILE,
                    "before": plan.modules_before,
                    "after": plan.modules_after,
                }
            )
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
