/**
 * Files berth puts into the guest image, and the script that wires them up.
 * Their text is part of the image recipe hash: editing anything here builds a new image.
 */

/** fw_cfg entries (host → guest at boot, no disk needed); read by berth-init from sysfs. */
export const FW_CFG_PREFIX = 'opt/berth';

export const BERTH_INIT = `#!/bin/sh
# berth-init: per-instance setup at every boot, from QEMU fw_cfg entries (see FW_CFG_PREFIX).
set -u
modprobe qemu_fw_cfg 2>/dev/null || true
FW=/sys/firmware/qemu_fw_cfg/by_name/${FW_CFG_PREFIX}
get() { [ -r "$FW/$1/raw" ] && cat "$FW/$1/raw"; }

if h=$(get hostname); then
  hostname "$h"; echo "$h" > /etc/hostname
  printf '127.0.0.1 localhost\\n127.0.1.1 %s\\n' "$h" > /etc/hosts
fi
install -d -m 0700 /root/.ssh
if k=$(get authorized_keys); then
  printf '%s\\n' "$k" > /root/.ssh/authorized_keys; chmod 0600 /root/.ssh/authorized_keys
fi
if get ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.new; then
  chmod 0600 /etc/ssh/ssh_host_ed25519_key.new
  mv /etc/ssh/ssh_host_ed25519_key.new /etc/ssh/ssh_host_ed25519_key
  ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.pub
fi
# The instance disk may be larger than the image's filesystem: grow it online (no-op when it fits).
resize2fs /dev/vda >/dev/null 2>&1 || true
exit 0
`;

export const BERTH_INIT_UNIT = `[Unit]
Description=berth per-instance setup (fw_cfg)
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=ssh.service docker.service network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-init
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/** Tells the host agent over virtio-serial that the engine is up (readiness is pushed, not polled). */
export const BERTH_READY_UNIT = `[Unit]
Description=berth readiness signal
After=docker.service ssh.service
Wants=docker.service

[Service]
Type=oneshot
# docker.service is Type=notify: ordering after it means dockerd said it is ready.
ExecStart=/bin/sh -c 'if [ -e /dev/virtio-ports/io.berth.events ]; then echo ready > /dev/virtio-ports/io.berth.events; fi'
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

export const NETWORK_FILE = `[Match]
Name=en* eth*

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
LinkLocalAddressing=no
IPv6AcceptRA=no
`;

export const SSHD_CONFIG = `# berth: key-only root login; host key injected per instance at boot
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
AllowStreamLocalForwarding yes
MaxSessions 100
`;

export const DOCKER_DAEMON_JSON = `{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" }
}
`;

export const FSTAB = `/dev/vda / ext4 defaults,discard,errors=remount-ro 0 1
`;

/** Run by mmdebstrap's customize hook with the root directory as $1. */
export const CUSTOMIZE_SCRIPT = `#!/bin/sh
set -eu
R="$1"
F="$2"
install -m 0755 "$F/berth-init" "$R/usr/local/sbin/berth-init"
install -m 0644 "$F/berth-init.service" "$R/etc/systemd/system/berth-init.service"
install -m 0644 "$F/berth-ready.service" "$R/etc/systemd/system/berth-ready.service"
install -d "$R/etc/systemd/network" "$R/etc/ssh/sshd_config.d" "$R/etc/docker"
install -m 0644 "$F/10-berth.network" "$R/etc/systemd/network/10-berth.network"
install -m 0644 "$F/sshd-berth.conf" "$R/etc/ssh/sshd_config.d/berth.conf"
install -m 0644 "$F/daemon.json" "$R/etc/docker/daemon.json"
install -m 0644 "$F/fstab" "$R/etc/fstab"
rm -f "$R"/etc/ssh/ssh_host_*
echo berth > "$R/etc/hostname"
rm -f "$R/etc/resolv.conf"; echo 'nameserver 10.0.2.3' > "$R/etc/resolv.conf"
# Units: what the engine needs, nothing else.
chroot "$R" systemctl enable berth-init.service berth-ready.service systemd-networkd.service docker.service ssh.service >/dev/null
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \\
         getty@tty1.service serial-getty@ttyS0.service systemd-networkd-wait-online.service; do
  chroot "$R" systemctl mask "$u" >/dev/null 2>&1 || true
done
echo 'root:*' | chroot "$R" chpasswd -e
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
`;

export const GUEST_FILES: Record<string, string> = {
  'berth-init': BERTH_INIT,
  'berth-init.service': BERTH_INIT_UNIT,
  'berth-ready.service': BERTH_READY_UNIT,
  '10-berth.network': NETWORK_FILE,
  'sshd-berth.conf': SSHD_CONFIG,
  'daemon.json': DOCKER_DAEMON_JSON,
  fstab: FSTAB,
  'customize.sh': CUSTOMIZE_SCRIPT,
};
