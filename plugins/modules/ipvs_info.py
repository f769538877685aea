#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_info
short_description: Read the live IPVS state
description:
  - Returns the IPVS virtual services with their real servers (connection
    counters and statistics), the connection timeouts, the sync daemons, the
    IPVS version and the connection table size, read over generic netlink.
  - If the C(IPVS) generic netlink family is missing, the module runs C(modprobe ip_vs)
    once (see O(modprobe)) and fails with a clear message if it is still missing.
version_added: 0.1.0
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.ipvs
options:
  stats:
    description: Include per-service and per-real-server statistics (64-bit counters and rates).
    type: bool
    default: true
  drain_dir:
    description:
      - Directory of the drain files (M(lvs.cluster.ipvs_drain)); each real server gets C(drain), the
        number in its file (the weight taken off its inventory weight; 65535 is drained, 0 none).
    type: path
    default: /var/lib/lvs-cluster/drain
  connections:
    description:
      - Add C(entries) to each real server, its connection entries by state (C(ESTABLISHED),
        C(TIME_WAIT), C(UDP)...; persistence templates left out), read from C(/proc/net/ip_vs_conn).
    type: bool
    default: false
attributes:
  diff_mode:
    description: Makes no changes, so has no diff.
    support: none"""

EXAMPLES = r"""
- name: Read the IPVS table
  lvs.cluster.ipvs_info:
  register: lvs

- name: Show the active connections of the first real server
  ansible.builtin.debug:
    msg: "{{ lvs.ipvs.services[0].real_servers[0].active_conns }}"

- name: Drain state and connection entries of every real server
  lvs.cluster.ipvs_info:
    stats: false
    connections: true
  register: lvs
"""

RETURN = r"""
ipvs:
  description: The live IPVS state.
  returned: always
  type: dict
  contains:
    version:
      description: IPVS version.
      type: str
      sample: 1.2.1
    conn_tab_size:
      description: Size of the connection hash table.
      type: int
      sample: 4096
    timeouts:
      description: Connection timeouts in seconds (tcp, tcpfin, udp).
      type: dict
      sample: {tcp: 900, tcpfin: 120, udp: 300}
    daemons:
      description: Running sync daemons.
      type: list
      elements: dict
      sample: [{state: master, mcast_ifn: eth1, syncid: 1, mcast_group: 224.0.0.81, mcast_port: 8848, mcast_ttl: 1}]
    services:
      description:
        - Virtual services (sorted like ipvsadm) with their real servers, counters and statistics.
        - Each real server has C(drain) and, with O(connections), C(entries).
      type: list
      elements: dict
    rules:
      description: The table in C(ipvsadm-save -n) format.
      type: list
      elements: str
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._drain import (  # noqa: E402
    DrainError,
    info_services,
    read_conns,
    read_drains,
)
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (  # noqa: E402
    IpvsError,
    module_client,
    render_rules,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "stats": {"type": "bool", "default": True},
            "modprobe": {"type": "bool", "default": True},
            "drain_dir": {"type": "path", "default": "/var/lib/lvs-cluster/drain"},
            "connections": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        with module_client(module) as client:
            table = client.table(stats=module.params["stats"])
            info = client.info()
            ipvs = {
                "version": info["version"],
                "conn_tab_size": info["conn_tab_size"],
                "timeouts": client.timeouts(),
                "daemons": client.daemons(),
                "services": [],
                "rules": render_rules(table).splitlines(),
            }
        drains = read_drains(module.params["drain_dir"])
        conns = read_conns() if module.params["connections"] else None
        ipvs["services"] = info_services(table, drains, conns)
    except (IpvsError, DrainError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, ipvs=ipvs)


if __name__ == "__main__":
    main()
