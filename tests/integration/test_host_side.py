"""Host side of DR and TUN on a real kernel: vip_iface and arp_sysctl in the qemu lab.

* the integration playbooks of both modules (four steps, errors, removal), and of managed_files
  (``targets/<name>/playbook.yml``, layout in tests/integration/README.md);
* the four steps through ``lab.four_steps``, a reboot of the guest, and the
  proof that VIPs and sysctls are back (and the modules report no change);
* DR and TUN (IPIP, GRE and GUE) end to end: director rule with ``ipvsadm``, nginx on the real
  servers, a client request through the VIP answered by a real server, and
  ``arping`` from the client seeing only the director's MAC for the VIP.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest
from labtools import LabHandle

pytestmark = pytest.mark.lab

TARGETS = Path(__file__).resolve().parent / "targets"
VIP = "lvs.cluster.vip_iface"
ARP = "lvs.cluster.arp_sysctl"
MF = "lvs.cluster.managed_files"
MAC_RE = re.compile(r"([0-9a-f]{2}(?::[0-9a-f]{2}){5})", re.I)

RESET_SYSCTL = (
    "rm -f /etc/sysctl.d/90-lvs-cluster.conf /etc/modules-load.d/lvs-cluster.conf "
    "/var/lib/lvs-cluster/sysctl-originals.json; "
    "for i in all eth1; do echo 0 > /proc/sys/net/ipv4/conf/$i/arp_ignore; "
    "echo 0 > /proc/sys/net/ipv4/conf/$i/arp_announce; done"
)
# lab-only, for one reboot: udev holds eth1's "add" event 30 s, longer than network-online's wait (20 s)
SLOW_ETH1_FILE = "/etc/udev/rules.d/99-lvs-lab-slow-eth1.rules"
SLOW_ETH1_RULE = 'ACTION=="add", SUBSYSTEM=="net", KERNEL=="eth1", RUN+="/bin/sleep 30"'


def run_playbook(lab: LabHandle, name: str) -> None:
    res = lab.playbook(TARGETS / name / "playbook.yml")
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-3000:]
    assert "failed=0" in res.stdout


def test_vip_iface_playbook(lab: LabHandle) -> None:
    run_playbook(lab, "vip_iface")


def test_arp_sysctl_playbook(lab: LabHandle) -> None:
    run_playbook(lab, "arp_sysctl")


def test_managed_files_playbook(lab: LabHandle) -> None:
    run_playbook(lab, "managed_files")


def test_managed_files_four_steps(lab: LabHandle) -> None:
    """The lab's four-step helper, then one changed entry: only its path is in changed_paths."""
    host, root = "rs1", "/var/tmp/lvs-mf-steps"
    files: List[Dict[str, Any]] = [
        {"path": f"{root}/modules-load.d/lvs.conf", "content": "ip_vs\n"},
        {"path": f"{root}/system/x.service.d/lvs.conf", "content": "[Unit]\nAfter=remote-fs.target\n"},
        {"path": f"{root}/wants/x.service", "state": "link", "src": "../system/x.service"},
        {"path": f"{root}/www", "state": "directory", "mode": "0750"},
    ]
    lab.ssh(host, f"rm -rf {root}")
    try:
        results = lab.four_steps(host, MF, {"files": files})
        assert results[0]["changed_paths"] == results[1]["changed_paths"] == [f["path"] for f in files]
        assert results[2]["changed_paths"] == results[3]["changed_paths"] == []
        assert lab.ssh(host, f"cat {root}/modules-load.d/lvs.conf").stdout == "ip_vs\n"
        files[1]["content"] += "Requires=remote-fs.target\n"
        res = lab.module(host, MF, {"files": files}, diff=True)
        assert not res.get("failed") and res["changed"], res
        assert res["changed_paths"] == [files[1]["path"]]
        assert [d["after"] for d in res["diff"]] == [files[1]["content"]]
    finally:
        lab.ssh(host, f"rm -rf {root}", check=False)


MF_UNIT = "lvs-mf-test.service"
MF_UNIT_TEXT = """[Unit]
Description=managed_files units test
[Service]
ExecStart=/bin/sleep infinity
ExecReload=/bin/sh -c 'echo reload >> /run/lvs-mf-test.log'
[Install]
WantedBy=multi-user.target
"""


def test_managed_files_units(lab: LabHandle) -> None:
    """Units after their files: enable + start (no reload), then reload on the config, restart on the
    unit file (daemon-reload first), start wins over reload, a unit systemd does not know fails."""
    host, conf, unit_path = "rs1", "/etc/lvs-mf-test.conf", "/etc/systemd/system/" + MF_UNIT
    files: List[Dict[str, Any]] = [{"path": unit_path, "content": MF_UNIT_TEXT}, {"path": conf, "content": "a\n"}]
    units = [{"name": MF_UNIT, "reload_on": [conf], "restart_on": [unit_path]}]

    def pid() -> str:
        return lab.ssh(host, f"systemctl show -p MainPID --value {MF_UNIT}").stdout.strip()

    def reloads() -> int:
        return int(lab.ssh(host, "cat /run/lvs-mf-test.log 2>/dev/null | wc -l").stdout)

    cleanup = (
        f"systemctl disable --now {MF_UNIT}; rm -f {unit_path} {conf} /run/lvs-mf-test.log; systemctl daemon-reload"
    )
    lab.ssh(host, cleanup, check=False)
    try:
        results = lab.four_steps(host, MF, {"files": files, "units": units})
        assert results[0]["units"][0]["operations"] == ["enable", "start"], results[0]
        assert results[0]["daemon_reloaded"] and results[1]["daemon_reloaded"]
        assert results[1]["units"][0]["operations"] == ["enable", "start"], results[1]
        assert results[2]["units"][0]["operations"] == [] and not results[2]["daemon_reloaded"]
        assert lab.ssh(host, f"systemctl is-enabled {MF_UNIT}; systemctl is-active {MF_UNIT}").stdout.split() == [
            "enabled",
            "active",
        ]
        assert reloads() == 0  # started with the new config: not reloaded as well
        first = pid()
        files[1]["content"] = "b\n"
        res = lab.module(host, MF, {"files": files, "units": units}, diff=True)
        assert res["changed"] and res["units"][0]["operations"] == ["reload"], res
        assert not res["daemon_reloaded"] and reloads() == 1 and pid() == first
        files[0]["content"] = MF_UNIT_TEXT.replace("managed_files units test", "managed_files units test, v2")
        res = lab.module(host, MF, {"files": files, "units": units})
        assert res["changed"] and res["daemon_reloaded"] and res["units"][0]["operations"] == ["restart"], res
        assert pid() != first and "v2" in lab.ssh(host, f"systemctl show -p Description --value {MF_UNIT}").stdout
        lab.ssh(host, f"systemctl stop {MF_UNIT}")
        files[1]["content"] = "c\n"
        res = lab.module(host, MF, {"files": files, "units": units})
        assert res["units"][0]["operations"] == ["start"] and reloads() == 1, res
        res = lab.module(host, MF, {"files": files, "units": [{"name": "lvs-mf-nosuch.service"}]})
        assert res.get("failed") and "not found" in res["msg"], res
    finally:
        lab.ssh(host, cleanup, check=False)


def proc(lab: LabHandle, host: str, keys: List[str]) -> Dict[str, str]:
    paths = " ".join("/proc/sys/" + k.replace(".", "/") for k in keys)
    out = lab.ssh(host, f"for f in {paths}; do cat $f; done").stdout.split()
    return dict(zip(keys, out))


def test_four_steps_and_reboot_persistence(lab: LabHandle) -> None:
    host = "rs1"
    lo: Dict[str, Any] = {"vips": ["192.0.2.100", "2001:db8:0:1::100"], "interface": "lo", "label": "lo:0"}
    lo["role"] = "realserver"
    tun: Dict[str, Any] = {"vips": ["192.0.2.101"], "interface": "tunl0", "role": "realserver", "gue_port": 6080}
    gre: Dict[str, Any] = {"vips": ["192.0.2.102"], "interface": "gre0", "role": "realserver"}
    dummy: Dict[str, Any] = {"vips": ["203.0.113.10"], "interface": "lvs0", "kind": "dummy"}
    # a director's VIP on a NIC that systemd-networkd configures late (udev holds eth1 for longer than
    # network-online's wait): networkd flushes what it finds on the link, so the boot unit waits for it
    nic: Dict[str, Any] = {"vips": ["192.0.2.103"], "interface": "eth1", "role": "director"}
    arp: Dict[str, Any] = {"arp_ignore": 1, "arp_announce": 2, "rp_filter": 2, "interfaces": ["eth1", "tunl0"]}
    keys = [
        "net.ipv4.conf.all.arp_ignore",
        "net.ipv4.conf.eth1.arp_ignore",
        "net.ipv4.conf.all.arp_announce",
        "net.ipv4.conf.eth1.arp_announce",
        "net.ipv4.conf.all.rp_filter",
        "net.ipv4.conf.tunl0.rp_filter",
        "net.ipv4.conf.tunl0.arp_ignore",
    ]
    try:
        for args in (lo, tun, gre, nic):  # clean start, whatever an earlier test left
            lab.module(host, VIP, dict(args, state="absent"))
        lab.ssh(host, RESET_SYSCTL + "; ip link del lvs0 2>/dev/null; modprobe -r ipip ip_gre fou 2>/dev/null; true")
        results = lab.four_steps(host, ARP, arp)
        assert results[0]["previous"]["net.ipv4.conf.tunl0.rp_filter"] is None  # tunl0 did not exist
        for args in (lo, tun, gre, dummy, nic):
            results = lab.four_steps(host, VIP, args)
            assert results[0]["after"] == results[1]["after"]
        lab.ssh(host, "echo '%s' > %s" % (SLOW_ETH1_RULE, SLOW_ETH1_FILE))
        before_addrs = lab.ssh(host, "ip -o addr show").stdout
        assert "192.0.2.100/32 scope global lo:0" in before_addrs
        boot_id = lab.ssh(host, "cat /proc/sys/kernel/random/boot_id").stdout

        lab.reboot(host)

        assert lab.ssh(host, "cat /proc/sys/kernel/random/boot_id").stdout != boot_id
        assert lab.ssh(host, "systemctl is-active lvs-cluster-vips.service").stdout.strip() == "active"
        addrs = lab.ssh(host, "ip -o addr show").stdout
        for expected in (
            "lo    inet 192.0.2.100/32 scope global lo:0",
            "lo    inet6 2001:db8:0:1::100/128",
            "tunl0    inet 192.0.2.101/32",
            "gre0    inet 192.0.2.102/32",
            "lvs0    inet 203.0.113.10/32",
            "eth1    inet 192.0.2.103/32",
        ):
            assert expected in addrs, addrs
        journal = lab.ssh(host, "journalctl -b -o cat -u systemd-networkd-wait-online -u systemd-networkd").stdout
        assert "Timeout occurred" in journal and "eth1: Configuring" in journal, journal  # the race happened
        assert "UP" in lab.ssh(host, "ip -o link show tunl0").stdout
        assert "UP" in lab.ssh(host, "ip -o link show gre0").stdout
        assert "port 6080 gue" in lab.ssh(host, "ip fou show").stdout
        values = proc(lab, host, keys)
        assert values == {
            "net.ipv4.conf.all.arp_ignore": "1",
            "net.ipv4.conf.eth1.arp_ignore": "1",
            "net.ipv4.conf.all.arp_announce": "2",
            "net.ipv4.conf.eth1.arp_announce": "2",
            "net.ipv4.conf.all.rp_filter": "2",
            "net.ipv4.conf.tunl0.rp_filter": "2",
            "net.ipv4.conf.tunl0.arp_ignore": "1",
        }, values
        # after the reboot the modules find everything in place
        for module, args in ((VIP, lo), (VIP, tun), (VIP, gre), (VIP, dummy), (VIP, nic), (ARP, arp)):
            res = lab.module(host, module, args)
            assert not res.get("failed") and not res["changed"], (module, res)
        # absent removes the GUE port and the dummy link the module created
        for args in (tun, dummy):
            res = lab.module(host, VIP, dict(args, state="absent"))
            assert not res.get("failed") and res["changed"], res
        assert "port 6080" not in lab.ssh(host, "ip fou show").stdout
        assert lab.ssh(host, "ip link show lvs0", check=False).returncode != 0
    finally:
        for args in (lo, tun, gre, dummy, nic):
            lab.module(host, VIP, dict(args, state="absent"))
        lab.ssh(host, RESET_SYSCTL + "; ip link del lvs0 2>/dev/null; rm -f " + SLOW_ETH1_FILE, check=False)


# ---------------------------------------------------------------------------
# DR and TUN end to end
# ---------------------------------------------------------------------------


def client_lan_iface(lab: LabHandle) -> str:
    out = lab.netns("ip -o -4 addr show").stdout
    for line in out.splitlines():
        if " 192.0.2.254/" in line:
            return line.split()[1]
    raise AssertionError("no lan interface in the lab namespace:\n" + out)


def arping_macs(lab: LabHandle, vip: str) -> Set[str]:
    iface = client_lan_iface(lab)
    habets = "Habets" in lab.netns("arping --help 2>&1; true", check=False).stdout
    flag = "-i" if habets else "-I"
    out = lab.netns(f"arping -c 3 {flag} {iface} {vip} 2>&1; true", check=False).stdout
    replies = [line for line in out.splitlines() if "from" in line.lower()]
    return {m.lower() for line in replies for m in MAC_RE.findall(line)}


def mac(lab: LabHandle, host: str) -> str:
    return lab.ssh(host, "cat /sys/class/net/eth1/address").stdout.strip().lower()


def start_nginx(lab: LabHandle, host: str) -> None:
    lab.ssh(
        host, "hostname > /var/www/html/index.html && chmod 644 /var/www/html/index.html && systemctl restart nginx"
    )


def ask(lab: LabHandle, vip: str, count: int = 6) -> List[str]:
    cmd = f"for i in $(seq {count}); do curl -s --max-time 5 http://{vip}/ || echo FAIL; done"
    return lab.netns(cmd).stdout.split()


def director_rule(lab: LabHandle, vip: str, forward: str) -> None:
    lab.ssh(
        "director",
        f"modprobe ip_vs && ipvsadm -C && ipvsadm -A -t {vip}:80 -s rr && "
        f"ipvsadm -a -t {vip}:80 -r 192.0.2.11:80 {forward} && ipvsadm -a -t {vip}:80 -r 192.0.2.12:80 {forward}",
    )


def cleanup(lab: LabHandle, vip: str, rs_iface: str, extra: Optional[Dict[str, Any]] = None) -> None:
    lab.ssh("director", "ipvsadm -C", check=False)
    lab.module("director", VIP, {"vips": [vip], "interface": "eth1", "state": "absent"})
    for rs in ("rs1", "rs2"):
        lab.module(rs, VIP, {"vips": [vip], "interface": rs_iface, "state": "absent", **(extra or {})})
        lab.ssh(rs, RESET_SYSCTL + "; systemctl stop nginx", check=False)


def test_dr_end_to_end(lab: LabHandle) -> None:
    vip = "192.0.2.100"
    director_mac = mac(lab, "director")
    rs_macs = {mac(lab, "rs1"), mac(lab, "rs2")}
    try:
        res = lab.module("director", VIP, {"vips": [vip], "interface": "eth1", "role": "director"})
        assert not res.get("failed"), res
        res = lab.module("director", ARP, {"send_redirects": False, "interfaces": ["eth1"], "persist": False})
        assert not res.get("failed"), res
        director_rule(lab, vip, "-g")
        for rs in ("rs1", "rs2"):
            lab.ssh(rs, RESET_SYSCTL)  # start from the kernel defaults: the real servers answer ARP
            res = lab.module(rs, VIP, {"vips": [vip], "interface": "lo", "label": "lo:0", "role": "realserver"})
            assert not res.get("failed"), res
            start_nginx(lab, rs)
        # the ARP problem is real: without the sysctls the real servers answer for the VIP
        assert arping_macs(lab, vip) & rs_macs, "real servers did not answer ARP: the check below proves nothing"
        for rs in ("rs1", "rs2"):
            res = lab.module(rs, ARP, {"arp_ignore": 1, "arp_announce": 2, "interfaces": ["eth1"]})
            assert not res.get("failed") and res["changed"], res
        assert arping_macs(lab, vip) == {director_mac}
        answers = ask(lab, vip)
        assert set(answers) == {"rs1", "rs2"}, answers
    finally:
        cleanup(lab, vip, "lo")


@pytest.mark.parametrize(
    "tun_type,rs_iface,forward,gue_port",
    [
        ("ipip", "tunl0", "-i", None),
        ("gre", "gre0", "-i --tun-type gre", None),
        ("gue", "tunl0", "-i --tun-type gue --tun-port 6080", 6080),
    ],
)
def test_tun_end_to_end(lab: LabHandle, tun_type: str, rs_iface: str, forward: str, gue_port: Any) -> None:
    vip = "192.0.2.101"
    director_mac = mac(lab, "director")
    rs_vip: Dict[str, Any] = {"vips": [vip], "interface": rs_iface, "role": "realserver"}
    if gue_port:
        rs_vip["gue_port"] = gue_port
    try:
        res = lab.module("director", VIP, {"vips": [vip], "interface": "eth1", "role": "director"})
        assert not res.get("failed"), res
        director_rule(lab, vip, forward)
        for rs in ("rs1", "rs2"):
            res = lab.module(
                rs, ARP, {"arp_ignore": 1, "arp_announce": 2, "rp_filter": 2, "interfaces": ["eth1", rs_iface]}
            )
            assert not res.get("failed"), res
            res = lab.module(rs, VIP, rs_vip)
            assert not res.get("failed") and res["changed"], res
            assert "UP" in lab.ssh(rs, f"ip -o link show {rs_iface}").stdout
            start_nginx(lab, rs)
        if gue_port:
            assert f"port {gue_port} gue" in lab.ssh("rs1", "ip fou show").stdout
            again = lab.module("rs1", VIP, rs_vip)
            assert not again["changed"], again
        assert f"--tun-type {tun_type}" in lab.ssh("director", "ipvsadm-save -n").stdout or tun_type == "ipip"
        assert arping_macs(lab, vip) == {director_mac}
        answers = ask(lab, vip)
        assert set(answers) == {"rs1", "rs2"}, answers
        # the packets really were tunnelled: the real servers received them on the tunnel device
        rx = lab.ssh("rs1", f"cat /sys/class/net/{rs_iface}/statistics/rx_packets").stdout.strip()
        assert int(rx) > 0
    finally:
        cleanup(lab, vip, rs_iface, {"gue_port": gue_port} if gue_port else {})
    if gue_port:
        assert f"port {gue_port}" not in lab.ssh("rs1", "ip fou show").stdout


def link_local(address: str) -> str:
    """fe80::<host part> for a lab address 2001:db8:0:1::<host part>."""
    return "fe80::" + address.rsplit("::", 1)[1]


def test_tun_ipv6_end_to_end(lab: LabHandle) -> None:
    """IPv6 VIP, IPv6 transport: the director tunnels (ip6ip6) to ip6tnl0 on the real servers."""
    vip = "2001:db8:0:1::100"
    lan6 = {"director": "2001:db8:0:1::1", "rs1": "2001:db8:0:1::11", "rs2": "2001:db8:0:1::12"}
    rs_vip: Dict[str, Any] = {"vips": [vip], "interface": "ip6tnl0", "role": "realserver"}
    try:
        for host, address in lan6.items():  # the lab gives the guests IPv4 only
            # and, on trixie (systemd-network-generator writes LinkLocalAddressing=no for ip=), no
            # link-local address: without one the kernel sends no neighbour solicitation at all
            lab.ssh(host, f"ip -6 addr replace {address}/64 dev eth1 nodad")
            lab.ssh(host, f"ip -6 addr replace {link_local(address)}/64 dev eth1 nodad")
        res = lab.module("director", VIP, {"vips": [vip], "interface": "eth1", "role": "director"})
        assert not res.get("failed"), res
        lab.ssh(
            "director",
            f"modprobe ip_vs && ipvsadm -C && ipvsadm -A -t [{vip}]:80 -s rr && "
            + " && ".join(f"ipvsadm -a -t [{vip}]:80 -r [{lan6[rs]}]:80 -i" for rs in ("rs1", "rs2")),
        )
        for rs in ("rs1", "rs2"):
            res = lab.module(rs, VIP, rs_vip)
            assert not res.get("failed") and res["changed"], res
            assert "UP" in lab.ssh(rs, "ip -o link show ip6tnl0").stdout
            start_nginx(lab, rs)
        cmd = f"for i in $(seq 6); do curl -s --max-time 5 -g http://[{vip}]/ || echo FAIL; done"
        answers = lab.netns(cmd).stdout.split()
        assert set(answers) == {"rs1", "rs2"}, answers
        rx = lab.ssh("rs1", "cat /sys/class/net/ip6tnl0/statistics/rx_packets").stdout.strip()
        assert int(rx) > 0
    finally:
        lab.ssh("director", "ipvsadm -C", check=False)
        lab.module("director", VIP, {"vips": [vip], "interface": "eth1", "state": "absent"})
        for rs in ("rs1", "rs2"):
            lab.module(rs, VIP, dict(rs_vip, state="absent"))
            lab.ssh(rs, "systemctl stop nginx", check=False)
        for host, address in lan6.items():
            lab.ssh(host, f"ip -6 addr del {address}/64 dev eth1", check=False)
            lab.ssh(host, f"ip -6 addr del {link_local(address)}/64 dev eth1", check=False)


# ---------------------------------------------------------------------------
# RHEL's ipvsadm.service and the director role's drop-in
# ---------------------------------------------------------------------------

# /usr/lib/systemd/system/ipvsadm.service of the Fedora / CentOS / RHEL ipvsadm package: it ignores
# /etc/sysconfig/ipvsadm-config, saves the live table over the rules file and flushes it on stop
# (and so on the RPM's try-restart after every update).
RHEL_IPVSADM_UNIT = """[Unit]
Description=Initialise the Linux Virtual Server
After=syslog.target network.target

[Service]
Type=oneshot
ExecStart=/bin/bash -c "exec /sbin/ipvsadm-restore < /etc/sysconfig/ipvsadm"
ExecStop=/bin/bash -c "exec /sbin/ipvsadm-save -n > /etc/sysconfig/ipvsadm"
ExecStop=/sbin/ipvsadm -C
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
"""
RHEL_UNIT_PATH = "/usr/lib/systemd/system/ipvsadm.service"  # where the RPM puts it: masking stays possible
DROPIN_DIR = "/etc/systemd/system/ipvsadm.service.d"


def test_ipvsadm_dropin_rhel_unit(lab: LabHandle) -> None:
    """The role's drop-in keeps RHEL's unit from saving over the rules file and from flushing the table;
    the HA path (stop and mask) leaves the live table alone too."""
    host = "director"
    s1, s2, s3 = "192.0.2.201:80", "192.0.2.202:80", "192.0.2.203:80"

    def table() -> str:
        return lab.ssh(host, "ipvsadm-save -n").stdout

    def rules() -> str:
        return lab.ssh(host, "cat /etc/sysconfig/ipvsadm").stdout

    def add(service: str) -> None:
        lab.ssh(host, f"ipvsadm -A -t {service} -s rr && ipvsadm -a -t {service} -r 192.0.2.11:80 -g")

    def unit(action: str) -> None:
        # reset-failed clears systemd's start rate limit (5 starts in 10 s), which this test's
        # quick succession of starts and restarts would otherwise hit
        lab.ssh(host, f"systemctl reset-failed ipvsadm.service; systemctl {action} ipvsadm.service")

    cleanup = (
        "systemctl unmask ipvsadm.service; systemctl stop ipvsadm.service; "
        "systemctl disable lvs-cluster-ipvs-thresholds.service; "
        f"rm -rf {DROPIN_DIR} /etc/sysconfig {RHEL_UNIT_PATH} /etc/systemd/system/ipvsadm.service "
        "/etc/systemd/system/lvs-cluster-ipvs-thresholds.service /etc/lvs-cluster/ipvs-thresholds.rules "
        "/etc/lvs-cluster/persist.json; "
        "systemctl daemon-reload; ipvsadm -C; true"
    )
    lab.ssh(host, cleanup, check=False)
    try:
        lab.ssh(
            host,
            f"mkdir -p /etc/sysconfig && cat > {RHEL_UNIT_PATH} <<'EOF'\n{RHEL_IPVSADM_UNIT}EOF\n"
            "systemctl daemon-reload",
        )
        assert "/etc/sysconfig/ipvsadm" in lab.ssh(host, "systemctl cat ipvsadm.service").stdout
        # the problem, without the drop-in: stop saves the live table over the file and flushes it
        lab.ssh(host, "modprobe ip_vs && ipvsadm -C")
        add(s1)
        lab.ssh(host, "ipvsadm-save -n > /etc/sysconfig/ipvsadm")
        unit("start")
        add(s2)
        unit("stop")
        assert "192.0.2.202" in rules(), "RHEL's ExecStop did not save: this test proves nothing"
        assert table() == "", "RHEL's ExecStop did not flush: this test proves nothing"

        # the role's persistence tasks with the RedHat variables: rules file from the live table, drop-in
        add(s1)
        add(s2)
        res = lab.playbook(TARGETS / "ipvsadm_dropin" / "playbook.yml")
        assert res.returncode == 0 and "failed=0" in res.stdout, res.stdout[-6000:] + res.stderr[-3000:]
        dropin = lab.ssh(host, f"cat {DROPIN_DIR}/lvs-cluster.conf").stdout
        assert "ExecStop=\n" in dropin, dropin
        assert lab.ssh(host, "systemctl is-enabled ipvsadm.service").stdout.strip() == "enabled"
        # the manifest lvs.cluster.ipvs_drain reads names the RedHat rules file
        manifest = json.loads(lab.ssh(host, "cat /etc/lvs-cluster/persist.json").stdout)
        assert manifest["rules_path"] == "/etc/sysconfig/ipvsadm", manifest
        managed = rules()
        assert "192.0.2.201" in managed and "192.0.2.202" in managed, managed
        unit("start")  # non-empty live table: nothing restored over it
        add(s3)  # a live change the managed file does not have yet
        live = table()
        for action in ("stop", "start", "restart", "try-restart"):
            unit(action)
            assert rules() == managed, f"{action} wrote the rules file"
            assert table() == live, f"{action} changed the live table:\n{table()}"
        # empty live table (a boot): the unit restores the managed file
        lab.ssh(host, "ipvsadm -C")
        unit("restart")
        assert table() == managed, table()
        assert lab.ssh(host, "systemctl is-active ipvsadm.service").stdout.strip() == "active"

        # HA path without a drop-in: stopped and masked by the role's task arguments, the table stays
        lab.ssh(
            host,
            f"rm -rf {DROPIN_DIR} && systemctl daemon-reload && systemctl reset-failed ipvsadm.service && "
            "systemctl restart ipvsadm.service",
        )
        add(s3)
        live = table()
        res = lab.module(
            host, "ansible.builtin.systemd_service", {"name": "ipvsadm", "state": "stopped", "masked": True}
        )
        assert not res.get("failed") and res["changed"], res
        assert lab.ssh(host, "systemctl is-enabled ipvsadm.service", check=False).stdout.strip() == "masked"
        assert lab.ssh(host, "systemctl is-active ipvsadm.service", check=False).stdout.strip() == "inactive"
        assert rules() == managed, "stop of the masked unit wrote the rules file"
        assert table() == live, "stop of the masked unit flushed the table"
    finally:
        lab.ssh(host, cleanup, check=False)
