"""Unit tests of arp_sysctl's put-back: originals in the state file, owners, purge, legacy keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._sysctl import (
    KeyRecord,
    SysctlError,
    SysctlPlan,
    SysctlStateError,
    apply_plan,
    check_owner,
    desired_settings,
    parse_conf,
    parse_state,
    plan_diffs,
    plan_sysctl,
    read_proc,
    render_conf,
    render_modules,
    render_state,
)

FWD = "net.ipv4.ip_forward"
ALL_REDIR = "net.ipv4.conf.all.send_redirects"
TUNNELS = {"tunl0": "ipip", "gre0": "ip_gre"}


class Host:
    """A fake host: live values and the three files, planned and applied like the module does."""

    def __init__(self, live: Dict[str, str]) -> None:
        self.live: Dict[str, Optional[str]] = dict(live)
        self.conf = ""
        self.modules = ""
        self.state = ""

    def read(self, key: str) -> Optional[str]:
        return self.live.get(key)

    def plan(
        self, owner: str, purge: bool = True, persist: bool = True, interfaces: Sequence[str] = (), **options: Any
    ) -> SysctlPlan:
        desired = desired_settings(interfaces, allow_empty=purge, **options)
        return plan_sysctl(
            desired,
            self.read,
            self.conf,
            persist,
            sorted({TUNNELS[i] for i in interfaces if i in TUNNELS}),
            self.modules,
            owner=owner,
            purge=purge,
            state_before=self.state,
            tunnel_modules=TUNNELS,
        )

    def apply(self, plan: SysctlPlan) -> None:
        self.live.update(plan.live_changes)
        self.conf, self.modules, self.state = plan.file_after, plan.modules_after, plan.state_after

    def step(self, owner: str, **options: Any) -> SysctlPlan:
        """Plan (check mode), apply it, plan again: the repeat must change nothing."""
        check = self.plan(owner, **options)
        self.apply(check)
        again = self.plan(owner, **options)
        assert not again.changed, again
        assert again.restored == [] and again.live_changes == {}
        return check

    def recorded(self) -> Dict[str, KeyRecord]:
        return parse_state(self.state)


def test_records_the_original_once_and_puts_it_back() -> None:
    host = Host({FWD: "0"})
    first = host.step("director", ip_forward=True)
    assert first.changed and first.live_changes == {FWD: "1"} and first.restored == []
    assert host.recorded() == {FWD: KeyRecord("0", True, {"director": "1"})}
    assert parse_conf(host.conf) == {FWD: "1"}
    # a live change by someone else does not overwrite the recorded original
    host.live[FWD] = "0"
    assert host.plan("director", ip_forward=True).live_changes == {FWD: "1"}
    assert host.plan("director", ip_forward=True).state_after == host.state
    host.live[FWD] = "1"
    # the director no longer wants forwarding: original back, key out of file and state
    back = host.step("director", send_redirects=False, interfaces=["eth1"])
    assert back.restored == [FWD] and back.live_changes[FWD] == "0" and back.previous[FWD] == "1"
    assert host.live[FWD] == "0" and FWD not in parse_conf(host.conf) and FWD not in host.recorded()
    # wanted again later: the original is recorded afresh
    host.live[FWD] = "1"
    host.step("director", ip_forward=True, send_redirects=False, interfaces=["eth1"])
    assert host.recorded()[FWD] == KeyRecord("1", True, {"director": "1"})


def test_purge_of_everything_removes_the_files() -> None:
    host = Host({FWD: "0"})
    host.step("director", ip_forward=True)
    plan = host.step("director")
    assert plan.restored == [FWD] and plan.file_after == "" and plan.state_after == ""
    assert host.conf == host.state == "" and host.live[FWD] == "0"


def test_without_purge_keys_stay() -> None:
    host = Host({FWD: "0"})
    host.step("director", ip_forward=True)
    plan = host.plan("director", purge=False, send_redirects=False)
    assert plan.restored == [] and FWD not in plan.live_changes
    assert FWD in parse_conf(plan.file_after) and FWD in parse_state(plan.state_after)


def test_two_owners_share_a_key() -> None:
    host = Host({ALL_REDIR: "1", FWD: "0"})
    host.step("director", send_redirects=False)
    host.step("realserver", send_redirects=False)  # the original stays the one before the first owner
    assert host.recorded()[ALL_REDIR] == KeyRecord("1", True, {"director": "0", "realserver": "0"})
    # the director lets go: the real server still wants it - nothing put back
    plan = host.step("director")
    assert plan.restored == [] and plan.live_changes == {}
    assert host.live[ALL_REDIR] == "0" and parse_conf(host.conf) == {ALL_REDIR: "0"}
    assert host.recorded()[ALL_REDIR].owners == {"realserver": "0"}
    # the last owner lets go: original back
    plan = host.step("realserver")
    assert plan.restored == [ALL_REDIR] and host.live[ALL_REDIR] == "1" and host.conf == ""


def test_the_remaining_owner_value_is_enforced() -> None:
    rp = "net.ipv4.conf.all.rp_filter"
    host = Host({rp: "1"})
    host.step("realserver", rp_filter=0)
    host.step("other", rp_filter=2)
    plan = host.step("other")
    assert plan.restored == [] and plan.live_changes == {rp: "0"} and parse_conf(host.conf) == {rp: "0"}


def test_owners_do_not_purge_each_other() -> None:
    arp = "net.ipv4.conf.all.arp_ignore"
    host = Host({FWD: "0", arp: "0"})
    host.step("director", ip_forward=True)
    host.step("realserver", arp_ignore=1)
    plan = host.step("director")
    assert plan.restored == [FWD] and host.live == {FWD: "0", arp: "1"}
    assert parse_conf(host.conf) == {arp: "1"} and list(host.recorded()) == [arp]


def test_check_mode_plan_and_diff() -> None:
    host = Host({FWD: "0"})
    host.step("director", ip_forward=True)
    plan = host.plan("director")
    assert plan.changed and plan.restored == [FWD] and plan.live_changes == {FWD: "0"}
    diffs = plan_diffs(plan, "/s.conf", "/m.conf", "/state.json")
    assert diffs[0]["before"] == f"{FWD} = 1\n" and diffs[0]["after"] == f"{FWD} = 0  (put back)\n"
    assert [d["before_header"] for d in diffs[1:]] == ["/s.conf", "/state.json"]
    assert diffs[1]["after"] == "" and diffs[2]["after"] == ""


def test_legacy_keys_without_state() -> None:
    """A file of a version without state: wanted keys are adopted with an unknown original, others dropped."""
    arp = "net.ipv4.conf.all.arp_ignore"
    host = Host({FWD: "1", arp: "1"})
    host.conf = render_conf({FWD: "1", arp: "1"})
    plan = host.step("realserver", arp_ignore=1)
    assert plan.restored == [FWD] and plan.live_changes == {}  # original unknown: live left as is
    assert host.recorded() == {arp: KeyRecord(None, False, {"realserver": "1"})}
    assert parse_conf(host.conf) == {arp: "1"}
    plan = host.step("realserver")
    assert plan.restored == [arp] and plan.live_changes == {} and host.conf == host.state == ""
    assert host.live == {FWD: "1", arp: "1"}


def test_legacy_keys_stay_without_purge() -> None:
    host = Host({FWD: "1"})
    host.conf = render_conf({FWD: "1"})
    plan = host.plan("director", purge=False, send_redirects=False)
    assert plan.restored == [] and FWD in parse_conf(plan.file_after) and FWD not in parse_state(plan.state_after)


def test_created_device_goes_back_to_the_default_and_its_module_leaves() -> None:
    host = Host({"net.ipv4.conf.all.rp_filter": "1", "net.ipv4.conf.default.rp_filter": "1"})
    check = host.plan("realserver", rp_filter=2, interfaces=["tunl0"])
    assert check.previous["net.ipv4.conf.tunl0.rp_filter"] is None and check.modules == ["ipip"]
    host.apply(check)
    assert host.modules == render_modules(["ipip"])
    assert host.recorded()["net.ipv4.conf.tunl0.rp_filter"] == KeyRecord(None, True, {"realserver": "2"})
    plan = host.step("realserver")
    assert plan.live_changes == {"net.ipv4.conf.all.rp_filter": "1", "net.ipv4.conf.tunl0.rp_filter": "1"}
    assert host.modules == "" and host.conf == ""


def test_module_of_a_device_still_named_stays() -> None:
    host = Host({"net.ipv4.conf.all.arp_ignore": "0"})
    host.step("realserver", arp_ignore=1, rp_filter=2, interfaces=["tunl0"])
    host.step("realserver", arp_ignore=1, interfaces=["tunl0"])
    assert host.modules == render_modules(["ipip"]) and "net.ipv4.conf.tunl0.arp_ignore" in parse_conf(host.conf)


def test_purge_with_persist_false_still_cleans_the_file() -> None:
    host = Host({FWD: "0"})
    host.step("director", ip_forward=True)
    plan = host.plan("director", persist=False)
    assert plan.restored == [FWD] and plan.file_after == "" and plan.live_changes == {FWD: "0"}


def test_nothing_to_set_needs_purge_and_owner_is_checked() -> None:
    assert desired_settings(["eth1"], allow_empty=True) == {}
    with pytest.raises(SysctlError, match="or purge: true"):
        desired_settings(["eth1"])
    assert check_owner("realserver") == "realserver"
    for bad in ("", "a b", "-x", "x" * 65, "a/b"):
        with pytest.raises(SysctlError, match="owner"):
            check_owner(bad)


@pytest.mark.parametrize(
    "text",
    ["{", "[]", '{"version": 2, "keys": {}}', '{"version": 1, "keys": {"k": {"original": 1, "owners": {}}}}'],
)
def test_bad_state_file_is_refused(text: str) -> None:
    with pytest.raises(SysctlStateError, match="not a state file"):
        parse_state(text)


def test_state_round_trip() -> None:
    state = {FWD: KeyRecord("0", True, {"b": "1", "a": "1"}), "k": KeyRecord(None, False, {"a": "2"})}
    assert parse_state(render_state(state)) == state
    assert render_state({}) == "" and parse_state("") == {}


def paths(tmp_path: Path) -> Tuple[str, str, str, str]:
    proc = tmp_path / "proc"
    (proc / "net/ipv4").mkdir(parents=True)
    (proc / "net/ipv4/ip_forward").write_text("0\n")
    return str(tmp_path / "lib/state.json"), str(tmp_path / "s.conf"), str(tmp_path / "m.conf"), str(proc)


def test_apply_plan_writes_and_removes(tmp_path: Path) -> None:
    state, conf, mods, proc = paths(tmp_path)
    plan = plan_sysctl({FWD: "1"}, lambda k: read_proc(k, proc), "", owner="x", purge=True)
    apply_plan(plan, state, conf, mods, proc)
    assert read_proc(FWD, proc) == "1" and Path(conf).read_text() == plan.file_after
    assert Path(state).read_text() == plan.state_after and oct(Path(state).stat().st_mode & 0o777) == "0o644"
    assert oct(Path(state).parent.stat().st_mode & 0o777) == "0o755"
    back = plan_sysctl({}, lambda k: read_proc(k, proc), Path(conf).read_text(), owner="x", purge=True,
                       state_before=Path(state).read_text())  # fmt: skip
    apply_plan(back, state, conf, mods, proc)
    assert read_proc(FWD, proc) == "0" and not Path(conf).exists() and not Path(state).exists()


def test_apply_plan_records_originals_before_live_changes(tmp_path: Path) -> None:
    state, conf, mods, proc = paths(tmp_path)
    key = "net.ipv4.conf.eth9.arp_ignore"  # no such device: the live write fails
    plan = plan_sysctl({FWD: "1", key: "1"}, lambda k: read_proc(k, proc), "", owner="x")
    with pytest.raises(OSError):
        apply_plan(plan, state, conf, mods, proc)
    assert parse_state(Path(state).read_text())[FWD] == KeyRecord("0", True, {"x": "1"})
