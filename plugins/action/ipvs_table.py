# Copyright: lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of lvs.cluster.ipvs_table: hands the services over as one text.

A module's arguments cross to the host as JSON, and on the host Ansible copies them twice
(``copy.deepcopy``) and decodes every entry with its own serializer before the module sees
them. For a table of 1,000 services x 10 real servers that is seconds of an emulated CPU
(docs/benchmark.md, "Where a no-change task's time goes"); one string costs nothing of it.
A big table's text is also compressed (``pack_services``): the module file is then a fifth of
the size, to send and for Python to read on the host. The module takes the list, its JSON text
or the packed text, so nothing changes for the user.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from ansible.plugins.action import ActionBase

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import PACKED_PREFIX, pack_services

# texts up to this size go as they are (readable in -vvv output); bigger ones are packed
PACK_ABOVE = 64 * 1024


class ActionModule(ActionBase):
    """Runs the module with ``services`` as JSON text when it is a list, packed when it is big."""

    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: Optional[str] = None, task_vars: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        result: Dict[str, Any] = super().run(tmp, task_vars)
        args = dict(self._task.args)
        services = args.get("services")
        if isinstance(services, (list, tuple)):
            try:
                services = args["services"] = json.dumps(services, separators=(",", ":"))
            except (TypeError, ValueError):
                pass  # a value JSON cannot carry: the module's own argument handling reports it
        if isinstance(services, str) and len(services) > PACK_ABOVE and not services.startswith(PACKED_PREFIX):
            args["services"] = pack_services(services)
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        result.update(self._execute_module(module_args=args, task_vars=task_vars, wrap_async=wrap_async))
        return result
