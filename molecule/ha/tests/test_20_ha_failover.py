"""Failures under load (10 requests/s, curl --max-time 1, from the client through the VIP).

Run once (no testinfra host), in this order: a dead web server, a drain of a real server with
playbooks/drain.yml, the MASTER director powered off and back (with a TCP connection held open
across each), the same with nopreempt (site.yml rerun), the real server drained through all of
them, and last its undrain with playbooks/undrain.yml.
Every measured number is printed (HA-MEASURE lines) and appended to
<ephemeral>/ha-measurements.txt.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Tuple

import prom
from ha_load import (
    LAST_OUTPUT,
    ArpWatch,
    HeldConnection,
    Load,
    conn_on,
    dead_web_server,
    drain,
    holds_vip,
    keepalived_state,
    lab,
    lab_name,
    playbook,
    project,
    report,
    rs_in_table,
    ssh,
    undrain,
    vrrp_state,
    wait_for,
    weight_of,
)
from report_browser import check_layout, look

# delay_loop 2 + retry 1 x (connect_timeout 1 + delay_before_retry 1) in molecule.yml, plus slack.
CHECK_BOUND = 2 + 1 * (1 + 1) + 3


VARIANT_NEEDLES = {
    "ha": (
        # a password: the automatic VRRP version is 2 (PASS authentication), adverts every second
        "auth_pass s3cret",
        "advert_int 1\n",
        "lvs_method TUN type gue port 6080",
        "MISC_CHECK",
        "misc_dynamic",
        "sorry_server 198.51.100.50 443",
        "virtual_server fwmark 7",
        "connect_port 8080",
        "virtual_ipaddress_excluded",
        "nopreempt",
        "script_user keepalived_script",
        "check_unicast_src",
        "track_interface {\n        lo",
        "vrrp_script chk_uplink {",
        "weight -20",
        "track_script {\n        chk_uplink",
        'notify_master "/usr/local/bin/lvs-notify master"',
        "vrrp_garp_master_delay 1",
        "vrrp_garp_master_refresh 60",
    ),
    "ha_preempt": ("preempt_delay 30", "state BACKUP"),
    "checks": (
        "SSL_GET {",
        "enable_sni",
        "virtualhost www.example.org",
        "status_code 200 300-399",
        "digest 9b3a0c85a887a256d6939da88aabd8cd",
        "DNS_CHECK {",
        "type A",
        "UDP_CHECK {",
        "payload 3c 31 33 3e",
        "require_reply\n",
        "FILE_CHECK {",
        'file "/var/lib/lvs-cluster/checks/maint-192.0.2.11"',
        "delay_loop 10",
        "warmup 2",
        "alpha yes",
    ),
}


def test_template_variants_pass_keepalived_config_test(tmp_path) -> None:
    """Options the lab cluster does not use render to configs keepalived 2.2 accepts: an HA
    variant and a checked director (no VRRP) with every checker type (render-variants.yml)."""
    dest = tmp_path / "keepalived.conf"
    res = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-e",
            "render_dest=%s" % dest,
            "-e",
            "ansible_python_interpreter=%s" % sys.executable,
            os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "ha", "render-variants.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    for variant, needles in VARIANT_NEEDLES.items():
        conf = (tmp_path / ("keepalived.conf-" + variant)).read_text(encoding="utf-8")
        for needle in needles:
            assert needle in conf, (variant, needle)
        assert ("vrrp_instance" in conf) == variant.startswith("ha"), variant
        assert not (variant.startswith("ha") and "vrrp_version 3" in conf), variant  # VRRPv2: the password
        out = subprocess.run(
            [
                "python3",
                os.path.join(project(), "tests/lab/lab.py"),
                "--lab",
                lab_name(),
                "ssh",
                "director2",
                "--",
                # the FILE_CHECK directory as the role creates it; script_user root as the role's
                # validate tests it (keepalived 2.2.7's --config-test terminates itself otherwise)
                "mkdir -p /var/lib/lvs-cluster/checks; sed 's/^    script_user .*/    script_user root/'"
                " > /root/variant.conf; keepalived --config-test -f /root/variant.conf; echo rc=$?;"
                " rm -f /root/variant.conf",
            ],
            input=conf,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "rc=0" in out.stdout, (variant, out.stdout + out.stderr)


def test_baseline_no_failures() -> None:
    assert holds_vip("director1") and not holds_vip("director2")
    res = Load(10).start().wait()
    report("baseline", res.summary())
    assert len(res.requests) == 100
    assert not res.failures, res.failures
    assert res.served_by("rs1") and res.served_by("rs2")


def test_dead_web_server_leaves_the_pool() -> None:
    dead_web_server("director1", CHECK_BOUND, others=("director2",))  # the BACKUP checks too


def test_drain_under_load_without_reload() -> None:
    """rs1 drained on both directors by its drain files: keepalived.conf untouched, keepalived not
    reloaded. It stays drained through the failover and director1's boot (the next two tests) and
    is undrained after them. Before the failover tests: the connection
    test_master_director_comes_back leaves behind (reset by director1, still ESTABLISHED on
    director2) would hold drain.yml until its timeout."""
    before = {d: keepalived_state(d) for d in ("director1", "director2")}
    # DR: a closed connection stays in FIN_WAIT for the tcpfin timeout (120 s); wait for active ones
    drain(("director1", "director2"), "192.0.2.11", "rs1", "", "-e", "drain_wait_inactive=false")
    assert {d: keepalived_state(d) for d in ("director1", "director2")} == before


def test_status_of_both_directors_while_drained() -> None:
    """playbooks/status.yml: director1 MASTER with the VIP, director2 BACKUP without it, rs1's
    drain file on both (weight 0, as the inventory weight less the drain): no drift. The HTML
    report as headless Chromium shows it: director1 MASTER, director2 BACKUP, rs1 drained, rs2 up."""
    page = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "status-ha.html")
    took = playbook("status.yml", "-e", "status_fail_on_drift=true", "-e", "status_html=" + page)
    out = LAST_OUTPUT[0]
    lines = [line.strip().strip('",').strip() for line in out.splitlines()]
    rows = [line for line in lines if line.startswith(("director director", "rs1 "))]
    report("status.yml on both directors, rs1 drained", "%.0f s; %s" % (took, " / ".join(rows)))
    assert "table owned by keepalived, HA" in out
    assert "director director1: VRRP MASTER, VIPs held: 192.0.2.100" in out
    assert "director director2: VRRP BACKUP, VIPs held: none" in out
    assert "no drift: every director's table is what the inventory says" in out
    assert any(" 65535 " in row for row in rows if row.startswith("rs1 ")), rows
    logs = os.environ.get("LVS_TEST_LOGS")
    with open(page, encoding="utf-8") as fh:
        seen = look(fh.read(), os.path.join(logs, "status-ha.png") if logs else None)
    check_layout(seen)
    states = {(n["kind"], n["name"]): n["state"] for n in seen["nodes"] if n["kind"] in ("director", "realserver")}
    assert states == {("director", "director1"): "master", ("director", "director2"): "backup",
                      ("realserver", "rs1"): "drained", ("realserver", "rs2"): "up"}, states  # fmt: skip
    assert seen["clean"] == 1 and seen["drift"] == []
    # the same through each director's metrics (a run of the timer's service after the drain)
    http = {"service": "http", "virtual": "tcp:192.0.2.100:80"}
    for director, address, state, held in (
        ("director1", "192.0.2.1", "MASTER", 1),
        ("director2", "192.0.2.2", "BACKUP", 0),
    ):
        ssh(director, "systemctl restart lvs-cluster-metrics.service")
        _text, samples = prom.scrape(address)
        got = {
            "up": prom.metric(samples, "web_ha", "up"),
            "drift": prom.metric(samples, "web_ha", "drift"),
            "state": prom.metric(samples, "web_ha", "vrrp_state", state=state),
            "vip": prom.metric(samples, "web_ha", "vip_held", vip="192.0.2.100"),
            "rs1 drained": prom.metric(samples, "web_ha", "real_server_drained", real_server="rs1", **http),
            "rs1 weight": prom.metric(samples, "web_ha", "real_server_weight", real_server="rs1", **http),
            "rs2 up": prom.metric(samples, "web_ha", "real_server_up", real_server="rs2", **http),
        }
        assert got == {"up": 1, "drift": 0, "state": 1, "vip": held, "rs1 drained": 1, "rs1 weight": 0, "rs2 up": 1}, (
            director, got)  # fmt: skip


def test_master_director_powered_off() -> None:
    """The BACKUP takes the VIP; a connection held open across the failover keeps working (sync daemon)."""
    assert holds_vip("director1")
    held = HeldConnection(240)
    try:
        ok, port, first = held.get(5)
        assert ok, first
        # director1's master sync daemon sends the connection to director2's backup daemon
        synced = wait_for(lambda: conn_on("director2", port), timeout=30, step=1)
        watch = ArpWatch(75)
        load = Load(120).start()
        time.sleep(10)
        t_kill = time.time()
        try:
            lab("stop", "director1")
            took_over = wait_for(lambda: holds_vip("director2"), timeout=60, step=0.5)
            t_held = time.time()
            held_ok, port2, second = held.get(15)
            held_took = time.time() - t_held
            # the load runs on until 20 s after the stop: "no failure later than 10 s" needs requests there
            res = load.finish(max(0.0, t_kill + 20 - time.time()))
        finally:
            arp = watch.stop()
    finally:
        held.stop()
    # The client's side of the takeover: which MAC it sent to, and the gratuitous ARPs it saw.
    print("\nARP at the client (stop at %.3f):\n%s" % (t_kill, "\n".join(arp)))
    after = [t for t in res.failures if t >= t_kill + 10]
    report(
        "MASTER director1 powered off",
        "%s; director2 holds the VIP %.1f s after the stop (polled); failure gap %.1f s "
        "(first failure %.1f s, last %.1f s after the stop; target <= 3 s: %s); "
        "%d failures later than 10 s after the stop"
        % (
            res.summary(),
            took_over,
            res.gap(),
            (min(res.failures) - t_kill) if res.failures else 0.0,
            (max(res.failures) - t_kill) if res.failures else 0.0,
            "met" if res.gap() <= 3.0 else "MISSED",
            len(after),
        ),
    )
    report(
        "connection held across the failover",
        "client port %d to %s, in director2's table %.1f s after its first request (sync daemon); "
        "request over it after the takeover: %s (%s, client port %d) in %.1f s"
        % (port, first, synced, "ok" if held_ok else "FAILED", second, port2, held_took),
    )
    assert not after, after
    assert weight_of("director2", "192.0.2.11") == 0  # rs1 stays drained on the new MASTER
    # VRRP's own bound is 3 x advert_int after the MASTER's last advert; the test allows TCG jitter on top
    assert res.gap() <= 6.0, "failover gap %.1f s" % res.gap()
    assert held_ok and second == first and port2 == port, (held_ok, second, first, port2, port)


def start_director1_holding(load_seconds: int) -> Tuple[HeldConnection, Load, int, str, float]:
    """Hold a connection open through the current MASTER, start the load, then start director1.

    Returns the held connection (the caller stops it), the load, the connection's client port,
    the real server that answered it and the seconds director1 took to boot to SSH.
    """
    held = HeldConnection(240)
    try:
        ok, port, first = held.get(5)
        assert ok, first
        load = Load(load_seconds).start()
        time.sleep(3)
        t_start = time.time()
        lab("start", "director1")
        return held, load, port, first, time.time() - t_start
    except BaseException:
        held.stop()
        raise


def test_master_director_comes_back() -> None:
    """With preempt the VIP returns to director1; new connections do not fail.

    A connection opened while director1 was down is not in director1's table (the sync daemon
    only sends connections as their packets flow): its outcome after the VIP moved back is
    reported, not asserted (docs/ha.md, known limits: use nopreempt for long-lived connections).
    """
    held, load, port, first, booted = start_director1_holding(240)
    try:
        back = wait_for(lambda: holds_vip("director1"), timeout=120, step=0.5) + booted
        time.sleep(2)
        held_ok, _port, second = held.get(15)
        res = load.finish(10)
    finally:
        held.stop()
    report(
        "director1 back (preempt)",
        "%s; booted to SSH in %.0f s, VIP back on director1 %.1f s after the start; failure gap %.1f s; "
        "a connection opened on director2 before the start (client port %d, %s): %s"
        % (res.summary(), booted, back, res.gap(), port, first, "ok from " + second if held_ok else second),
    )
    assert not holds_vip("director2")
    assert res.gap() <= 6.0, res.failures
    wait_for(lambda: rs_in_table("director1", "192.0.2.11") and rs_in_table("director1", "192.0.2.12"), 60)
    # the drained rs1 stays drained on the director that booted (keepalived reads its drain file at start)
    assert weight_of("director1", "192.0.2.11") == 0


def test_nopreempt_keeps_the_vip_on_the_backup() -> None:
    """With lvs_ha_nopreempt the returning director1 (higher priority) leaves the VIP on director2.

    director1 leaves and returns by its keepalived (stopped, then started): the subject is VRRP's
    nopreempt, the power-off and the boot are the subject of the two tests before this one.
    """
    took = playbook("site.yml", "--limit", "lvs_directors", "-e", "lvs_ha_nopreempt=true")
    for director in ("director1", "director2"):
        conf = ssh(director, "cat /etc/keepalived/keepalived.conf")
        assert "nopreempt" in conf and "state BACKUP" in conf, conf
    ssh("director1", "systemctl stop keepalived")
    wait_for(lambda: holds_vip("director2"), timeout=60, step=0.5)
    held = HeldConnection(240)
    try:
        ok, port, first = held.get(5)
        assert ok, first
        load = Load(120).start()
        time.sleep(3)
        t_start = time.time()
        ssh("director1", "systemctl start keepalived")
        # keepalived on director1 is up and hears director2's adverts: it stays BACKUP
        wait_for(lambda: vrrp_state("director1") == "BACKUP", timeout=60, step=0.5)
        started = time.time() - t_start
        # one request now and one 15 s later: nginx closes a connection idle for 65 s
        mid_ok, _port, mid = held.get(15)
        time.sleep(15)
        held_ok, port2, second = held.get(15)
        held_ok = held_ok and mid_ok and mid == second
        res = load.finish(5)
    finally:
        held.stop()
    report(
        "director1 back (nopreempt)",
        "%s; site.yml with lvs_ha_nopreempt=true took %.0f s; director1's keepalived BACKUP %.1f s after its start; "
        "VIP on director2: %s, on director1: %s; failure gap %.1f s; a connection opened before the start "
        "(client port %d, %s): %s"
        % (
            res.summary(),
            took,
            started,
            holds_vip("director2"),
            holds_vip("director1"),
            res.gap(),
            port,
            first,
            "ok from " + second if held_ok else second,
        ),
    )
    assert holds_vip("director2") and not holds_vip("director1")
    assert not res.failures, res.failures
    assert held_ok and second == first and port2 == port, (held_ok, second, first, port2, port)
    # rs1, drained before the failover tests: still drained after site.yml changed keepalived.conf
    # (a reload on both) and director1's keepalived stopped and started
    assert {d: weight_of(d, "192.0.2.11") for d in ("director1", "director2")} == {"director1": 0, "director2": 0}


def test_undrain_after_failover_boot_and_rerun() -> None:
    """Last: undrain.yml in two steps on both directors: rs1's weight (1) back, no keepalived reload."""
    before = {d: keepalived_state(d) for d in ("director1", "director2")}
    undrain(("director1", "director2"), "192.0.2.11", "rs1", 1, "", "-e", "undrain_ramp_time=2", "-e",
            "undrain_ramp_steps=2")  # fmt: skip
    assert {d: keepalived_state(d) for d in ("director1", "director2")} == before
