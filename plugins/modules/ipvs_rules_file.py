#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipvs_rules_file
short_description: Save the live IPVS table as an ipvsadm rules file
description:
  - Renders the live IPVS table in exactly the text that C(ipvsadm-save -n)
    prints (same lines, options and sort order) and writes it to O(path), so
    that C(ipvsadm-restore) (for example the Debian C(ipvsadm) service) loads it at boot.
  - The file is written atomically (temporary file in the same directory, fsync,
    rename, fsync of the directory) with mode C(0600), and only when its content changes.
  - Like C(ipvsadm-save), the format cannot express real server thresholds;
    O(thresholds_path) writes them to a second file of C(ipvsadm -e) lines to
    feed to C(ipvsadm-restore) after the rules.
version_added: 0.1.0
author:
  - lvs.cluster contributors (@lvs-cluster)
extends_documentation_fragment:
  - lvs.cluster.ipvs
  - lvs.cluster.ipvs.changes
options:
  path:
    description: File to write.
    type: path
    default: /etc/ipvsadm.rules
  thresholds_path:
    description:
      - Also write, the same way, one C(-e ... -x UPPER -y LOWER) line (C(ipvsadm) edit-server syntax) for every
        real server with connection thresholds; the file is empty when there are none.
      - C(ipvsadm -R < thresholds_path) run after the rules are restored sets the thresholds again. Not
        C(ipvsadm-restore), which clears the table first.
    type: path
"""

EXAMPLES = r"""
- name: Persist the live table for ipvsadm-restore
  lvs.cluster.ipvs_rules_file:

- name: Save to another file
  lvs.cluster.ipvs_rules_file:
    path: /etc/lvs/rules.save

- name: Save the rules and, separately, the real server thresholds
  lvs.cluster.ipvs_rules_file:
    path: /etc/ipvsadm.rules
    thresholds_path: /etc/lvs-cluster/ipvs-thresholds.rules
"""

RETURN = r"""
path:
  description: The file written.
  returned: always
  type: str
  sample: /etc/ipvsadm.rules
lines:
  description: Number of rule lines.
  returned: always
  type: int
  sample: 3
threshold_lines:
  description: Number of lines in O(thresholds_path).
  returned: when O(thresholds_path) is set
  type: int
  sample: 2
"""

import os  # noqa: E402
from typing import Any, Dict, Tuple  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.lvs.cluster.plugins.module_utils._files import write_file  # noqa: E402
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import IpvsError, module_client, render_rules  # noqa: E402


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` by ``text`` (mode 0600): the one atomic writer of module_utils, which also
    fsyncs the directory, so that the new file survives a crash right after the module returns."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), 0o755, exist_ok=True)
    write_file(os.path.abspath(path), text.encode("utf-8"), 0o600, -1, -1)


def plan_file(path: str, text: str) -> Tuple[bool, str]:
    """``(changed, old text)`` of writing ``text`` to ``path`` with mode 0600."""
    exists = os.path.exists(path)
    old = read_text(path) if exists else ""
    mode_ok = exists and (os.stat(path).st_mode & 0o7777) == 0o600
    return (not exists or old != text or not mode_ok), old


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/ipvsadm.rules"},
            "thresholds_path": {"type": "path"},
            "modprobe": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    files: Dict[str, str] = {}
    try:
        with module_client(module) as client:
            table = client.table()
    except IpvsError as exc:
        module.fail_json(msg=str(exc))
    files[module.params["path"]] = render_rules(table)
    if module.params["thresholds_path"]:
        files[module.params["thresholds_path"]] = render_rules(table, thresholds=True)
    result: Dict[str, Any] = {"changed": False, "path": module.params["path"]}
    diffs = []
    for path, text in files.items():
        changed, old = plan_file(path, text)
        if changed and not module.check_mode:
            try:
                if old != text or not os.path.exists(path):
                    write_atomic(path, text)
                else:
                    os.chmod(path, 0o600)
            except OSError as exc:
                module.fail_json(msg=f"cannot write {path}: {exc}")
        result["changed"] = result["changed"] or changed
        diffs.append({"before": old, "after": text, "before_header": path, "after_header": path})
    result["lines"] = files[module.params["path"]].count("\n")
    if module.params["thresholds_path"]:
        result["threshold_lines"] = files[module.params["thresholds_path"]].count("\n")
    if module._diff:
        result["diff"] = diffs[0] if len(diffs) == 1 else diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
