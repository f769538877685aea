# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of ``lvs.cluster.arp_sysctl`` and the file helpers of the host side.

Settings are ``{sysctl key: value}`` with keys in dotted form
(``net.ipv4.conf.all.arp_ignore``); an interface name that contains a dot is
written in the slash form sysctl.d accepts (``net/ipv4/conf/eth0.100/rp_filter``).

The state file (``STATE_FILE``) records, for every key the module set, the live
value the key had before the module first set it (its original) and the owners
that want it with their values.  A call with ``purge`` puts back each key its
owner recorded and no longer wants: the original goes back live unless another
owner still wants the key (then that owner's value is enforced), and the key
leaves the sysctl.d file and the state.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ansible_collections.lvs.cluster.plugins.module_utils._files import write_file

SYSCTL_FILE = "/etc/sysctl.d/90-lvs-cluster.conf"
MODULES_LOAD_FILE = "/etc/modules-load.d/lvs-cluster.conf"
PROC_SYS = "/proc/sys"
STATE_FILE = "/var/lib/lvs-cluster/sysctl-originals.json"
STATE_VERSION = 1
DEFAULT_OWNER = "lvs-cluster"
OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

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


class SysctlStateError(SysctlError):
    """The state file cannot be read as the module writes it (nothing was changed)."""


@dataclass
class KeyRecord:
    """What the state file knows about one key.

    ``original`` is the live value before the module first set the key, None when the key did
    not exist then (a device the call created) or when ``known`` is False: the key was in the
    sysctl.d file of a version that kept no state, so its original is lost.  ``owners`` maps
    each owner that wants the key to the value it wants.
    """

    original: Optional[str]
    known: bool = True
    owners: Dict[str, str] = field(default_factory=dict)

    def to_json(self) -> Dict[str, object]:
        return {"original": self.original, "known": self.known, "owners": dict(sorted(self.owners.items()))}


@dataclass
class SysctlPlan:
    desired: Dict[str, str]
    owner: str = DEFAULT_OWNER
    # live values before the call: the desired keys and the keys this call puts back
    previous: Dict[str, Optional[str]] = field(default_factory=dict)
    # live writes in order: the desired values, then the put-back ones
    live_changes: Dict[str, str] = field(default_factory=dict)
    # keys put back: dropped from the state and the sysctl.d file
    restored: List[str] = field(default_factory=list)
    file_before: str = ""
    file_after: str = ""
    modules: List[str] = field(default_factory=list)
    modules_before: str = ""
    modules_after: str = ""
    state_before: str = ""
    # the state with this call's records, written before any live change so no original is lost
    state_recorded: str = ""
    state_after: str = ""

    @property
    def file_changed(self) -> bool:
        return self.file_before != self.file_after

    @property
    def modules_changed(self) -> bool:
        return self.modules_before != self.modules_after

    @property
    def state_changed(self) -> bool:
        return self.state_before != self.state_after

    @property
    def changed(self) -> bool:
        return bool(self.live_changes) or self.file_changed or self.modules_changed or self.state_changed


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
    allow_empty: bool = False,
) -> Dict[str, str]:
    """Validate the options and return the sysctl keys and values to enforce.

    ``allow_empty``: a call that only puts back what its owner no longer wants sets nothing.
    """
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
    if not out and not allow_empty:
        raise SysctlError(
            "nothing to set: give at least one of arp_ignore, arp_announce, rp_filter, send_redirects, ip_forward"
            " (or purge: true to only put back what this owner set before)"
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


def check_owner(owner: str) -> str:
    if not OWNER_RE.match(owner or ""):
        raise SysctlError(f"owner {owner!r} must be 1-64 letters, digits, '_', '.' or '-' (starting alphanumeric)")
    return owner


def parse_state(text: str, path: str = STATE_FILE) -> Dict[str, KeyRecord]:
    """Read the state file's text (empty: no state)."""
    if not text.strip():
        return {}
    hint = f"{path} is not a state file of lvs.cluster.arp_sysctl"
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SysctlStateError(f"{hint}: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(data.get("keys"), dict):
        raise SysctlStateError(f"{hint} (version {STATE_VERSION}, keys)")
    out: Dict[str, KeyRecord] = {}
    for key, entry in data["keys"].items():
        owners = entry.get("owners") if isinstance(entry, dict) else None
        original = entry.get("original") if isinstance(entry, dict) else None
        known = entry.get("known", True) if isinstance(entry, dict) else None
        if (
            not isinstance(owners, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in owners.items())
            or not (original is None or isinstance(original, str))
            or not isinstance(known, bool)
        ):
            raise SysctlStateError(f"{hint}: entry {key!r} is malformed")
        out[key] = KeyRecord(original, known, dict(owners))
    return out


def render_state(state: Mapping[str, KeyRecord]) -> str:
    """The state file's text; empty when no key is recorded (the file is removed)."""
    if not state:
        return ""
    keys = {k: state[k].to_json() for k in sorted(state)}
    return json.dumps({"version": STATE_VERSION, "keys": keys}, indent=2, sort_keys=True) + "\n"


def _same(current: Optional[str], value: str) -> bool:
    return current is not None and current.split() == value.split()


def restore_value(key: str, record: KeyRecord, read_live: Callable[[str], Optional[str]]) -> Optional[str]:
    """The live value to put back, None when it is unknown.

    A per-interface key that did not exist when it was recorded (a device the call created) gets
    the value of ``net.ipv4.conf.default.<name>``: the one the kernel gives a new device.
    """
    if not record.known:
        return None
    if record.original is not None:
        return record.original
    ifname = key_interface(key)
    if ifname is None or ifname in ("all", "default"):
        return None
    name = key.replace("/", ".").rsplit(".", 1)[1]
    return read_live(conf_key("default", name))


def _modules_of(keys: Sequence[str], tunnel_modules: Mapping[str, str]) -> Set[str]:
    return {tunnel_modules[i] for i in (key_interface(k) for k in keys) if i is not None and i in tunnel_modules}


def plan_sysctl(
    desired: Dict[str, str],
    read_live: Callable[[str], Optional[str]],
    file_before: str,
    persist: bool = True,
    modules: Sequence[str] = (),
    modules_before: str = "",
    owner: str = DEFAULT_OWNER,
    purge: bool = False,
    state_before: str = "",
    tunnel_modules: Optional[Mapping[str, str]] = None,
) -> SysctlPlan:
    """Compare the desired values with the live ones, the owned file and the state.

    ``read_live(key)`` returns the current value or None when the key does
    not exist yet (an interface that appears when its module is loaded).
    The owned file keeps keys set by earlier calls and takes the new values.
    Each desired key without a state entry records its live value as original (a key the
    file already holds is adopted with an unknown original).  With ``purge``, every key
    ``owner`` recorded and this call does not want is put back (see ``SysctlPlan``), and so
    is every key of the file that no owner recorded (live value left as is: original unknown).
    ``tunnel_modules`` (device -> kernel module) lets a put-back tunnel key drop its module
    from the modules-load.d file when no key of the file names such a device any more.
    """
    state = parse_state(state_before)
    in_file = parse_conf(file_before)
    plan = SysctlPlan(desired=dict(desired), owner=owner, file_before=file_before, state_before=state_before)
    for key, value in desired.items():
        current = read_live(key)
        plan.previous[key] = current
        if not _same(current, value):
            plan.live_changes[key] = value
        record = state.get(key)
        if record is None:
            record = state[key] = KeyRecord(None, False) if key in in_file else KeyRecord(current)
        record.owners[owner] = value
    plan.state_recorded = render_state(state)

    removed: List[str] = []
    others: Dict[str, str] = {}  # keys another owner still wants: its value
    if purge:
        for key in [k for k in in_file if k not in state]:
            removed.append(key)
            plan.previous[key] = read_live(key)
        for key in sorted(state):
            record = state[key]
            if key in desired or owner not in record.owners:
                continue
            del record.owners[owner]
            current = plan.previous[key] = read_live(key)
            if record.owners:
                target: Optional[str] = record.owners[sorted(record.owners)[0]]
                others[key] = str(target)
            else:
                del state[key]
                removed.append(key)
                target = restore_value(key, record, read_live)
            if target is not None and current is not None and not _same(current, target):
                plan.live_changes[key] = target
    plan.restored = sorted(removed)
    plan.state_after = render_state(state)

    merged = dict(in_file)
    for key in removed:
        merged.pop(key, None)
    for key, value in others.items():
        if key in merged:
            merged[key] = value
    if persist:
        merged.update(desired)
    if merged != in_file or (persist and merged and not file_before.startswith(HEADER)):
        # keep a file that only differs in formatting we did not write
        plan.file_after = render_conf(merged) if merged else ""
    else:
        plan.file_after = file_before

    listed = {line.strip() for line in modules_before.splitlines() if line.strip() and not line.startswith("#")}
    wanted_modules = listed | set(modules) if persist else set(listed)
    if removed and tunnel_modules:
        wanted_modules -= _modules_of(removed, tunnel_modules) - _modules_of(list(merged), tunnel_modules)
    plan.modules = sorted(wanted_modules)
    plan.modules_before = modules_before
    if wanted_modules != listed or (persist and wanted_modules):
        plan.modules_after = render_modules(plan.modules)
    else:
        plan.modules_after = modules_before
    return plan


def plan_diffs(
    plan: SysctlPlan,
    sysctl_file: str = SYSCTL_FILE,
    modules_file: str = MODULES_LOAD_FILE,
    state_file: str = STATE_FILE,
) -> List[Dict[str, str]]:
    """Diff-mode entries: live values before/after (desired and put-back keys), then each file that changes."""

    def show(value: Optional[str]) -> str:
        return "(absent)" if value is None else value

    keys = sorted(set(plan.desired) | set(plan.previous))
    before = "".join(f"{k} = {show(plan.previous.get(k))}\n" for k in keys)
    after = "".join(
        f"{k} = {show(plan.live_changes.get(k, plan.desired.get(k, plan.previous.get(k))))}"
        f"{'  (put back)' if k in plan.restored else ''}\n"
        for k in keys
    )
    out = [{"before_header": "live /proc/sys", "after_header": "live /proc/sys", "before": before, "after": after}]
    for path, old, new in (
        (sysctl_file, plan.file_before, plan.file_after),
        (modules_file, plan.modules_before, plan.modules_after),
        (state_file, plan.state_before, plan.state_after),
    ):
        if old != new:
            out.append({"before_header": path, "after_header": path, "before": old, "after": new})
    return out


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


def write_or_remove(path: str, content: str) -> None:
    """``atomic_write`` the content; empty content removes the file."""
    if content:
        atomic_write(path, content)
        return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def apply_plan(
    plan: SysctlPlan,
    state_file: str = STATE_FILE,
    sysctl_file: str = SYSCTL_FILE,
    modules_file: str = MODULES_LOAD_FILE,
    root: str = PROC_SYS,
) -> None:
    """Carry out a plan: record the originals first, then the live values, the files, the final state."""
    written = plan.state_before
    if plan.state_recorded != written:
        write_or_remove(state_file, plan.state_recorded)
        written = plan.state_recorded
    for key, value in plan.live_changes.items():
        write_proc(key, value, root)
    if plan.file_changed:
        write_or_remove(sysctl_file, plan.file_after)
    if plan.modules_changed:
        write_or_remove(modules_file, plan.modules_after)
    if plan.state_after != written:
        write_or_remove(state_file, plan.state_after)
