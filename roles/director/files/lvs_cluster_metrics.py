# Managed by lvs.cluster.director (director_metrics): the director's lvs_cluster_* metrics for
# node_exporter's textfile collector, run by lvs-cluster-metrics.timer with CAP_NET_ADMIN alone (the
# kernel's IPVS netlink family answers reads only to it) and a read-only file system but for the
# textfile directory.
#
#   python3 lvs_cluster_metrics.py CONFIG OUTPUT
#
# CONFIG: the planner's view of this director's table (JSON: cluster, services with their real
# servers' names and inventory weights, VIPs). OUTPUT: the .prom file, replaced atomically.
# The collection's module_utils beside this file read the table (ipvs_info's reader) and write
# the text (_observe.metrics_text): one vocabulary with status.yml.
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ansible_collections.lvs.cluster.plugins.module_utils._drain import (  # noqa: E402
    DrainError,
    info_services,
    read_drains,
)
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import IpvsClient, IpvsError  # noqa: E402
from ansible_collections.lvs.cluster.plugins.module_utils._observe import metrics_text, vrrp_state  # noqa: E402


def _run(*cmd: str) -> str:
    """A command's output ('' when it fails: the metric it feeds says unknown)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def held_addresses() -> List[str]:
    return [
        line.split()[3].split("/")[0] for line in _run("ip", "-o", "addr", "show").splitlines() if len(line.split()) > 3
    ]


def keepalived_journal() -> str:
    """keepalived's log lines of its current run (the VRRP state changes)."""
    invocation = _run("systemctl", "show", "-p", "InvocationID", "--value", "keepalived.service").strip()
    if not invocation:
        return ""
    return _run("journalctl", "-q", "-o", "cat", "--no-pager", "_SYSTEMD_INVOCATION_ID=" + invocation)


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: %s CONFIG OUTPUT\n" % argv[0])
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        observe = json.load(fh)
    services: Optional[List[Any]] = None
    error = ""
    try:
        with IpvsClient() as client:
            services = info_services(client.table(stats=True), read_drains(observe["drain_dir"]))
    except (IpvsError, DrainError) as exc:
        error = str(exc)
    vrrp = vrrp_state(keepalived_journal()) if observe.get("vrrp") else ""
    text = metrics_text(observe, services, vrrp, held_addresses())
    out_dir = os.path.dirname(os.path.abspath(argv[2]))
    fd, tmp = tempfile.mkstemp(prefix=".lvs_cluster.", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, argv[2])  # node_exporter never reads half a file
    except BaseException:
        os.unlink(tmp)
        raise
    if error:
        sys.stderr.write("lvs_cluster_up 0: %s\n" % error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
