"""Role benchmark: what one host of each role costs to converge, first and with nothing to change.

Boots tests/benchmark/roles.yml (a director, a real server and an NFS server of one DR cluster,
bookworm full image: the packages are installed, so the numbers are the roles' own tasks) and
runs ``playbooks/site.yml`` limited to one host at a time, as an operator adding a host would:

1. the NFS server, then the director, then the real server: first converge (a fresh guest);
2. each again: the no-change run (must report ``changed=0``), ``--runs`` times.

Each line gives the ``ansible-playbook`` wall time and the tasks it ran on the host (``ok=`` of
the recap). ``--services N --servers R`` gives the director N services of R real
servers each (R-1 of them inventory-only hosts that are never contacted). The numbers go to
docs/benchmark.md, between the ``role-bench`` markers.

    PYTHONPATH=tests LVS_LAB_NAME=roles python3 tests/benchmark/role_bench.py [--services 2] [--servers 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml
from labtools import REPO, LabHandle

TOPOLOGY = REPO / "tests" / "benchmark" / "roles.yml"
DOC = REPO / "docs" / "benchmark.md"
START, END = "<!-- role-bench:start -->", "<!-- role-bench:end -->"


def cluster_vars(services: int) -> Dict[str, Any]:
    svcs: List[Dict[str, Any]] = [{"name": "http", "protocol": "tcp", "port": 80, "scheduler": "wrr"}]
    svcs += [{"name": "svc%d" % i, "protocol": "tcp", "port": 8000 + i, "scheduler": "wlc"} for i in range(1, services)]
    return {
        "lvs_cluster": "bench",
        "lvs_mode": "dr",
        "lvs_network": "192.0.2.0/24",
        "lvs_interface": "eth1",
        "lvs_vips": ["192.0.2.100"],
        "lvs_services": svcs,
        "lvs_nfs_exports": [{"path": "/srv/lvs/web", "mode": "ro"}],
    }


def write_inventory(lab: LabHandle, dest: Path, services: int, servers: int) -> Path:
    inv = yaml.safe_load(lab.inventory.read_text())
    hosts = inv["all"]["hosts"]
    addr = {"director": "192.0.2.1", "rs1": "192.0.2.11", "nfs": "192.0.2.20"}
    for name, address in addr.items():
        hosts[name]["lvs_address"] = address
    children = inv["all"]["children"]
    for i in range(2, servers + 1):  # inventory-only real servers: the director's table grows
        name = "rs-extra%d" % i
        hosts[name] = {"ansible_host": "192.0.2.250", "lvs_address": "192.0.2.%d" % (100 + i)}
        children["lvs_realservers"]["hosts"][name] = {}
        children["bench"]["hosts"][name] = {}
    (dest / "group_vars").mkdir()
    (dest / "group_vars" / "bench.yml").write_text(yaml.safe_dump(cluster_vars(services)))
    path = dest / "inventory.yml"
    path.write_text(yaml.safe_dump(inv))
    return path


def run(lab: LabHandle, inventory: Path, host: str) -> Tuple[float, int, int]:
    """site.yml limited to host: (seconds, tasks ok on the host, changed)."""
    t0 = time.monotonic()
    timing = {  # the lab-only callback's LAB-TIMING lines: the slowest tasks of the run
        "ANSIBLE_CALLBACK_PLUGINS": "%s:%s"
        % (REPO / "tests" / "lab" / "callback_plugins", REPO / "tests" / "integration" / "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "lab_timing",
    }
    proc = lab.playbook(REPO / "playbooks" / "site.yml", inventory=inventory, args=["--limit", host], env=timing)
    took = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit("site.yml --limit %s failed:\n%s%s" % (host, proc.stdout[-5000:], proc.stderr[-2000:]))
    print("\n".join(line for line in proc.stdout.splitlines() if line.startswith("LAB-TIMING")), flush=True)
    recap = re.search(r"^%s\s*: ok=(\d+)\s+changed=(\d+)" % re.escape(host), proc.stdout, re.M)
    if not recap:
        raise SystemExit("no recap for %s:\n%s" % (host, proc.stdout[-3000:]))
    return took, int(recap.group(1)), int(recap.group(2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=2)
    ap.add_argument("--servers", type=int, default=1)
    ap.add_argument("--runs", type=int, default=2, help="no-change runs per host")
    ap.add_argument("--keep", action="store_true", help="leave the lab up")
    ap.add_argument("--no-doc", action="store_true", help="print only, leave docs/benchmark.md alone")
    opts = ap.parse_args()
    lab = LabHandle(os.environ.get("LVS_LAB_NAME", "roles"))
    tmp = Path(tempfile.mkdtemp(prefix="lvs-rolebench-"))
    rows: List[str] = []
    try:
        lab.up(TOPOLOGY, reuse=opts.keep)
        inventory = write_inventory(lab, tmp, opts.services, opts.servers)
        for host, role in (("nfs", "nfs"), ("director", "director"), ("rs1", "realserver")):
            first = run(lab, inventory, host)
            again = [run(lab, inventory, host) for _run in range(opts.runs)]
            if any(changed for _s, _ok, changed in again):
                raise SystemExit("%s: the no-change run changed something: %s" % (host, again))
            row = "| %s | %.1f (%d tasks, %d changed) | %s (%d tasks) |" % (
                role,
                first[0],
                first[1],
                first[2],
                " / ".join("%.1f" % s for s, _ok, _c in again),
                again[0][1],
            )
            print(row, flush=True)
            rows.append(row)
    finally:
        if opts.keep:
            lab.release()
        else:
            lab.down()
        shutil.rmtree(tmp, ignore_errors=True)
    table = "\n".join(
        [
            "Measured %s: `site.yml --limit <host>`, %d service(s) x %d real server(s), bookworm full image, "
            "TCG guests on the 2-core machine (`python3 tests/benchmark/role_bench.py --services %d --servers %d`)."
            % (time.strftime("%Y-%m-%d"), opts.services, opts.servers, opts.services, opts.servers),
            "",
            "| role (one host) | first converge, s | no change, s |",
            "| --- | ---: | ---: |",
            *rows,
        ]
    )
    print(table)
    if not opts.no_doc:
        text = DOC.read_text()
        key = "<!-- %dx%d -->" % (opts.services, opts.servers)
        block = "%s\n%s\n%s" % (key, table, key)
        if START not in text:
            text += "\n## Roles: one host's converge\n\n%s\n%s\n" % (START, END)
        head, rest = text.split(START, 1)
        body, tail = rest.split(END, 1)
        body = re.sub(re.escape(key) + ".*?" + re.escape(key), lambda _m: block, body, flags=re.S)
        if key not in body:
            body = body.rstrip("\n") + "\n" + block + "\n"
        DOC.write_text(head + START + body + END + tail)
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
