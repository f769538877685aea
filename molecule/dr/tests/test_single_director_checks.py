"""Health checks on the single DR director (lvs_checks), switched on and off under load.

Run once per scenario, after test_drain.py (the verify after the reboot skips it), at 10
requests/s from the client through the VIP:
1. site.yml with lvs_checks=true hands the table from ipvs_table to keepalived in checker-only
   mode (no VRRP; the VIP stays the role's): 0 failed requests.
2. The web server stopped on rs1: rs1 leaves the pool within the check bound of the role's
   default checks; started again, it comes back.
3. site.yml without it hands the table back to ipvs_table (keepalived stopped and disabled
   without emptying the table, the ipvsadm restore service unmasked): 0 failed requests.
The reboot and the verify after it then prove the plain persistence of the switched-back director.
"""

from __future__ import annotations

import os
import time

import pytest
from ha_load import Load, dead_web_server, playbook, report, ssh, weight_of

MARKER = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "checks-tested")
# The role's default checks (the planner's CHECK_DEFAULTS): delay_loop 3 + connect_timeout 2
# + retry 1 x (delay_before_retry 1 + connect_timeout 2), plus slack.
CHECK_BOUND = 3 + 2 + 1 * (1 + 2) + 3
WEIGHTS = {"192.0.2.11": 3, "192.0.2.12": 1}


def units() -> str:
    return ssh(
        "director",
        "for u in keepalived ipvsadm; do echo $u $(systemctl is-active $u) $(systemctl is-enabled $u); done || true",
    )


def switch(title: str, *args: str) -> None:
    """site.yml on the director under load; 0 failed requests and the inventory weights after it."""
    load = Load(600).start()
    try:
        time.sleep(5)
        took = playbook("site.yml", "--limit", "director", *args)
        time.sleep(5)
    finally:
        load.stop()
    res = load.result()
    weights = {address: weight_of("director", address) for address in WEIGHTS}
    report(title, "%s; site.yml took %.0f s; weights after it %s" % (res.summary(), took, weights))
    assert not res.failures, res.failures
    assert weights == WEIGHTS


def test_checks_on_a_single_director() -> None:
    if os.path.exists(MARKER):
        pytest.skip("tested in the first verify")
    switch("single director: ipvs_table -> keepalived checks", "-e", '{"lvs_checks": true}')
    state = units()
    assert "keepalived active enabled" in state and "ipvsadm inactive masked" in state, state
    conf = ssh("director", "cat /etc/keepalived/keepalived.conf")
    assert "vrrp_instance" not in conf and conf.count("TCP_CHECK {") == 2, conf
    assert "192.0.2.100/32" in ssh("director", "ip -4 -o addr show dev eth1")  # the VIP stays the role's

    dead_web_server("director", CHECK_BOUND, title="single director: ")

    switch("single director: keepalived checks -> ipvs_table")
    state = units()
    assert "keepalived inactive disabled" in state and "ipvsadm inactive enabled" in state, state
    assert "lvs-cluster.conf" not in ssh("director", "ls /etc/systemd/system/keepalived.service.d/ || true")
    with open(MARKER, "w", encoding="utf-8") as fh:
        fh.write("done\n")
