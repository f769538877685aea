"""Loading kernel modules (`_kmod`, ip_vs in `_ipvs`): the module's run_command runs modprobe."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import _ipvs
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (
    IpvsNotAvailable,
    modprobe_ip_vs,
    module_client,
)
from ansible_collections.lvs.cluster.plugins.module_utils._kmod import KernelModuleError, load, try_load
from ansible_collections.lvs.cluster.plugins.module_utils._netlink import FamilyNotFound


class FakeModule:
    """The part of AnsibleModule that loading ip_vs uses."""

    def __init__(self, result: Tuple[int, str, str], binary: Optional[str] = "/usr/sbin/modprobe", **params: Any):
        self.result = result
        self.binary = binary
        self.params: Dict[str, Any] = params
        self.commands: List[List[str]] = []

    def get_bin_path(self, name: str, opt_dirs: Optional[List[str]] = None) -> Optional[str]:
        assert name == "modprobe"
        return self.binary

    def run_command(self, args: List[str]) -> Tuple[int, str, str]:
        self.commands.append(args)
        return self.result


def test_modprobe_runs_through_the_module() -> None:
    module = FakeModule((0, "", ""))
    assert modprobe_ip_vs(module) == ""
    assert module.commands == [["/usr/sbin/modprobe", "-a", "ip_vs"]]


def test_modprobe_error_text() -> None:
    assert modprobe_ip_vs(FakeModule((1, "", "modprobe: FATAL: Module ip_vs not found\n"))) == (
        "modprobe: FATAL: Module ip_vs not found"
    )
    assert modprobe_ip_vs(FakeModule((1, "", ""))) == "modprobe exited 1"
    assert modprobe_ip_vs(FakeModule((0, "", ""), binary=None)) == "modprobe not found"


class MissingFamily:
    opened = 0

    def __init__(self, name: str) -> None:
        MissingFamily.opened += 1
        raise FamilyNotFound(name)


@pytest.mark.parametrize("allowed", [True, False])
def test_client_loads_ip_vs_once_when_allowed(monkeypatch: pytest.MonkeyPatch, allowed: bool) -> None:
    monkeypatch.setattr(_ipvs, "GenlSocket", MissingFamily)
    MissingFamily.opened = 0
    module = FakeModule((1, "", "Module ip_vs not found"), modprobe=allowed)
    with pytest.raises(IpvsNotAvailable) as info:
        module_client(module)
    assert MissingFamily.opened == 2  # tried again after the (attempted) modprobe
    if allowed:
        assert module.commands == [["/usr/sbin/modprobe", "-a", "ip_vs"]]
        assert "(Module ip_vs not found)" in str(info.value)
    else:
        assert module.commands == []
        assert "(modprobe not attempted)" in str(info.value)


def test_load_names_the_modules_and_the_purpose() -> None:
    module = FakeModule((0, "", ""))
    load(module, ["ipip", "fou"], "create tunl0")
    assert module.commands == [["/usr/sbin/modprobe", "-a", "ipip", "fou"]]
    with pytest.raises(KernelModuleError, match=r"cannot load ipip to create tunl0: modprobe: FATAL"):
        load(FakeModule((1, "", "modprobe: FATAL: Module ipip not found\n")), ["ipip"], "create tunl0")
    with pytest.raises(KernelModuleError, match="modprobe not found"):
        load(FakeModule((0, "", ""), binary=None), ["ipip"], "create tunl0")


def test_nothing_to_load_runs_nothing() -> None:
    module = FakeModule((1, "", "unused"))
    assert try_load(module, []) == ""
    assert module.commands == []
