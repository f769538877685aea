"""IPVS convergence benchmark in one lab VM (run on demand, not part of the suite).

Measures, on the lab ``director`` (real IPVS kernel, TCG guest):

1. cold apply of S services x R real servers (default 1000 x 10)
   a. ``ipvsadm-restore`` of the equivalent rules file,
   b. our module_utils code run directly with python3 in the guest,
   c. the whole ``lvs.cluster.ipvs_table`` module call (ansible-playbook wall time);
2. the same three with nothing to change (b and c must report changed=false);
3. one ``ipvsadm`` process per rule, for the first N rules (default 220),
   extrapolated to the whole table.

Writes the numbers and ratios to ``docs/benchmark.md``.

    LVS_LAB_NAME=ipvs LVS_LAB_KEEP=1 PYTHONPATH=tests:.build/collections \
        python3 tests/benchmark/ipvs_bench.py [--services 1000] [--servers 10]

from the checkout: ``PYTHONPATH`` gives ``labtools`` (tests/) and ``ansible_collections``
(.build/collections, the link to the checkout that ``ensure_collection_link`` makes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from labtools import REPO, LabHandle, ensure_collection_link

ensure_collection_link()
importlib.invalidate_caches()  # the link may have just been made

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import render_rules, table_from_spec  # noqa: E402

TOPOLOGY = REPO / "tests" / "lab" / "topologies" / "integration.yml"
GUEST_DIR = "/root/ipvs-bench"


def make_table(services: int, servers: int) -> List[Dict[str, Any]]:
    """``services`` TCP services on 250 VIPs x N ports (198.51.100.1-250, ports 80, 81, ...), each
    balancing ``servers`` real servers of a pool of 200 (192.0.2.10-209, port 8080, masquerading),
    as a farm behind many VIPs looks.  Documentation addresses only: the table lives in one lab guest.
    """
    table = []
    for i in range(services):
        table.append(
            {
                "protocol": "tcp",
                "address": f"198.51.100.{1 + i % 250}",
                "port": 80 + i // 250,
                "scheduler": "wrr",
                "real_servers": [
                    {"address": f"192.0.2.{10 + j * 20 + i % 20}", "port": 8080, "forward": "masq", "weight": 1 + j}
                    for j in range(servers)
                ],
            }
        )
    return table


def guest_time(lab: LabHandle, cmd: str) -> float:
    """Wall time of ``cmd`` measured inside the guest (excludes SSH)."""
    out = lab.ssh("director", f's=$EPOCHREALTIME; {cmd} >/dev/null; e=$EPOCHREALTIME; awk "BEGIN {{print $e - $s}}"')
    return float(out.stdout.strip().splitlines()[-1])


def upload(lab: LabHandle, local_dir: Path, guest_dir: str) -> None:
    """Copy a directory tree into the guest (tar over the lab's SSH)."""
    tar = subprocess.run(["tar", "czf", "-", "-C", str(local_dir), "."], capture_output=True, check=True).stdout
    cmd = [sys.executable, str(REPO / "tests" / "lab" / "lab.py"), "--lab", lab.name, "ssh", "director", "--"]
    subprocess.run([*cmd, f"mkdir -p {guest_dir} && tar xzf - -C {guest_dir}"], input=tar, check=True)


def table_arguments() -> argparse.ArgumentParser:
    """The options of the benchmarks of the big table: its size, and the report's path."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmark.md"))
    return ap


def bench_lab() -> LabHandle:
    """The benchmarks' lab (LVS_LAB_NAME, default ipvs), up with the integration topology."""
    lab = LabHandle(os.environ.get("LVS_LAB_NAME", "ipvs"))
    lab.up(TOPOLOGY, reuse=True)
    return lab


def main() -> None:
    ap = table_arguments()
    ap.add_argument("--per-rule-sample", type=int, default=220)
    args = ap.parse_args()

    lab = bench_lab()
    work = Path(tempfile.mkdtemp(prefix="ipvs-bench-"))
    items = make_table(args.services, args.servers)
    rules = render_rules(table_from_spec(items))
    nrules = rules.count("\n")
    (work / "table.json").write_text(json.dumps(items))
    (work / "rules").write_text(rules)
    (work / "vars.json").write_text(json.dumps({"bench_services": items}))
    (work / "play.yml").write_text(
        "- hosts: director\n  gather_facts: false\n  tasks:\n"
        "    - lvs.cluster.ipvs_table: {services: '{{ bench_services }}'}\n"
    )
    # the same table as JSON text, as the director role hands it over
    (work / "play_json.yml").write_text(
        "- hosts: director\n  gather_facts: false\n  tasks:\n"
        "    - lvs.cluster.ipvs_table: {services: \"{{ bench_services | to_json(separators=[',', ':']) }}\"}\n"
    )
    pkg = work / "guest" / "ansible_collections" / "lvs" / "cluster" / "plugins" / "module_utils"
    pkg.mkdir(parents=True)
    for mod in (REPO / "plugins" / "module_utils").glob("_*.py"):  # _ipvs and what it imports (_kmod...)
        shutil.copy(mod, pkg / mod.name)
    shutil.copy(REPO / "tests" / "benchmark" / "ipvs_bench_guest.py", work / "guest" / "bench.py")
    lab.ssh("director", f"rm -rf {GUEST_DIR} && modprobe ip_vs && ipvsadm -C")
    shutil.copy(work / "table.json", work / "guest" / "table.json")
    shutil.copy(work / "rules", work / "guest" / "rules")
    upload(lab, work / "guest", GUEST_DIR)

    results: Dict[str, Any] = {
        "rules": nrules,
        "args_kb": (work / "vars.json").stat().st_size // 1024,
        "load_before": os.getloadavg()[0],
    }
    direct = f"python3 {GUEST_DIR}/bench.py {GUEST_DIR}/table.json"

    def direct_run() -> Dict[str, Any]:
        out = lab.ssh("director", f's=$EPOCHREALTIME; {direct}; e=$EPOCHREALTIME; awk "BEGIN {{print $e - $s}}"').stdout
        lines = out.strip().splitlines()
        data: Dict[str, Any] = json.loads(lines[-2])
        data["process"] = float(lines[-1])
        return data

    def module_run(play: str = "play.yml", env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        t0 = time.perf_counter()
        proc = lab.playbook(work / play, args=["-e", "@%s" % (work / "vars.json")], env=env)
        wall = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        changed = "changed=1" in proc.stdout
        return {"wall": wall, "changed": changed, "stdout": proc.stdout}

    def cold_run(play: str) -> Dict[str, Any]:
        runs = []
        for _run in range(2):
            lab.ssh("director", "ipvsadm -C")
            runs.append(module_run(play))
        return min(runs, key=lambda x: x["wall"])

    def handover(play: str) -> Dict[str, float]:
        """Where a no-change call's time goes: the controller's steps from ANSIBLE_DEBUG's timestamps
        (pipelining, as users run it), then the module file alone in the guest (kept remote files)."""
        out = module_run(play, env={"ANSIBLE_DEBUG": "1"})["stdout"]
        phases = debug_phases(out)
        lab.ssh("director", "rm -rf /root/.ansible/tmp/ansible-tmp-*")
        module_run(play, env={"ANSIBLE_KEEP_REMOTE_FILES": "1"})
        path = lab.ssh("director", "ls /root/.ansible/tmp/ansible-tmp-*/AnsiballZ_*.py").stdout.split()[0]
        phases["module_file_kb"] = int(lab.ssh("director", f"stat -c %s {path}").stdout) / 1024
        phases["guest_module"] = min(guest_time(lab, f"python3 {path}") for _run in range(3))
        lab.ssh("director", "rm -rf /root/.ansible/tmp/ansible-tmp-*")
        return phases

    # the same playbook and variables with a module that does nothing: Ansible's fixed cost per run
    (work / "baseline.yml").write_text(
        "- hosts: director\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.ping: {data: '{{ bench_services | length }}'}\n"
    )

    # ipvsadm-restore
    lab.ssh("director", "ipvsadm -C")
    results["restore_cold"] = min(guest_time(lab, f"ipvsadm-restore < {GUEST_DIR}/rules") for _run in range(1))
    results["restore_save_equal"] = (
        lab.ssh("director", f"ipvsadm-save -n | cmp - {GUEST_DIR}/rules && echo same", check=False).stdout.strip()
        == "same"
    )
    lab.ssh("director", "ipvsadm -C")
    results["direct_cold"] = direct_run()
    results["direct_save_equal"] = (
        lab.ssh("director", f"ipvsadm-save -n | cmp - {GUEST_DIR}/rules && echo same", check=False).stdout.strip()
        == "same"
    )
    results["direct_nochange"] = direct_run()
    # restore on top of a full table cannot express "no change"; time it on the full table anyway for reference
    results["module_cold"] = cold_run("play.yml")
    results["module_nochange"] = min((module_run() for _run in range(2)), key=lambda x: x["wall"])
    results["json_cold"] = cold_run("play_json.yml")
    results["json_nochange"] = min((module_run("play_json.yml") for _run in range(2)), key=lambda x: x["wall"])
    results["module_baseline"] = min(module_run("baseline.yml")["wall"] for _run in range(3))
    results["handover"] = {name: handover(play) for name, play in HANDOVER_PLAYS}
    for key in ("module_cold", "module_nochange", "json_cold", "json_nochange"):
        del results[key]["stdout"]
    results["module_save_equal"] = (
        lab.ssh("director", f"ipvsadm-save -n | cmp - {GUEST_DIR}/rules && echo same", check=False).stdout.strip()
        == "same"
    )
    # one ipvsadm process per rule, sample then extrapolate
    lab.ssh("director", "ipvsadm -C")
    sample = rules.splitlines()[: args.per_rule_sample]
    (work / "per_rule").mkdir()
    (work / "per_rule" / "per_rule.sh").write_text("".join(f"ipvsadm {line}\n" for line in sample))
    upload(lab, work / "per_rule", GUEST_DIR)
    per = guest_time(lab, f"sh {GUEST_DIR}/per_rule.sh")
    results["per_rule_sample"] = {"rules": len(sample), "seconds": per, "extrapolated": per / len(sample) * nrules}
    lab.ssh("director", "ipvsadm -C")
    results["kernel"] = lab.ssh("director", "uname -r").stdout.strip()
    results["distro"] = lab.ssh("director", ". /etc/os-release && echo $PRETTY_NAME").stdout.strip()
    results["load_after"] = os.getloadavg()[0]
    (work / "results.json").write_text(json.dumps(results, indent=2))
    lab.release()  # the lab stays up for the next run; its SSH masters do not
    print(json.dumps(results, indent=2))
    write_report(Path(args.out), args, results)


START, END = "<!-- ipvs-bench:start -->", "<!-- ipvs-bench:end -->"
HANDOVER_PLAYS = (("list", "play.yml"), ("JSON text", "play_json.yml"), ("ping", "baseline.yml"))
# ANSIBLE_DEBUG lines: "<pid> <epoch seconds>: <message>"
DEBUG_LINE = re.compile(r"^\s*\d+ (\d+\.\d+): (.*)$")


def debug_phases(out: str) -> Dict[str, float]:
    """Seconds of a one-task run's steps, from its ANSIBLE_DEBUG lines: start to the module's build
    (inventory, variables, the task's templating), the build, sending it, the remote run (until
    its output), the rest (result handling, recap)."""
    marks: Dict[str, float] = {}
    first = last = 0.0
    for line in out.splitlines():
        m = DEBUG_LINE.match(line)
        if not m:
            continue
        t, msg = float(m.group(1)), m.group(2)
        first = first or t
        last = t
        for key, text in (
            ("build", "ANSIBALLZ: Creating module"),
            ("send", "Sending initial data"),
            ("sent", "Sent initial data"),
            ("output", "stdout chunk"),
        ):
            if key not in marks and msg.startswith(text):
                marks[key] = t
    return {
        "controller": marks["build"] - first,
        "build": marks["send"] - marks["build"],
        "send": marks["sent"] - marks["send"],
        "remote": marks["output"] - marks["sent"],
        "rest": last - marks["output"],
    }


def write_report(path: Path, args: argparse.Namespace, r: Dict[str, Any]) -> None:
    restore = r["restore_cold"]
    dc, dn = r["direct_cold"], r["direct_nochange"]
    mc, mn = r["module_cold"], r["module_nochange"]
    jc, jn = r["json_cold"], r["json_nochange"]
    base = r["module_baseline"]
    per = r["per_rule_sample"]

    def ratio(x: float) -> str:
        return "%.2f x" % (x / restore)

    lines = [
        "# IPVS convergence benchmark",
        "",
        "Generated by `tests/benchmark/ipvs_bench.py` (run on demand; not part of the test suite).",
        "",
        f"Setup: one lab VM (`director`, qemu **TCG** software emulation, {r['distro']}, kernel `{r['kernel']}`), "
        f"table of {args.services} services x {args.servers} real servers = {r['rules']} rules "
        "(`ipvsadm-save -n` lines), TCP, `wrr`, masquerading with port mapping; "
        "the real servers come from a pool of 200 (a farm behind many VIPs).",
        "Times are wall-clock seconds measured inside the guest unless noted. "
        f"Host load average (1 min): {r['load_before']:.1f} at the start, {r['load_after']:.1f} at the end.",
        "",
        "| run | seconds | vs `ipvsadm-restore` | changed |",
        "| --- | ---: | ---: | --- |",
        f"| `ipvsadm-restore` of the equivalent rules file, cold | {restore:.2f} | 1.00 x | - |",
        "| module_utils code directly (`python3`, whole process), cold | {:.2f} | {} | {} |".format(
            dc["process"], ratio(dc["process"]), dc["changed"]
        ),
        "| module_utils code directly (`python3`, whole process), no change | {:.2f} | {} | {} |".format(
            dn["process"], ratio(dn["process"]), dn["changed"]
        ),
    ]
    for form, cold, nochange in (("a list", mc, mn), ("JSON text (the role's way)", jc, jn)):
        for what, run in (("cold", cold), ("no change", nochange)):
            lines.append(
                f"| `lvs.cluster.ipvs_table` task, services as {form} (ansible-playbook wall time), {what} "
                f"| {run['wall']:.2f} | {ratio(run['wall'])} | {run['changed']} |"
            )
    lines.append(
        "| the same playbook with `ansible.builtin.ping` instead (Ansible's fixed cost) "
        f"| {base:.2f} | {ratio(base)} | - |"
    )
    for form, cold, nochange in (("a list", mc, mn), ("JSON text", jc, jn)):
        for what, run in (("cold", cold), ("no change", nochange)):
            lines.append(
                f"| the task minus that fixed cost, services as {form}, {what} "
                f"| {run['wall'] - base:.2f} | {ratio(run['wall'] - base)} | {run['changed']} |"
            )
    lines += [
        f"| one `ipvsadm` process per rule ({per['rules']} rules measured: {per['seconds']:.2f} s), "
        f"extrapolated to {r['rules']} rules | {per['extrapolated']:.1f} | {ratio(per['extrapolated'])} | - |",
        "",
        "Phases of the direct runs (seconds; `read` = dump of the live table, `apply` = pipelined netlink writes):",
        "",
        "| run | load JSON | validate | read | plan | apply | writes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, d in (("cold", dc), ("no change", dn)):
        lines.append(
            f"| {name} | {d['load']:.2f} | {d['validate']:.2f} | {d['read']:.2f} | {d['plan']:.2f} "
            f"| {d['apply']:.2f} | {d['ops']} |"
        )
    lines += [
        "",
        "Where a no-change task's time goes (seconds; one run each, no change; the controller's steps from "
        "`ANSIBLE_DEBUG` timestamps with pipelining, then the module file run alone in the guest):",
        "",
        "| services given as | controller: inventory, variables, templating | build the module | send it "
        "| remote run | result, recap | module file | module file alone in the guest |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, h in r["handover"].items():
        lines.append(
            f"| {name} | {h['controller']:.2f} | {h['build']:.2f} | {h['send']:.2f} | {h['remote']:.2f} "
            f"| {h['rest']:.2f} | {h['module_file_kb']:.0f} KiB | {h['guest_module']:.2f} |"
        )
    lines += [
        "",
        "Targets: cold apply <= 0.6 x `ipvsadm-restore`, no change <= 0.2 x `ipvsadm-restore` with changed=false "
        "(module_utils code without Python's start); the whole process with no change <= 0.35 x; the task minus "
        "Ansible's fixed cost <= 1.0 x cold and <= 0.5 x with no change.",
        "",
        "Checks: the table after `ipvsadm-restore` equals the rules file: {}; after the direct run: {}; "
        "after the module run: {} (compared with `ipvsadm-save -n`).".format(
            r["restore_save_equal"], r["direct_save_equal"], r["module_save_equal"]
        ),
        "",
        "Notes:",
        "",
        "- The module call includes Ansible's own work in the TCG guest and on the controller (connection, "
        f"transfer of the module and of ~{r['args_kb']} KB of arguments, Python start-up, argument parsing, "
        "JSON result); that overhead is roughly 1-2 s per module call in this lab and is not IPVS work.",
        "- The per-rule `ipvsadm` figure is extrapolated linearly from the measured sample.",
        "- Services as a list: the collection's action plugin (`plugins/action/ipvs_table.py`) hands them to the "
        "module as JSON text. Templated with `to_json` (the director role's way), the task's arguments are one "
        "string on the controller too.",
        "",
    ]
    text = "\n".join(lines)
    # the generated part only: the rest of the file (other benchmarks, notes) stays
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        text = head + START + "\n" + text + END + rest.split(END, 1)[1]
    else:
        text = START + "\n" + text + END + "\n" + old
    path.write_text(text)


if __name__ == "__main__":
    main()
