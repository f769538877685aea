"""The lab itself: real guests, the IPVS kernel, the segments, the Ansible plumbing."""

from __future__ import annotations

import time

from labtools import LabHandle


def test_guests_have_ipvs_and_ipip(lab: LabHandle) -> None:
    out = lab.ssh("director", "modprobe ip_vs && modprobe ipip && grep -c '^ip_vs\\|^ipip' /proc/modules").stdout
    assert int(out.strip()) >= 2


def test_lan_segment_connects_hosts(lab: LabHandle) -> None:
    lab.ssh("rs1", "ping -c1 -W3 192.0.2.12")
    lab.netns("ping -c1 -W3 192.0.2.1 && ping -c1 -W3 198.51.100.1")


def test_module_runner_reports_results(lab: LabHandle) -> None:
    res = lab.module("rs2", "ansible.builtin.command", {"cmd": "hostname"})
    assert res["stdout"] == "rs2"
    assert not res.get("failed")


def test_guest_clocks_follow_the_host(lab: LabHandle) -> None:
    """Guests restored from a snapshot resume at the time it was saved: ``up`` sets their clocks."""
    for host in ("director", "rs1", "rs2"):
        before = time.time()
        guest = float(lab.ssh(host, "date +%s.%N").stdout.strip())
        assert before - 30 <= guest <= time.time() + 30, (host, guest, before)
