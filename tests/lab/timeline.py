"""Pass a molecule run's output through and time its steps.

``molecule test ... 2>&1 | python3 tests/lab/timeline.py NAME`` copies every
line to stdout and, at the end, prints the seconds of each molecule step
(create, converge, idempotence, verify, side_effect, ...) as ``PHASE`` lines,
appending them to ``$LVS_PHASES_FILE`` when it is set (scripts/test's summary
reads that file). Standard library only.
"""

from __future__ import annotations

import os
import re
import sys
import time
from typing import List, Optional, Tuple

STEP = re.compile(r"➜ (?P<step>[a-z_]+): (?P<what>Executing|Executed)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def main(argv: List[str]) -> int:
    name = argv[1] if len(argv) > 1 else "run"
    phases: List[Tuple[str, float]] = []
    current: Optional[Tuple[str, float]] = None
    start = time.monotonic()
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        m = STEP.search(ANSI.sub("", line))
        if not m:
            continue
        now = time.monotonic()
        if m.group("what") == "Executing":
            current = (m.group("step"), now)
        elif current is not None and current[0] == m.group("step"):
            phases.append((current[0], now - current[1]))
            current = None
    if current is not None:  # a step that never finished (failed or killed)
        phases.append((current[0] + "(unfinished)", time.monotonic() - current[1]))
    total = time.monotonic() - start
    summary = "PHASE %s: %s; total %.0f s" % (name, ", ".join("%s %.0f" % p for p in phases), total)
    print(summary, flush=True)
    path = os.environ.get("LVS_PHASES_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(summary + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
