"""Health checks on the single DR director (lvs_checks), switched on and off under load.

Run once per scenario, after test_drain.py (the verify after the reboot skips it), at 10
requests/s from the client through the VIP:
1. site.yml with lvs_checks=true hands the table from ipvs_table to keepalived in checker-only
   mode (no VRRP; the VIP stays the role's): 0 failed requests.
2. The web server stopped on rs1: rs1 leaves the pool within the check bound of the role's
   default checks; started again, it comes back. Beside HTTP the same run adds a UDP service
   (DNS, port 53) checked by DNS_CHECK and a TLS service (port 443) checked by SSL_GET with SNI
   against a certificate this test makes; the real servers' nginx refuses a handshake without
   that name. The DNS responder stopped on rs1: rs1 leaves the UDP pool, started: it returns.
3. drain.yml and undrain.yml on rs1 (docs/operations.md): keepalived.conf untouched, no reload,
   the drain waits for rs1's UDP entries of the DNS service under a query loop: 0 failed.
4. site.yml without it hands the table back to ipvs_table (keepalived stopped and disabled
   without emptying the table, the ipvsadm restore service unmasked): 0 failed requests;
   with lvs_purge the UDP and TLS services go.
The reboot and the verify after it then prove the plain persistence of the switched-back director.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
import time
from typing import List

import pytest
from ha_load import (
    LAST_OUTPUT,
    Load,
    dead_web_server,
    drain,
    keepalived_state,
    lab_name,
    playbook,
    report,
    ssh,
    undrain,
    units,
    wait_for,
    weight_of,
)

MARKER = os.path.join(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"), "checks-tested")
# The role's default checks (the planner's CHECK_DEFAULTS): delay_loop 3 + connect_timeout 2
# + retry 1 x (delay_before_retry 1 + connect_timeout 2), plus slack.
CHECK_BOUND = 3 + 2 + 1 * (1 + 2) + 3
WEIGHTS = {"192.0.2.11": 3, "192.0.2.12": 1}
VIP = "192.0.2.100"
NAME = "www.example.org"
# DNS_CHECK's own default retry is 3: delay_loop 3 + connect_timeout 2 + 3 x (1 + 2), plus slack
DNS_BOUND = 3 + 2 + 3 * (1 + 2) + 3
SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
# The molecule inventory's HTTP service and, for this test only, a UDP and a TLS one with their checks.
CHECKED = {
    "lvs_checks": True,
    "lvs_services": [
        {"name": "http", "protocol": "tcp", "port": 80, "scheduler": "wrr", "u_threshold": 1000, "l_threshold": 500},
        {"name": "dns", "protocol": "udp", "port": 53, "scheduler": "rr"},
        {"name": "https", "protocol": "tcp", "port": 443, "scheduler": "rr"},
    ],
    "lvs_ha_checks": {
        "dns": {"type": "DNS_CHECK", "dns_type": "A", "dns_name": NAME},
        "https": {
            "type": "SSL_GET",
            "sni": True,
            "virtualhost": NAME,
            "urls": [{"path": "/health", "status_code": 200}],
        },
    },
}
TLS_SITE = (
    """server {
    listen 443 ssl default_server;
    ssl_reject_handshake on;
}
server {
    listen 443 ssl;
    server_name %s;
    ssl_certificate /etc/nginx/lvs-test.crt;
    ssl_certificate_key /etc/nginx/lvs-test.key;
    location = /health { default_type text/plain; return 200 "$hostname\\n"; }
}
"""
    % NAME
)


def netns(*argv: str) -> str:
    res = subprocess.run(
        ["ip", "netns", "exec", "lvslab-" + lab_name()] + list(argv),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,  # a refused handshake is an answer too (the caller checks the output)
    )
    return res.stdout


def in_service(service: str, address: str) -> bool:
    """``address`` is a real server of ``service`` ("-u VIP:53", "-t VIP:443") on the director."""
    return re.search(r"-> %s:\d+\s" % re.escape(address), ssh("director", "ipvsadm -Ln " + service)) is not None


def serve_udp_and_tls() -> None:
    """The real servers' side of the two extra services: a DNS responder as a transient unit
    (dns_udp.py, answering with the real server's own address) and an nginx TLS site whose only
    certificate is for NAME (made here, on the controller, for this run)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + NAME]
            + ["-addext", "subjectAltName=DNS:" + NAME, "-keyout", tmp + "/key", "-out", tmp + "/crt"],
            check=True,
            capture_output=True,
        )
        with open(tmp + "/key", encoding="utf-8") as k, open(tmp + "/crt", encoding="utf-8") as c:
            key, crt = k.read(), c.read()
    with open(os.path.join(SHARED, "dns_udp.py"), encoding="utf-8") as fh:
        responder = fh.read()
    for rs, address in (("rs1", "192.0.2.11"), ("rs2", "192.0.2.12")):
        files = {
            "/usr/local/lib/lvs-test-dns.py": responder,
            "/etc/nginx/lvs-test.key": key,
            "/etc/nginx/lvs-test.crt": crt,
            "/etc/nginx/sites-enabled/lvs-test-tls": TLS_SITE,
        }
        script = "".join("printf '%%s' %s > %s; " % (shlex.quote(text), path) for path, text in files.items())
        ssh(rs, script + "chmod 600 /etc/nginx/lvs-test.key; nginx -t -q && systemctl reload nginx")
        start_dns(rs, address)


def start_dns(rs: str, address: str) -> None:
    """The responder as a transient unit (gone once stopped: started again the same way)."""
    ssh(
        rs,
        "systemd-run --collect --unit lvs-test-dns python3 /usr/local/lib/lvs-test-dns.py serve %s %s %s"
        % (address, VIP, address),
    )


def remove_udp_and_tls() -> None:
    for rs in ("rs1", "rs2"):
        ssh(
            rs,
            "systemctl stop lvs-test-dns || true; rm -f /etc/nginx/sites-enabled/lvs-test-tls /etc/nginx/lvs-test.*"
            " /usr/local/lib/lvs-test-dns.py; systemctl reload nginx",
        )


def udp_and_tls_checked() -> None:
    """Both real servers pass DNS_CHECK and SSL_GET (with SNI: nginx refuses a handshake without
    it, as the client sees); DNS responder stopped on rs1: out of the UDP pool, started: back."""
    assert in_service("-u %s:53" % VIP, "192.0.2.11") and in_service("-u %s:53" % VIP, "192.0.2.12")
    assert in_service("-t %s:443" % VIP, "192.0.2.11") and in_service("-t %s:443" % VIP, "192.0.2.12")
    script = os.path.join(SHARED, "dns_udp.py")
    assert set(netns("python3", script, "query", VIP, NAME, "6").split()) == {"192.0.2.11", "192.0.2.12"}
    url = "https://%s/health" % NAME
    # one connection each (rr: the next one goes to the other real server)
    with_sni = [netns("curl", "-sk", "-m", "5", "--resolve", "%s:443:%s" % (NAME, VIP), url) for _attempt in range(2)]
    assert {body.strip() for body in with_sni} == {"rs1", "rs2"}, with_sni
    assert netns("curl", "-sk", "-m", "5", "https://%s/health" % VIP) == ""  # no SNI, no handshake

    ssh("rs1", "systemctl stop lvs-test-dns")
    left = wait_for(lambda: not in_service("-u %s:53" % VIP, "192.0.2.11"), timeout=60, step=0.5)
    answers = netns("python3", script, "query", VIP, NAME, "6").split()
    start_dns("rs1", "192.0.2.11")
    back = wait_for(lambda: in_service("-u %s:53" % VIP, "192.0.2.11"), timeout=60, step=0.5)
    report(
        "single director: DNS responder stopped on rs1",
        "out of the UDP pool %.1f s after the stop (polled; DNS_CHECK bound %d s); 6 queries then: %s; "
        "back %.1f s after the start; TLS pool (SSL_GET with SNI): both real servers, no SNI: no handshake"
        % (left, DNS_BOUND, answers, back),
    )
    assert left <= DNS_BOUND and answers == ["192.0.2.12"] * 6, (left, answers)


def weights_of(address: str) -> List[str]:
    """The weights of ``address`` in every service of the director, in ipvsadm's order."""
    rows = [line.split() for line in ssh("director", "ipvsadm -Ln").splitlines() if "->" in line]
    return [row[3] for row in rows if row[1].startswith(address + ":")]


def drain_in_keepalived_mode() -> None:
    """drain.yml and undrain.yml while keepalived owns the table (HTTP, DNS and TLS services):
    keepalived.conf untouched and keepalived not reloaded; the drain waits for all of rs1's entries,
    the UDP ones too, under a bounded DNS query loop and the HTTP load (IPVS's tcpfin and UDP
    timeouts are 5 s and 10 s in this test, 120 s and 300 s by default): 0 failed requests and
    queries; after it, rs1 answers no query."""
    before = keepalived_state("director")
    script = os.path.join(SHARED, "dns_udp.py")
    queries = subprocess.Popen(  # bounded: 600 queries 0.1 s apart, stopped by PID after the drain
        ["ip", "netns", "exec", "lvslab-" + lab_name(), "python3", script, "query", VIP, NAME, "600", "0.1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(3)
        # the test's services (CHECKED) are in the playbook's inventory model only through -e
        drain(["director"], "192.0.2.11", "rs1", "single director (keepalived): ", "-e", json.dumps(CHECKED))
    finally:
        queries.terminate()
        answers = queries.communicate(timeout=30)[0].split()
    waited = re.search(r"director\s+drained \(([\d.]+) s\)", LAST_OUTPUT[0])
    after = netns("python3", script, "query", VIP, NAME, "6").split()
    weights = weights_of("192.0.2.11")
    during = keepalived_state("director")
    report(
        "single director (keepalived): drain of a UDP service",
        "%d DNS queries during the drain, %d failed; drain.yml waited %s s for rs1's entries; 6 queries after: %s; "
        "rs1 weights %s; keepalived not reloaded: %s"
        % (len(answers), answers.count("FAIL"), waited.group(1) if waited else "?", after, weights, during == before),
    )
    assert answers and "FAIL" not in answers, answers
    assert waited and float(waited.group(1)) >= 3, LAST_OUTPUT[0][-2000:]  # not done at once: the UDP entries
    assert after == ["192.0.2.12"] * 6 and weights == ["0", "0", "0"], (after, weights)
    assert during == before, (before, during)
    undrain(
        ["director"],
        "192.0.2.11",
        "rs1",
        3,
        "single director (keepalived): ",
        "-e",
        "undrain_ramp_steps=1",
        "-e",
        json.dumps(CHECKED),
    )
    assert "0" not in weights_of("192.0.2.11") and keepalived_state("director") == before


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
    # short IPVS timeouts for the drain's wait (drain_in_keepalived_mode), set before the entries it
    # waits for are made; put back at the end
    ssh("director", "ipvsadm --set 0 5 10")
    serve_udp_and_tls()
    switch("single director: ipvs_table -> keepalived checks", "-e", json.dumps(CHECKED))
    state = units("director")
    assert "keepalived active enabled" in state and "ipvsadm inactive masked" in state, state
    conf = ssh("director", "cat /etc/keepalived/keepalived.conf")
    assert "vrrp_instance" not in conf and conf.count("TCP_CHECK {") == 2, conf
    assert conf.count("DNS_CHECK {") == 2 and conf.count("enable_sni") == 2, conf
    assert "192.0.2.100/32" in ssh("director", "ip -4 -o addr show dev eth1")  # the VIP stays the role's

    dead_web_server("director", CHECK_BOUND, title="single director: ")
    udp_and_tls_checked()
    drain_in_keepalived_mode()

    # lvs_purge: ipvs_table removes the services the inventory no longer has (the test's UDP and TLS ones)
    switch("single director: keepalived checks -> ipvs_table", "-e", '{"lvs_purge": true}')
    remove_udp_and_tls()
    table = ssh("director", "ipvsadm -Ln")
    assert ":53" not in table and ":443" not in table, table
    state = units("director")
    assert "keepalived inactive disabled" in state and "ipvsadm inactive enabled" in state, state
    assert "lvs-cluster.conf" not in ssh("director", "ls /etc/systemd/system/keepalived.service.d/ || true")
    ssh("director", "ipvsadm --set 0 120 300")
    with open(MARKER, "w", encoding="utf-8") as fh:
        fh.write("done\n")
