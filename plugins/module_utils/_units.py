# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of ``lvs.cluster.managed_files``' ``units``: the systemd units that read the files.

After the files are in place, each unit is enabled and started when it is not, or, when it was
already running, reloaded or restarted if one of the files it reads changed (a unit started here
reads the new files: start or reload, never both in one run). A unit can also be brought down:
stopped and masked, or stopped and disabled when one of its files goes (a handover to another
owner), and a unit whose package is not installed can be left alone (``missing_ok``). One ``systemctl daemon-reload``
comes first when a changed path is a unit file or drop-in; one ``systemctl show`` reads the
state of every unit. The unit file operations (enable, disable, mask, unmask) of all units run
next under one more daemon-reload, then the jobs (stop, start, reload, restart) in the units' order.

``validate_units`` checks the request against the files' paths, ``parse_show`` reads
``systemctl show``, ``plan_units`` decides the operations (nothing run), ``run_units`` runs them
through a command runner the module hands in. Errors are ``UnitsError`` (nothing done to the
units) or ``UnitsApplyError`` (an operation failed; ``done`` lists what had been done before).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

UNIT_RE = re.compile(r"^[A-Za-z0-9:_.@\\-]+\.(service|mount|socket|timer|path|automount|swap|target)$")
KNOWN_KEYS = {"name", "enabled", "started", "masked", "missing_ok", "reload_on", "restart_on", "stop_on"}
# Unit file states that `systemctl is-enabled` answers with 0 (nothing to enable)
ENABLED_STATES = {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient"}
MASKED_STATES = {"masked", "masked-runtime"}
RUNNING_STATES = {"active", "activating", "reloading", "refreshing"}
# Operations on unit files (symlinks), not on running units: batched under one daemon-reload
UNIT_FILE_OPS = {"enable", "disable", "mask", "unmask"}
# A changed path below one of these is a unit file or drop-in: systemd reads it after a daemon-reload
UNIT_DIRS = ("/etc/systemd/system/", "/run/systemd/system/", "/usr/lib/systemd/system/", "/lib/systemd/system/")
SHOW_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState")

Runner = Callable[[List[str]], Tuple[int, str, str]]


class UnitsError(Exception):
    """Invalid request or a state the units cannot be brought from (nothing was done to the units)."""


class UnitsApplyError(UnitsError):
    """A systemctl operation failed; ``done`` lists the operations done before it."""

    def __init__(self, message: str, done: Sequence[Dict[str, Any]]) -> None:
        super().__init__(message)
        self.done = list(done)


@dataclass(frozen=True)
class UnitSpec:
    """One validated entry of ``units``."""

    name: str
    enabled: Optional[bool] = True  # None: left as it is
    started: bool = True  # False: not started here (a running unit is still reloaded or restarted)
    masked: bool = False  # True: stopped when running, then masked (enabled and started do not apply)
    missing_ok: bool = False  # True: a unit systemd does not know is left alone (its package not installed)
    reload_on: Tuple[str, ...] = ()
    restart_on: Tuple[str, ...] = ()
    stop_on: Tuple[str, ...] = ()  # a change of one of these stops and disables the unit (a handover)


@dataclass(frozen=True)
class UnitState:
    """What ``systemctl show`` says of a unit."""

    load: str
    active: str
    file_state: str


@dataclass(frozen=True)
class UnitPlan:
    """The operations for one unit, with its state before them."""

    name: str
    before: UnitState
    operations: Tuple[str, ...]


def _paths(value: Any, where: str, known: Sequence[str]) -> Tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise UnitsError("%s: a list of paths is expected" % where)
    unknown = [p for p in value if p not in known]
    if unknown:
        raise UnitsError("%s: %s is not a path of files (a typo would never trigger)" % (where, ", ".join(unknown)))
    return tuple(value)


def validate_units(raw: Sequence[Mapping[str, Any]], file_paths: Sequence[str]) -> List[UnitSpec]:
    """The module's ``units`` as ``UnitSpec`` objects; ``reload_on``/``restart_on`` name paths of files."""
    specs: List[UnitSpec] = []
    seen = set()
    for index, entry in enumerate(raw):
        where = "units[%d]" % index
        extra = set(entry) - KNOWN_KEYS
        if extra:
            raise UnitsError("%s: unknown key(s) %s" % (where, ", ".join(sorted(extra))))
        name = entry.get("name")
        if not isinstance(name, str) or not UNIT_RE.match(name):
            raise UnitsError("%s: name must be a unit name with its type, e.g. nginx.service (got %r)" % (where, name))
        if name in seen:
            raise UnitsError("%s: unit %s is listed twice" % (where, name))
        seen.add(name)
        enabled = entry.get("enabled", True)
        started = entry.get("started", True)
        if enabled is not None and not isinstance(enabled, bool):
            raise UnitsError("%s: enabled must be true, false or null" % where)
        if not isinstance(started, bool):
            raise UnitsError("%s: started must be true or false" % where)
        flags = {key: entry.get(key, False) for key in ("masked", "missing_ok")}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise UnitsError("%s: %s must be true or false" % (where, key))
        if flags["masked"] and (entry.get("reload_on") or entry.get("restart_on") or entry.get("stop_on")):
            raise UnitsError("%s: a masked unit is neither reloaded, restarted nor stopped on a change" % where)
        specs.append(
            UnitSpec(
                name=name,
                enabled=enabled,
                started=started,
                masked=flags["masked"],
                missing_ok=flags["missing_ok"],
                reload_on=_paths(entry.get("reload_on"), where + ".reload_on", file_paths),
                restart_on=_paths(entry.get("restart_on"), where + ".restart_on", file_paths),
                stop_on=_paths(entry.get("stop_on"), where + ".stop_on", file_paths),
            )
        )
    return specs


def needs_daemon_reload(changed_paths: Sequence[str]) -> bool:
    return any(path.startswith(UNIT_DIRS) for path in changed_paths)


def show_command(names: Sequence[str]) -> List[str]:
    cmd = ["systemctl", "show"]
    for prop in SHOW_PROPERTIES:
        cmd += ["-p", prop]
    return cmd + ["--"] + list(names)


def parse_show(text: str, names: Sequence[str]) -> Dict[str, UnitState]:
    """``systemctl show -p ...`` of several units: one block per unit, in the order asked.

    The order, not ``Id``, ties a block to its unit: an alias (``nfs-kernel-server.service``)
    is shown under the name it points to.
    """
    blocks: List[Dict[str, str]] = []
    current: Dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _sep, value = line.partition("=")
        current[key] = value
    if current:
        blocks.append(current)
    if len(blocks) != len(names):
        raise UnitsError("systemctl show answered %d blocks for %d units:\n%s" % (len(blocks), len(names), text))
    return {
        name: UnitState(
            load=block.get("LoadState", ""),
            active=block.get("ActiveState", ""),
            file_state=block.get("UnitFileState", ""),
        )
        for name, block in zip(names, blocks)
    }


def plan_units(
    specs: Sequence[UnitSpec],
    states: Mapping[str, UnitState],
    changed_paths: Sequence[str],
    check_mode: bool = False,
) -> List[UnitPlan]:
    """The operations each unit needs, in the order of ``specs``.

    A unit systemd does not know is an error, except in check mode: there the package that
    brings it may not be installed yet, and the unit is planned as new (enabled, started).
    """
    changed = set(changed_paths)
    plans: List[UnitPlan] = []
    for spec in specs:
        state = states[spec.name]
        running = state.active in RUNNING_STATES
        if state.load == "not-found" and spec.missing_ok:
            plans.append(UnitPlan(name=spec.name, before=state, operations=()))
            continue
        if spec.masked or changed.intersection(spec.stop_on):
            ops_off = ["stop"] if running else []
            if spec.masked and state.file_state not in MASKED_STATES:
                ops_off.append("mask")
            elif not spec.masked and state.file_state in ("enabled", "enabled-runtime"):
                ops_off.append("disable")
            plans.append(UnitPlan(name=spec.name, before=state, operations=tuple(ops_off)))
            continue
        if state.load == "not-found":
            if not check_mode:
                raise UnitsError("unit %s not found (is its package installed?)" % spec.name)
            state = UnitState(load="not-found", active="inactive", file_state="disabled")
        ops: List[str] = []
        if spec.enabled is True:
            if state.file_state in MASKED_STATES:
                ops += ["unmask", "enable"]
            elif state.file_state not in ENABLED_STATES:
                ops.append("enable")
        elif spec.enabled is False and state.file_state in ("enabled", "enabled-runtime"):
            ops.append("disable")
        if not running:
            if spec.started:
                ops.append("start")  # a start reads the new files: no reload or restart as well
        elif changed.intersection(spec.restart_on):
            ops.append("restart")
        elif changed.intersection(spec.reload_on):
            ops.append("reload")
        plans.append(UnitPlan(name=spec.name, before=state, operations=tuple(ops)))
    return plans


def unit_diffs(plans: Sequence[UnitPlan]) -> List[Dict[str, str]]:
    """Diff mode: one entry per unit that changes, its state before and the operations."""
    diffs = []
    for plan in plans:
        if not plan.operations:
            continue
        header = "unit " + plan.name
        before = "enabled: %s\nactive: %s\n" % (plan.before.file_state or "-", plan.before.active or "-")
        diffs.append(
            {
                "before_header": header,
                "after_header": header,
                "before": before,
                "after": "systemctl %s\n" % ", ".join(plan.operations),
            }
        )
    return diffs


def _check(runner: Runner, cmd: List[str], done: Sequence[Dict[str, Any]]) -> None:
    rc, out, err = runner(cmd)
    if rc != 0:
        raise UnitsApplyError("%s failed (rc=%d): %s" % (" ".join(cmd), rc, (err or out).strip()), done)


def run_units(
    runner: Runner,
    specs: Sequence[UnitSpec],
    changed_paths: Sequence[str],
    check_mode: bool = False,
) -> Tuple[bool, List[UnitPlan]]:
    """daemon-reload (when a unit file changed), read the states, plan, and run the operations.

    Returns whether systemd was (or, in check mode, would be) reloaded, and the plans; in check
    mode nothing is run but ``systemctl show``.
    """
    reload_daemon = needs_daemon_reload(changed_paths)
    done: List[Dict[str, Any]] = []
    if reload_daemon and not check_mode:
        _check(runner, ["systemctl", "daemon-reload"], done)
    if not specs:
        return reload_daemon, []
    names = [spec.name for spec in specs]
    rc, out, err = runner(show_command(names))
    if rc != 0:
        raise UnitsError("systemctl show failed (rc=%d): %s" % (rc, (err or out).strip()))
    plans = plan_units(specs, parse_show(out, names), changed_paths, check_mode)
    if check_mode:
        return reload_daemon, plans

    # Unit file operations first, each without systemctl's own daemon-reload, then one reload for
    # all of them: a daemon-reload costs seconds on a small or emulated host, and a handover
    # (keepalived -> the ipvsadm restore service) paid several between keepalived's stop, which
    # takes its VRRP addresses, and the VIP task that puts them back.
    def run(name: str, op: str, *options: str) -> None:
        _check(runner, ["systemctl", *options, op, "--", name], done)
        done.append({"name": name, "operation": op})

    # a unit to be masked is stopped before: after the reload its unit is /dev/null, without ExecStop=
    early = [(plan.name, "stop") for plan in plans if {"stop", "mask"} <= set(plan.operations)]
    file_ops = [(plan.name, op) for plan in plans for op in plan.operations if op in UNIT_FILE_OPS]
    # then the other jobs (stop, start, reload, restart), in the order of the specs
    jobs = [
        (plan.name, op)
        for plan in plans
        for op in plan.operations
        if op not in UNIT_FILE_OPS and (plan.name, op) not in early
    ]
    for name, op in early:
        run(name, op)
    for name, op in file_ops:
        run(name, op, "--no-reload")
    if file_ops:
        _check(runner, ["systemctl", "daemon-reload"], done)
    for name, op in jobs:
        run(name, op)
    return reload_daemon, plans


def units_result(plans: Sequence[UnitPlan]) -> List[Dict[str, Any]]:
    """The module's ``units`` return value: every unit with its state before and its operations."""
    return [
        {
            "name": plan.name,
            "operations": list(plan.operations),
            "before": {"enabled": plan.before.file_state, "active": plan.before.active},
        }
        for plan in plans
    ]
