"""lvs.cluster lab: qemu (TCG) guests with an IPVS-capable Debian kernel.

The machines this project is developed on run a kernel without IP_VS, ipip or
loadable modules, so every kernel-facing test runs in this lab:

* ``image``  build (or reuse) the guest image: Debian bookworm from the host's
  own apt sources via mmdebstrap, plus the modules of Debian's cloud kernel.
  Cached under ``$LVS_LAB_CACHE`` (default ``~/.cache/lvs-cluster-lab``),
  keyed by a hash of every input.
* ``up``     boot named guests from a topology (JSON or YAML) into a lab: a
  network namespace ``lvslab-<lab>`` holding bridges ``br-lan``
  (192.0.2.0/24) and ``br-ext`` (198.51.100.0/24), one qcow2 overlay per
  guest, management SSH via qemu user-net ``hostfwd`` on 127.0.0.1, and an
  Ansible inventory written to ``<state>/<lab>/inventory.yml``.
* ``reboot`` / ``stop`` / ``start`` one guest; ``ssh`` / ``netns`` run a
  command on a guest / in the lab namespace (the client side).
* ``down``   stop every qemu of the lab by PID, delete its namespace and state.

Only the Python standard library is needed (PyYAML is used when present).
Everything runs as root.  See tests/lab/README.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import fcntl
import functools
import gzip
import hashlib
import json
import lzma
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import unquote

HERE = Path(__file__).resolve().parent
IMAGE_VERSION = "6"  # bump to force a rebuild when the recipe changes in ways the hash can't see
RELEASES = ("bookworm", "trixie")  # Debian 12, Debian 13
DEFAULT_RELEASE = "bookworm"
VARIANTS = ("full", "minimal")
DEFAULT_VARIANT = "full"
KERNEL_META = "linux-image-cloud-amd64"
# What a fresh Debian cloud image has (and the lab itself needs: busybox for the initramfs,
# python3-apt/python3-yaml for Ansible): the whole of the minimal image.
BASE_PACKAGES = [
    "systemd-sysv",
    "udev",
    "dbus",
    "python3",
    "python3-apt",
    "python3-yaml",
    "openssh-server",
    "iproute2",
    "kmod",
    "curl",
    "busybox",
    "procps",
    "iputils-ping",
    "sudo",
    "ca-certificates",
]
# What the roles install: preinstalled in the full image only; the minimal image's guests get
# them from the lab's local repository (built from the full image's downloads).
ROLE_PACKAGES = [
    "ipvsadm",
    "nginx-light",
    "keepalived",
    "nfs-kernel-server",
    "nfs-common",
    "iptables",
    "nftables",
    "prometheus-node-exporter",
]
# Debugging tools of the full image (no verifier runs them on a guest).
TOOL_PACKAGES = ["tcpdump", "netcat-openbsd", "arping"]
PACKAGES = BASE_PACKAGES + ROLE_PACKAGES + TOOL_PACKAGES
# In the local repository only, installed by no image: what a scenario's prepare.yml installs as
# the host's own software (iptables-persistent: a host firewall the role's units must follow).
REPO_PACKAGES = ["iptables-persistent"]
# Where minimal guests find the local repository: a qemu user-net guestfwd on the management
# NIC; each connection runs `lab.py repo-serve` on the host (no route out of the lab).
REPO_ADDR = "10.0.2.100"
NETWORKS = {
    "lan": {"bridge": "br-lan", "prefix": "192.0.2", "ns_addr": "192.0.2.254", "v6": "2001:db8:0:1::"},
    "ext": {"bridge": "br-ext", "prefix": "198.51.100", "ns_addr": "198.51.100.254", "v6": "2001:db8:0:2::"},
    "lan2": {"bridge": "br-lan2", "prefix": "203.0.113", "ns_addr": "203.0.113.254", "v6": "2001:db8:0:3::"},
}
SSH_OPTS = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=5",
    "-o",
    "ServerAliveInterval=5",
    "-o",
    "ServerAliveCountMax=6",
]


class LabError(Exception):
    pass


def log(msg: str) -> None:
    print("[lab %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(cmd: List[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, text=True, capture_output=True, **kw, check=False)
    if check and res.returncode != 0:
        raise LabError("command failed (%d): %s\n%s%s" % (res.returncode, shlex.join(cmd), res.stdout, res.stderr))
    return res


def cache_root() -> Path:
    return Path(os.environ.get("LVS_LAB_CACHE", Path.home() / ".cache" / "lvs-cluster-lab"))


def state_root() -> Path:
    return Path(os.environ.get("LVS_LAB_STATE", "/tmp/lvs-cluster-lab"))


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------
# Image
# ---------------------------------------------------------------------------


def host_release() -> str:
    """The Debian release (codename) of this host, the suite word of its apt sources."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"') or DEFAULT_RELEASE
    except OSError:
        pass
    return DEFAULT_RELEASE


def check_release(release: str) -> str:
    if release not in RELEASES:
        raise LabError("unknown release %r (have %s)" % (release, ", ".join(RELEASES)))
    return release


def apt_sources(release: str = DEFAULT_RELEASE) -> Path:
    """The host's own Debian apt sources (deb822 or one-line format), for ``release``.

    The host's file is used as it is for the host's own release; for another release a copy
    with the suite word swapped (``bookworm`` -> ``trixie``, ``bookworm-updates`` ->
    ``trixie-updates``, ...) is written to the cache. No mirror name is ever written here.
    """
    host = host_release()
    env = os.environ.get("LVS_LAB_APT_SOURCES")
    candidates = [Path(env)] if env else []
    candidates += sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]
    for cand in candidates:
        if cand.is_file() and "debian" in cand.read_text() and re.search(r"\b%s\b" % host, cand.read_text()):
            break
    else:
        raise LabError("no Debian %s apt sources found on this host (set LVS_LAB_APT_SOURCES)" % host)
    if release == host:
        return cand
    dest = cache_root() / "apt" / (release + (".sources" if cand.name.endswith(".sources") else ".list"))
    text = re.sub(r"\b%s(?=\b|-)" % host, release, cand.read_text())
    if not dest.exists() or dest.read_text() != text:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    return dest


def apt_options(release: str) -> List[str]:
    """apt options for a private view of ``release``: its own sources, lists and cache dirs.

    The host's apt state is never touched (its lists know only the host's release).
    """
    base = cache_root() / "apt" / release
    return [
        "-o",
        "Dir::Etc::sourcelist=%s" % apt_sources(release),
        "-o",
        "Dir::Etc::sourceparts=-",
        "-o",
        "Dir::State::Lists=%s" % (base / "lists"),
        "-o",
        "Dir::Cache=%s" % (base / "cache"),
        "-o",
        "Dir::State::status=/dev/null",
    ]


def apt_update(release: str, max_age: float = 6 * 3600) -> None:
    """Refresh the private package lists of ``release`` when older than ``max_age`` seconds."""
    base = cache_root() / "apt" / release
    stamp = base / "updated"
    with locked(cache_root() / "apt.lock"):
        if stamp.exists() and time.time() - stamp.stat().st_mtime < max_age:
            return
        for sub in ("lists/partial", "cache/archives/partial"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        log("apt-get update (%s, private lists)" % release)
        run(["apt-get", *apt_options(release), "-qq", "update"])
        stamp.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))


def kernel_package(release: str) -> str:
    apt_update(release)
    out = run(["apt-cache", *apt_options(release), "depends", KERNEL_META]).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split(":", 1)[1].strip()
    raise LabError("cannot resolve %s for %s" % (KERNEL_META, release))


def fetch_kernel(cache: Path, release: str) -> Path:
    """Download and unpack the release's cloud kernel package (not installed on the host)."""
    pkg = kernel_package(release)
    dest = cache / "kernel" / pkg
    if (dest / ".done").exists():
        return dest
    with locked(cache / "kernel.lock"):
        if (dest / ".done").exists():
            return dest
        log("fetching %s (%s)" % (pkg, release))
        tmp = Path(tempfile.mkdtemp(dir=cache))
        try:
            tmp.chmod(0o755)  # apt's download sandbox user writes here
            run(["apt-get", *apt_options(release), "download", pkg], cwd=tmp)
            deb = next(tmp.glob("*.deb"))
            root = tmp / "root"
            run(["dpkg-deb", "-x", str(deb), str(root)])
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            root.rename(dest)
            (dest / ".done").write_text(deb.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def kernel_modules(kdir: Path) -> Path:
    """``<kdir>/lib/modules/<kver>`` (bookworm) or ``<kdir>/usr/lib/modules/<kver>`` (trixie)."""
    for sub in ("usr/lib/modules", "lib/modules"):
        if (kdir / sub).is_dir():
            return next((kdir / sub).iterdir())
    raise LabError("no modules in %s" % kdir)


def ssh_key(cache: Path) -> Path:
    key = cache / "ssh" / "id_ed25519"
    with locked(cache / "ssh.lock"):
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lvs-lab", "-f", str(key)])
    key.chmod(0o600)
    return key


@dataclass
class Image:
    root: Path
    kver: str

    @property
    def disk(self) -> Path:
        return self.root / "base.ext4"

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.root / "initrd.img"


# The guest's disk is virtio-blk, whose driver the cloud kernel has only as modules, so the
# image carries a tiny initramfs: the guest's own busybox, the virtio modules, an /init that
# mounts /dev/vda and switches to it. (The built-in NVMe driver was used before: QEMU 7.2's
# emulated NVMe loses a doorbell now and then under TCG - "nvme nvme0: I/O ... timeout" on the
# console, a guest hung for good - about one boot in eight after a power-off.)
# Modules a kernel has built in (trixie's 6.12 builds the virtio core in) are left out; xz
# compressed ones (trixie) are unpacked, as busybox's insmod may not read them.
INITRAMFS_MODULES = [
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
]
INITRAMFS_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in %s; do insmod "/lib/modules/$m.ko" || echo "initramfs: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
if ! mount -t ext4 -o rw /dev/vda /newroot; then
  echo "initramfs: cannot mount /dev/vda; powering off"
  poweroff -f
fi
umount /proc /sys /dev
exec switch_root /newroot /sbin/init
"""


def cpio_newc(entries: List[Tuple[str, int, bytes, int]]) -> bytes:
    """A cpio archive (newc, what the kernel unpacks): (name, mode, data, rdev) per entry."""
    out = bytearray()

    def add(name: str, mode: int, data: bytes, rdev: int, ino: int) -> None:
        raw = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(raw), 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields) + raw)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        add(name, mode, data, rdev, ino)
    add("TRAILER!!!", 0, b"", 0, 0)
    return bytes(out)


def initramfs_modules(moddir: Path) -> List[Tuple[str, bytes]]:
    """(name, uncompressed .ko) of the INITRAMFS_MODULES this kernel has as modules, load order."""
    builtin = (moddir / "modules.builtin").read_text().split() if (moddir / "modules.builtin").exists() else []
    found = []
    for mod in INITRAMFS_MODULES:
        path = moddir / "kernel" / mod
        if path.exists():
            found.append((Path(mod).stem, path.read_bytes()))
        elif path.with_name(path.name + ".xz").exists():
            found.append((Path(mod).stem, lzma.decompress(path.with_name(path.name + ".xz").read_bytes())))
        elif "kernel/" + mod not in builtin:
            raise LabError("kernel module %s is neither in %s nor built in" % (mod, moddir))
    return found


def build_initramfs(rootfs: Path, kdir: Path, dest: Path) -> None:
    def inside(path: str) -> bytes:
        """A file of the rootfs, its symlinks resolved inside the rootfs (not on the host)."""
        cur = rootfs / path
        for _hop in range(10):
            if not cur.is_symlink():
                return cur.read_bytes()
            target = os.readlink(cur)
            cur = (rootfs / target.lstrip("/")) if target.startswith("/") else (cur.parent / target)
        raise LabError("symlink loop at %s" % path)

    modules = initramfs_modules(kernel_modules(kdir))
    init = INITRAMFS_INIT % " ".join(name for name, _data in modules)
    dirs = ["bin", "dev", "proc", "sys", "newroot", "lib", "lib64", "lib/x86_64-linux-gnu", "lib/modules"]
    entries: List[Tuple[str, int, bytes, int]] = [(d, 0o040755, b"", 0) for d in dirs]
    entries.append(("dev/console", 0o020600, b"", (5 << 8) | 1))
    entries.append(("init", 0o100755, init.encode(), 0))
    entries.append(("bin/busybox", 0o100755, inside("usr/bin/busybox"), 0))
    entries.append(("lib64/ld-linux-x86-64.so.2", 0o100755, inside("lib64/ld-linux-x86-64.so.2"), 0))
    for lib in ("libc.so.6", "libresolv.so.2"):
        entries.append(("lib/x86_64-linux-gnu/" + lib, 0o100644, inside("usr/lib/x86_64-linux-gnu/" + lib), 0))
    for name, data in modules:
        entries.append(("lib/modules/%s.ko" % name, 0o100644, data, 0))
    with gzip.open(dest, "wb", compresslevel=6) as fh:
        fh.write(cpio_newc(entries))


def write_repo_index(repo: Path) -> None:
    """A flat apt repository (Packages, Packages.gz, Release) over the .debs in ``repo``."""
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        control = run(["dpkg-deb", "-f", str(deb)]).stdout.rstrip("\n")
        data = deb.read_bytes()
        stanzas.append(
            "%s\nFilename: ./%s\nSize: %d\nMD5sum: %s\nSHA256: %s\n"
            % (control, deb.name, len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
        )
    packages = "\n".join(stanzas).encode()
    (repo / "Packages").write_bytes(packages)
    with gzip.open(repo / "Packages.gz", "wb", compresslevel=6) as fh:
        fh.write(packages)
    lines = ["Origin: lvs-lab", "Label: lvs-lab", "Suite: lab", "Codename: lab", "Architectures: amd64 all"]
    lines.append("Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()))
    lines.append("SHA256:")
    for name in ("Packages", "Packages.gz"):
        data = (repo / name).read_bytes()
        lines.append(" %s %d %s" % (hashlib.sha256(data).hexdigest(), len(data), name))
    (repo / "Release").write_text("\n".join(lines) + "\n")


def image_digest(parts: List[str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def build_image(release: str = DEFAULT_RELEASE, variant: str = DEFAULT_VARIANT, force: bool = False) -> Image:
    """The guest image of a Debian release and variant, built unless cached.

    full:    BASE_PACKAGES + ROLE_PACKAGES + TOOL_PACKAGES preinstalled; the .debs that
             mmdebstrap downloaded, and those of REPO_PACKAGES (downloaded, not installed), are
             kept as the release's local repository (``repo/``).
    minimal: BASE_PACKAGES only (a fresh cloud image); its apt sources name the local
             repository of the full image of the same release, served at REPO_ADDR.
    """
    check_release(release)
    if variant not in VARIANTS:
        raise LabError("unknown image %r (have %s)" % (variant, ", ".join(VARIANTS)))
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    full = build_image(release, "full") if variant == "minimal" else None  # its repo, before our lock
    kdir = fetch_kernel(cache, release)
    moddir = kernel_modules(kdir)
    kver = moddir.name
    key = ssh_key(cache)
    sources = apt_sources(release)
    hook = HERE / "image-hook.sh"
    guest_files = sorted((HERE / "guest").glob("*"))
    packages = PACKAGES if variant == "full" else BASE_PACKAGES
    parts = [
        IMAGE_VERSION,
        release,
        variant,
        " ".join(packages),
        " ".join(REPO_PACKAGES) if variant == "full" else "",
        (kdir / ".done").read_text(),
        kver,
        key.with_suffix(".pub").read_text(),
        sources.read_text(),
        hook.read_text(),
        INITRAMFS_INIT,
        " ".join(INITRAMFS_MODULES),
        *(f.read_text() for f in guest_files),
    ]
    if full:
        parts.append(full.root.name)  # a rebuilt repository rebuilds the minimal image
    img = Image(cache / "images" / image_digest(parts), kver)
    if img.disk.exists() and not force:
        return img
    with locked(cache / "image.lock"):
        if img.disk.exists() and not force:
            return img
        started = time.monotonic()
        log("building %s %s image %s (kernel %s) from %s" % (release, variant, img.root.name, kver, sources))
        work = Path(tempfile.mkdtemp(dir=cache, prefix="build-"))
        try:
            rootfs = work / "rootfs"
            staging = work / "image"
            staging.mkdir()
            env = dict(
                os.environ,
                LAB_KMODDIR=str(moddir),
                LAB_KVER=kver,
                LAB_PUBKEY=str(key.with_suffix(".pub")),
                LAB_GUEST_DIR=str(HERE / "guest"),
                LAB_VARIANT=variant,
                LAB_REPO_ADDR=REPO_ADDR,
                # full: where the hook keeps the downloaded .debs; minimal: the repository to index
                LAB_REPO_DIR=str(full.root / "repo" if full else staging / "repo"),
                LAB_REPO_PACKAGES=" ".join(REPO_PACKAGES),
            )
            cmd = [
                "mmdebstrap",
                "--mode=root",
                "--variant=apt",
                "--aptopt=Apt::Install-Recommends false",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                "--dpkgopt=path-exclude=/usr/share/info/*",
                "--include=" + ",".join(packages),
                '--customize-hook=%s "$1"' % shlex.quote(str(hook)),
                # full: keep the essential set's .debs too (the hook copies them to the repository);
                # minimal: keep the package lists the hook wrote for the local repository
                "--skip=essential/unlink" if variant == "full" else "--skip=cleanup/apt/lists",
                release,
                str(rootfs),
                str(sources),
            ]
            res = subprocess.run(cmd, env=env, text=True, capture_output=True, check=False)
            if res.returncode != 0:
                raise LabError("mmdebstrap failed:\n%s" % (res.stderr[-4000:]))
            if variant == "full":
                write_repo_index(staging / "repo")
            shutil.copy2(kdir / "boot" / ("vmlinuz-" + kver), staging / "vmlinuz")
            build_initramfs(rootfs, kdir, staging / "initrd.img")
            run(["mkfs.ext4", "-q", "-F", "-L", "lvsroot", "-d", str(rootfs), str(staging / "base.ext4"), "3G"])
            (staging / "kver").write_text(kver)
            (staging / "key").write_text("%s-%s" % (release, variant))
            if img.root.exists():
                shutil.rmtree(img.root)
            img.root.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(img.root)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log("%s %s image ready in %.0f s" % (release, variant, time.monotonic() - started))
        prune_images(cache)
    return img


def prune_images(cache: Path) -> None:
    """Keep the two newest images of each release and variant (a running lab may still boot
    from the previous one); an image without a key file is an old bookworm full image."""
    by_key: Dict[str, List[Path]] = {}
    for path in (cache / "images").iterdir():
        key_file = path / "key"
        key = key_file.read_text().strip() if key_file.exists() else "bookworm-full"
        by_key.setdefault(key, []).append(path)
    for paths in by_key.values():
        paths.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in paths[2:]:
            shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------
# Lab state
# ---------------------------------------------------------------------------


@dataclass
class Host:
    name: str
    index: int
    groups: List[str]
    nets: Dict[str, str]  # network name -> IPv4 address, in NIC order (eth1, eth2, ...)
    ssh_port: int = 0
    memory: int = 256
    release: str = DEFAULT_RELEASE  # Debian release of its image
    variant: str = DEFAULT_VARIANT  # image variant: full or minimal
    image: str = ""  # image directory (empty: the lab's, from a state file of before releases)
    kver: str = ""
    repo: str = ""  # minimal image: the local repository it is served (fixed at up: a restart never rebuilds)

    def iface(self, net: str) -> str:
        return "eth%d" % (list(self.nets).index(net) + 1)


@dataclass
class Lab:
    name: str
    hosts: Dict[str, Host] = field(default_factory=dict)
    image: str = ""
    kver: str = ""

    @property
    def dir(self) -> Path:
        return state_root() / self.name

    @property
    def netns(self) -> str:
        return "lvslab-" + self.name

    @property
    def tag(self) -> str:
        return hashlib.sha1(self.name.encode()).hexdigest()[:4]

    def tap(self, host: Host, nic: int) -> str:
        return "lv%s%02d%d" % (self.tag, host.index, nic)

    def mac(self, host: Host, nic: int) -> str:
        return "52:54:%s:%s:%02x:%02x" % (self.tag[:2], self.tag[2:], host.index, nic)

    def pidfile(self, host: Host) -> Path:
        return self.dir / (host.name + ".pid")

    def console(self, host: Host) -> Path:
        return self.dir / (host.name + ".console")

    def qmp_path(self, host: Host) -> Path:
        return self.dir / (host.name + ".qmp")

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {
            "name": self.name,
            "image": self.image,
            "kver": self.kver,
            "hosts": [vars(h) for h in self.hosts.values()],
        }
        tmp = self.dir / "lab.json.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        tmp.rename(self.dir / "lab.json")

    @classmethod
    def load(cls, name: str) -> Lab:
        path = state_root() / name / "lab.json"
        if not path.exists():
            raise LabError("no lab named %r (no %s)" % (name, path))
        data = json.loads(path.read_text())
        lab = cls(data["name"], image=data["image"], kver=data["kver"])
        for h in data["hosts"]:
            lab.hosts[h["name"]] = Host(**h)
        return lab

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise LabError("lab %s has no host %r (hosts: %s)" % (self.name, name, ", ".join(self.hosts))) from None


def read_spec(path: str) -> List[Dict[str, Any]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        data = json.loads(text)
    except ValueError:
        import yaml

        data = yaml.safe_load(text)
    if isinstance(data, dict):  # a topology ({hosts: [...]}) or a molecule.yml ({platforms: [...]})
        data = data.get("hosts", data.get("platforms"))
    if not isinstance(data, list) or not data:
        raise LabError("topology must be a list of hosts (or {hosts: [...]})")
    return data


def spec_images(entry: Dict[str, Any]) -> Tuple[str, str]:
    """(release, image variant) of a topology entry: ``release:`` and ``image:``, both optional."""
    release = check_release(str(entry.get("release") or DEFAULT_RELEASE))
    variant = str(entry.get("image") or DEFAULT_VARIANT)
    if variant not in VARIANTS:
        raise LabError("host %s: unknown image %r (have %s)" % (entry.get("name"), variant, ", ".join(VARIANTS)))
    return release, variant


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path("/proc/%d/stat" % pid).read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def read_pid(path: Path) -> Optional[int]:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accel_args() -> List[str]:
    accel = os.environ.get("LVS_LAB_ACCEL", "tcg")
    if accel == "kvm":
        return ["-accel", "kvm", "-cpu", os.environ.get("LVS_LAB_CPU", "host")]
    # Translation cache per guest, MiB: with address-space randomization off (LAB_SYSCTL) every process
    # reuses the code translated for the ones before it, as long as the cache is not flushed; 256 filled
    # and flushed several times per converge (docs/lab-cost.md, fifth session: role runs 19 % shorter).
    tb_size = os.environ.get("LVS_LAB_TB_SIZE", "1024")
    return ["-accel", "tcg,thread=single,tb-size=" + tb_size, "-cpu", os.environ.get("LVS_LAB_CPU", "qemu64")]


def ensure_netns(lab: Lab) -> None:
    existing = run(["ip", "netns", "list"]).stdout.split()
    if lab.netns not in existing:
        run(["ip", "netns", "add", lab.netns])
    ns = ["ip", "-n", lab.netns]
    run(ns + ["link", "set", "lo", "up"])
    links = run(ns + ["-o", "link", "show"]).stdout
    for number, net in enumerate(NETWORKS.values(), start=1):
        br = net["bridge"]
        # A fixed MAC: a bridge without one takes the lowest MAC of its ports, so powering a
        # guest off (its tap leaves) or on could change the client's MAC under the guests'
        # ARP caches - every reply to the client then went astray for up to 30 s.
        mac = "52:54:%s:%s:fe:%02x" % (lab.tag[:2], lab.tag[2:], number)
        if (" %s:" % br) not in links:
            run(ns + ["link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
            run(["ip", "netns", "exec", lab.netns, "sysctl", "-qw", "net.ipv6.conf.%s.accept_dad=0" % br])
            run(ns + ["addr", "add", net["ns_addr"] + "/24", "dev", br])
            run(ns + ["addr", "add", net["v6"] + "254/64", "dev", br, "nodad"])
        run(ns + ["link", "set", br, "address", mac, "up"])


LEAN_MODULES = (
    "kvm",
    "kvm_amd",
    "kvm_intel",
    "ata_piix",
    "ata_generic",
    "pata_acpi",
    "serio_raw",
    "evdev",
    "vsock",
    "vsock_loopback",
    "vmw_vmci",
    "vmw_vsock_vmci_transport",
    "vmw_vsock_virtio_transport",
    "efi_pstore",
    "fuse",
    "configfs",
    "powernow_k8",
    "pcspkr",
    "i2c_piix4",
)


# Units no test and no role uses, masked on the kernel command line (systemd-debug-generator's
# systemd.mask=): each costs seconds of emulated CPU at every boot. ldconfig, the journal catalog
# and update-done run once per fresh overlay (ConditionNeedsUpdate: the image's /etc is newer than
# its stamp); binfmt, the debug/tracing/hugepages/mqueue/FUSE/configfs mounts and their module
# loaders serve nothing here; nfs-blkmap is pNFS block layout, which no export uses.
# LVS_LAB_LEAN_UNITS=0 boots without the masks (to measure them).
LEAN_UNITS = (
    "ldconfig.service",
    "systemd-journal-catalog-update.service",
    "systemd-update-done.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
    "sys-kernel-tracing.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-config.mount",
    "sys-fs-fuse-connections.mount",
    "dev-hugepages.mount",
    "dev-mqueue.mount",
    "modprobe@efi_pstore.service",
    "modprobe@fuse.service",
    "modprobe@configfs.service",
    "nfs-blkmap.service",
    "systemd-tmpfiles-clean.timer",
)


def lean_units() -> List[str]:
    if os.environ.get("LVS_LAB_LEAN_UNITS", "1") == "0":
        return []
    return ["systemd.mask=" + unit for unit in LEAN_UNITS]


def qemu_cmd(lab: Lab, host: Host, img: Image) -> List[str]:
    overlay = lab.dir / (host.name + ".qcow2")
    append = [
        "console=ttyS0",
        "root=/dev/vda",
        "rw",
        "net.ifnames=0",
        "mitigations=off",
        # Lab-only boot speed on emulated CPUs: no kernel modules for hardware a guest does not use
        # (the pc machine's IDE controller, KVM for the emulated CPU's svm flag, vsock probed by
        # systemd's ssh generator, EFI pstore, FUSE, configfs), loading one takes seconds under TCG;
        # the console shows warnings and failed or slow units only.
        "modprobe.blacklist=" + ",".join(LEAN_MODULES),
        "systemd.ssh_auto=no",
        *lean_units(),
        "loglevel=4",
        "systemd.show_status=auto",
        "systemd.hostname=" + host.name,
        "ip=10.0.2.15:::255.255.255.0::eth0:none",
    ]
    for nic, (_net, addr) in enumerate(host.nets.items(), start=1):
        if addr:
            append.append("ip=%s:::255.255.255.0::eth%d:none" % (addr, nic))
    cmd = [
        "qemu-system-x86_64",
        "-name",
        host.name,
        "-nodefaults",
        "-display",
        "none",
        "-machine",
        "pc",
        *accel_args(),
        "-smp",
        "1",
        "-m",
        str(host.memory),
        "-kernel",
        str(img.vmlinuz),
        "-initrd",
        str(img.initrd),
        "-append",
        " ".join(append),
        "-drive",
        "file=%s,if=none,id=d0,format=qcow2,cache=unsafe,discard=unmap" % overlay,
        "-device",
        "virtio-blk-pci,drive=d0,serial=%s" % host.name,
        "-device",
        "virtio-rng-pci",
        "-netdev",
        "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22%s" % (host.ssh_port, repo_forward(host, img)),
        "-device",
        "virtio-net-pci,netdev=mgmt,mac=%s,addr=0x10" % lab.mac(host, 0),
    ]
    for nic, _net in enumerate(host.nets, start=1):
        cmd += [
            "-netdev",
            "tap,id=n%d,ifname=%s,script=no,downscript=no" % (nic, lab.tap(host, nic)),
            "-device",
            "virtio-net-pci,netdev=n%d,mac=%s,addr=0x%x" % (nic, lab.mac(host, nic), 0x10 + nic),
        ]
    cmd += [
        "-qmp",
        "unix:%s,server=on,wait=off" % lab.qmp_path(host),
        "-serial",
        "file:%s" % lab.console(host),
        "-daemonize",
        "-pidfile",
        str(lab.pidfile(host)),
    ]
    return cmd


def repo_forward(host: Host, img: Image) -> str:
    """A minimal guest's way to the local repository: REPO_ADDR:80 on its management NIC runs
    ``lab.py repo-serve`` on the host for each connection (qemu's guestfwd ``cmd:``; the
    process ends with the connection). Nothing else of the host is reachable."""
    if host.variant != "minimal":
        return ""
    repo = Path(host.repo) if host.repo else build_image(host.release, "full").root / "repo"
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable  # outlives venvs
    if any(c in str(repo) + str(Path(__file__)) + python for c in ", '\""):
        raise LabError("the repository path, lab.py or python path holds a comma, space or quote: %s" % repo)
    return ",guestfwd=tcp:%s:80-cmd:%s -I -S %s repo-serve %s" % (
        REPO_ADDR,
        python,
        Path(__file__).resolve(),
        repo,
    )


def launch(lab: Lab, host: Host, snap: Optional[Path] = None) -> None:
    """Start a guest's qemu: a cold boot, or with ``snap`` its booted state restored (see Snapshots)."""
    img = Image(Path(host.image or lab.image), host.kver or lab.kver)
    overlay = lab.dir / (host.name + ".qcow2")
    host.ssh_port = free_port()
    lab.save()
    cmd = qemu_cmd(lab, host, img)
    if snap is not None:
        overlay.unlink(missing_ok=True)
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(snap / "disk.qcow2"), str(overlay)])
        cmd += ["-incoming", "exec:" + snapshot_reader(snap / "state")]
        os.utime(snap)  # recently used: kept by prune_snapshots
    elif not overlay.exists():
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(img.disk), str(overlay)])
    run(cmd)
    for nic, net in enumerate(host.nets, start=1):
        tap = lab.tap(host, nic)
        run(["ip", "link", "set", tap, "netns", lab.netns])
        run(["ip", "-n", lab.netns, "link", "set", tap, "master", NETWORKS[net]["bridge"], "up"])


def kill_host(lab: Lab, host: Host) -> None:
    pid = read_pid(lab.pidfile(host))
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        for _attempt in range(50):
            if not pid_alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            for _attempt in range(50):
                if not pid_alive(pid):
                    break
                time.sleep(0.1)
    lab.pidfile(host).unlink(missing_ok=True)


def ssh_cmd(lab: Lab, host: Host, command: str, timeout: Optional[float] = None) -> List[str]:
    key = cache_root() / "ssh" / "id_ed25519"
    return ["ssh", *SSH_OPTS, "-i", str(key), "-p", str(host.ssh_port), "root@127.0.0.1", command]


def ssh(lab: Lab, host: Host, command: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(ssh_cmd(lab, host, command), text=True, capture_output=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise LabError("%s: %s failed (%d): %s%s" % (host.name, command, res.returncode, res.stdout, res.stderr))
    return res


def boot_id(lab: Lab, host: Host) -> Optional[str]:
    try:
        res = ssh(lab, host, "cat /proc/sys/kernel/random/boot_id", timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def wait_ssh(lab: Lab, host: Host, timeout: float, not_boot: Optional[str] = None) -> str:
    deadline = time.monotonic() + timeout
    pid = read_pid(lab.pidfile(host))
    while time.monotonic() < deadline:
        if pid and not pid_alive(pid):
            raise LabError("%s: qemu (pid %d) exited" % (host.name, pid))
        bid = boot_id(lab, host)
        if bid and bid != not_boot:
            wait_booted(lab, host, max(30.0, deadline - time.monotonic()))
            return bid
        time.sleep(2)
    raise LabError("%s: no SSH within %.0f s" % (host.name, timeout))


def wait_booted(lab: Lab, host: Host, timeout: float) -> None:
    """SSH answers before boot is over: wait until systemd's start-up jobs are done.

    Units ordered after network-online.target (the collection's VIP unit, NFS
    mounts) may still be running when sshd accepts the first connection; a
    reboot test must look only after them. "degraded" counts as booted.
    """
    cmd = "timeout %d systemctl is-system-running --wait" % int(timeout)
    try:
        res = ssh(lab, host, cmd, timeout=timeout + 15, check=False)
    except subprocess.TimeoutExpired:
        res = None
    state = res.stdout.strip() if res else "timeout"
    if state not in ("running", "degraded"):
        log("%s: boot not finished (%s) after %.0f s; going on" % (host.name, state or "?", timeout))


def console_tail(lab: Lab, host: Host, lines: int = 60) -> str:
    path = lab.console(host)
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no console log)"


def boot_timeout() -> float:
    return float(os.environ.get("LVS_LAB_BOOT_TIMEOUT", "300"))


# ---------------------------------------------------------------------------
# Snapshots: a booted guest restored instead of booted (lab only)
# ---------------------------------------------------------------------------
# A cold boot costs a TCG guest about a minute of CPU; ``up`` is about the roles, not about
# booting. So the first ``up`` of a guest saves its booted state once SSH answers and systemd's
# start-up jobs are done (QMP ``migrate`` to a file while the guest is paused, and a copy of its
# disk overlay), and later ``up``s of the same guest restore it (``-incoming``) on a fresh
# overlay backed by that copy, then set the guest's clock. The key is the guest's whole qemu
# command line (image, kernel, command line, memory, NICs and MACs) and the qemu version, so a
# changed guest is booted cold and saved again. Power-on (``start``) and reboots stay real
# boots. ``LVS_LAB_SNAPSHOTS=0`` turns it off; snapshots unused for a week are deleted.
SNAPSHOT_VERSION = "1"
SNAPSHOT_MAX_AGE = 7 * 86400


def snapshots_enabled() -> bool:
    return os.environ.get("LVS_LAB_SNAPSHOTS", "1") != "0"


@functools.cache
def qemu_version() -> str:
    return run(["qemu-system-x86_64", "--version"]).stdout.splitlines()[0]


def snapshot_path(lab: Lab, host: Host) -> Path:
    img = Image(Path(host.image or lab.image), host.kver or lab.kver)
    disk = img.disk.stat()
    probe = Host(**{**vars(host), "ssh_port": 0})
    key = [SNAPSHOT_VERSION, qemu_version(), disk.st_size, disk.st_mtime_ns, qemu_cmd(lab, probe, img)]
    text = json.dumps(key).replace(str(lab.dir), "@LAB").replace(str(HERE), "@HERE")
    return cache_root() / "snapshots" / ("%s-%s" % (host.name, hashlib.sha256(text.encode()).hexdigest()[:20]))


def snapshot_writer(path: Path) -> str:
    """Shell command of qemu's ``exec:`` migration: the stream from stdin into ``path``."""
    if shutil.which("zstd"):
        return "zstd -q -1 -c > %s" % shlex.quote(str(path))
    return "cat > %s" % shlex.quote(str(path))


def snapshot_reader(path: Path) -> str:
    if shutil.which("zstd"):
        return "zstd -q -d -c %s" % shlex.quote(str(path))
    return "cat %s" % shlex.quote(str(path))


class Qmp:
    """A QMP session on a guest's monitor socket: ``call(command, **arguments)`` returns its result."""

    def __init__(self, path: Path, timeout: float = 120) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file = self.sock.makefile("rw", encoding="utf-8")
        self.file.readline()  # the greeting
        self.call("qmp_capabilities")

    def call(self, execute: str, **arguments: Any) -> Any:
        message: Dict[str, Any] = {"execute": execute}
        if arguments:
            message["arguments"] = arguments
        self.file.write(json.dumps(message) + "\n")
        self.file.flush()
        while True:  # events may come first
            line = self.file.readline()
            if not line:
                raise LabError("QMP %s: the monitor closed the connection" % execute)
            reply = json.loads(line)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise LabError("QMP %s: %s" % (execute, reply["error"].get("desc", reply["error"])))

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def save_snapshot(lab: Lab, host: Host, snap: Path) -> None:
    """Save a booted guest (paused meanwhile); a failure only costs the next ``up`` a cold boot."""
    started = time.monotonic()
    tmp = snap.with_name("%s.tmp-%d" % (snap.name, os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        qmp = Qmp(lab.qmp_path(host))
        try:
            qmp.call("stop")
            try:
                qmp.call("migrate", uri="exec:" + snapshot_writer(tmp / "state"))
                deadline = time.monotonic() + 300
                while True:
                    status = qmp.call("query-migrate").get("status")
                    if status == "completed":
                        break
                    if status in ("failed", "cancelled") or time.monotonic() > deadline:
                        raise LabError("migration %s" % status)
                    time.sleep(0.2)
                # the guest is paused and its disk flushed: the overlay is the state's disk
                shutil.copyfile(lab.dir / (host.name + ".qcow2"), tmp / "disk.qcow2")
            finally:
                qmp.call("cont")
        finally:
            qmp.close()
        (tmp / "host").write_text(json.dumps(vars(host), indent=2))
        tmp.rename(snap)
    except (LabError, OSError, ValueError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        log("%s: no snapshot saved (%s); the next up boots it cold" % (host.name, exc))
        return
    size = sum(p.stat().st_size for p in snap.iterdir()) / 2**20
    log("%s: booted state saved in %.1f s (%.0f MiB, %s)" % (host.name, time.monotonic() - started, size, snap.name))


def prune_snapshots() -> None:
    root = cache_root() / "snapshots"
    if not root.is_dir():
        return
    now = time.time()
    for path in root.iterdir():
        age = now - path.stat().st_mtime
        if age > SNAPSHOT_MAX_AGE or (".tmp-" in path.name and age > 3600):
            shutil.rmtree(path, ignore_errors=True)


def resume_restored(lab: Lab, host: Host, timeout: float = 120) -> None:
    """The state was saved paused, so the restored guest waits paused: run it once loaded."""
    deadline = time.monotonic() + timeout
    qmp = Qmp(lab.qmp_path(host), timeout=timeout)
    try:
        while True:
            status = qmp.call("query-status").get("status")
            if status == "running":
                return
            if status != "inmigrate":
                qmp.call("cont")
                return
            if time.monotonic() > deadline:
                raise LabError("%s: the snapshot did not load within %.0f s" % (host.name, timeout))
            time.sleep(0.1)
    finally:
        qmp.close()


# Lab only: no address-space randomization in the guests. QEMU's TCG keys the code it translates by
# virtual address, so with ASLR every new process (each Ansible task's Python, each SSH session)
# has its interpreter and libraries translated anew; measured with QEMU's "info jit" in an idle
# trixie guest: 29,000 translation blocks (15 MB of generated code) for each `python3 -c pass`
# with ASLR, the translation cache filled and flushed several times during one converge; without
# it one SSH session and five Python starts translated 52,000 blocks the first time and 182 the
# second, instead of 190,000 every time (docs/lab-cost.md). Set at
# run time (the saved snapshots stay valid) and in a sysctl.d file, so a guest's reboot keeps it.
LAB_SYSCTL = "/etc/sysctl.d/00-lvs-lab.conf"


def settle_guest(lab: Lab, host: Host) -> None:
    """A started or restored guest: its clock set to the host's (a restored guest's is behind)
    and the lab's guest settings applied (LAB_SYSCTL)."""
    ssh(
        lab,
        host,
        "date -u -s @%.3f >/dev/null && echo 'kernel.randomize_va_space = 0' > %s && "
        "sysctl -q -w kernel.randomize_va_space=0" % (time.time(), LAB_SYSCTL),
        timeout=60,
    )


def start_hosts(lab: Lab, hosts: List[Host], restore: bool = False) -> None:
    """Boot hosts in parallel (with ``restore``: from their snapshots where saved, saving the
    others'); wait for SSH; retry a failed boot once, cold."""
    snaps: Dict[str, Path] = {}
    restored: List[str] = []
    if restore and snapshots_enabled():
        prune_snapshots()
        snaps = {host.name: snapshot_path(lab, host) for host in hosts}
    for host in hosts:
        snap = snaps.get(host.name)
        if snap is not None and (snap / "state").exists():
            restored.append(host.name)
            launch(lab, host, snap)
        else:
            launch(lab, host)
    failed: List[Host] = []
    for host in hosts:
        if host.name not in restored:
            continue
        try:
            resume_restored(lab, host)
        except (LabError, OSError, ValueError) as exc:
            log("%s: %s; booting it cold" % (host.name, exc))
            failed.append(host)
    # every guest at once: each wait is mostly SSH handshakes that the guest's own CPU emulates
    waiting = [host for host in hosts if host not in failed]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(waiting))) as pool:
        waits = {host.name: pool.submit(wait_ssh, lab, host, boot_timeout()) for host in waiting}
    for host in waiting:
        error = waits[host.name].exception()
        if error is None:
            log("%s %s (ssh port %d)" % (host.name, "restored" if host.name in restored else "up", host.ssh_port))
        elif isinstance(error, LabError):
            log("%s: %s; console:\n%s\nretrying once" % (host.name, error, console_tail(lab, host)))
            failed.append(host)
        else:
            raise error
    for host in failed:
        kill_host(lab, host)
        console = lab.console(host)
        if console.exists():  # the relaunch truncates it; keep the hung boot's log for a post-mortem
            shutil.copyfile(console, console.with_name(console.name + ".failed-boot"))
        if host.name in restored:  # a bad snapshot: boot cold from the image, save again next time
            restored.remove(host.name)
            shutil.rmtree(snaps.pop(host.name), ignore_errors=True)
            (lab.dir / (host.name + ".qcow2")).unlink(missing_ok=True)
        launch(lab, host)
    for host in failed:
        try:
            wait_ssh(lab, host, boot_timeout())
        except LabError as exc:
            raise LabError("%s\n--- console of %s ---\n%s" % (exc, host.name, console_tail(lab, host))) from None
        log("%s up after retry (ssh port %d)" % (host.name, host.ssh_port))
    for host in hosts:
        snap = snaps.get(host.name)
        if snap is not None and host.name not in restored and host not in failed:
            save_snapshot(lab, host, snap)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        for done in [pool.submit(settle_guest, lab, host) for host in hosts]:
            done.result()


def write_inventory(lab: Lab) -> Path:
    key = cache_root() / "ssh" / "id_ed25519"
    groups: Dict[str, List[str]] = {}
    lines = ["# written by tests/lab/lab.py for lab %s" % lab.name, "all:", "  hosts:"]
    for host in lab.hosts.values():
        lines += [
            "    %s:" % host.name,
            "      ansible_host: 127.0.0.1",
            "      ansible_port: %d" % host.ssh_port,
            "      ansible_user: root",
            "      ansible_ssh_private_key_file: %s" % key,
            "      ansible_python_interpreter: /usr/bin/python3",
            "      lab_netns: %s" % lab.netns,
            "      lab_release: %s" % host.release,
            "      lab_image: %s" % host.variant,
        ]
        for net, addr in host.nets.items():
            lines += ["      lab_%s_ip: %s" % (net, addr), "      lab_%s_iface: %s" % (net, host.iface(net))]
        for g in host.groups:
            groups.setdefault(g, []).append(host.name)
    lines += [
        "  vars:",
        "    ansible_ssh_common_args: >-",
        "      %s" % " ".join(SSH_OPTS),
        "    lab_name: %s" % lab.name,
        "    lab_client_lan_ip: %s" % NETWORKS["lan"]["ns_addr"],
        "    lab_client_ext_ip: %s" % NETWORKS["ext"]["ns_addr"],
    ]
    if groups:
        lines.append("  children:")
        for g, members in groups.items():
            lines += ["    %s:" % g, "      hosts:"] + ["        %s: {}" % m for m in members]
    path = lab.dir / "inventory.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def default_address(net: str, index: int) -> str:
    return "%s.%d" % (NETWORKS[net]["prefix"], 10 + index)


def cmd_up(args: argparse.Namespace) -> None:
    spec = read_spec(args.spec)
    images = {pair: build_image(*pair) for pair in sorted({spec_images(entry) for entry in spec})}
    name = args.lab
    if (state_root() / name / "lab.json").exists():
        if args.reuse and lab_healthy(Lab.load(name)):
            log("reusing running lab %s" % name)
            print(write_inventory(Lab.load(name)))
            return
        do_down(name)
    first = images[spec_images(spec[0])]
    lab = Lab(name, image=str(first.root), kver=first.kver)
    for index, entry in enumerate(spec, start=1):
        nets_in = entry.get("nets") or {"lan": None}
        if isinstance(nets_in, list):
            # [lan, ext] or [{lan: 192.0.2.1}, {ext: 198.51.100.1}]: the order survives tools that
            # sort mapping keys (molecule hands its platforms over sorted)
            pairs: Dict[str, Optional[str]] = {}
            for item in nets_in:
                pairs.update(item if isinstance(item, dict) else {item: None})
            nets_in = pairs
        nets = {}
        for net, addr in nets_in.items():
            if net not in NETWORKS:
                raise LabError("host %s: unknown network %r (have %s)" % (entry["name"], net, ", ".join(NETWORKS)))
            nets[net] = addr or default_address(net, index)
        release, variant = spec_images(entry)
        img = images[(release, variant)]
        host = Host(
            entry["name"],
            index,
            list(entry.get("groups", [])),
            nets,
            memory=int(entry.get("memory", 256)),
            release=release,
            variant=variant,
            image=str(img.root),
            kver=img.kver,
            repo=str(build_image(release, "full").root / "repo") if variant == "minimal" else "",
        )
        lab.hosts[host.name] = host
    lab.dir.mkdir(parents=True, exist_ok=True)
    lab.save()
    started = time.monotonic()
    try:
        ensure_netns(lab)
        start_hosts(lab, list(lab.hosts.values()), restore=True)
    except BaseException:
        log("bring-up failed; tearing lab %s down" % name)
        do_down(name)
        raise
    lab.save()
    log("lab %s: %d host(s) up in %.0f s" % (name, len(lab.hosts), time.monotonic() - started))
    print(write_inventory(lab))


def lab_healthy(lab: Lab) -> bool:
    for host in lab.hosts.values():
        pid = read_pid(lab.pidfile(host))
        if not pid or not pid_alive(pid) or not boot_id(lab, host):
            return False
    return True


def do_down(name: str) -> None:
    path = state_root() / name
    if (path / "lab.json").exists():
        lab = Lab.load(name)
        for host in lab.hosts.values():
            kill_host(lab, host)
    else:
        lab = Lab(name)
    # any qemu still holding a pidfile of this lab
    for pidfile in path.glob("*.pid"):
        pid = read_pid(pidfile)
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    if lab.netns in run(["ip", "netns", "list"]).stdout.split():
        run(["ip", "netns", "delete", lab.netns], check=False)
    shutil.rmtree(path, ignore_errors=True)
    log("lab %s down" % name)


def cmd_down(args: argparse.Namespace) -> None:
    names = [p.name for p in state_root().iterdir() if p.is_dir()] if args.all and state_root().exists() else []
    for name in names or [args.lab]:
        do_down(name)


REBOOT_ASK_AGAIN = 150.0  # seconds a guest may stay on its old boot before the reboot is asked again


def cmd_reboot(args: argparse.Namespace) -> None:
    lab = Lab.load(args.lab)
    host = lab.host(args.host)
    before = boot_id(lab, host)
    if not before:
        raise LabError("%s is not reachable" % host.name)
    started = time.monotonic()
    deadline = started + boot_timeout()
    ask = True
    while True:
        # on a loaded machine the SSH session can time out before the guest runs the command: a
        # guest still on its old boot after REBOOT_ASK_AGAIN seconds is asked again
        if ask:
            with contextlib.suppress(subprocess.TimeoutExpired):
                ssh(lab, host, "systemctl reboot", timeout=60, check=False)
        try:
            after = wait_ssh(lab, host, max(1.0, min(REBOOT_ASK_AGAIN, deadline - time.monotonic())), not_boot=before)
            break
        except LabError as exc:
            pid = read_pid(lab.pidfile(host))
            if time.monotonic() >= deadline or not (pid and pid_alive(pid)):
                raise LabError("%s\n--- console of %s ---\n%s" % (exc, host.name, console_tail(lab, host))) from None
            ask = boot_id(lab, host) == before
            if ask:
                log("%s: still on its old boot after %.0f s; asking again" % (host.name, time.monotonic() - started))
    log("%s rebooted in %.0f s (boot id %s)" % (host.name, time.monotonic() - started, after[:8]))


def cmd_stop(args: argparse.Namespace) -> None:
    lab = Lab.load(args.lab)
    kill_host(lab, lab.host(args.host))
    log("%s stopped" % args.host)


def cmd_start(args: argparse.Namespace) -> None:
    lab = Lab.load(args.lab)
    host = lab.host(args.host)
    pid = read_pid(lab.pidfile(host))
    if pid and pid_alive(pid):
        log("%s already running" % host.name)
        return
    start_hosts(lab, [host])
    lab.save()
    write_inventory(lab)


def cmd_ssh(args: argparse.Namespace) -> int:
    lab = Lab.load(args.lab)
    words = args.command[1:] if args.command[:1] == ["--"] else args.command
    command = words[0] if len(words) == 1 else shlex.join(words)
    cmd = ssh_cmd(lab, lab.host(args.host), command)
    if not words:
        cmd = cmd[:-1]
    return subprocess.call(cmd)


def cmd_netns(args: argparse.Namespace) -> int:
    lab = Lab.load(args.lab)
    words = args.command[1:] if args.command[:1] == ["--"] else args.command
    return subprocess.call(["ip", "netns", "exec", lab.netns, *words])


def cmd_image(args: argparse.Namespace) -> None:
    pairs = {(args.release or DEFAULT_RELEASE, args.variant or DEFAULT_VARIANT)} if not args.spec else set()
    for spec in args.spec:
        pairs |= {spec_images(entry) for entry in read_spec(spec)}
    if args.release or args.variant:
        pairs = {(args.release or r, args.variant or v) for r, v in pairs}
    for release, variant in sorted(pairs):
        started = time.monotonic()
        img = build_image(release, variant, force=args.force)
        size = sum(f.stat().st_blocks * 512 for f in img.root.rglob("*") if f.is_file())
        log(
            "%s %s: %s (%.0f MB on disk, %.0f s)" % (release, variant, img.root, size / 1e6, time.monotonic() - started)
        )
        print(img.root)


def cmd_repo_serve(args: argparse.Namespace) -> int:
    """HTTP/1.1 GET/HEAD of the files of one directory, on stdin/stdout (qemu guestfwd cmd:).

    qemu connects the guest's TCP connection to this process's stdin, stdout and stderr, so
    nothing may be written to stderr; the process ends when the guest closes the connection.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    root = Path(args.dir).resolve()
    rfile, wfile = sys.stdin.buffer, sys.stdout.buffer
    for _request in range(100000):
        line = rfile.readline(8192)
        if not line:
            return 0
        if not line.strip():
            continue
        headers = {}
        for _header in range(100):
            hline = rfile.readline(8192)
            if not hline or not hline.strip():
                break
            name, _sep, value = hline.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        parts = line.decode("latin-1").split()
        method, target = (parts + ["", ""])[:2]
        path = (root / os.path.normpath("/" + unquote(target.split("?", 1)[0])).lstrip("/")).resolve()
        body = b""
        if method not in ("GET", "HEAD"):
            status = "405 Method Not Allowed"
        elif path.is_file() and (path == root or root in path.parents):
            status = "200 OK"
            body = path.read_bytes()
        else:
            status = "404 Not Found"
        head = "HTTP/1.1 %s\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n" % (
            status,
            len(body),
        )
        wfile.write(head.encode() + (body if method == "GET" else b""))
        wfile.flush()
        if headers.get("connection", "").lower() == "close":
            return 0
    return 0


def cmd_status(args: argparse.Namespace) -> None:
    root = state_root()
    for path in sorted(root.iterdir()) if root.exists() else []:
        try:
            lab = Lab.load(path.name)
        except (LabError, ValueError, KeyError):
            print("%s: (broken state)" % path.name)
            continue
        for host in lab.hosts.values():
            pid = read_pid(lab.pidfile(host))
            alive = bool(pid and pid_alive(pid))
            print(
                "%s/%s pid=%s %s ssh=127.0.0.1:%d %s"
                % (lab.name, host.name, pid, "running" if alive else "stopped", host.ssh_port, host.nets)
            )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default=os.environ.get("LVS_LAB_NAME", "lab"), help="lab name (default: %(default)s)")
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("image", help="build or reuse the cached guest images (of the topologies given)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--release", choices=RELEASES, help="default: %s, or what the topologies use" % DEFAULT_RELEASE)
    p.add_argument("--variant", choices=VARIANTS, help="default: %s, or what the topologies use" % DEFAULT_VARIANT)
    p.add_argument("spec", nargs="*", help="topology files or molecule.yml: build every image their hosts use")
    p.set_defaults(func=cmd_image)
    p = sub.add_parser("repo-serve", help=argparse.SUPPRESS)  # run by qemu per guest connection
    p.add_argument("dir")
    p.set_defaults(func=cmd_repo_serve)
    p = sub.add_parser("up", help="boot the hosts of a topology file (JSON/YAML, '-' = stdin)")
    p.add_argument("spec")
    p.add_argument("--reuse", action="store_true", help="keep an already running, healthy lab of that name")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="stop every guest by PID, delete namespace and state")
    p.add_argument("--all", action="store_true", help="every lab under the state directory")
    p.set_defaults(func=cmd_down)
    for verb, func, text in (
        ("reboot", cmd_reboot, "reboot a guest from inside and wait for SSH"),
        ("stop", cmd_stop, "power a guest off (kill its qemu)"),
        ("start", cmd_start, "boot a stopped guest again"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("host")
        p.set_defaults(func=func)
    p = sub.add_parser("ssh", help="run a command on a guest (no command: interactive)")
    p.add_argument("host")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_ssh)
    p = sub.add_parser("netns", help="run a command in the lab namespace (the client side)")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_netns)
    p = sub.add_parser("status", help="list labs and guests")
    p.set_defaults(func=cmd_status)
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except LabError as exc:
        log("error: %s" % exc)
        return 1
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
