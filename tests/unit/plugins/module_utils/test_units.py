"""Unit tests of managed_files' units logic: validation, systemctl show parsing, planning, running.

The runner is a recording fake that answers ``systemctl show`` from a table of states; the lab's
integration test (tests/integration/test_host_side.py) runs the same code against systemd.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._units import (
    UnitsApplyError,
    UnitsError,
    UnitSpec,
    UnitState,
    needs_daemon_reload,
    parse_show,
    plan_units,
    run_units,
    unit_diffs,
    units_result,
    validate_units,
)

SITE = "/etc/nginx/sites-available/site"
UNIT = "/etc/systemd/system/srv-www.mount"


class FakeSystemctl:
    def __init__(self, states: Dict[str, Tuple[str, str, str]], fail: str = "") -> None:
        self.states = states
        self.fail = fail
        self.calls: List[List[str]] = []

    def __call__(self, cmd: List[str]) -> Tuple[int, str, str]:
        self.calls.append(cmd)
        if self.fail and " ".join(cmd).startswith(self.fail):
            return 1, "", "Job failed"
        if cmd[1] == "show":
            names = cmd[cmd.index("--") + 1 :]
            blocks = []
            for name in names:
                load, active, file_state = self.states.get(name, ("not-found", "inactive", ""))
                blocks.append("LoadState=%s\nActiveState=%s\nUnitFileState=%s\n" % (load, active, file_state))
            return 0, "\n".join(blocks), ""
        return 0, "", ""

    def operations(self) -> List[str]:
        return [" ".join(c[1:]) for c in self.calls if c[1] != "show"]


def state(active: str = "active", file_state: str = "enabled", load: str = "loaded") -> UnitState:
    return UnitState(load=load, active=active, file_state=file_state)


def test_validate_defaults_and_paths() -> None:
    specs = validate_units([{"name": "nginx.service", "reload_on": [SITE]}], [SITE, UNIT])
    assert specs == [UnitSpec(name="nginx.service", enabled=True, started=True, reload_on=(SITE,))]


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"name": "nginx"}, "unit name with its type"),
        ({"name": "nginx.service", "reload_on": ["/etc/nginx/typo"]}, "not a path of files"),
        ({"name": "nginx.service", "restart_on": "/etc/x"}, "a list of paths"),
        ({"name": "nginx.service", "enabled": "yes"}, "enabled must be"),
        ({"name": "nginx.service", "started": None}, "started must be"),
        ({"name": "nginx.service", "state": "started"}, "unknown key"),
        ({"name": "nginx.service", "masked": "yes"}, "masked must be"),
        ({"name": "nginx.service", "masked": True, "reload_on": [SITE]}, "neither reloaded, restarted nor"),
    ],
)
def test_validate_refuses(entry: Dict[str, object], message: str) -> None:
    with pytest.raises(UnitsError, match=message):
        validate_units([entry], [SITE])


def test_validate_refuses_a_unit_twice() -> None:
    with pytest.raises(UnitsError, match="listed twice"):
        validate_units([{"name": "a.service"}, {"name": "a.service"}], [])


def test_daemon_reload_only_for_unit_files() -> None:
    assert needs_daemon_reload([SITE, UNIT])
    assert needs_daemon_reload(["/etc/systemd/system/ipvsadm.service.d/lvs-cluster.conf"])
    assert not needs_daemon_reload([SITE, "/etc/systemd/network/10-eth1.network"])


def test_parse_show_by_order_not_id() -> None:
    text = (
        "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
        "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n"
    )
    states = parse_show(text, ["nfs-kernel-server.service", "nosuch.service"])
    assert states["nfs-kernel-server.service"] == state()
    assert states["nosuch.service"] == state("inactive", "", "not-found")
    with pytest.raises(UnitsError, match="2 blocks for 3 units"):
        parse_show(text, ["a.service", "b.service", "c.service"])


def test_plan_start_wins_over_reload() -> None:
    spec = UnitSpec(name="nginx.service", reload_on=(SITE,), restart_on=(UNIT,))
    plans = plan_units([spec], {"nginx.service": state("inactive", "disabled")}, [SITE, UNIT])
    assert plans[0].operations == ("enable", "start")


@pytest.mark.parametrize(
    "changed, expected",
    [([], ()), ([SITE], ("reload",)), ([UNIT], ("restart",)), ([SITE, UNIT], ("restart",))],
)
def test_plan_running_unit(changed: List[str], expected: Tuple[str, ...]) -> None:
    spec = UnitSpec(name="nginx.service", reload_on=(SITE,), restart_on=(UNIT,))
    assert plan_units([spec], {"nginx.service": state()}, changed)[0].operations == expected


@pytest.mark.parametrize(
    "spec, before, expected",
    [
        (UnitSpec(name="a.service"), state("active", "static"), ()),
        (UnitSpec(name="a.service"), state("active", "generated"), ()),
        (UnitSpec(name="a.service"), state("inactive", "masked", "masked"), ("unmask", "enable", "start")),
        (UnitSpec(name="a.service", started=False), state("inactive", "disabled"), ("enable",)),
        (UnitSpec(name="a.service", enabled=None, started=False), state("inactive", "disabled"), ()),
        (UnitSpec(name="a.service", enabled=False, started=False), state("inactive", "enabled"), ("disable",)),
        (UnitSpec(name="a.service"), state("failed", "enabled"), ("start",)),
        (UnitSpec(name="a.service"), state("activating", "enabled"), ()),
        # brought down: a handover to another owner (keepalived <-> the ipvsadm restore service)
        (UnitSpec(name="a.service", masked=True), state("active", "enabled"), ("stop", "mask")),
        (UnitSpec(name="a.service", masked=True), state("inactive", "masked", "masked"), ()),
        (UnitSpec(name="a.service", masked=True, missing_ok=True), state("inactive", "", "not-found"), ()),
    ],
)
def test_plan_states(spec: UnitSpec, before: UnitState, expected: Tuple[str, ...]) -> None:
    assert plan_units([spec], {spec.name: before}, [])[0].operations == expected


def test_plan_not_found_is_an_error_but_in_check_mode() -> None:
    spec = UnitSpec(name="nginx.service")
    missing = {"nginx.service": state("inactive", "", "not-found")}
    with pytest.raises(UnitsError, match="not found"):
        plan_units([spec], missing, [])
    assert plan_units([spec], missing, [], check_mode=True)[0].operations == ("enable", "start")


def test_run_reloads_systemd_first_then_operates_in_order() -> None:
    fake = FakeSystemctl(
        {"srv-www.mount": ("loaded", "inactive", "disabled"), "nginx.service": ("loaded", "active", "enabled")}
    )
    specs = [UnitSpec(name="srv-www.mount", restart_on=(UNIT,)), UnitSpec(name="nginx.service", reload_on=(SITE,))]
    reloaded, plans = run_units(fake, specs, [UNIT, SITE])
    assert reloaded
    assert fake.calls[0] == ["systemctl", "daemon-reload"]
    assert fake.calls[1][:2] == ["systemctl", "show"]
    assert fake.operations() == [
        "daemon-reload",
        "--no-reload enable -- srv-www.mount",
        "daemon-reload",
        "start -- srv-www.mount",
        "reload -- nginx.service",
    ]
    assert units_result(plans)[1] == {
        "name": "nginx.service",
        "operations": ["reload"],
        "before": {"enabled": "enabled", "active": "active"},
    }


def test_run_check_mode_runs_nothing_but_show() -> None:
    fake = FakeSystemctl({})
    reloaded, plans = run_units(fake, [UnitSpec(name="nginx.service")], [UNIT], check_mode=True)
    assert reloaded and plans[0].operations == ("enable", "start")
    assert fake.operations() == []
    diff = unit_diffs(plans)
    assert diff[0]["before_header"] == "unit nginx.service" and "enable, start" in diff[0]["after"]


def test_run_without_units_still_reloads_systemd() -> None:
    fake = FakeSystemctl({})
    assert run_units(fake, [], [UNIT]) == (True, [])
    assert fake.operations() == ["daemon-reload"]
    assert run_units(fake, [], [SITE]) == (False, [])


def test_run_failure_names_what_was_done() -> None:
    fake = FakeSystemctl({"a.service": ("loaded", "inactive", "disabled")}, fail="systemctl start")
    with pytest.raises(UnitsApplyError, match="start -- a.service failed") as info:
        run_units(fake, [UnitSpec(name="a.service")], [])
    assert info.value.done == [{"name": "a.service", "operation": "enable"}]
    # a unit without changed files: no daemon-reload at all
    fake = FakeSystemctl({"a.service": ("loaded", "inactive", "enabled")})
    run_units(fake, [UnitSpec(name="a.service")], [])
    assert fake.operations() == ["start -- a.service"]


def test_run_show_failure_is_an_error() -> None:
    def broken(cmd: List[str]) -> Tuple[int, str, str]:
        return 1, "", "System has not been booted with systemd"

    with pytest.raises(UnitsError, match="not been booted"):
        run_units(broken, [UnitSpec(name="a.service")], [])


def test_run_handover_stops_one_owner_and_unmasks_the_other() -> None:
    dropin = "/etc/systemd/system/keepalived.service.d/lvs-cluster.conf"
    states = {
        "keepalived.service": ("loaded", "active", "enabled"),
        "ipvsadm.service": ("masked", "inactive", "masked"),
    }
    raw = [
        {"name": "keepalived.service", "enabled": None, "started": False, "stop_on": [dropin], "missing_ok": True},
        {"name": "ipvsadm.service", "started": False},
        {"name": "nosuch.service", "masked": True, "missing_ok": True},
    ]
    specs = validate_units(raw, [dropin])
    fake = FakeSystemctl(states)
    _reloaded, plans = run_units(fake, specs, [dropin])
    # the unit files under one daemon-reload (not one per systemctl call), then the jobs
    assert fake.operations() == [
        "daemon-reload",
        "--no-reload disable -- keepalived.service",
        "--no-reload unmask -- ipvsadm.service",
        "--no-reload enable -- ipvsadm.service",
        "daemon-reload",
        "stop -- keepalived.service",
    ]
    assert [p.operations for p in plans][2] == ()
    # the other way: the restore service stopped before its mask (its ExecStop= still known)
    fake = FakeSystemctl(
        {"keepalived.service": ("loaded", "inactive", "disabled"), "ipvsadm.service": ("loaded", "active", "enabled")}
    )
    back = validate_units([{"name": "ipvsadm.service", "masked": True}, {"name": "keepalived.service"}], [])
    run_units(fake, back, [])
    assert fake.operations() == [
        "stop -- ipvsadm.service",
        "--no-reload mask -- ipvsadm.service",
        "--no-reload enable -- keepalived.service",
        "daemon-reload",
        "start -- keepalived.service",
    ]
    # the drop-in already gone (no change): a keepalived of somebody else is left alone
    fake = FakeSystemctl(dict(states, **{"ipvsadm.service": ("loaded", "inactive", "enabled")}))
    run_units(fake, specs, [])
    assert fake.operations() == []
