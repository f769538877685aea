# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loading kernel modules: the one way the collection's modules do it.

``modprobe`` is looked up in the sbin directories and run through the calling
module's ``run_command`` (``runner`` is anything with Ansible's ``get_bin_path``
and ``run_command``; no AnsibleModule is created here). ``try_load`` returns the
error text ('' on success) for callers that go on without the module (a
built-in ``dummy``, the IPVS family checked again afterwards); ``load`` raises
``KernelModuleError``.
"""

from __future__ import annotations

from typing import Any, Sequence

SBIN_DIRS = ["/usr/sbin", "/sbin"]


class KernelModuleError(Exception):
    """``modprobe`` is missing or refused to load a module."""


def try_load(runner: Any, names: Sequence[str]) -> str:
    """``modprobe -a NAMES``; returns its error text, '' on success."""
    if not names:
        return ""
    path = runner.get_bin_path("modprobe", opt_dirs=SBIN_DIRS)
    if path is None:
        return "modprobe not found"
    try:
        rc, _out, err = runner.run_command([path, "-a", *names])
    except OSError as exc:
        return str(exc)
    return "" if rc == 0 else (str(err).strip() or f"modprobe exited {rc}")


def load(runner: Any, names: Sequence[str], purpose: str) -> None:
    """``modprobe -a NAMES`` or ``KernelModuleError`` naming the modules and ``purpose``."""
    error = try_load(runner, names)
    if error:
        raise KernelModuleError(f"cannot load {' '.join(names)} to {purpose}: {error}")
