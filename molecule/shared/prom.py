"""The directors' lvs_cluster_* metrics as Prometheus sees them: node_exporter's /metrics scraped
over the lab's network from the lab namespace, parsed into samples."""

from __future__ import annotations

import re
import subprocess
from typing import Dict, Tuple

from ha_load import lab_name

Samples = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]


def scrape(address: str, port: int = 9100) -> Tuple[str, Samples]:
    """node_exporter's text and its samples: (name, sorted labels) -> value."""
    url = "http://%s:%d/metrics" % (address, port)
    res = subprocess.run(
        ["ip", "netns", "exec", "lvslab-" + lab_name(), "curl", "-sf", "--max-time", "20", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, "scrape of %s: rc=%d %s" % (url, res.returncode, res.stderr)
    samples: Samples = {}
    for line in res.stdout.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m:
            labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', m.group(2) or "")))
            samples[(m.group(1), labels)] = float(m.group(3))
    return res.stdout, samples


def metric(samples: Samples, cluster: str, name: str, **labels: str) -> float:
    """The one sample of lvs_cluster_<name> with exactly these labels (and the cluster's)."""
    want = dict(labels, cluster=cluster)
    hits = [v for (n, lab), v in samples.items() if n == "lvs_cluster_" + name and dict(lab) == want]
    assert len(hits) == 1, "lvs_cluster_%s%s: %d samples" % (name, want, len(hits))
    return hits[0]
