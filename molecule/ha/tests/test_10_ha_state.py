"""State after converge: keepalived owns the VIP and the table on the directors, safely."""

from __future__ import annotations

import re

import pytest

DIRECTORS = ("director1", "director2")
REAL_SERVERS = {"rs1": "192.0.2.11", "rs2": "192.0.2.12"}


def _name(host) -> str:
    return str(host.backend.get_hostname())


@pytest.fixture()
def director(host):
    if _name(host) not in DIRECTORS:
        pytest.skip("directors only")
    return host


def test_keepalived_conf_is_private(director) -> None:
    conf = director.file("/etc/keepalived/keepalived.conf")
    assert conf.mode == 0o600
    assert conf.user == "root"
    # the automatic VRRP timing (no password set): VRRPv3, an advert every 0.8 s, the priorities 254 / 244
    text = conf.content_string
    assert "vrrp_version 3" in text and "advert_int 0.8\n" in text and "auth_pass" not in text
    assert ("priority 254\n" if _name(director) == "director1" else "priority 244\n") in text
    assert "lvs_sync_daemon eth1" in conf.content_string


def test_keepalived_config_test_passes(director) -> None:
    director.run_expect([0], "keepalived --config-test -f /etc/keepalived/keepalived.conf")


def test_keepalived_config_test_rejects_errors(director) -> None:
    """The validate: step of the role is only worth something if errors fail the test."""
    director.run_test("printf 'vrrp_instance X {\\n  state FOO\\n  virtual_router_id 999\\n}\\n' > /root/bad.conf")
    cmd = director.run("keepalived --config-test -f /root/bad.conf")
    director.run_test("rm -f /root/bad.conf")
    assert cmd.rc != 0, cmd.stdout + cmd.stderr


def test_keepalived_enabled_and_running(director) -> None:
    svc = director.service("keepalived")
    assert svc.is_enabled
    assert svc.is_running


def test_keepalived_started_once_and_not_reloaded(director) -> None:
    """The first converge starts keepalived with its config: no reload after the start (a reload
    restarts every checker), and the role's drop-in (--dont-release-ipvs) is in force."""
    log = director.check_output("journalctl -b -u keepalived -o cat --no-pager")
    assert log.count("Starting keepalived") == 1 and "Reloading" not in log, log[-3000:]
    assert "--dont-release-ipvs" in director.check_output("ps -o args= -C keepalived")


def test_ipvsadm_restore_service_is_off(director) -> None:
    assert not director.service("ipvsadm").is_enabled


def test_table_from_the_cluster_model(director) -> None:
    out = director.check_output("ipvsadm -Ln")
    assert re.search(r"TCP\s+192\.0\.2\.100:80 wrr", out), out
    for address in REAL_SERVERS.values():
        assert re.search(r"-> %s:80\s+Route\s+1\s" % re.escape(address), out), out


def test_sync_daemon_runs(director) -> None:
    out = director.check_output("ipvsadm -L --daemon")
    assert re.search(r"(master|backup) sync daemon \(mcast=eth1, syncid=51[,)]", out), out


def test_expire_quiescent_template(director) -> None:
    assert director.sysctl("net.ipv4.vs.expire_quiescent_template") == 1


def test_vip_only_on_the_master(director) -> None:
    has_vip = "192.0.2.100/32" in director.check_output("ip -4 -o addr show dev eth1")
    assert has_vip == (_name(director) == "director1"), "VIP must be on director1 (priority 254) only"
