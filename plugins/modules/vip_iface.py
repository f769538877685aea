#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402  (imports follow the documentation, as in every Ansible module)

DOCUMENTATION = r"""
---
module: vip_iface
short_description: Put LVS virtual IPs on lo, a NIC, a dummy or a tunnel interface, persistently
version_added: 0.1.0
description:
  - Adds or removes one or more virtual IP addresses (VIPs, IPv4 or IPv6) on one interface over rtnetlink,
    using only the Python standard library on the managed host.
  - "Typical uses: a DR real server carries the VIP on C(lo) as /32 (or /128); a TUN real server carries it on
    C(tunl0) (the module loads C(ipip) and brings the tunnel up); a director carries it on its NIC."
  - Other addresses of the interface are left alone. An address already present with another prefix, label or
    scope is replaced.
  - Every input is validated before the first change; on error nothing is changed.
  - "Persistence across reboot, without Ansible and whatever manages the network (systemd-networkd, ifupdown,
    NetworkManager): the module records the VIPs in C(/etc/lvs-cluster/vips.json) and installs a small stdlib
    python3 script C(/usr/local/libexec/lvs-cluster/lvs-vips) run at boot by the oneshot unit
    C(lvs-cluster-vips.service) (enabled in C(multi-user.target), ordered after C(network-online.target) so a
    network manager does not flush a VIP on a NIC it configures; when that target came by its wait's timeout,
    the script waits, at most 90 s, until systemd-networkd has configured the link). The script loads tunnel
    modules, creates dummy links, brings virtual links up, adds the addresses with C(ip addr replace) and re-applies
    C(/etc/sysctl.d/90-lvs-cluster.conf) (written by M(lvs.cluster.arp_sysctl)) for interfaces that only exist
    at that point, such as C(tunl0). Files are written atomically and only when their content changes."
  - Pair it with M(lvs.cluster.arp_sysctl) on real servers (C(arp_ignore=1), C(arp_announce=2)).
  - An IPv6 VIP on a NIC (a director's) is added with preferred lifetime 0 (C(deprecated), like
    C(ip addr add ... preferred_lft 0)), so it is served but never chosen as the source address of the host's own
    packets; otherwise a director tunnels to its real servers from the VIP, and they drop what seems to come from
    their own address.
author:
  - lvs.cluster contributors (@lvs-cluster)
options:
  vips:
    description:
      - The VIPs, each an address or C(address/prefix). Without a prefix, O(prefix) or /32 (IPv4) or /128 (IPv6)
        is used.
      - An address with host bits set outside its prefix (C(192.0.2.100/24)) is refused.
    type: list
    elements: str
    required: true
    aliases: [vip]
  interface:
    description:
      - The interface to carry the VIPs, for example C(lo), C(eth1), a dummy interface or C(tunl0).
      - A missing C(tunl0), C(ip6tnl0), C(gre0), C(ip6gre0) or C(sit0) is created by loading its kernel module
        (C(ipip), C(ip6_tunnel), C(ip_gre), C(ip6_gre), C(sit)) and is brought up.
      - A missing interface is created as a dummy with O(kind=dummy); any other missing interface is an error
        listing the existing ones.
    type: str
    default: lo
  kind:
    description:
      - V(auto) uses an existing interface or a fallback tunnel device.
      - V(dummy) creates a dummy interface named O(interface) when it is missing, and brings it up.
        With O(state=absent) it deletes that dummy interface once none of its addresses is left.
    type: str
    choices: [auto, dummy]
    default: auto
  prefix:
    description:
      - Prefix length of VIPs given without one. Defaults to 32 (IPv4) or 128 (IPv6).
    type: int
  label:
    description:
      - IPv4 address label such as C(lo:0); must be the interface name or start with C(<interface>:).
    type: str
  scope:
    description:
      - Address scope of IPv4 VIPs (IPv6 derives the scope from the address). V(host) keeps the VIP from being
        announced as a source address off the host.
    type: str
    choices: [global, site, link, host]
    default: global
  role:
    description:
      - V(realserver) refuses an interface that answers ARP (a NIC) and a VIP that an ARP-answering NIC of the host
        already carries (the ARP problem of DR and TUN).
      - V(auto) makes the second check when O(interface) does not answer ARP (C(lo), dummy, tunnels).
      - V(director) skips both checks.
    type: str
    choices: [auto, realserver, director]
    default: auto
  state:
    description:
      - V(present) adds the VIPs, V(absent) removes them (and their boot entries).
    type: str
    choices: [present, absent]
    default: present
  gue_port:
    description:
      - For a TUN real server that the director reaches with C(tun_type=gue) (see
        O(lvs.cluster.ipvs_real_server#module:tun_type)), the UDP port (the destination's C(tun_port)) on which
        the kernel receives GUE (Generic UDP Encapsulation) and hands the inner packet to O(interface).
      - Needs O(interface) C(tunl0) (IPv4 outer and inner), C(sit0) (IPv6 inner over IPv4) or C(ip6tnl0)
        (IPv6 outer). Loads the C(fou) kernel module and adds a fou receive port of type GUE, like
        C(ip fou add port PORT gue); V(absent) removes it. Restored at boot with the VIPs.
      - A port already used by a fou receiver of another kind is an error.
    type: int
  persist:
    description:
      - Record the VIPs so that C(lvs-cluster-vips.service) restores them at boot.
      - With V(false), the VIPs are changed live only and removed from the boot state file if they were in it.
    type: bool
    default: true
notes:
  - Needs root (CAP_NET_ADMIN) and Linux. C(modprobe) is used to load tunnel and dummy modules.
  - Supports check mode and diff mode.
seealso:
  - module: lvs.cluster.arp_sysctl
"""

EXAMPLES = r"""
- name: DR real server - VIP on lo
  lvs.cluster.vip_iface:
    vips: [192.0.2.100, "2001:db8:0:1::100"]
    interface: lo
    label: "lo:0"
    role: realserver

- name: TUN real server - VIP on tunl0 (loads ipip, brings tunl0 up)
  lvs.cluster.vip_iface:
    vips: 192.0.2.100
    interface: tunl0
    role: realserver

- name: Director - VIP on the LAN NIC
  lvs.cluster.vip_iface:
    vips: 192.0.2.100/32
    interface: eth1
    role: director

- name: TUN real server reached through GUE on udp/6080 (director uses tun_type gue, tun_port 6080)
  lvs.cluster.vip_iface:
    vips: 192.0.2.100
    interface: tunl0
    gue_port: 6080
    role: realserver

- name: VIP on a dummy interface created on demand
  lvs.cluster.vip_iface:
    vips: [203.0.113.10]
    interface: lvs0
    kind: dummy

- name: Remove a VIP
  lvs.cluster.vip_iface:
    vips: 192.0.2.100
    interface: lo
    state: absent
"""

RETURN = r"""
before:
  description:
    - Addresses of the interface before the change (C(address/prefix [label L] [scope S])).
    - IPv6 link-local addresses are left out.
  returned: always
  type: list
  elements: str
  sample: ["127.0.0.1/8 label lo scope host", "::1/128"]
after:
  description: Addresses of the interface after the change (predicted in check mode).
  returned: always
  type: list
  elements: str
  sample: ["127.0.0.1/8 label lo scope host", "192.0.2.100/32 label lo:0", "::1/128"]
actions:
  description: The changes made (or that would be made in check mode).
  returned: always
  type: list
  elements: str
  sample: ["add 192.0.2.100/32 to lo", "update /etc/lvs-cluster/vips.json"]
interface:
  description: The interface.
  returned: always
  type: str
  sample: lo
state_file:
  description: The boot state file.
  returned: always
  type: str
  sample: /etc/lvs-cluster/vips.json
"""

import os
import sys
from typing import Any, Dict, List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils import _vip_persist as persist
from ansible_collections.lvs.cluster.plugins.module_utils._fou import FouClient, FouError
from ansible_collections.lvs.cluster.plugins.module_utils._kmod import KernelModuleError, try_load
from ansible_collections.lvs.cluster.plugins.module_utils._kmod import load as load_modules
from ansible_collections.lvs.cluster.plugins.module_utils._netlink import NetlinkFailure
from ansible_collections.lvs.cluster.plugins.module_utils._rtnl import SCOPES, Link, Rtnl
from ansible_collections.lvs.cluster.plugins.module_utils._sysctl import atomic_write, read_proc, read_text
from ansible_collections.lvs.cluster.plugins.module_utils._vip import (
    TUNNEL_MODULES,
    Plan,
    Request,
    VipError,
    build_request,
    deprecate,
    diff_text,
    format_addresses,
    nodad_flags,
    plan_vips,
)


def ipv6_disabled(name: str) -> bool:
    if not os.path.isdir("/proc/sys/net/ipv6"):
        return True
    return read_proc(f"net.ipv6.conf.{name}.disable_ipv6") == "1"


def persistence_files(req: Request, target: Optional[Link]) -> List[Tuple[str, str, str, int]]:
    """``(path, before, after, mode)`` of every file the boot persistence owns."""
    state_before = read_text(persist.STATE_FILE)
    names = [str(v.address) for v in req.vips]
    entries = []
    if req.state == "present" and req.persist:
        up = target is None or not target.does_arp
        module = TUNNEL_MODULES.get(req.interface) if req.kind == "auto" else None
        for v in req.vips:
            nodad = bool(nodad_flags(v, target))
            entry = persist.make_entry(
                req.interface, str(v.address), v.prefix, req.kind, module, req.label, req.scope, up, nodad
            )
            if deprecate(v, target):
                entry["deprecated"] = True
            if req.gue_port is not None:
                entry.update(gue_port=req.gue_port, gue_family=req.gue_family)
            entries.append(entry)
    state_after = persist.update_state(state_before, req.interface, entries, [] if entries else names)
    if not state_before and not entries:
        return []
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    files = [(persist.STATE_FILE, state_before, state_after, 0o644)]
    files.append((persist.SCRIPT_FILE, read_text(persist.SCRIPT_FILE), persist.BOOT_SCRIPT, 0o755))
    files.append((persist.UNIT_FILE, read_text(persist.UNIT_FILE), persist.render_unit(python), 0o644))
    return files


def enabled() -> bool:
    return os.path.realpath(persist.WANTS_LINK) == os.path.realpath(persist.UNIT_FILE) and os.path.lexists(
        persist.WANTS_LINK
    )


def execute(module: AnsibleModule, rtnl: Rtnl, fou: FouClient, req: Request, plan: Plan) -> None:
    for step in plan.steps:
        if step.op in ("gue_add", "gue_delete") and step.prefix is not None:
            if step.op == "gue_add":
                fou.add_gue(step.prefix, req.gue_family)
            else:
                fou.delete(step.prefix, req.gue_family)
            continue
        if step.op == "modprobe":
            load_modules(module, [str(step.module)], f"create {step.interface}")
            continue
        if step.op == "create":
            try_load(module, ["dummy"])  # built into some kernels: creating the link is the real test
            rtnl.create_link(step.interface, "dummy")
            continue
        link = rtnl.links_by_name().get(step.interface)
        if link is None:
            raise VipError(f"interface {step.interface} did not appear")
        if step.op == "up":
            rtnl.set_up(link.index)
        elif step.op == "destroy":
            rtnl.delete_link(link.index)
        elif step.vip is None:
            raise VipError(f"internal error: step {step.op} without a VIP")
        elif step.op == "delete":
            rtnl.del_address(step.vip.address, step.prefix or step.vip.prefix, link.index)
        elif step.op == "add":
            label = req.label if step.vip.version == 4 else None
            scope = SCOPES[req.scope] if step.vip.version == 4 else 0
            rtnl.add_address(step.vip.address, step.vip.prefix, link.index, scope, label, step.flags, step.deprecated)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "vips": {"type": "list", "elements": "str", "required": True, "aliases": ["vip"]},
            "interface": {"type": "str", "default": "lo"},
            "kind": {"type": "str", "default": "auto", "choices": ["auto", "dummy"]},
            "prefix": {"type": "int"},
            "label": {"type": "str"},
            "scope": {"type": "str", "default": "global", "choices": ["global", "site", "link", "host"]},
            "role": {"type": "str", "default": "auto", "choices": ["auto", "realserver", "director"]},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "persist": {"type": "bool", "default": True},
            "gue_port": {"type": "int"},
        },
        supports_check_mode=True,
    )
    p = module.params
    result: Dict[str, Any] = {"changed": False, "interface": p["interface"], "state_file": persist.STATE_FILE}
    try:
        req = build_request(
            p["vips"],
            p["interface"],
            p["state"],
            p["prefix"],
            p["kind"],
            p["label"],
            p["scope"],
            p["role"],
            p["gue_port"],
        )
        req.persist = p["persist"]
        with Rtnl() as rtnl, FouClient() as fou:
            links = rtnl.links()
            gue_ports = fou.ports() if fou.available else None
            plan = plan_vips(req, links, rtnl.addresses(), ipv6_disabled, gue_ports)
            target = {link.name: link for link in links}.get(req.interface)
            files = persistence_files(req, target)
            changed_files = [(path, before, after, mode) for path, before, after, mode in files if before != after]
            enable = bool(files) and not enabled()
            actions = [s.describe() for s in plan.steps] + [f"update {f[0]}" for f in changed_files]
            if enable:
                actions.append(f"enable {persist.UNIT_NAME}")
            if not module.check_mode:
                execute(module, rtnl, fou, req, plan)
                for path, _before, after, mode in changed_files:
                    atomic_write(path, after, mode)
                if enable:
                    os.makedirs(os.path.dirname(persist.WANTS_LINK), 0o755, exist_ok=True)
                    if os.path.lexists(persist.WANTS_LINK):
                        os.unlink(persist.WANTS_LINK)
                    os.symlink(persist.UNIT_FILE, persist.WANTS_LINK)
                if any(f[0] == persist.UNIT_FILE for f in changed_files) and os.path.isdir("/run/systemd/system"):
                    module.run_command(["systemctl", "daemon-reload"])
                if plan.steps:
                    links_now = {link.index: link for link in rtnl.links()}
                    index = next((i for i, link in links_now.items() if link.name == req.interface), None)
                    plan.after = format_addresses([a for a in rtnl.addresses() if a.index == index])
    except (VipError, FouError, KernelModuleError, NetlinkFailure, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    for warning in plan.warnings:
        module.warn(warning)
    v4_on_virtual = any(v.version == 4 for v in req.vips) and (target is None or not target.does_arp)
    if req.state == "present" and v4_on_virtual and req.role != "director":
        leaky = [n.name for n in links if n.does_arp and read_proc(f"net.ipv4.conf.{n.name}.arp_ignore") == "0"]
        if leaky and read_proc("net.ipv4.conf.all.arp_ignore") == "0":
            module.warn(
                f"arp_ignore is 0 on {', '.join(leaky)}: this host answers ARP there for the VIPs on {req.interface};"
                " on a DR/TUN real server set arp_ignore=1 and arp_announce=2 with lvs.cluster.arp_sysctl"
            )
    result.update(changed=bool(actions), before=plan.before, after=plan.after, actions=actions)
    if module._diff:
        result["diff"] = [
            {
                "before_header": f"{req.interface} addresses",
                "after_header": f"{req.interface} addresses",
                "before": diff_text(plan.before),
                "after": diff_text(plan.after),
            }
        ] + [{"before_header": f[0], "after_header": f[0], "before": f[1], "after": f[2]} for f in changed_files]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
