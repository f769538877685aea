"""Bounded request loop from the client (the lab namespace) through the VIP, and the lab verbs.

Every request is a new ``curl --max-time 1`` started every 1/rate s in the background, so a
hanging request never slows the loop down; each one logs ``<epoch> ok <server>`` or
``<epoch> FAIL <curl rc>`` (the epoch is the request's start time).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence, Tuple

VIP = "192.0.2.100"
CLIENT = "192.0.2.254"  # the lab namespace on lan
URL = "http://%s/whoami" % VIP


def lab_name() -> str:
    return "mol-" + os.environ.get("MOLECULE_SCENARIO_NAME", "ha")


def project() -> str:
    return os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.getcwd())


def lab(*args: str, timeout: int = 600) -> str:
    """tests/lab/lab.py --lab mol-<scenario> ARGS..."""
    res = subprocess.run(
        ["python3", os.path.join(project(), "tests/lab/lab.py"), "--lab", lab_name()] + list(args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert res.returncode == 0, "lab.py %s: rc=%d %s %s" % (args, res.returncode, res.stdout, res.stderr)
    if "retrying" in res.stderr:  # a guest boot hung and was retried: show its console in the test output
        print("lab.py %s:\n%s" % (" ".join(args), res.stderr))
    return res.stdout


def ssh(host: str, cmd: str, timeout: int = 120) -> str:
    return lab("ssh", host, "--", cmd, timeout=timeout)


def rs_in_table(director: str, address: str) -> bool:
    return re.search(r"-> %s:80\s" % re.escape(address), ssh(director, "ipvsadm -Ln")) is not None


def conn_on(director: str, port: int) -> bool:
    """The client's connection from ``port`` is in the director's connection table."""
    return ("%s:%d " % (CLIENT, port)) in ssh(director, "ipvsadm -Lnc")


def weight_of(director: str, address: str) -> int:
    m = re.search(r"-> %s:80\s+\w+\s+(\d+)\s" % re.escape(address), ssh(director, "ipvsadm -Ln"))
    assert m, "%s not in the table of %s" % (address, director)
    return int(m.group(1))


def lab_inventory() -> str:
    """The lab's own inventory: current SSH ports (a guest started again gets a new one)."""
    state = os.environ.get("LVS_LAB_STATE") or "/tmp/lvs-cluster-lab"
    return os.path.join(state, lab_name(), "inventory.yml")


# the output of the last playbook() run
LAST_OUTPUT = [""]


def playbook(name: str, *args: str, ok: bool = True) -> float:
    """Run playbooks/<name> against the molecule inventory; return its duration (output: LAST_OUTPUT).
    It must succeed, or with ``ok=False`` fail."""
    eph = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    start = time.time()
    res = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            os.path.join(eph, "inventory"),
            "-i",
            lab_inventory(),
            os.path.join(project(), "playbooks", name),
        ]
        + list(args),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert (res.returncode == 0) == ok, res.stdout[-4000:] + res.stderr[-2000:]
    LAST_OUTPUT[0] = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)  # without the colours (ANSIBLE_FORCE_COLOR)
    print(res.stdout[-1500:])
    return time.time() - start


def units(director: str) -> str:
    """``<unit> <active state> <enablement>`` of keepalived and ipvsadm on a director, one a line."""
    return ssh(
        director,
        "for u in keepalived ipvsadm; do echo $u $(systemctl is-active $u) $(systemctl is-enabled $u); done || true",
    )


def holds_vip(host: str, vip: str = VIP, dev: str = "eth1") -> bool:
    try:
        return ("inet %s/" % vip) in ssh(host, "ip -4 -o addr show dev " + dev, timeout=30)
    except (AssertionError, subprocess.TimeoutExpired):
        return False


def vrrp_state(host: str) -> str:
    """The last VRRP state the running keepalived of host logged (MASTER, BACKUP, FAULT or "")."""
    out = ssh(
        host,
        "journalctl -o cat _SYSTEMD_INVOCATION_ID=$(systemctl show -p InvocationID --value keepalived)"
        " | grep -o 'Entering [A-Z]* STATE' | tail -1 || true",
        timeout=30,
    )
    words = out.split()
    return words[1] if len(words) == 3 else ""


def wait_for(pred, timeout: float, step: float = 1.0) -> float:
    """Poll pred() until true; return the seconds it took (fail after timeout)."""
    start = time.time()
    while time.time() - start < timeout:
        if pred():
            return time.time() - start
        time.sleep(step)
    raise AssertionError("condition not met within %.0f s" % timeout)


@dataclass
class Result:
    """Outcome of one load run."""

    requests: List[Tuple[float, bool, str]] = field(default_factory=list)

    @property
    def failures(self) -> List[float]:
        return [t for t, ok, _detail in self.requests if not ok]

    def failed_between(self, start: float, end: float) -> int:
        return len([t for t in self.failures if start <= t < end])

    def served_by(self, server: str, after: float = 0.0) -> int:
        return len([1 for t, ok, who in self.requests if ok and who == server and t >= after])

    def gap(self) -> float:
        """Seconds from the first to the last failed request (0 without failures)."""
        f = self.failures
        return (max(f) - min(f) + 0.1) if f else 0.0

    def summary(self) -> str:
        return "%d requests, %d failed" % (len(self.requests), len(self.failures))


class Load:
    """A bounded request loop (rate requests/s for duration s) in the lab namespace."""

    def __init__(self, duration: int, rate: int = 10, log: Optional[str] = None, url: str = URL) -> None:
        self.duration = duration
        self.rate = rate
        self.url = url
        eph = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
        if not log:  # a file of its own, also for loads started in the same millisecond
            fd, log = tempfile.mkstemp(prefix="ha-load-", suffix=".log", dir=eph)
            os.close(fd)
        self.log = log
        self.proc: Optional[subprocess.Popen] = None
        self.started = 0.0
        self.stopped = 0.0

    def start(self) -> Load:
        count = self.duration * self.rate
        script = (
            "for i in $(seq %d); do "
            '( t=$(date +%%s.%%N); if o=$(curl -s --max-time 1 %s); then echo "$t ok $o"; '
            'else echo "$t FAIL $?"; fi ) & sleep %s; done; wait'
        ) % (count, self.url, 1.0 / self.rate)
        with open(self.log, "w", encoding="utf-8") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", "lvslab-" + lab_name(), "bash", "-c", script],
                stdout=out,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started = time.time()
        return self

    def wait(self) -> Result:
        assert self.proc is not None
        try:
            self.proc.wait(timeout=self.duration * 3 + 60)
        except subprocess.TimeoutExpired:
            self.stop()
        return self.result()

    def finish(self, tail: float) -> Result:
        """Keep the loop running ``tail`` more seconds (or until its own end), then stop it.

        A measurement's loop is started long enough for slow emulated boots and ended once
        what it measures is over plus a tail, instead of always running its whole bound.
        """
        assert self.proc is not None
        try:
            self.proc.wait(timeout=tail)
        except subprocess.TimeoutExpired:
            self.stop()
        return self.result()

    def stop(self) -> None:
        """Stop the loop by its PID (its process group: the loop and its curls)."""
        if self.proc is not None and self.proc.poll() is None:
            self.stopped = time.time()
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def result(self) -> Result:
        res = Result()
        with open(self.log, encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^(\d+\.\d+) (ok|FAIL) ?(.*)$", line.strip())
                # Requests still running when the loop was stopped are not counted.
                if m and not (self.stopped and float(m.group(1)) > self.stopped - 1.5):
                    res.requests.append((float(m.group(1)), m.group(2) == "ok", m.group(3).strip()))
        res.requests.sort()
        return res


class ArpWatch:
    """arp_watch.py in the lab namespace for a bounded time: ARP frames and the client's entry for the VIP."""

    def __init__(self, seconds: int) -> None:
        eph = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
        self.log = os.path.join(eph, "arp-watch-%d.log" % int(time.time() * 1000))
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "arp_watch.py")
        with open(self.log, "w", encoding="utf-8") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", "lvslab-" + lab_name(), "python3", script, "br-lan", VIP, str(seconds)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> List[str]:
        """Stop it by its PID and return the lines that concern the VIP."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        with open(self.log, encoding="utf-8") as fh:
            return [line.rstrip() for line in fh if " NEIGH " in line or (" %s" % VIP) in line]


class HeldConnection:
    """held_conn.py in the lab namespace: one TCP connection to the VIP, requests sent over it on demand."""

    def __init__(self, seconds: int) -> None:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "held_conn.py")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", "lvslab-" + lab_name(), "python3", script, VIP, "80", "/whoami", str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def get(self, timeout: float) -> Tuple[bool, int, str]:
        """One request over the held connection: (ok, the client's port, server name or the reason)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("get %s\n" % timeout)
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().split(None, 3)
        assert len(line) == 4, "held_conn.py ended: %s" % (self.proc.stderr.read() if self.proc.stderr else "")
        return line[0] == "ok", int(line[2]), line[3].strip()

    def stop(self) -> None:
        """End of input ends it; stopped by its PID if it does not."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def report(title: str, text: str) -> None:
    """Print a measured number (pytest -s) and keep it in the ephemeral directory."""
    line = "HA-MEASURE %s: %s" % (title, text)
    print("\n" + line)
    eph = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")
    with open(os.path.join(eph, "ha-measurements.txt"), "a", encoding="utf-8") as fh:
        fh.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + line + "\n")


def keepalived_state(director: str) -> str:
    """What a reload or a restart of keepalived changes: its main PID, its start time, the
    reloads it logged and its configuration's checksum ("" where keepalived is not running)."""
    return ssh(
        director,
        "systemctl show -p MainPID -p ExecMainStartTimestampMonotonic keepalived;"
        " journalctl -o cat -u keepalived | grep -c Reloading || true; md5sum /etc/keepalived/keepalived.conf || true",
    )


def drain(directors: Sequence[str], address: str, server: str, title: str, *extra: str) -> str:
    """playbooks/drain.yml for ``server`` under load: 0 failed requests, weight 0 and a drain file
    on every director, no answer from it after the drain. Returns the playbook's output."""
    load = Load(600).start()
    try:
        time.sleep(5)
        took = playbook("drain.yml", "--limit", server, "-e", "drain_timeout=60", *extra)
        out = LAST_OUTPUT[0]
        t_drained = time.time()
        weights = {d: weight_of(d, address) for d in directors}
        time.sleep(10)
    finally:
        load.stop()
    res = load.result()
    files = {d: sorted(set(ssh(d, "cat /var/lib/lvs-cluster/drain/*@%s_*" % address).split())) for d in directors}
    report(
        "%sdrain %s under load" % (title, server),
        "%s; drain.yml took %.0f s; %s weight after drain %s; drain files %s; %s answers after the drain: %d (of %d)"
        % (
            res.summary(),
            took,
            server,
            weights,
            files,
            server,
            res.served_by(server, after=t_drained),
            len([1 for t, _ok, _detail in res.requests if t >= t_drained]),
        ),
    )
    assert weights == dict.fromkeys(directors, 0)
    assert files == dict.fromkeys(directors, ["65535"])
    assert not res.failures, res.failures
    assert res.served_by(server, after=t_drained) == 0
    return out


@contextlib.contextmanager
def weights_seen(director: str, address: str) -> Iterator[List[int]]:
    """The weights of real server ``address`` (port 80) on ``director``, polled every 0.3 s by one
    ssh while the block runs: in order, without repeats (filled in when the block ends)."""
    seen: List[int] = []
    poll = subprocess.Popen(
        ["python3", os.path.join(project(), "tests/lab/lab.py"), "--lab", lab_name(), "ssh", director, "--",
         "for i in $(seq 600); do ipvsadm -Ln | grep -E -- '-> %s:80 ' | awk '{print $4}'; sleep 0.3; done"
         % re.escape(address)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        yield seen
    finally:
        time.sleep(1)
        os.killpg(poll.pid, signal.SIGTERM)
        for w in poll.communicate(timeout=30)[0].split():
            if w.isdigit() and (not seen or seen[-1] != int(w)):
                seen.append(int(w))


def _ramp_under_load(
    directors: Sequence[str], address: str, server: str, weight: int, title: str, play: Sequence[str], tail: int
) -> List[int]:
    """ansible-playbook ``play`` (name, then its arguments) under load, the weights of ``address``
    polled on the first director while it runs: 0 failed requests, the inventory ``weight`` on every
    director, no drain file, answers from it in the ``tail`` seconds after. Returns the weights seen,
    in order, without repeats."""
    load = Load(600).start()
    try:
        time.sleep(3)
        with weights_seen(directors[0], address) as seen:
            took = playbook(*play)
        t_back = time.time()
        time.sleep(tail)
    finally:
        load.stop()
    res = load.result()
    weights = {d: weight_of(d, address) for d in directors}
    files = {d: ssh(d, "ls /var/lib/lvs-cluster/drain | grep -c @%s_ || true" % address).strip() for d in directors}
    report(
        "%s%s under load" % (title, server),
        "%s; %s took %.0f s; %s weights seen on %s while it ran %s; weight after %s; %s answers in the %d s "
        "after: %d" % (res.summary(), play[0], took, server, directors[0], seen, weights, server, tail,
                       res.served_by(server, after=t_back)),
    )  # fmt: skip
    assert weights == dict.fromkeys(directors, weight)
    assert files == dict.fromkeys(directors, "0")
    assert not res.failures, res.failures
    assert res.served_by(server, after=t_back) > 0
    return seen


def undrain(directors: Sequence[str], address: str, server: str, weight: int, title: str, *extra: str) -> List[int]:
    """playbooks/undrain.yml for ``server`` under load (see ``_ramp_under_load``)."""
    return _ramp_under_load(
        directors, address, server, weight, title + "undrain ", ("undrain.yml", "--limit", server) + extra, 10
    )


def slow_start(director: str, address: str, server: str, weight: int, title: str, *extra: str) -> List[int]:
    """site.yml with slow start (``extra``: its -e) on ``director`` under load, after ``server`` was
    taken out of the VIP's port 80 service by hand, as a real server new in the inventory is not
    in the live table (see ``_ramp_under_load``)."""
    ssh(director, "ipvsadm -d -t %s:80 -r %s:80" % (VIP, address))
    return _ramp_under_load(
        [director], address, server, weight, title + "slow start of ", ("site.yml", "--limit", director) + extra, 5
    )


def dead_web_server(director: str, check_bound: int, title: str = "", others: Sequence[str] = ()) -> None:
    """Stop the web server of rs1 under load (90 s bound): no failed request later than
    ``check_bound`` after the first one, rs1 out of the table of ``director`` (and of
    ``others``); started again, it comes back and answers."""
    load = Load(90).start()
    time.sleep(5)
    t_stop = time.time()
    try:
        ssh("rs1", "systemctl stop nginx")
        t_stopped = time.time()
        left = wait_for(lambda: not rs_in_table(director, "192.0.2.11"), timeout=60, step=0.5)
        res = load.finish(check_bound + 5)
    finally:
        load.stop()
        ssh("rs1", "systemctl start nginx")
    first = min(res.failures) if res.failures else t_stop
    report(
        "%sweb server stopped on rs1" % title,
        "%s; failed requests from the first to the last: %.1f s (check bound %d s); "
        "first failure %.1f s after the stop command returned; out of %s's table (polled over ssh) "
        "%.1f s after it; 0 failures expected after the check fired: %d"
        % (
            res.summary(),
            res.gap(),
            check_bound,
            first - t_stopped,
            director,
            left,
            res.failed_between(first + check_bound, 1e12),
        ),
    )
    assert res.failed_between(first + check_bound, 1e12) == 0
    for other in others:
        assert not rs_in_table(other, "192.0.2.11"), "%s checks too" % other
    back = wait_for(lambda: rs_in_table(director, "192.0.2.11"), timeout=60, step=0.5)
    report(
        "%sweb server started on rs1" % title,
        "back in the pool of %s %.1f s after the start (polled)" % (director, back),
    )
    res = Load(5).start().wait()
    assert not res.failures and res.served_by("rs1")
