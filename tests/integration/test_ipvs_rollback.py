"""A write the kernel refuses below the validator rolls the whole call back (real kernel, lab).

The validator rejects the addresses the kernel is known to refuse, so the test goes
under it: ``ipvs_rollback_guest.py`` runs the modules' apply path (``converge_table``
for ``ipvs_table``, ``converge_service`` for ``ipvs_service``) in the guest with a real
server moved to such an address after validation.  The kernel refuses that write
halfway through the call; ``ipvsadm-save -n`` must then be byte-identical to before.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
from labtools import REPO, LabHandle

pytestmark = pytest.mark.lab

GUEST_DIR = "/root/ipvs-rollback"
# a table to delete from, edit and add to: persistence, thresholds, a GUE tunnel, fwmark, IPv6 masq
SETUP = [
    "ipvsadm -A -t 198.51.100.40:80 -s wrr -p 300 -M 255.255.255.0",
    "ipvsadm -a -t 198.51.100.40:80 -r 192.0.2.41:80 -g -w 3 -x 100 -y 10",
    "ipvsadm -a -t 198.51.100.40:80 -r 192.0.2.42:80 -i -w 2 --tun-type gue --tun-port 6080",
    "ipvsadm -A -f 41 -s sh -b sh-port",
    "ipvsadm -a -f 41 -r 192.0.2.43 -g",
    "ipvsadm -A -u [2001:db8::40]:53 -s rr",
    "ipvsadm -a -u [2001:db8::40]:53 -r [2001:db8::41]:5353 -m -w 0",
]
STANDIN4 = "192.0.2.253"  # validated, then moved to the refused address
STANDIN6 = "2001:db8::253"

# ipvs_table with purge: deletes the fwmark and the IPv6 service, adds a service with its real server,
# edits 198.51.100.40:80 (scheduler, persistence off, a weight, one real server purged, one added),
# then adds 198.51.100.51:80, whose first real server the kernel refuses, and a real server after it
TABLE = [
    {"protocol": "tcp", "address": "198.51.100.50", "port": 80, "real_servers": [{"address": "192.0.2.51"}]},
    {
        "protocol": "tcp",
        "address": "198.51.100.40",
        "port": 80,
        "scheduler": "rr",
        "real_servers": [{"address": "192.0.2.41", "weight": 7}, {"address": "192.0.2.44"}],
    },
    {
        "protocol": "tcp",
        "address": "198.51.100.51",
        "port": 80,
        "real_servers": [{"address": STANDIN4}, {"address": "192.0.2.52"}],
    },
]
# ipvs_service with purge_real_servers: edits the service, purges, edits, adds around the refused one
SERVICE4 = {
    "protocol": "tcp",
    "address": "198.51.100.40",
    "port": 80,
    "scheduler": "lc",
    "persistent": 60,
    "real_servers": [{"address": "192.0.2.41", "weight": 9}, {"address": STANDIN4}, {"address": "192.0.2.45"}],
}
SERVICE6 = {
    "protocol": "udp",
    "address": "2001:db8::40",
    "port": 53,
    "real_servers": [
        {"address": "2001:db8::41", "port": 5353, "forward": "masq", "weight": 5},
        {"address": STANDIN6, "port": 5353, "forward": "masq"},
        {"address": "2001:db8::42", "port": 5353, "forward": "masq"},
    ],
}
CASES: List[Dict[str, Any]] = [
    {"path": "table", "services": TABLE, "purge": True, "force": {STANDIN4: "224.0.0.5"}},
    {"path": "table", "services": TABLE, "purge": True, "force": {STANDIN4: "255.255.255.255"}},
    {"path": "service", "services": [SERVICE4], "purge": True, "force": {STANDIN4: "224.0.0.5"}},
    {"path": "service", "services": [SERVICE6], "purge": True, "force": {STANDIN6: "fe80::1"}},
]


def test_kernel_refusal_rolls_back_to_the_identical_table(lab: LabHandle) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = {"run.py": REPO / "tests" / "integration" / "ipvs_rollback_guest.py"}
        for path in (REPO / "plugins" / "module_utils").glob("_*.py"):  # what _ipvs imports, and the rest
            files[f"ansible_collections/lvs/cluster/plugins/module_utils/{path.name}"] = path
        for i, case in enumerate(CASES):
            local = Path(tmp) / f"case{i}.json"
            local.write_text(json.dumps(case))
            files[f"case{i}.json"] = local
        lab.upload("director", files, GUEST_DIR)
    lab.ssh("director", "modprobe ip_vs && ipvsadm -C && " + " && ".join(SETUP))
    state = "ipvsadm-save -n; echo ---; ipvsadm -Ln --thresholds"
    before = lab.ssh("director", state).stdout
    save = before.split("---")[0]
    assert save.count("\n") == len(SETUP), before
    try:
        for i, case in enumerate(CASES):
            refused = next(iter(case["force"].values()))
            shown = f"[{refused}]" if ":" in refused else refused  # as hostport() prints it
            out = lab.ssh("director", f"python3 {GUEST_DIR}/run.py {GUEST_DIR}/case{i}.json").stdout
            result = json.loads(out.strip().splitlines()[-1])
            assert result["failed"], (case, result)
            msg = result["msg"]
            assert "the kernel refused 1 of " in msg and f" -> {shown}:" in msg, msg
            assert "Invalid argument (errno 22)" in msg, msg
            assert "rolled back" in msg and result["rolled_back"] and not result["left"], msg
            after = lab.ssh("director", state).stdout
            assert after.split("---")[0] == save, (case["path"], refused, msg)
            assert after == before, (case["path"], refused, msg)

        # through Ansible the validator stops the same input before any write, naming the item
        public = json.loads(json.dumps(TABLE).replace(STANDIN4, "224.0.0.5"))
        res = lab.module("director", "lvs.cluster.ipvs_table", {"services": public, "purge": True})
        assert res.get("failed"), res
        assert "services[2] (tcp:198.51.100.51:80) real_servers[0]: real server 224.0.0.5 is a multicast" in res["msg"]
        assert lab.ssh("director", state).stdout == before
    finally:
        lab.ssh("director", f"ipvsadm -C; rm -rf {GUEST_DIR}", check=False)
