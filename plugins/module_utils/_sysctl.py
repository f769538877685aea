# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of ``lvs.cluster.arp_sysctl`` and the file helpers of the host side.

Settings are ``{sysctl key: value}`` with keys in dotted form
(``net.ipv4.conf.all.arp_ignore``); an interface name that contains a dot is
written in the slash form sysctl.d accepts (``net/ipv4/conf/eth0.100/rp_filter``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ansible_collections.lvs.cluster.plugins.module_utils._files import write_file

SYSCTL_FILE = "/etc/sysctl.d/90-lvs-cluster.conf"
MODULES_LOAD_FILE = "/etc/modules-load.d/lvs-cluster.conf"
PROC_SYS = "/proc/sys"

# per-interface settings: option name -> allowed values and meaning
CONF_RANGES: Dict[str, Tuple[Tuple[int, ...], str]] = {
    "arp_ignore": ((0, 1, 2, 3, 8), "0-3 or 8"),
    "arp_announce": ((0, 1, 2), "0-2"),
    "rp_filter": ((0, 1, 2), "0 (off), 1 (strict) or 2 (loose)"),
    "send_redirects": ((0, 1), "0 or 1"),
}
IFNAME_RE = re.compile(r"^[^\s/:]{1,15}$")

HEADER = (
    "# Managed by Ansible (lvs.cluster.arp_sysctl): ARP, reverse-path and forwarding\n"
    "# settings of an LVS director or real server.  Local edits are overwritten.\n"
)
MODULES_HEADER = f"# Managed by Ansible (lvs.cluster.arp_sysctl): tunnel devices named in {SYSCTL_FILE}\n"


class SysctlError(Exception):
    """Invalid request (nothing was changed)."""


@dataclass
class SysctlPlan:
    desired: Dict[str, str]
    previous: Dict[str, Optional[str]] = field(default_factory=dict)
    live_changes: Dict[str, str] = field(default_factory=dict)
    file_before: str = ""
    file_after: str = ""
    modules: List[str] = field(default_factory=list)
    modules_before: str = ""
    modules_after: str = ""

    @property
    def file_changed(self) -> bool:
        return self.file_before != self.file_after

    @property
    def modules_changed(self) -> bool:
        return self.modules_before != self.modules_after

    @property
    def changed(self) -> bool:
        return bool(self.live_changes) or self.file_changed or self.modules_changed


def conf_key(interface: str, name: str) -> str:
    if "." in interface:
        return f"net/ipv4/conf/{interface}/{name}"
    return f"net.ipv4.conf.{interface}.{name}"


def key_to_path(key: str, root: str = PROC_SYS) -> str:
    rel = key if "/" in key else key.replace(".", "/")
    return os.path.join(root, rel.lstrip("/"))


def key_interface(key: str) -> Optional[str]:
    """The interface a ``net.ipv4.conf.<if>.<name>`` key is about, else None."""
    parts = key.split("/") if "/" in key else key.split(".")
    if len(parts) == 5 and parts[:3] == ["net", "ipv4", "conf"]:
        return parts[3]
    return None


def _check_value(name: str, value: object) -> int:
    allowed, text = CONF_RANGES[name]
    if isinstance(value, bool):
        number = int(value)
    else:
        try:
            number = int(str(value))
        except ValueError:
            raise SysctlError(f"{name}: {value!r} is not a number (allowed: {text})") from None
    if number not in allowed:
        raise SysctlError(f"{name} = {value} is out of range (allowed: {text})")
    return number


def desired_settings(
    interfaces: Sequence[str],
    include_all: bool = True,
    arp_ignore: Optional[int] = None,
    arp_announce: Optional[int] = None,
    rp_filter: Optional[int] = None,
    send_redirects: Optional[bool] = None,
    ip_forward: Optional[bool] = None,
) -> Dict[str, str]:
    """Validate the options and return the sysctl keys and values to enforce."""
    names: List[str] = []
    if include_all:
        names.append("all")
    for ifname in interfaces:
        if not IFNAME_RE.match(ifname or ""):
            raise SysctlError(f"{ifname!r} is not a valid interface name")
        if ifname not in names:
            names.append(ifname)
    per_if = {
        "arp_ignore": arp_ignore,
        "arp_announce": arp_announce,
        "rp_filter": rp_filter,
        "send_redirects": send_redirects,
    }
    checked = {k: _check_value(k, v) for k, v in per_if.items() if v is not None}
    if checked and not names:
        raise SysctlError("no interface to apply to: set interfaces or leave all enabled")
    out: Dict[str, str] = {}
    for ifname in names:
        for name, number in checked.items():
            out[conf_key(ifname, name)] = str(number)
    if ip_forward is not None:
        out["net.ipv4.ip_forward"] = "1" if ip_forward else "0"
    if not out:
        raise SysctlError(
            "nothing to set: give at least one of arp_ignore, arp_announce, rp_filter, send_redirects, ip_forward"
        )
    return out


def parse_conf(text: str) -> Dict[str, str]:
    """Parse sysctl.d syntax (``key = value``, comments with # or ;)."""
    out: Dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        out[key.strip().lstrip("-")] = value.strip()
    return out


def render_conf(settings: Dict[str, str]) -> str:
    def order(key: str) -> Tuple[int, str, str]:
        ifname = key_interface(key)
        return (0 if ifname is None else 1 if ifname == "all" else 2, ifname or "", key)

    lines = [HEADER]
    lines.extend(f"{k} = {settings[k]}\n" for k in sorted(settings, key=order))
    return "".join(lines)


def render_modules(modules: Sequence[str]) -> str:
    if not modules:
        return ""
    return MODULES_HEADER + "".join(f"{m}\n" for m in sorted(set(modules)))


def plan_sysctl(
    desired: Dict[str, str],
    read_live: Callable[[str], Optional[str]],
    file_before: str,
    persist: bool = True,
    modules: Sequence[str] = (),
    modules_before: str = "",
) -> SysctlPlan:
    """Compare the desired values with the live ones and the owned file.

    ``read_live(key)`` returns the current value or None when the key does
    not exist yet (an interface that appears when its module is loaded).
    The owned file keeps keys set by earlier calls and takes the new values.
    """
    plan = SysctlPlan(desired=dict(desired), file_before=file_before, file_after=file_before)
    for key, value in desired.items():
        current = read_live(key)
        plan.previous[key] = current
        if current is None or current.split() != value.split():
            plan.live_changes[key] = value
    if persist:
        merged = parse_conf(file_before)
        merged.update(desired)
        after = render_conf(merged)
        # keep a file that only differs in formatting we did not write
        if parse_conf(file_before) != merged or not file_before.startswith(HEADER):
            plan.file_after = after
        wanted_modules = set(modules)
        for line in modules_before.splitlines():
            if line.strip() and not line.startswith("#"):
                wanted_modules.add(line.strip())
        plan.modules = sorted(wanted_modules)
        plan.modules_before = modules_before
        plan.modules_after = render_modules(plan.modules) if wanted_modules else modules_before
    else:
        plan.modules_before = plan.modules_after = modules_before
    return plan


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def read_proc(key: str, root: str = PROC_SYS) -> Optional[str]:
    try:
        with open(key_to_path(key, root), encoding="ascii") as handle:
            return handle.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_proc(key: str, value: str, root: str = PROC_SYS) -> None:
    with open(key_to_path(key, root), "w", encoding="ascii") as handle:
        handle.write(value + "\n")


def atomic_write(path: str, content: str, mode: int = 0o644, dir_mode: int = 0o755) -> None:
    """Write ``content`` to ``path`` atomically (temp file + fsync + rename), owned by root."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, dir_mode)
    write_file(path, content.encode("utf-8"), mode, 0, 0)
