#!/usr/bin/python
# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ruff: noqa: E402  (imports follow the documentation, as in every Ansible module)

DOCUMENTATION = r"""
---
module: managed_files
short_description: Many files, directories and symlinks in one task
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
notes:
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

- name: Reload systemd only when a unit file changed
  ansible.builtin.systemd_service:
    daemon_reload: true
  when: unit_files.changed_paths | select('search', '^/etc/systemd/') | list | length > 0

- name: Restart nginx when its drop-in changed
  ansible.builtin.systemd_service:
    name: nginx
    state: restarted
  when: "'/etc/systemd/system/nginx.service.d/lvs-cluster.conf' in unit_files.changed_paths"
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
diff:
  description: In diff mode, one entry per changed path with its before and after state.
  returned: when diff mode is on
  type: list
  elements: dict
  sample: [{"before_header": "/etc/modules-load.d/lvs-cluster-ipvs.conf",
            "after_header": "/etc/modules-load.d/lvs-cluster-ipvs.conf", "before": "ip_vs\n",
            "after": "ip_vs\nip_vs_rr\n"}]
"""

from typing import Any, Dict

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lvs.cluster.plugins.module_utils._files import (
    FilesApplyError,
    FilesError,
    apply_plan,
    plan_diffs,
    plan_files,
    validate_files,
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
                },
            },
        },
        supports_check_mode=True,
    )
    result: Dict[str, Any] = {"changed": False, "changed_paths": []}
    try:
        specs = validate_files(module.params["files"])
        plan = plan_files(specs)
        if module._diff:
            result["diff"] = plan_diffs(plan)
        if module.check_mode:
            result["changed_paths"] = plan.changed_paths
        else:
            result["changed_paths"] = apply_plan(plan)
    except FilesApplyError as exc:
        result.update(changed=bool(exc.changed_paths), changed_paths=exc.changed_paths)
        module.fail_json(msg=str(exc), **result)
    except FilesError as exc:
        module.fail_json(msg=str(exc), **result)
    result["changed"] = bool(result["changed_paths"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
