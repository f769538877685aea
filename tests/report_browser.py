"""status.yml's HTML report as Chromium shows it: the page rendered headless, offline, with a probe
that reads what the layout made of it (each topology node's box, colour and whether it is the
element seen at its centre; the tables' rows and state badges; the drift list), and a screenshot.

Used by tests/browser (reports of every state, made from inventories) and by molecule dr (the
report of the lab's cluster)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any, Dict, Optional

PROBE = """<script>
(function () {
  const svgs = [...document.querySelectorAll('svg')];
  const nodes = [...document.querySelectorAll('g.node')].map(function (g) {
    const r = g.getBoundingClientRect();
    const box = g.ownerSVGElement.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {kind: g.dataset.kind, name: g.dataset.name, state: g.dataset.state,
            fill: getComputedStyle(g.querySelector('rect')).fill, text: g.textContent,
            box: [r.left, r.top, r.right, r.bottom],
            inside: r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom,
            seen: hit !== null && g.contains(hit)};
  });
  const rows = [...document.querySelectorAll('tr[data-rs]')].map(function (tr) {
    return {rs: tr.dataset.rs, state: tr.dataset.state, text: tr.innerText,
            badge: getComputedStyle(tr.querySelector('.state')).backgroundColor};
  });
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify({
    svgs: svgs.length, nodes: nodes, rows: rows,
    drift: [...document.querySelectorAll('ul.drift li')].map(function (li) { return li.innerText; }),
    clean: document.querySelectorAll('p.clean').length,
    overflow: document.documentElement.scrollWidth > window.innerWidth});
  document.body.appendChild(pre);
})();
</script>"""

FLAGS = [
    "--headless",
    "--no-sandbox",  # root in the lab's machine
    "--disable-gpu",
    "--no-first-run",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: nothing may be fetched
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no chromium on PATH (Debian: apt-get install chromium)")


def _run(args: list, profile: str) -> str:
    res = subprocess.run(
        [chromium(), *FLAGS, "--user-data-dir=" + profile, *args],
        # a stdin of its own: Chromium makes its stdin non-blocking, and an inherited one is shared
        # with every process of the run (ansible-playbook then refuses to start)
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, "chromium %s: rc=%d %s" % (args, res.returncode, res.stderr[-2000:])
    return res.stdout


def hex_rgb(colour: str) -> str:
    """#2e7d32 -> rgb(46, 125, 50), as getComputedStyle writes it."""
    return "rgb(%d, %d, %d)" % tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def look(page: str, screenshot: Optional[str] = None, width: int = 1280) -> Dict[str, Any]:
    """Chromium's view of the HTML text ``page``: the probe's findings; with ``screenshot``, a PNG
    of the page as it is (without the probe) at that path."""
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)|url\(\s*["']?(https?:|//)|@import""", page), (
        "the report must not load anything"
    )
    with tempfile.TemporaryDirectory(prefix="lvs-report-") as tmp:
        plain = os.path.join(tmp, "report.html")
        probed = os.path.join(tmp, "probed.html")
        with open(plain, "w", encoding="utf-8") as fh:
            fh.write(page)
        with open(probed, "w", encoding="utf-8") as fh:
            fh.write(page.replace("</body>", PROBE + "</body>"))
        dom = _run(["--window-size=%d,4000" % width, "--dump-dom", "file://" + probed], os.path.join(tmp, "p1"))
        if screenshot:
            height = 300 + page.count("<tr") * 30 + page.count("<svg") * 420
            _run(["--window-size=%d,%d" % (width, height), "--screenshot=" + os.path.abspath(screenshot),
                  "file://" + plain], os.path.join(tmp, "p2"))  # fmt: skip
            assert os.path.getsize(screenshot) > 10000, "the screenshot is (nearly) empty"
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe did not run: %s" % dom[-1000:]
    text = m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return json.loads(text)


def overlaps(a: list, b: list) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_layout(seen: Dict[str, Any]) -> None:
    """Every node is drawn inside its picture, is what one sees at its centre, and overlaps no other."""
    assert seen["svgs"] >= 1 and seen["nodes"], seen
    assert not seen["overflow"], "the page is wider than the window"
    for node in seen["nodes"]:
        assert node["inside"] and node["seen"], node
    boxes = [n["box"] for n in seen["nodes"]]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not overlaps(a, b), (a, b)
