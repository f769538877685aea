# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Boot persistence of the VIPs managed by ``lvs.cluster.vip_iface``.

Design (one for every network stack -- networkd, ifupdown, NetworkManager):

* ``/etc/lvs-cluster/vips.json`` -- the state file, written by the module
  (atomic, only when it changes): one entry per VIP and interface;
* ``/usr/local/libexec/lvs-cluster/lvs-vips`` -- a stdlib-only python3 script
  (``BOOT_SCRIPT`` below) that loads the tunnel modules, creates dummy links,
  brings virtual links up, adds GUE receive ports (``ip fou``), adds the addresses with ``ip addr replace`` and
  re-applies ``/etc/sysctl.d/90-lvs-cluster.conf`` (for keys of interfaces
  that only exist now, e.g. ``tunl0``);
* ``lvs-cluster-vips.service`` -- a oneshot unit running the script after
  ``network-online.target`` (so the network manager does not flush a VIP
  added to a NIC it configures), enabled in ``multi-user.target``. That target
  also comes when its wait times out (a slow boot); then systemd-networkd may
  still be about to configure (and flush) a link, so the script waits, bounded,
  until networkd has configured every link it adds to (``ADMIN_STATE`` in
  ``/run/systemd/netif/links``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.lvs.cluster.plugins.module_utils._sysctl import SYSCTL_FILE

STATE_FILE = "/etc/lvs-cluster/vips.json"
SCRIPT_FILE = "/usr/local/libexec/lvs-cluster/lvs-vips"
UNIT_NAME = "lvs-cluster-vips.service"
UNIT_FILE = "/etc/systemd/system/" + UNIT_NAME
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/" + UNIT_NAME

BOOT_SCRIPT = f'''#!/usr/bin/python3
# Managed by Ansible (lvs.cluster.vip_iface).  Do not edit: re-applies the
# VIPs listed in {STATE_FILE} at boot (lvs-cluster-vips.service).
"""Re-apply lvs.cluster VIPs and the interface sysctls of {SYSCTL_FILE}."""
import json
import os
import subprocess
import sys
import time

STATE = "{STATE_FILE}"
SYSCTL = "{SYSCTL_FILE}"
NETIF_LINKS = "/run/systemd/netif/links"
SETTLED = ("configured", "unmanaged", "failed", "linger")
WAIT_SECONDS = 90


def run(*args):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if proc.returncode:
        sys.stderr.write("lvs-vips: %s: %s\\n" % (" ".join(args), proc.stdout.strip()))
    return proc.returncode


def has_gue_port(family, port):
    proc = subprocess.run(["ip", family, "fou", "show"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          universal_newlines=True)
    return ("port %d gue" % port) in proc.stdout


def exists(name):
    return os.path.isdir("/sys/class/net/" + name)


def networkd_active():
    return subprocess.run(["systemctl", "is-active", "--quiet", "systemd-networkd.service"]).returncode == 0


def admin_state(name):
    """systemd-networkd's ADMIN_STATE of a link ("" while it has not written one)."""
    try:
        with open("/sys/class/net/%s/ifindex" % name) as handle:
            path = os.path.join(NETIF_LINKS, handle.read().strip())
        with open(path) as handle:
            for line in handle:
                if line.startswith("ADMIN_STATE="):
                    return line.strip().split("=", 1)[1]
    except OSError:
        pass
    return ""


def wait_networkd(name, deadline):
    """systemd-networkd flushes the addresses of a link it manages when it configures it. When
    network-online.target came by its wait's timeout (a slow boot), the link may still be pending:
    wait (bounded) until networkd has configured it or left it alone."""
    while True:
        state = admin_state(name)
        if state in SETTLED:
            return
        if time.monotonic() >= deadline:
            sys.stderr.write("lvs-vips: systemd-networkd has not configured %s (%s); adding its VIPs anyway\\n"
                             % (name, state or "no state"))
            return
        time.sleep(0.5)


def apply_sysctl(path):
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return 0
    failed = 0
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        key = key.lstrip("-")
        rel = key if "/" in key else key.replace(".", "/")
        try:
            with open(os.path.join("/proc/sys", rel), "w") as handle:
                handle.write(value + "\\n")
        except OSError as exc:
            sys.stderr.write("lvs-vips: %s: %s\\n" % (key, exc))
            failed = 1
    return failed


def main():
    try:
        with open(STATE) as handle:
            entries = json.load(handle).get("vips", [])
    except (OSError, ValueError) as exc:
        sys.stderr.write("lvs-vips: cannot read %s: %s\\n" % (STATE, exc))
        return 1
    failed = 0
    done = set()
    networkd = networkd_active()
    waited = set()
    deadline = time.monotonic() + WAIT_SECONDS
    for entry in entries:
        name = entry["interface"]
        if name not in done:
            done.add(name)
            if entry.get("module"):
                run("modprobe", entry["module"])
            if entry.get("kind") == "dummy" and not exists(name):
                run("modprobe", "dummy")
                run("ip", "link", "add", name, "type", "dummy")
            appears = time.monotonic() + 30
            while not exists(name) and time.monotonic() < appears:
                time.sleep(0.5)
            if entry.get("up") and exists(name):
                failed |= run("ip", "link", "set", "dev", name, "up")
            if entry.get("gue_port"):
                run("modprobe", "fou")
                family = "-6" if entry.get("gue_family") == 6 else "-4"
                if not has_gue_port(family, entry["gue_port"]):
                    failed |= run("ip", family, "fou", "add", "port", str(entry["gue_port"]), "gue")
        if not exists(name):
            sys.stderr.write("lvs-vips: interface %s does not exist\\n" % name)
            failed = 1
            continue
        if networkd and name not in waited:
            waited.add(name)
            wait_networkd(name, deadline)
        cmd = ["ip", "addr", "replace", "%s/%d" % (entry["address"], entry["prefix"]), "dev", name]
        if ":" not in entry["address"]:
            cmd += ["scope", entry.get("scope", "global")]
            if entry.get("label"):
                cmd += ["label", entry["label"]]
        elif entry.get("nodad"):
            cmd.append("nodad")
        if entry.get("deprecated"):
            cmd += ["preferred_lft", "0"]
        failed |= run(*cmd)
    failed |= apply_sysctl(SYSCTL)
    return failed


if __name__ == "__main__":
    sys.exit(main())
'''

UNIT = """# Managed by Ansible (lvs.cluster.vip_iface)
[Unit]
Description=lvs.cluster virtual IPs (VIPs on lo, dummy and tunnel interfaces)
Documentation=file://%(state)s
After=network-online.target systemd-networkd.service systemd-modules-load.service systemd-sysctl.service
Wants=network-online.target
ConditionPathExists=%(state)s

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%(python)s %(script)s
TimeoutStartSec=120

[Install]
WantedBy=multi-user.target
"""


def render_unit(python: str) -> str:
    return UNIT % {"state": STATE_FILE, "python": python, "script": SCRIPT_FILE}


def entry_key(entry: Dict[str, Any]) -> str:
    return "{} {}".format(entry["interface"], entry["address"])


def load_state(text: str) -> List[Dict[str, Any]]:
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    entries = data.get("vips", []) if isinstance(data, dict) else []
    return [e for e in entries if isinstance(e, dict) and "interface" in e and "address" in e]


def render_state(entries: Sequence[Dict[str, Any]]) -> str:
    ordered = sorted(entries, key=lambda e: (e["interface"], ":" in e["address"], e["address"]))
    return json.dumps({"version": 1, "vips": ordered}, indent=2, sort_keys=True) + "\n"


def update_state(
    text: str,
    interface: str,
    entries: Sequence[Dict[str, Any]],
    remove: Sequence[str],
) -> str:
    """Replace/add ``entries`` and drop the VIPs ``remove`` on ``interface``."""
    current = {entry_key(e): e for e in load_state(text)}
    for address in remove:
        current.pop(f"{interface} {address}", None)
    for entry in entries:
        current[entry_key(entry)] = dict(entry)
    return render_state(list(current.values()))


def make_entry(
    interface: str,
    address: str,
    prefix: int,
    kind: str,
    module: Optional[str],
    label: Optional[str],
    scope: str,
    up: bool,
    nodad: bool,
) -> Dict[str, Any]:
    entry: Dict[str, Any] = {
        "interface": interface,
        "address": address,
        "prefix": prefix,
        "scope": scope,
        "up": up,
    }
    if kind == "dummy":
        entry["kind"] = "dummy"
    if module:
        entry["module"] = module
    if label and ":" not in address:
        entry["label"] = label
    if nodad:
        entry["nodad"] = True
    return entry
