#!/bin/sh
# mmdebstrap --customize-hook for the lab guest image. $1 = root file system.
# Lab-only settings: nothing in the collection may depend on them.
set -eu
root="$1"

# kernel modules of the Debian cloud kernel the guests boot (lib/modules/<kver> of its package:
# under /lib in bookworm, /usr/lib in trixie; $root/lib is a symlink to usr/lib in both)
mkdir -p "$root/lib/modules"
cp -a "$LAB_KMODDIR" "$root/lib/modules/"
chroot "$root" depmod -a "$LAB_KVER"

case "$LAB_VARIANT" in
  full)
    # the .debs apt downloaded become the local repository that serves minimal guests, with
    # those of the packages only a scenario installs (downloaded, not installed)
    # shellcheck disable=SC2086
    chroot "$root" apt-get install --download-only -y --no-install-recommends $LAB_REPO_PACKAGES
    mkdir -p "$LAB_REPO_DIR"
    cp "$root"/var/cache/apt/archives/*.deb "$LAB_REPO_DIR/"
    ;;
  minimal)
    # apt points at the lab's local repository only (lab-only: trusted without a signature),
    # with its package lists in place as after an `apt-get update`
    rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
    rm -rf "$root/var/lib/apt/lists"
    mkdir -p "$root/var/lib/apt/lists/partial"
    cat > "$root/etc/apt/sources.list.d/lvs-lab.sources" <<CONF
Types: deb
URIs: http://$LAB_REPO_ADDR/
Suites: ./
Trusted: yes
CONF
    cp "$LAB_REPO_DIR/Release" "$root/var/lib/apt/lists/${LAB_REPO_ADDR}_._Release"
    cp "$LAB_REPO_DIR/Packages" "$root/var/lib/apt/lists/${LAB_REPO_ADDR}_._Packages"
    ;;
esac

# root login with the lab key only
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$LAB_PUBKEY" "$root/root/.ssh/authorized_keys"
cat > "$root/etc/ssh/sshd_config.d/lab.conf" <<'CONF'
UsePAM no
UseDNS no
PasswordAuthentication no
PermitRootLogin prohibit-password
CONF

# addresses come from ip= on the kernel command line (systemd-network-generator)
chroot "$root" systemctl enable systemd-networkd.service
echo 'LLMNR=no' >> "$root/etc/systemd/resolved.conf" 2>/dev/null || true
# network-online waits for every link, as on a real host (with --any the management NIC alone reached it,
# and a real server's NFS mount unit could start before its cluster NIC had its address); bounded.
mkdir -p "$root/etc/systemd/system/systemd-networkd-wait-online.service.d"
cat > "$root/etc/systemd/system/systemd-networkd-wait-online.service.d/lab.conf" <<'CONF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --timeout=20
CONF

# units a throw-away test guest never needs (boot speed)
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
            man-db.timer dpkg-db-backup.timer logrotate.timer getty@tty1.service serial-getty@ttyS0.service \
            systemd-logind.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# services the roles enable themselves
for unit in nginx.service keepalived.service nfs-server.service nfs-kernel-server.service ipvsadm.service \
            prometheus-node-exporter.service; do
  chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
done
# lab-only: bytecode cache for Ansible's zip-imported module payloads (see guest/lab_pyc_cache.py)
install -m 0644 "$LAB_GUEST_DIR/lab_pyc_cache.py" "$root/usr/lib/python3/dist-packages/lab_pyc_cache.py"
echo 'import lab_pyc_cache' > "$root/usr/lib/python3/dist-packages/lab-pyc-cache.pth"
# the journal in memory only: guests are throw-away
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' > "$root/etc/systemd/journald.conf.d/lab.conf"
: > "$root/etc/machine-id"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
