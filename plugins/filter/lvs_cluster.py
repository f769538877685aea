# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of lvs.cluster: thin entry points into the planner (plugins/plugin_utils/_planner.py).

Only the Python standard library (``ipaddress``) is used, so no netaddr or ansible.utils is
needed on the controller.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set

from ansible.errors import AnsibleFilterError

from ansible_collections.lvs.cluster.plugins.plugin_utils._planner import (
    CLUSTER_RE,
    ROLE_GROUPS,
    PlanError,
    cluster_errors,
    cluster_model,
    director_plan,
    drain_targets,
    host_options,
    nfs_plan,
    realserver_plan,
)
from ansible_collections.lvs.cluster.plugins.plugin_utils._status import status_report


def _plan(call: Callable[..., Any], name: str, *args: Any) -> Any:
    try:
        return call(*args)
    except PlanError as exc:
        raise AnsibleFilterError("%s: %s" % (name, "; ".join(exc.errors))) from None


def lvs_cluster_errors(cluster: Mapping[str, Any]) -> List[str]:
    """Problems of one cluster model (see ``_planner.cluster_model``); empty when valid."""
    if not isinstance(cluster, Mapping):
        raise AnsibleFilterError("lvs_cluster_errors expects a dict, got %s" % type(cluster).__name__)
    return cluster_errors(cluster)


def lvs_validate(hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], hosts: Sequence[str]) -> List[str]:
    """Problems of every cluster that ``hosts`` belong to (each cluster checked once)."""
    members: Set[str] = set()
    for group in ROLE_GROUPS.values():
        members.update(groups.get(group, []) or [])
    errors: List[str] = []
    seen: Dict[str, str] = {}
    for host in sorted(str(h) for h in hosts if h in members):
        name = hostvars[host].get("lvs_cluster")
        if not name:
            errors.append("%s: lvs_cluster (the cluster's identity, its group name) is not set" % host)
        elif not CLUSTER_RE.match(str(name)):
            errors.append(
                "%s: lvs_cluster %r is refused (a letter, then letters, digits and _, at most 32)" % (host, name)
            )
        elif host not in (groups.get(str(name)) or []):
            errors.append("%s: %s: the host is not in the cluster group %s" % (name, host, name))
        elif str(name) not in seen:
            seen[str(name)] = host
            errors.extend(cluster_errors(cluster_model(hostvars, groups, host)))
    return errors


def lvs_host_options(hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], host: str) -> Dict[str, Any]:
    """The role options (director_*, realserver_*, nfs_*) of ``host`` from the inventory model."""
    return host_options(cluster_model(hostvars, groups, host), host)


def lvs_drain_targets(hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], host: str) -> Dict[str, Any]:
    """What drain.yml and undrain.yml change for real server ``host``, services by name."""
    return _plan(drain_targets, "lvs_drain_targets", cluster_model(hostvars, groups, host), host)


def lvs_status(
    hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]], directors: Sequence[str], generated: str = ""
) -> Any:
    """playbooks/status.yml's report: each cluster's live state joined with the inventory, its drift,
    and the HTML page (``generated``: when, for its header)."""
    return _plan(status_report, "lvs_status", hostvars, groups, directors, str(generated))


def lvs_director_plan(options: Mapping[str, Any], host: str) -> Dict[str, Any]:
    """Module arguments and template data of the director role from its director_* options."""
    return _plan(director_plan, "lvs.cluster.director", options, host)


def lvs_realserver_plan(options: Mapping[str, Any]) -> Dict[str, Any]:
    """Module arguments and template data of the realserver role from its realserver_* options."""
    return _plan(realserver_plan, "lvs.cluster.realserver", options)


def lvs_nfs_plan(options: Mapping[str, Any], host: str = "") -> Dict[str, Any]:
    """Exports and seed pages of the nfs role from its nfs_* options (``host`` names the server on the pages)."""
    return _plan(nfs_plan, "lvs.cluster.nfs", options, host)


def lvs_systemd_mount_unit(path: str) -> str:
    """Name of the systemd mount unit for an absolute path (like ``systemd-escape -p --suffix=mount``)."""
    path = str(path)
    if not path.startswith("/"):
        raise AnsibleFilterError("lvs_systemd_mount_unit: %r is not an absolute path" % path)
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "-.mount"
    escaped = []
    for part in parts:
        chars = []
        for i, ch in enumerate(part):
            if ch.isalnum() and ch.isascii() or ch in "_:" or (ch == "." and i > 0):
                chars.append(ch)
            else:
                chars.append("".join("\\x%02x" % b for b in ch.encode("utf-8")))
        escaped.append("".join(chars))
    return "-".join(escaped) + ".mount"


def lvs_file_entries(
    paths: Sequence[str], contents: Optional[Sequence[str]] = None, state: str = "file"
) -> List[Dict[str, str]]:
    """``lvs.cluster.managed_files`` entries of ``paths``: files with ``contents`` (the same
    length), or entries of another ``state`` (absent, directory)."""
    if state != "file":
        return [{"path": str(p), "state": state} for p in paths]
    if contents is None or len(paths) != len(contents):
        raise AnsibleFilterError("lvs_file_entries: %d paths and %s contents" % (len(paths), len(contents or [])))
    return [{"path": str(p), "content": str(c)} for p, c in zip(paths, contents)]


class FilterModule:
    """lvs.cluster planner filters."""

    def filters(self) -> Dict[str, Any]:
        return {
            "lvs_cluster_errors": lvs_cluster_errors,
            "lvs_validate": lvs_validate,
            "lvs_host_options": lvs_host_options,
            "lvs_drain_targets": lvs_drain_targets,
            "lvs_status": lvs_status,
            "lvs_director_plan": lvs_director_plan,
            "lvs_realserver_plan": lvs_realserver_plan,
            "lvs_nfs_plan": lvs_nfs_plan,
            "lvs_systemd_mount_unit": lvs_systemd_mount_unit,
            "lvs_file_entries": lvs_file_entries,
        }
