#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402  (imports follow the documentation, as in every Ansible module)

DOCUMENTATION = r"""
---
module: managed_files
short_description: Many files, directories and symlinks, and the systemd units that read them, in one task
version_added: 0.2.0
description:
  - Puts a list of regular files (with their content), directories and symbolic links in place, or removes them,
    in one module call, so that a role pays one SSH round trip and one Python start for all of them instead of one
    per C(ansible.builtin.copy), C(ansible.builtin.template) or C(ansible.builtin.file) task.
  - Every entry is validated and compared with the host before the first write; on an invalid entry or a
    conflict with the host (a file whose path is a directory, a link whose path is a file, a non-empty
    directory to remove) nothing is changed.
  - Files are written atomically (temporary file in the same directory, fsync, chown and chmod, rename) and only
    when their content differs; a file whose content matches but whose mode or ownership differs is only
    chmod/chown'ed. Missing parent directories are created with mode 0755, owned by root:root.
  - Entries are applied in the order given. If a write fails halfway, the error names the paths already changed
    and RV(changed_paths) lists them.
  - With O(units), the systemd units that read the files follow in the same call, after the files are in place
    (one C(systemctl daemon-reload) first when a changed path is a unit file or drop-in, one C(systemctl show)
    for the state of every unit) - instead of a C(ansible.builtin.systemd_service) task per unit and handlers.
    The units' enable, disable, mask and unmask operations run first, with C(--no-reload) and one
    C(systemctl daemon-reload) after them all; then the stop, start, reload and restart jobs, in the order
    of O(units) (a unit to be masked is stopped before its mask).
    A unit is enabled and started when it is not; a unit that was already running is restarted or reloaded
    when a path of its O(units[].restart_on) or O(units[].reload_on) changed. A unit started here reads the
    new files, so it is not reloaded as well (start or reload, never both in one run).
  - >-
    Templates are rendered on the controller, e.g.
    C(content: "{{ lookup('ansible.builtin.template', 'unit.service.j2') }}").
author:
  - lvs.cluster contributors (@lvs-cluster)
options:
  files:
    description:
      - The files, directories and links to manage. A path may appear only once.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description:
          - Absolute path of the entry.
        type: str
        required: true
      state:
        description:
          - V(file) a regular file with O(files[].content) (a symlink at the path is replaced by the file);
            V(directory) a directory; V(link) a symbolic link to O(files[].src) (a link with another target is
            replaced; any other existing entry at the path is an error); V(absent) removes a file, a link or an
            empty directory (a non-empty directory is an error).
        type: str
        choices: [file, directory, link, absent]
        default: file
      content:
        description:
          - The complete content of the file (text, written as UTF-8). Required with O(files[].state=file),
            refused with any other state.
        type: str
      src:
        description:
          - Target of the link (absolute, or relative to the link's directory; it need not exist).
            Required with O(files[].state=link), refused with any other state.
        type: str
      mode:
        description:
          - Permissions as a quoted octal string (V("0644"), V("0750"), V("1777")). Default V("0644") for files and
            V("0755") for directories. Refused with V(link) and V(absent). An unquoted YAML number is refused
            (YAML reads C(0644) as 420).
        type: raw
      owner:
        description:
          - Owner of the file, directory or link (a user name, or a numeric uid). Ignored with V(absent).
        type: str
        default: root
      group:
        description:
          - Group of the file, directory or link (a group name, or a numeric gid). Ignored with V(absent).
        type: str
        default: root
      force:
        description:
          - With V(false), a regular file that already exists at O(files[].path) is left as it is; its content,
            mode and owner are not compared and it is not read. For a seed that its users may edit, like
            O(ansible.builtin.copy#module:force=false). Only with O(files[].state=file).
        type: bool
        default: true
      validate:
        description:
          - A command run on the new content before anything is written, with C(%s) standing for the path of a
            private temporary copy (e.g. V(nft -c -f %s)); run without a shell. Every file's command runs before
            the first write, and a non-zero exit changes nothing. Only for a file whose content changes, never in
            check mode. Only with O(files[].state=file).
        type: str
  units:
    description:
      - Systemd units to bring in line after the files, in the order given. A unit may appear only once.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - The unit's full name with its type (V(nginx.service), V(srv-www.mount)).
        type: str
        required: true
      enabled:
        description:
          - V(true) enables the unit (a masked unit is unmasked first), V(false) disables it, V(null) leaves its
            enablement alone. A static, indirect or generated unit counts as enabled.
        type: raw
        default: true
      started:
        description:
          - V(true) starts the unit when it is not running. V(false) does not start it (a running unit is still
            reloaded or restarted by O(units[].reload_on) and O(units[].restart_on)).
        type: bool
        default: true
      masked:
        description:
          - V(true) stops the unit when it is running, then masks it (neither a boot nor a package update starts
            it); O(units[].enabled) and O(units[].started) do not apply. Not with O(units[].reload_on),
            O(units[].restart_on) or O(units[].stop_on).
        type: bool
        default: false
      missing_ok:
        description:
          - V(true) leaves alone a unit that systemd does not know (its package is not installed) instead of failing.
        type: bool
        default: false
      reload_on:
        description:
          - Paths of O(files) whose change reloads the unit when it was already running.
            A path that is not one of O(files) is an error.
        type: list
        elements: str
        default: []
      restart_on:
        description:
          - Paths of O(files) whose change restarts the unit when it was already running (wins over a reload).
            A path that is not one of O(files) is an error.
        type: list
        elements: str
        default: []
      stop_on:
        description:
          - Paths of O(files) whose change stops the unit when it is running and disables it, whatever
            O(units[].enabled) and O(units[].started) say (a handover to another owner, marked by the removal of
            a file that only the old owner's setup has). A path that is not one of O(files) is an error.
        type: list
        elements: str
        default: []
notes:
  - A unit that systemd does not know is an error (unless O(units[].missing_ok)), except in check mode, where the
    package that brings it may not be installed yet (it is reported as to be enabled and started).
  - Needs root to set ownership. Supports check mode (reports what would change, writes nothing) and diff mode
    (one diff per changed entry, with the content of files and a short state summary of directories and links).
  - Only the entries listed are touched; nothing else in their directories is removed.
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Kernel modules, sysctls, a unit with its drop-in and the enabling symlink - one task
  lvs.cluster.managed_files:
    files:
      - path: /etc/modules-load.d/lvs-cluster-ipvs.conf
        content: "ip_vs\nip_vs_rr\n"
      - path: /etc/systemd/system/example.service
        content: "{{ lookup('ansible.builtin.template', 'example.service.j2') }}"
      - path: /etc/systemd/system/nginx.service.d/lvs-cluster.conf
        content: |
          [Unit]
          After=remote-fs.target
      - path: /etc/systemd/system/multi-user.target.wants/example.service
        state: link
        src: /etc/systemd/system/example.service
      - path: /srv/www
        state: directory
        mode: "0750"
        group: www-data
      - path: /etc/nginx/sites-enabled/default
        state: absent
  register: unit_files

- name: A site and the web server that serves it - files, enable, start or reload in one task
  lvs.cluster.managed_files:
    files:
      - path: /etc/nginx/sites-available/example
        content: "{{ lookup('ansible.builtin.template', 'site.conf.j2') }}"
      - path: /etc/nginx/sites-enabled/example
        state: link
        src: /etc/nginx/sites-available/example
      - path: /etc/systemd/system/nginx.service.d/lvs-cluster.conf
        content: |
          [Unit]
          After=remote-fs.target
    units:
      - name: nginx.service
        reload_on: [/etc/nginx/sites-available/example, /etc/nginx/sites-enabled/example]
        restart_on: [/etc/systemd/system/nginx.service.d/lvs-cluster.conf]

- name: A firewall table checked by nft before it replaces the live one, then loaded by its unit
  lvs.cluster.managed_files:
    files:
      - path: /etc/example/table.nft
        mode: "0600"
        content: "{{ lookup('ansible.builtin.template', 'table.nft.j2') }}"
        validate: nft -c -f %s
    units:
      - name: example-nft.service
        reload_on: [/etc/example/table.nft]

- name: Hand over - the old daemon stopped and disabled when its drop-in goes, the new one unmasked and enabled
  lvs.cluster.managed_files:
    files:
      - path: /etc/systemd/system/keepalived.service.d/lvs-cluster.conf
        state: absent
    units:
      - name: keepalived.service
        enabled: null
        started: false
        stop_on: [/etc/systemd/system/keepalived.service.d/lvs-cluster.conf]
        missing_ok: true
      - name: ipvsadm.service
        started: false
"""

RETURN = r"""
changed_paths:
  description:
    - The paths (as given) that changed, or would change in check mode, in the order of O(files).
    - On a failure halfway, the paths changed before the failure.
  returned: always
  type: list
  elements: str
  sample: ["/etc/systemd/system/example.service", "/etc/systemd/system/multi-user.target.wants/example.service"]
units:
  description:
    - Every unit of O(units) with its state before the call and the C(systemctl) operations run (or, in check mode,
      to run) on it, in order; an empty list of operations means nothing to do.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "nginx.service", "operations": ["reload"], "before": {"enabled": "enabled", "active": "active"}}]
units_done:
  description: On a failed C(systemctl) operation, the operations done before it.
  returned: when a unit operation failed
  type: list
  elements: dict
  sample: [{"name": "nginx.service", "operation": "enable"}]
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) ran (or would run, in check mode) because a unit file changed.
  returned: always
  type: bool
  sample: true
diff:
  description: In diff mode, one entry per changed path with its before and after state, and one per unit operated.
  returned: when diff mode is on
  type: list
  elements: dict
  sample: [{"before_header": "/etc/modules-load.d/lvs-cluster-ipvs.conf",
            "after_header": "/etc/modules-load.d/lvs-cluster-ipvs.conf", "before": "ip_vs\n",
            "after": "ip_vs\nip_vs_rr\n"}]
"""

from typing import Any, Dict, List, Tuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils._files import (
    FilesApplyError,
    FilesError,
    apply_plan,
    check_contents,
    plan_diffs,
    plan_files,
    validate_files,
)
from ansible_collections.lvs.cluster.plugins.module_utils._units import (
    UnitsApplyError,
    UnitsError,
    run_units,
    unit_diffs,
    units_result,
    validate_units,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "str", "required": True},
                    "state": {"type": "str", "choices": ["file", "directory", "link", "absent"], "default": "file"},
                    "content": {"type": "str"},
                    "src": {"type": "str"},
                    "mode": {"type": "raw"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "force": {"type": "bool", "default": True},
                    "validate": {"type": "str"},
                },
            },
            "units": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    # raw: null (leave the enablement alone) is a value of its own; checked by validate_units
                    "enabled": {"type": "raw", "default": True},
                    "started": {"type": "bool", "default": True},
                    "masked": {"type": "bool", "default": False},
                    "missing_ok": {"type": "bool", "default": False},
                    "reload_on": {"type": "list", "elements": "str", "default": []},
                    "restart_on": {"type": "list", "elements": "str", "default": []},
                    "stop_on": {"type": "list", "elements": "str", "default": []},
                },
            },
        },
        supports_check_mode=True,
    )
    result: Dict[str, Any] = {"changed": False, "changed_paths": [], "units": [], "daemon_reloaded": False}

    def runner(cmd: List[str]) -> Tuple[int, str, str]:
        rc, out, err = module.run_command(cmd, environ_update={"SYSTEMD_PAGER": "", "LC_ALL": "C"})
        return rc, out, err

    try:
        specs = validate_files(module.params["files"])
        units = validate_units(module.params["units"], [spec.path for spec in specs])
        plan = plan_files(specs)
        diffs = plan_diffs(plan) if module._diff else []
        if module.check_mode:
            result["changed_paths"] = plan.changed_paths
        else:
            check_contents(plan, runner)
            result["changed_paths"] = apply_plan(plan)
        reloaded, unit_plans = run_units(runner, units, result["changed_paths"], module.check_mode)
        result.update(daemon_reloaded=reloaded, units=units_result(unit_plans))
        if module._diff:
            result["diff"] = diffs + unit_diffs(unit_plans)
    except FilesApplyError as exc:
        result.update(changed=bool(exc.changed_paths), changed_paths=exc.changed_paths)
        module.fail_json(msg=str(exc), **result)
    except UnitsApplyError as exc:
        result.update(changed=bool(result["changed_paths"] or exc.done), units_done=exc.done)
        module.fail_json(msg=str(exc), **result)
    except (FilesError, UnitsError) as exc:
        result["changed"] = bool(result["changed_paths"])
        module.fail_json(msg=str(exc), **result)
    result["changed"] = bool(result["changed_paths"]) or any(u["operations"] for u in result["units"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
