"""Checks shared by the NAT, DR and TUN scenarios (imported by each scenario's test module).

The client is the lab namespace ``lvslab-mol-<scenario>``: requests to the VIP are
sent from there with ``ip netns exec`` on the controller, in bounded loops.
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
from typing import Any, Dict, List

NFS_MARKER = "lvs-cluster-nfs-content"
MAC_RE = re.compile(r"from ([0-9a-f]{2}(?::[0-9a-f]{2}){5})", re.I)


def scenario() -> str:
    return os.environ.get("MOLECULE_SCENARIO_NAME", "dr")


def netns(cmd: str, timeout: int = 300) -> str:
    """Run a shell command in the lab namespace (the client) and return its stdout."""
    res = subprocess.run(
        ["ip", "netns", "exec", "lvslab-mol-" + scenario(), "sh", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert res.returncode == 0, "%s: rc=%d %s" % (cmd, res.returncode, res.stderr)
    return res.stdout


def name(host: Any) -> str:
    return str(host.backend.get_hostname())


def answers(url: str, count: int) -> List[str]:
    """``count`` requests, each a new connection; the body of each (stripped)."""
    out = netns(
        "for i in $(seq %d); do curl -s -m 10 --retry 2 --retry-connrefused %s; echo; done" % (count, url),
        timeout=30 * count,
    )
    return [line.strip() for line in out.splitlines() if line.strip()]


def check_distribution(url: str, weights: Dict[str, int], count: int) -> None:
    """Every real server answers, in the proportion of the weights (exact over whole cycles)."""
    got = answers(url, count)
    assert len(got) == count, got
    counts = collections.Counter(got)
    total = sum(weights.values())
    expected = {rs: count * w // total for rs, w in weights.items()}
    assert dict(counts) == expected, "answers %s, expected %s (sequence %s)" % (dict(counts), expected, got)


def check_alternates(url: str, servers: List[str], count: int) -> None:
    got = answers(url, count)
    assert len(got) == count, got
    for a, b in zip(got, got[1:]):
        assert a != b, "rr must alternate: %s" % got
    assert set(got) == set(servers), got


def check_nfs_content(url: str) -> None:
    body = netns("curl -s -m 10 --retry 2 %s" % url)
    assert NFS_MARKER in body, body


def check_table(host: Any, forward: str, expected: Dict[str, int]) -> None:
    """ipvsadm -Ln shows every real server with the mode's forwarding method and its weight."""
    out = host.check_output("ipvsadm -Ln")
    for address, weight in expected.items():
        assert re.search(r"-> %s:\d+\s+%s\s+%d\s" % (re.escape(address), forward, weight), out), out


def check_rules_file(host: Any, path: str = "/etc/ipvsadm.rules") -> None:
    saved = host.check_output("ipvsadm-save -n")
    content = host.file(path)
    assert content.mode == 0o600
    assert content.content_string.strip() == saved.strip()


def check_client_logged(host: Any, client: str) -> None:
    log = host.file("/var/log/nginx/lvs-cluster.access.log").content_string
    assert re.search(r"^%s " % re.escape(client), log, re.M), log[-2000:]


def check_nfs_mounted(host: Any, path: str = "/var/www/lvs") -> None:
    out = host.check_output("findmnt -n -o FSTYPE,SOURCE %s" % path)
    assert out.startswith("nfs"), out


def check_arp_only_director(director: Any, vip: str, bridge: str = "br-lan", iface: str = "eth1") -> None:
    mac = director.file("/sys/class/net/%s/address" % iface).content_string.strip().lower()
    out = netns("arping -c 3 -w 6 -I %s %s || true" % (bridge, vip), timeout=60)
    macs = {m.lower() for m in MAC_RE.findall(out)}
    assert macs == {mac}, "ARP replies for %s from %s, expected only the director %s:\n%s" % (vip, macs, mac, out)
