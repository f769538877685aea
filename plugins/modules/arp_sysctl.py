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
    answer ARP for the VIP it carries on C(lo) or C(tunl0). TUN: O(rp_filter=2) (loose) or V(0) on C(tunl0) and
    C(all) (the kernel uses the maximum of both). Director: O(send_redirects=false) (DR), O(ip_forward=true) (NAT)."
  - "Put back: the first time a key is set, its live value before (its original) is recorded in
    C(/var/lib/lvs-cluster/sysctl-originals.json) (JSON, atomic write, mode 0644), with the O(owner) that wants
    it. With O(purge=true), every key this O(owner) recorded earlier and this call does not set is put back:
    the original goes back live (unless another owner still wants the key: then that owner's value stays), the
    key leaves the sysctl.d file and the state file. A key set again later records its original afresh."
  - "Keys of C(/etc/sysctl.d/90-lvs-cluster.conf) written by a version without the state file have no
    recorded original: a call that sets such a key adopts it for its O(owner) with an unknown original, and a
    call with O(purge=true) drops such a key from the file when no owner recorded it. Either way, when such a
    key is put back its live value stays as it is until the next boot (the original is unknown)."
  - "A per-interface key that did not exist when it was first set (a tunnel device this call created) is put
    back to the value of C(net.ipv4.conf.default.<name>), the one the kernel gives a new device; a tunnel
    module no key of the file needs any more leaves C(/etc/modules-load.d/lvs-cluster.conf) (it is not
    unloaded)."
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
        C(/etc/modules-load.d/lvs-cluster.conf)). With V(false), only the live values change (and the state
        file records their originals); O(purge) still removes put-back keys from the file.
    type: bool
    default: true
  owner:
    description:
      - Who wants the values of this call, recorded in the state file with each key. Calls with different
        owners on one host (the C(director) and C(realserver) roles) do not put back each other's keys.
      - 1-64 letters, digits, C(_), C(.) or C(-).
    type: str
    default: lvs-cluster
  purge:
    description:
      - Put back every key O(owner) set in an earlier call and this call does not set (see the description).
      - With V(true), a call may set nothing at all, only put back.
    type: bool
    default: false
notes:
  - "Needs root. Supports check mode and diff mode (live values before and after, put-back keys included, and
    each file that changes: the sysctl.d file, the modules-load.d file, the state file)."
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

- name: The same director switched to DR - ip_forward goes back to what it was before the NAT call
  lvs.cluster.arp_sysctl:
    send_redirects: false
    interfaces: [eth1]
    owner: director
    purge: true

- name: A host that no longer is a real server - put back everything the real server call set
  lvs.cluster.arp_sysctl:
    owner: realserver
    purge: true
"""

RETURN = r"""
sysctl_values:
  description: The sysctl keys and the values enforced by this call.
  returned: always
  type: dict
  sample: {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.eth1.arp_ignore": "1"}
previous:
  description: The live values before the call (null for a key that did not exist yet), of the keys set and put back.
  returned: always
  type: dict
  sample: {"net.ipv4.conf.all.arp_ignore": "0", "net.ipv4.conf.eth1.arp_ignore": "0"}
changed_keys:
  description: Keys whose live value changed (or would change in check mode), put-back keys included.
  returned: always
  type: list
  elements: str
  sample: ["net.ipv4.conf.all.arp_ignore"]
file:
  description: The sysctl.d file the module owns.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-lvs-cluster.conf
restored_keys:
  description:
    - Keys put back by O(purge) (or that would be in check mode) - dropped from the state and the sysctl.d
      file; their live value went back to the original where it is known (see RV(changed_keys)).
    - A key another owner still wants is not listed (it stays, with that owner's value).
  returned: always
  type: list
  elements: str
  sample: ["net.ipv4.ip_forward"]
state_file:
  description: The file recording each key's original value and owners.
  returned: always
  type: str
  sample: /var/lib/lvs-cluster/sysctl-originals.json
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

from ansible_collections.lvs.cluster.plugins.module_utils._kmod import KernelModuleError
from ansible_collections.lvs.cluster.plugins.module_utils._kmod import load as load_modules
from ansible_collections.lvs.cluster.plugins.module_utils._sysctl import (
    DEFAULT_OWNER,
    MODULES_LOAD_FILE,
    STATE_FILE,
    SYSCTL_FILE,
    SysctlError,
    apply_plan,
    check_owner,
    desired_settings,
    plan_diffs,
    plan_sysctl,
    read_proc,
    read_text,
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
            "owner": {"type": "str", "default": DEFAULT_OWNER},
            "purge": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    result: Dict[str, Any] = {"changed": False, "file": SYSCTL_FILE, "loaded_modules": []}
    try:
        owner = check_owner(p["owner"])
        desired = desired_settings(
            p["interfaces"],
            p["include_all"],
            p["arp_ignore"],
            p["arp_announce"],
            p["rp_filter"],
            p["send_redirects"],
            p["ip_forward"],
            allow_empty=p["purge"],
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
            owner=owner,
            purge=p["purge"],
            state_before=read_text(STATE_FILE),
            tunnel_modules=TUNNEL_MODULES,
        )
        if not module.check_mode:
            for name, kmod in sorted(tunnels.items()):
                load_modules(module, [kmod], f"create {name}")
                result["loaded_modules"].append(kmod)
            apply_plan(plan)
    except (SysctlError, KernelModuleError, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    result.update(
        changed=plan.changed or bool(tunnels),
        sysctl_values=plan.desired,
        previous=plan.previous,
        changed_keys=sorted(plan.live_changes),
        restored_keys=plan.restored,
        state_file=STATE_FILE,
    )
    if module._diff:
        result["diff"] = plan_diffs(plan)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
