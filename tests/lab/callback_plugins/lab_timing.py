# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab-only callback: where a playbook's minutes go.

Every task x host execution is timed on its own (from the runner's start to its result), so the
figures hold under ``strategy: free`` too, where hosts run different tasks at the same time. At
the end of every playbook run it prints one summary (wall time, tasks, task x host executions,
the slowest tasks by their summed execution time, each host's busy time) and, when
``LVS_TIMING_FILE`` is set, appends the same facts and every execution's time as one JSON line.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Tuple

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: lab_timing
type: aggregate
short_description: per-task wall times of a playbook run (lvs.cluster lab only)
description:
  - Prints the slowest tasks, each host's busy time and the task x host count at the end of each playbook.
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
        self._running: Dict[Tuple[str, str], float] = {}
        self._done: List[Dict[str, Any]] = []

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._playbook = os.path.basename(str(getattr(playbook, "_file_name", "")))

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._running[(host.get_name(), task._uuid)] = time.monotonic()

    def _end(self, result: Any, *_args: Any, **_kwargs: Any) -> None:
        host, task = result._host.get_name(), result._task
        t0 = self._running.pop((host, task._uuid), None)
        if t0 is not None:
            self._done.append({"task": task.get_name(), "host": host, "seconds": time.monotonic() - t0})

    v2_runner_on_ok = _end
    v2_runner_on_failed = _end
    v2_runner_on_unreachable = _end

    def v2_runner_on_skipped(self, result: Any, *_args: Any, **_kwargs: Any) -> None:
        self._running.pop((result._host.get_name(), result._task._uuid), None)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        wall = round(time.monotonic() - self._start, 1)
        tasks: Dict[str, Dict[str, Any]] = {}
        busy: Dict[str, float] = {}
        for run in self._done:
            t = tasks.setdefault(run["task"], {"task": run["task"], "hosts": 0, "seconds": 0.0})
            t["hosts"] += 1
            t["seconds"] += run["seconds"]
            busy[run["host"]] = busy.get(run["host"], 0.0) + run["seconds"]
        slow = sorted(tasks.values(), key=lambda t: t["seconds"], reverse=True)[:TOP]
        for t in slow:
            t["seconds"] = round(t["seconds"], 2)
        self._display.display(
            "LAB-TIMING %s: %.1f s, %d tasks run, %d task x host executions"
            % (self._playbook, wall, len(tasks), len(self._done))
        )
        for t in slow:
            self._display.display("LAB-TIMING   %6.1f s  x%d  %s" % (t["seconds"], t["hosts"], t["task"]))
        self._display.display(
            "LAB-TIMING   busy per host: "
            + ", ".join("%s %.0f s" % (h, s) for h, s in sorted(busy.items(), key=lambda i: -i[1]))
        )
        path = os.environ.get("LVS_TIMING_FILE")
        if path:
            record = {
                "playbook": self._playbook,
                "seconds": wall,
                "tasks": len(tasks),
                "executions": len(self._done),
                "slowest": slow,
                "busy": {h: round(s, 1) for h, s in busy.items()},
                "runs": [dict(r, seconds=round(r["seconds"], 2)) for r in self._done],
            }
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
