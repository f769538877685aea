"""keepalived at scale (run on demand, not part of the suite): the 1000 x 10 table of
docs/benchmark.md owned by keepalived on a checked director (director_checks, no VRRP).

On the controller, the planner and the role's template render keepalived.conf for S services
(250 VIPs x ports) x R real servers (192.0.2.10.., port 8080, TCP_CHECK, the role's default
timings). In one lab guest (Debian 13, real IPVS kernel) the R real-server addresses sit on a
dummy interface with one small asyncio listener on port 8080, so every check succeeds, and it
measures: ``keepalived --config-test``; the start until every real server is in the table;
the resident memory of keepalived's processes; the checker count; keepalived's CPU share while
it checks; a reload (SIGHUP) that changes one weight, until the kernel has it; the stop. The
same table through ``ipvsadm-restore`` is the reference. Prints a markdown table.

    LVS_LAB_NAME=kscale PYTHONPATH=tests:.build/collections \\
        python3 tests/benchmark/keepalived_scale.py [--services 1000] [--servers 10] [--keep]
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import jinja2
from labtools import REPO, LabHandle, ensure_collection_link

ensure_collection_link()
importlib.invalidate_caches()  # the link may have just been made

from ansible_collections.lvs.cluster.plugins.plugin_utils._planner import director_plan  # noqa: E402

GUEST_DIR = "/root/kscale"
TOPOLOGY = "hosts:\n  - name: director\n    groups: [directors]\n    nets: {lan: 192.0.2.1}\n    release: trixie\n"
LISTENER = """
import asyncio, sys
async def close(reader, writer):
    writer.close()
async def main():
    server = await asyncio.start_server(close, "0.0.0.0", 8080, backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def options(services: int, servers: int) -> Dict[str, Any]:
    vips = sorted({"198.51.100.%d" % (1 + i % 250) for i in range(services)}, key=lambda a: int(a.split(".")[-1]))
    return {
        "director_mode": "nat",
        "director_nat_masquerade_source": "192.0.2.0/24",
        "director_checks": True,
        "director_vips": vips,
        "director_interface": "eth1",
        "director_vip_interface": "eth1",
        "director_services": [
            {
                "name": "s%d" % i,
                "vip": "198.51.100.%d" % (1 + i % 250),
                "protocol": "tcp",
                "port": 80 + i // 250,
                "rs_port": 8080,
                "scheduler": "wrr",
            }
            for i in range(services)
        ],
        "director_real_servers": [
            {"name": "rs%d" % i, "address": "192.0.2.%d" % (10 + i), "weight": 1} for i in range(servers)
        ],
    }


def render(services: int, servers: int) -> str:
    plan = director_plan(options(services, servers), "director")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(REPO / "roles" / "director" / "templates")), trim_blocks=True
    )
    return env.get_template("keepalived.conf.j2").render(__director_plan=plan, ansible_managed="kscale")


def rules(services: int, servers: int) -> str:
    """The same table as ipvsadm-save -n text, for the ipvsadm-restore reference."""
    lines: List[str] = []
    for i in range(services):
        vs = "198.51.100.%d:%d" % (1 + i % 250, 80 + i // 250)
        lines.append("-A -t %s -s wrr" % vs)
        lines += ["-a -t %s -r 192.0.2.%d:8080 -m -w 1" % (vs, 10 + r) for r in range(servers)]
    return "\n".join(lines) + "\n"


def timed(lab: LabHandle, cmd: str, timeout: float = 900) -> float:
    out = lab.ssh("director", "s=$(date +%%s.%%N); %s; e=$(date +%%s.%%N); echo T $s $e" % cmd, timeout=timeout)
    m = re.search(r"^T (\S+) (\S+)$", out.stdout, re.M)
    assert m, out.stdout
    return float(m.group(2)) - float(m.group(1))


def wait_rs(lab: LabHandle, count: int, timeout: float = 900) -> float:
    """Seconds until ipvsadm lists ``count`` real servers (polled in the guest)."""
    cmd = (
        "s=$(date +%%s.%%N); i=0; while [ $(ipvsadm -Ln | grep -c '^  -> [0-9]') -lt %d ] && [ $i -lt %d ];"
        " do sleep 0.5; i=$((i+1)); done; e=$(date +%%s.%%N); echo T $s $e $i" % (count, int(timeout * 2))
    )
    out = lab.ssh("director", cmd, timeout=timeout + 60).stdout
    m = re.search(r"^T (\S+) (\S+) (\d+)$", out, re.M)
    assert m and int(m.group(3)) < int(timeout * 2), "not %d real servers within %d s" % (count, timeout)
    return float(m.group(2)) - float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    args = ap.parse_args()
    conf = render(args.services, args.servers)
    total = args.services * args.servers
    tmp = Path(tempfile.mkdtemp(prefix="kscale-"))
    (tmp / "keepalived.conf").write_text(conf)
    (tmp / "rules").write_text(rules(args.services, args.servers))
    (tmp / "listener.py").write_text(LISTENER)
    (tmp / "topology.yml").write_text(TOPOLOGY)
    lab = LabHandle(os.environ.get("LVS_LAB_NAME", "kscale"))
    lab.up(tmp / "topology.yml", reuse=True)
    rows: List[str] = []
    try:
        lab.upload("director", {n: tmp / n for n in ("keepalived.conf", "rules", "listener.py")}, GUEST_DIR)
        addrs = "; ".join("ip addr add 192.0.2.%d/32 dev lvsrs" % (10 + r) for r in range(args.servers))
        lab.ssh(
            "director",
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q keepalived ipvsadm >/dev/null && modprobe ip_vs_wrr"
            " && systemctl stop keepalived; (ip link show lvsrs || ip link add lvsrs type dummy) >/dev/null;"
            " ip link set lvsrs up; %s 2>/dev/null; true" % addrs,
            timeout=600,
        )
        lab.ssh("director", "cd %s && (setsid python3 listener.py >/dev/null 2>&1 &) ; sleep 1" % GUEST_DIR)
        restore = timed(lab, "ipvsadm -C; ipvsadm-restore < %s/rules" % GUEST_DIR)
        lab.ssh("director", "ipvsadm -C")
        config_test = timed(lab, "keepalived --config-test -f %s/keepalived.conf" % GUEST_DIR)
        lab.ssh("director", "cp %s/keepalived.conf /etc/keepalived/keepalived.conf" % GUEST_DIR)
        start = timed(lab, "systemctl start keepalived") + wait_rs(lab, total)
        time.sleep(20)  # a few delay_loops: every checker has run
        out = lab.ssh(
            "director",
            "ipvsadm -Ln | grep -c '^  -> [0-9]'; ps -o rss=,cputime= -C keepalived;"
            " journalctl -u keepalived -b -o cat | grep -c 'Activating healthchecker'",
        ).stdout.split("\n")
        in_table, checkers = int(out[0]), int(out[-2])
        rss = sum(int(line.split()[0]) for line in out[1:-2] if line.strip())
        cpu = lab.ssh(
            "director",
            "pid=$(pgrep -x keepalived | tail -1); a=$(awk '{print $14+$15}' /proc/$pid/stat); sleep 20;"
            " b=$(awk '{print $14+$15}' /proc/$pid/stat); echo $(( (b - a) ))",
        ).stdout.split()[-1]
        lab.ssh("director", "sed -i '0,/weight 1$/s//weight 7/' /etc/keepalived/keepalived.conf")
        reload = timed(
            lab,
            "systemctl reload keepalived; i=0; while ! ipvsadm -Ln | grep -q 'Masq    7 ' && [ $i -lt 1200 ];"
            " do sleep 0.5; i=$((i+1)); done",
        )
        stop = timed(lab, "systemctl stop keepalived")
        hz = 100
        rows = [
            "| figure | value |",
            "| --- | ---: |",
            "| services x real servers | %d x %d = %d real servers |" % (args.services, args.servers, total),
            "| keepalived.conf | %d KiB, %d lines |" % (len(conf) // 1024, conf.count("\n")),
            "| checkers (journal: Activating healthchecker) | %d |" % checkers,
            "| `ipvsadm-restore` of the same table (reference) | %.2f s |" % restore,
            "| `keepalived --config-test` | %.2f s |" % config_test,
            "| start until every real server is in the table | %.2f s |" % start,
            "| real servers in the table after 20 s of checks | %d |" % in_table,
            "| resident memory of keepalived's processes | %d MiB |" % (rss // 1024),
            "| CPU of the checker process while it checks | %.0f %% of a core |" % (int(cpu) / hz / 20 * 100),
            "| reload (SIGHUP) until one changed weight is live | %.2f s |" % reload,
            "| stop | %.2f s |" % stop,
        ]
        print("\n".join(rows))
    finally:
        if not args.keep:
            lab.down()
        else:
            lab.release()


if __name__ == "__main__":
    main()
