# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab-only callback: where a playbook's minutes go.

At the end of every playbook run it prints one summary (wall time, tasks,
task x host executions, the slowest tasks) and, when ``LVS_TIMING_FILE`` is
set, appends the same facts as one JSON line for ``tests/lab/timeline.py``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: lab_timing
type: aggregate
short_description: per-task wall times of a playbook run (lvs.cluster lab only)
description:
  - Prints the slowest tasks and the task x host count at the end of each playbook.
  - Appends a JSON summary to the file named by LVS_TIMING_FILE when it is set.
"""

TOP = 8


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lab_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._start = time.monotonic()
        self._playbook = ""
        self._tasks: List[Dict[str, Any]] = []
        self._current: Optional[Dict[str, Any]] = None

    def _close_task(self) -> None:
        if self._current is not None:
            self._current["seconds"] = round(time.monotonic() - self._current.pop("t0"), 2)
            self._tasks.append(self._current)
            self._current = None

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._playbook = os.path.basename(str(getattr(playbook, "_file_name", "")))

    def _open_task(self, task: Any) -> None:
        self._close_task()
        self._current = {"task": task.get_name(), "hosts": 0, "t0": time.monotonic()}

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._open_task(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._open_task(task)

    def _count(self, *_args: Any, **_kwargs: Any) -> None:
        if self._current is not None:
            self._current["hosts"] += 1

    v2_runner_on_ok = _count
    v2_runner_on_failed = _count
    v2_runner_on_unreachable = _count

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_task()
        wall = round(time.monotonic() - self._start, 1)
        ran = [t for t in self._tasks if t["hosts"]]
        executions = sum(t["hosts"] for t in ran)
        slow = sorted(ran, key=lambda t: t["seconds"], reverse=True)[:TOP]
        self._display.display(
            "LAB-TIMING %s: %.1f s, %d tasks run, %d task x host executions"
            % (self._playbook, wall, len(ran), executions)
        )
        for t in slow:
            self._display.display("LAB-TIMING   %6.1f s  x%d  %s" % (t["seconds"], t["hosts"], t["task"]))
        path = os.environ.get("LVS_TIMING_FILE")
        if path:
            record = {
                "playbook": self._playbook,
                "seconds": wall,
                "tasks": len(ran),
                "executions": executions,
                "slowest": slow,
            }
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
