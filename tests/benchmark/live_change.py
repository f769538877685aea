"""A live change of the 1000 x 10 table under load: by diff against ipvsadm-restore (on demand).

On the lab ``director`` (the integration topology, real IPVS kernel, TCG guest) the table of
ipvs_bench.py (1000 services x 10 real servers, masquerading to port 8080) is loaded, but three of
its services (198.51.100.2-4:80, VIPs on the director's ext side) balance the lab's real servers
rs1 and rs2, which answer on ports 8080 and 8081 (python's http.server as transient units) and
route the client's network back through the director. A bounded request loop from the lab
namespace (198.51.100.254) goes to those three VIPs while the same change is made twice:
one weight changed, one real server added, one removed, one in each hot service.

1. by diff: the module_utils code of ``ipvs_table`` (ipvs_bench_guest.py) converges the table to
   the changed one: the writes are the diff only;
2. the usual way: the changed table rendered as an ``ipvsadm-save -n`` rules file, then
   ``ipvsadm -C && ipvsadm-restore`` (the restore takes the whole table, so it clears it first).

Then the change back, the same two ways. Prints and appends the numbers to docs/benchmark.md.

    LVS_LAB_NAME=ipvs PYTHONPATH=tests:.build/collections python3 tests/benchmark/live_change.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from ipvs_bench import GUEST_DIR, bench_lab, make_table, table_arguments
from labtools import REPO, LabHandle

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import render_rules, table_from_spec

HOT = ["198.51.100.2", "198.51.100.3", "198.51.100.4"]  # services 1-3 of make_table: port 80
RS = {"rs1": "192.0.2.11", "rs2": "192.0.2.12"}


def hot_table(services: int, servers: int, changed: bool) -> List[Dict[str, Any]]:
    """The big table with its three hot services on rs1/rs2; ``changed``: one weight changed
    (first), one real server added (second), one removed (third)."""
    table = make_table(services, servers)
    for i, vip in enumerate(HOT, start=1):
        assert table[i]["address"] == vip and table[i]["port"] == 80
        rss = [{"address": a, "port": 8080, "forward": "masq", "weight": 1} for a in RS.values()]
        if changed and i == 1:
            rss[0]["weight"] = 3
        if changed and i == 2:
            rss.append({"address": RS["rs2"], "port": 8081, "forward": "masq", "weight": 1})
        if changed and i == 3:
            rss = rss[:1]
        table[i]["real_servers"] = rss
    return table


class Loop:
    """Bounded request loop from the lab namespace: ``rate`` requests/s over the hot VIPs, each a
    background ``curl -m 1``; one line per request: start time and HTTP code (000: failed)."""

    def __init__(self, lab: LabHandle, seconds: int, rate: int = 30) -> None:
        n = seconds * rate
        urls = " ".join("http://%s/" % v for v in HOT)
        self.cmd = (
            f"i=0; for n in $(seq {n}); do for u in {urls}; do i=$((i+1)); [ $i -gt {n} ] && break 2; "
            f"(t=$(date +%s.%N); c=$(curl -s -m 1 -o /dev/null -w '%{{http_code}}' $u); echo $t $c) & "
            f"sleep {1.0 / rate:.3f}; done; done; wait"
        )
        self.lab = lab
        self.out: List[str] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        self.out = self.lab.netns(self.cmd, check=False, timeout=900).stdout.split("\n")

    def start(self) -> Loop:
        self.thread.start()
        return self

    def failed_between(self, t0: float, t1: float) -> Dict[str, int]:
        rows = [line.split() for line in self.out if len(line.split()) == 2]
        inside = [c for t, c in rows if t0 <= float(t) <= t1]
        return {"requests": len(inside), "failed": sum(1 for c in inside if c != "200")}


def main() -> None:
    args = table_arguments().parse_args()
    lab = bench_lab()
    work = Path(tempfile.mkdtemp(prefix="live-change-"))
    files: Dict[str, Path] = {}
    for name, changed in (("before", False), ("after", True)):
        items = hot_table(args.services, args.servers, changed)
        (work / f"{name}.json").write_text(json.dumps(items))
        (work / f"{name}.rules").write_text(render_rules(table_from_spec(items)))
        files[f"{name}.json"] = work / f"{name}.json"
        files[f"{name}.rules"] = work / f"{name}.rules"
    for mod in (REPO / "plugins" / "module_utils").glob("_*.py"):  # the code of ipvs_table and what it imports
        files["ansible_collections/lvs/cluster/plugins/module_utils/" + mod.name] = mod
    files["bench.py"] = REPO / "tests" / "benchmark" / "ipvs_bench_guest.py"
    lab.upload("director", files, GUEST_DIR)
    web = "from http.server import *; HTTPServer(('', %d), SimpleHTTPRequestHandler).serve_forever()"
    for host in RS:
        lab.ssh(
            host,
            "ip route replace 198.51.100.0/24 via 192.0.2.1; mkdir -p /srv/lc && echo %s > /srv/lc/index.html; "
            "for p in 8080 8081; do systemctl stop lvs-lc-$p 2>/dev/null; systemd-run --unit lvs-lc-$p "
            '--working-directory /srv/lc python3 -c "%s"; done' % (host, web.replace("%d", "$p")),
        )
    lab.ssh(
        "director",
        "modprobe ip_vs; ipvsadm -C; sysctl -qw net.ipv4.ip_forward=1; "
        + "".join(f"ip addr replace {v}/32 dev eth2; " for v in HOT)
        + f"ipvsadm-restore < {GUEST_DIR}/before.rules",
    )
    results: Dict[str, Any] = {"rules": (work / "before.rules").read_text().count("\n")}
    diff = f"python3 {GUEST_DIR}/bench.py {GUEST_DIR}/%s.json"
    restore = f"ipvsadm -C && ipvsadm-restore < {GUEST_DIR}/%s.rules"
    steps = [("diff", "after", diff), ("diff back", "before", diff),
             ("restore", "after", restore), ("restore back", "before", restore)]  # fmt: skip
    loop = Loop(lab, seconds=20 + 12 * len(steps)).start()
    time.sleep(10)
    for title, name, cmd in steps:
        t0 = time.time()
        out = lab.ssh("director", f's=$EPOCHREALTIME; {cmd % name}; e=$EPOCHREALTIME; awk "BEGIN {{print $e - $s}}"')
        t1 = time.time()
        lines = out.stdout.strip().splitlines()
        step: Dict[str, Any] = {"seconds": float(lines[-1]), "t0": t0, "t1": t1}
        if cmd == diff:
            step["ops"] = json.loads(lines[0])["ops"]  # the guest script's one JSON line
        step["same"] = lab.ssh("director", f"ipvsadm-save -n | cmp - {GUEST_DIR}/{name}.rules && echo same",
                               check=False).stdout.strip() == "same"  # fmt: skip
        results[title] = step
        time.sleep(10)
    loop.thread.join()
    for title, _name, _cmd in steps:
        step = results[title]
        step.update(loop.failed_between(step["t0"] - 0.5, step["t1"] + 2.0))
    results["all"] = loop.failed_between(0, time.time() + 60)
    results["kernel"] = lab.ssh("director", "uname -r").stdout.strip()
    for host in RS:
        lab.ssh(host, "systemctl stop lvs-lc-8080 lvs-lc-8081; ip route del 198.51.100.0/24 via 192.0.2.1", check=False)
    lab.ssh("director", "ipvsadm -C; " + "".join(f"ip addr del {v}/32 dev eth2; " for v in HOT), check=False)
    lab.release()
    shutil.rmtree(work)
    print(json.dumps(results, indent=2))
    write_report(Path(args.out), args, results, [s[0] for s in steps])


def write_report(path: Path, args: argparse.Namespace, r: Dict[str, Any], titles: List[str]) -> None:
    lines = [
        "",
        "## A live change under load: by diff against `ipvsadm-restore`",
        "",
        "Generated by `tests/benchmark/live_change.py` (on demand). The same lab VM and table "
        f"({args.services} x {args.servers}, {r['rules']} rules, kernel `{r['kernel']}`); three of its services "
        "balance the lab's rs1 and rs2, and a bounded loop of 30 requests/s from the lab namespace goes to them. "
        "The change: one weight changed, one real server added, one removed (one in each of the three services); "
        "then the change back. `by diff`: the module_utils code of `ipvs_table` (whole process); `restore`: the "
        "rules file of the changed table, `ipvsadm -C && ipvsadm-restore`.",
        "",
        "| step | seconds | writes | requests during it (+2 s) | failed | table = rules file |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for title in titles:
        s = r[title]
        lines.append(
            f"| {title} | {s['seconds']:.2f} | {s.get('ops', r['rules'])} | {s['requests']} | {s['failed']} "
            f"| {s['same']} |"
        )
    lines += ["", f"Whole loop: {r['all']['requests']} requests, {r['all']['failed']} failed.", ""]
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
