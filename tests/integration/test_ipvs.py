"""IPVS modules on a real kernel: run the target playbooks in the lab.

Each playbook ``targets/ipvs_*/playbook.yml`` runs every module in four steps
(check, apply, repeat, repeat in check mode), compares with ipvsadm as the
oracle in both directions and checks that bad input writes nothing.
The layout of a target: tests/integration/README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from labtools import LabHandle

TARGETS = Path(__file__).resolve().parent / "targets"
# the order matters little, but ipvs_info unloads and reloads ip_vs first
PLAYBOOKS = [
    "ipvs_info",
    "ipvs_table",
    "ipvs_service",
    "ipvs_real_server",
    "ipvs_rules_file",
    "ipvs_config",
    "ipvs_drain",
]

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("target", PLAYBOOKS)
def test_ipvs_target(lab: LabHandle, target: str) -> None:
    proc = lab.playbook(TARGETS / target / "playbook.yml")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "failed=0" in proc.stdout


def test_ipvs_table_four_steps_via_module_runner(lab: LabHandle) -> None:
    """The lab's own four-step helper on a small mixed-family table."""
    lab.ssh("director", "modprobe ip_vs && ipvsadm -C")
    services = [
        {
            "protocol": "tcp",
            "address": "2001:db8::50",
            "port": 80,
            "real_servers": [{"address": "192.0.2.11", "forward": "tunnel", "tun_type": "gre"}],
        },
        {"fwmark": 50, "scheduler": "sh", "sched_flags": ["sh-port"], "real_servers": [{"address": "192.0.2.12"}]},
    ]
    results = lab.four_steps("director", "lvs.cluster.ipvs_table", {"services": services})
    save = lab.ssh("director", "ipvsadm-save -n").stdout
    assert results[1]["diff"]["after"] == save
    lab.ssh("director", "ipvsadm -C")
