# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: write every task result as JSON lines to $LAB_RESULT_FILE."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: lab_result
type: aggregate
short_description: write task results as JSON lines (lvs.cluster tests only)
description: Appends one JSON object per task result to the file named by LAB_RESULT_FILE.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "lab_result"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, status: str) -> None:
        path = os.environ.get("LAB_RESULT_FILE")
        if not path:
            return
        record = {
            "host": result._host.get_name(),
            "task": result._task.get_name(),
            "status": status,
            "result": result._result,
        }
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")

    def v2_runner_on_ok(self, result) -> None:
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._write(result, "failed")

    def v2_runner_on_unreachable(self, result) -> None:
        self._write(result, "unreachable")

    def v2_runner_on_skipped(self, result) -> None:
        self._write(result, "skipped")
