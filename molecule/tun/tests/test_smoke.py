"""Smoke: IPVS and ipip load in the guests, ipvsadm works, hosts reach each other.

Once a scenario of its own; it runs first in the tun scenario's verify, which boots the same
release and image (docs/lab-cost.md). The director's table is live here: the ipvsadm check adds
and deletes a service of its own instead of clearing the table.
"""

from __future__ import annotations

import pytest

ADDRESSES = {"director": "192.0.2.1", "rs1": "192.0.2.11"}


def test_ip_vs_and_ipip_load(host) -> None:
    with host.sudo():
        host.run_test("modprobe ip_vs")
        host.run_test("modprobe ipip")
    modules = host.file("/proc/modules").content_string
    assert "\nip_vs " in "\n" + modules
    assert "\nipip " in "\n" + modules


def test_ipvsadm_adds_a_service(host) -> None:
    if host.backend.get_hostname() != "director":
        pytest.skip("director only")
    with host.sudo():
        host.run_test("ipvsadm -A -t 192.0.2.199:80 -s rr")
        try:
            assert "TCP  192.0.2.199:80 rr" in host.check_output("ipvsadm -Ln")
        finally:
            host.run_test("ipvsadm -D -t 192.0.2.199:80")
        assert "192.0.2.199:80" not in host.check_output("ipvsadm -Ln")


@pytest.mark.parametrize("peer", sorted(ADDRESSES))
def test_lan_reaches_peer(host, peer: str) -> None:
    host.run_test("ping -c1 -W3 %s" % ADDRESSES[peer])
