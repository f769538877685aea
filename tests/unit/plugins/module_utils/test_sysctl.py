"""Unit tests of the arp_sysctl logic: validation, planning, file rendering."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Dict, Optional

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._sysctl import (
    HEADER,
    KeyRecord,
    SysctlError,
    atomic_write,
    conf_key,
    desired_settings,
    key_interface,
    key_to_path,
    parse_conf,
    parse_state,
    plan_sysctl,
    read_proc,
    render_conf,
    render_modules,
    render_state,
    write_proc,
)

OWN = {"lvs-cluster": "1"}


def test_desired_settings_all_and_interfaces() -> None:
    out = desired_settings(["eth1", "tunl0"], arp_ignore=1, arp_announce=2, rp_filter=2)
    assert out == {
        "net.ipv4.conf.all.arp_ignore": "1",
        "net.ipv4.conf.all.arp_announce": "2",
        "net.ipv4.conf.all.rp_filter": "2",
        "net.ipv4.conf.eth1.arp_ignore": "1",
        "net.ipv4.conf.eth1.arp_announce": "2",
        "net.ipv4.conf.eth1.rp_filter": "2",
        "net.ipv4.conf.tunl0.arp_ignore": "1",
        "net.ipv4.conf.tunl0.arp_announce": "2",
        "net.ipv4.conf.tunl0.rp_filter": "2",
    }


def test_desired_settings_director() -> None:
    out = desired_settings(["eth1"], send_redirects=False, ip_forward=True)
    assert out == {
        "net.ipv4.conf.all.send_redirects": "0",
        "net.ipv4.conf.eth1.send_redirects": "0",
        "net.ipv4.ip_forward": "1",
    }
    assert desired_settings(["eth1"], include_all=False, arp_ignore=8) == {"net.ipv4.conf.eth1.arp_ignore": "8"}


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"arp_ignore": 4}, r"arp_ignore = 4 is out of range \(allowed: 0-3 or 8\)"),
        ({"arp_ignore": -1}, "arp_ignore = -1 is out of range"),
        ({"arp_announce": 3}, r"arp_announce = 3 is out of range \(allowed: 0-2\)"),
        ({"rp_filter": 5}, "rp_filter = 5 is out of range"),
        ({}, "nothing to set"),
    ],
)
def test_out_of_range_is_refused(kwargs: Dict[str, int], message: str) -> None:
    with pytest.raises(SysctlError, match=message):
        desired_settings(["eth1"], **kwargs)


def test_bad_interface_names() -> None:
    with pytest.raises(SysctlError, match="not a valid interface name"):
        desired_settings(["eth1/x"], arp_ignore=1)
    with pytest.raises(SysctlError, match="no interface"):
        desired_settings([], include_all=False, arp_ignore=1)


def test_dotted_interface_uses_slash_keys() -> None:
    key = conf_key("eth0.100", "rp_filter")
    assert key == "net/ipv4/conf/eth0.100/rp_filter"
    assert key_to_path(key) == "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"
    assert key_to_path("net.ipv4.conf.all.arp_ignore") == "/proc/sys/net/ipv4/conf/all/arp_ignore"
    assert key_interface(key) == "eth0.100"
    assert key_interface("net.ipv4.ip_forward") is None


def test_parse_and_render_round_trip() -> None:
    settings = {"net.ipv4.conf.eth1.arp_ignore": "1", "net.ipv4.ip_forward": "1", "net.ipv4.conf.all.arp_ignore": "1"}
    text = render_conf(settings)
    assert text.startswith(HEADER)
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body == ["net.ipv4.ip_forward = 1", "net.ipv4.conf.all.arp_ignore = 1", "net.ipv4.conf.eth1.arp_ignore = 1"]
    assert parse_conf(text) == settings
    assert parse_conf("; comment\n-net.ipv4.ip_forward=0\nbogus line\n") == {"net.ipv4.ip_forward": "0"}


def live(values: Dict[str, str]) -> Callable[[str], Optional[str]]:
    def read(key: str) -> Optional[str]:
        return values.get(key)

    return read


def test_plan_four_steps() -> None:
    desired = desired_settings(["eth1"], arp_ignore=1, arp_announce=2)
    before = dict.fromkeys(desired, "0")
    plan = plan_sysctl(desired, live(before), "")
    assert plan.changed and plan.file_changed and set(plan.live_changes) == set(desired)
    assert plan.previous == before
    # applied: nothing left to do
    again = plan_sysctl(desired, live(dict(desired)), plan.file_after, state_before=plan.state_after)
    assert not again.changed
    assert again.previous == desired


def test_plan_keeps_keys_of_earlier_calls_and_modules() -> None:
    first = render_conf({"net.ipv4.ip_forward": "1"})
    desired = desired_settings(["tunl0"], rp_filter=2)
    plan = plan_sysctl(desired, live({}), first, modules=["ipip"], modules_before="")
    merged = parse_conf(plan.file_after)
    assert merged["net.ipv4.ip_forward"] == "1" and merged["net.ipv4.conf.tunl0.rp_filter"] == "2"
    assert plan.live_changes["net.ipv4.conf.tunl0.rp_filter"] == "2"  # tunl0 does not exist yet
    assert plan.previous["net.ipv4.conf.tunl0.rp_filter"] is None
    assert plan.modules_after == render_modules(["ipip"])
    again = plan_sysctl(
        desired,
        live(desired),
        plan.file_after,
        modules=["ipip"],
        modules_before=plan.modules_after,
        state_before=plan.state_after,
    )
    assert not again.changed


def test_plan_without_persist_touches_no_file() -> None:
    desired = desired_settings([], ip_forward=True)
    plan = plan_sysctl(desired, live({"net.ipv4.ip_forward": "1"}), "", persist=False, modules=["ipip"])
    assert not plan.live_changes and not plan.file_changed and not plan.modules_changed
    # only the state learns the key's original and owner
    assert plan.changed and parse_state(plan.state_after)["net.ipv4.ip_forward"] == KeyRecord("1", True, OWN)


def test_value_whitespace_is_normalised() -> None:
    desired = {"net.ipv4.ip_forward": "1"}
    state = render_state({"net.ipv4.ip_forward": KeyRecord("0", True, OWN)})
    assert not plan_sysctl(
        desired, live({"net.ipv4.ip_forward": " 1"}), render_conf(desired), state_before=state
    ).changed


def test_atomic_write_and_proc_helpers(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "90-lvs-cluster.conf"
    atomic_write(str(target), "a = 1\n", 0o644)
    assert target.read_text() == "a = 1\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["90-lvs-cluster.conf"]
    proc = tmp_path / "proc"
    (proc / "net/ipv4/conf/eth1").mkdir(parents=True)
    (proc / "net/ipv4/conf/eth1/arp_ignore").write_text("0\n")
    assert read_proc("net.ipv4.conf.eth1.arp_ignore", str(proc)) == "0"
    assert read_proc("net.ipv4.conf.tunl0.arp_ignore", str(proc)) is None
    write_proc("net.ipv4.conf.eth1.arp_ignore", "1", str(proc))
    assert read_proc("net.ipv4.conf.eth1.arp_ignore", str(proc)) == "1"
