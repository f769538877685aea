# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation shared by the IPVS modules."""

from __future__ import annotations


class ModuleDocFragment:
    # The IPVS netlink family and check mode, common to every IPVS module.
    DOCUMENTATION = r"""
options:
  modprobe:
    description:
      - Run C(modprobe ip_vs) when the IPVS generic netlink family is missing.
      - Without it, or when loading fails, the module fails with a message telling to load C(ip_vs).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check mode and return the changes it would make without making them.
    support: full
"""

    # Modules that change the kernel or a file and can show it.
    CHANGES = r"""
attributes:
  diff_mode:
    description: Returns the state before and after in diff mode.
    support: full
"""
