/**
 * Files berth puts into the guest image, and the script that wires them up.
 * Their text is part of the image recipe hash: editing anything here builds a new image.
 */

/** fw_cfg entries (host → guest at boot, no disk needed); read by berth-init from sysfs. */
export const FW_CFG_PREFIX = 'opt/berth';

export const BERTH_INIT = `#!/bin/sh
# berth-init: per-instance setup at every boot, from QEMU fw_cfg entries (see FW_CFG_PREFIX).
# Only sshd waits for it; the engine starts in parallel.
set -u
modprobe qemu_fw_cfg 2>/dev/null || true
FW=/sys/firmware/qemu_fw_cfg/by_name/${FW_CFG_PREFIX}
# The driver fills sysfs after modprobe returns (and a concurrent modprobe returns at once): wait for it.
i=0; while [ ! -d "$FW" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
get() { [ -r "$FW/$1/raw" ] && cat "$FW/$1/raw"; }

h=$(hostname)
printf '127.0.0.1 localhost\\n127.0.1.1 %s\\n10.0.2.2 host.berth.internal host.docker.internal\\n' "$h" > /etc/hosts
echo "$h" > /etc/hostname
# Outside /root: the user's home may be shared over the guest's /root.
if k=$(get authorized_keys); then
  printf '%s\\n' "$k" > /etc/ssh/berth_authorized_keys; chmod 0600 /etc/ssh/berth_authorized_keys
fi
if get ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.new; then
  chmod 0600 /etc/ssh/ssh_host_ed25519_key.new
  mv /etc/ssh/ssh_host_ed25519_key.new /etc/ssh/ssh_host_ed25519_key
  get ssh_host_ed25519_key.pub > /etc/ssh/ssh_host_ed25519_key.pub || ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key.pub
fi
# The instance disk may be larger than the image's filesystem: grow it online, in the background.
(resize2fs /dev/vda >/dev/null 2>&1 &)
exit 0
`;

export const BERTH_INIT_UNIT = `[Unit]
Description=berth per-instance setup (fw_cfg)
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-init
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/**
 * Registers the qemu-user interpreters the host asked for (fw_cfg "binfmt": space-separated qemu arch names)
 * with flag F, so they work inside containers too. Debian's binfmt.d files are kept out of systemd-binfmt's
 * way so that nothing else registers them.
 */
export const BERTH_BINFMT = `#!/bin/sh
set -u
modprobe qemu_fw_cfg 2>/dev/null || true
modprobe binfmt_misc 2>/dev/null || true
M=/proc/sys/fs/binfmt_misc
mountpoint -q $M || mount -t binfmt_misc binfmt_misc $M
FW=/sys/firmware/qemu_fw_cfg/by_name/${FW_CFG_PREFIX}
i=0; while [ ! -d "$FW" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
L=$FW/binfmt/raw
if [ -r $L ]; then list=$(cat $L); else list="aarch64 arm riscv64 ppc64le s390x"; fi
for a in $list; do
  f=/usr/lib/berth/binfmt/qemu-$a.conf
  [ -f "$f" ] && [ ! -e "$M/qemu-$a" ] && cat "$f" > $M/register
done
exit 0
`;

export const BERTH_BINFMT_UNIT = `[Unit]
Description=berth foreign-arch interpreters (binfmt_misc + qemu-user-static)
DefaultDependencies=no
After=local-fs.target proc-sys-fs-binfmt_misc.mount systemd-modules-load.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-binfmt
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/** Static network for QEMU's user-mode network, up before network.target (no DHCP, no networkd). */
export const BERTH_NET_UNIT = `[Unit]
Description=berth static network (QEMU user network)
DefaultDependencies=no
After=local-fs.target
Before=network.target network-pre.target
Wants=network.target

[Service]
Type=oneshot
# virtio_net is in the initrd, so eth0 normally exists already: no waiting on udev.
ExecStart=/bin/sh -c 'modprobe virtio_net 2>/dev/null; i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done'
ExecStart=/sbin/ip link set lo up
ExecStart=/sbin/ip link set eth0 up
ExecStart=/sbin/ip addr add 10.0.2.15/24 dev eth0
ExecStart=/sbin/ip route add default via 10.0.2.2
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/**
 * Modules the engine needs, loaded in one go early in boot instead of one modprobe at a time from inside
 * dockerd's network setup (each costs ~0.1 s under emulation).
 */
export const MODULES_LOAD = `qemu_fw_cfg
overlay
bridge
br_netfilter
veth
nf_tables
nft_compat
nft_chain_nat
nf_nat
nf_conntrack
nf_conntrack_netlink
xt_MASQUERADE
xt_addrtype
xt_conntrack
ip_tables
xfrm_user
9pnet_virtio
9p
`;

/** containerd for Docker only: no Kubernetes CRI plugin (it costs a second of startup under emulation). */
export const CONTAINERD_CONFIG = `version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
`;

/** The journal lives in memory (RAM-sized cap): no flush to disk on the boot's critical path. */
export const JOURNALD_CONF = `[Journal]
Storage=volatile
RuntimeMaxUse=32M
`;

/** Drivers udev would load for emulated hardware nothing here uses. */
export const MODPROBE_BLACKLIST = `blacklist kvm
blacklist kvm_amd
blacklist kvm_intel
blacklist iTCO_wdt
blacklist iTCO_vendor_support
blacklist pcspkr
blacklist i2c_i801
blacklist lpc_ich
blacklist intel_pmc_bxt
blacklist ahci
blacklist ccp
`;

/**
 * The guest end of the virtio-serial channel, in Perl (perl-base is part of every Debian system; no extra
 * packages). One process owns the port because a virtio-serial port opens only once.
 *   guest → host: "ready 2" once dockerd is up (readiness is pushed, not polled); "pong 2" (2: the protocol);
 *                 "ports <proto>:<port>:<any|lo> ..." whenever the set of listening sockets changes (polled
 *                 from /proc every 200 ms) or the host asks; "ok <cmd>" / "err <cmd> <detail>".
 *                 "binfmt <arch> ..." (the qemu-user interpreters registered), when asked.
 *   host → guest: "ping"; "time <epoch>" (set the clock after a resume); "ports" (send the list now); "binfmt";
 *                 "touch <path>" (wake inotify watchers of a shared folder after a host-side change);
 *                 "pin <dir>" / "unpin <dir>" (hold shared directories open, see pin());
 *                 "unmount" / "mount" (shared folders around a suspend: QEMU cannot save a VM with 9p mounted).
 */
export const BERTH_GUESTD = String.raw`#!/usr/bin/perl
use strict;
use warnings;
use IO::Select;

$SIG{PIPE} = 'IGNORE';
# Protocol version, sent with "ready" and "pong" (version 1, the shell script before it, sent neither).
my $PROTOCOL = 2;
my $PORT = '/dev/virtio-ports/io.berth.events';
exit 0 unless -e $PORT;
open(my $ch, '+<', $PORT) or die "berth-guestd: $PORT: $!\n";
binmode $ch;
my $sel = IO::Select->new($ch);

sub say_host { syswrite($ch, "$_[0]\n"); }

sub uptime {
  open(my $f, '<', '/proc/uptime') or return 0;
  my $u = <$f>;
  close $f;
  return (split ' ', $u)[0];
}

# Listening sockets the host should forward: bound to a wildcard or a loopback address. Port 22 (sshd) is
# berth's own; sockets bound to the guest's own address (the DNS server) are internal.
sub addr_kind {
  my ($h) = @_;
  return 'any' if $h =~ /^0+$/;
  return 'lo' if length($h) == 8 && substr($h, 6, 2) eq '7F';
  return 'lo' if $h eq '00000000000000000000000001000000';
  return undef;
}

sub listeners {
  my %seen;
  for my $f (['tcp', 'tcp'], ['tcp', 'tcp6'], ['udp', 'udp'], ['udp', 'udp6']) {
    my ($proto, $file) = @$f;
    open(my $fh, '<', "/proc/net/$file") or next;
    <$fh>;
    while (my $l = <$fh>) {
      my (undef, $la, $ra, $st) = split ' ', $l;
      my ($ah, $ph) = split /:/, $la;
      my $port = hex $ph;
      if ($proto eq 'tcp') { next unless $st eq '0A' && $port != 22; }
      else { next unless $st eq '07' && $ra =~ /^0+:0+$/; }
      my $k = addr_kind($ah);
      next unless defined $k;
      my $key = "$proto:$port";
      $seen{$key} = $k if !defined $seen{$key} || $k eq 'any';
    }
    close $fh;
  }
  return join ' ', map { "$_:$seen{$_}" } sort keys %seen;
}

# A change on the host side of a 9p share makes no inotify event in the guest. For each changed path the host
# sends, re-set the mode the path already has: an attribute event for watchers in the guest and in containers,
# with contents and mtime untouched. A path that is gone wakes its nearest existing parent.
# Never above the share's root: a read-only share (chmod fails) gets no event rather than a touch outside it.
sub touch_path {
  my ($p) = @_;
  my ($root) = sort { length($b) <=> length($a) } grep { $p eq $_ || index($p, "$_/") == 0 } shares();
  return unless defined $root;
  for (1 .. 64) {
    my @st = lstat $p;
    return if @st && !-l _ && chmod($st[2] & 07777, $p);
    return if $p eq $root || $p !~ s{/[^/]*$}{};
  }
}

# With cache=mmap/none the guest kernel makes a new inode at every lookup of a path nobody holds, so a
# watcher's inode would never see the touch above. Holding each shared directory open (the host sends the
# list: "pin <dir>") keeps one inode per directory, which watchers and touches then share.
my %pins;
my $MAX_PINS = 20000;
sub pin {
  my ($d) = @_;
  return if exists $pins{$d} || keys(%pins) >= $MAX_PINS;
  opendir(my $dh, $d) or return;
  $pins{$d} = $dh;
}
sub unpin {
  my ($d) = @_;
  for my $p (grep { $_ eq $d || index($_, "$d/") == 0 } keys %pins) { closedir(delete $pins{$p}); }
}

sub shares {
  my @m;
  open(my $fh, '<', '/proc/mounts') or return ();
  while (my $l = <$fh>) {
    my ($src, $dir, $type) = split ' ', $l;
    next unless $type eq '9p' && $src =~ /^berth\d+$/;
    $dir =~ s/\\([0-7]{3})/chr(oct $1)/ge;
    push @m, $dir;
  }
  close $fh;
  return @m;
}

# Processes whose working directory or open files are under $d (what keeps a share busy).
sub users_of {
  my ($d) = @_;
  my %who;
  for my $pid (grep { /^\d+$/ } do { opendir(my $p, '/proc') or return ''; readdir $p }) {
    my @links = (readlink("/proc/$pid/cwd"), readlink("/proc/$pid/root"));
    if (opendir(my $fd, "/proc/$pid/fd")) { push @links, map { readlink("/proc/$pid/fd/$_") } grep { /^\d+$/ } readdir $fd; }
    next unless grep { defined && ($_ eq $d || index($_, "$d/") == 0) } @links;
    open(my $c, '<', "/proc/$pid/comm") or next;
    chomp(my $name = <$c> // '?');
    $who{"$name ($pid)"} = 1;
  }
  return join(', ', sort keys %who);
}

# Processes in other mount namespaces (containers) holding a share through a private bind mount: an unmount
# here would not reach it, QEMU would still refuse to save the VM, and the share could not be mounted here
# again while it lasts. (Mounts that are slaves of ours, as in systemd services' namespaces, follow our
# unmount: "master:" among their optional fields.)
sub namespace_users {
  my (%ns, %who);
  $ns{readlink('/proc/self/ns/mnt') // ''} = 1;
  for my $pid (grep { /^\d+$/ } do { opendir(my $p, '/proc') or return ''; readdir $p }) {
    my $n = readlink("/proc/$pid/ns/mnt") or next;
    next if $ns{$n}++;
    open(my $mi, '<', "/proc/$pid/mountinfo") or next;
    next unless grep { my ($l, $r) = split / - /, $_, 2; defined $r && $r =~ /^9p berth\d+ / && $l !~ / master:\d+/ } <$mi>;
    open(my $c, '<', "/proc/$pid/comm") or next;
    chomp(my $name = <$c> // '?');
    $who{"$name ($pid)"} = 1;
  }
  return join(', ', sort keys %who);
}

sub unmount_shares {
  my $held = namespace_users();
  return "still mounted in a container (a bind mount) of $held" if $held ne '';
  for my $d (reverse shares()) {
    if (system('umount', $d) != 0) {
      my $who = users_of($d);
      return "busy $d" . ($who ne '' ? " used by $who" : '');
    }
  }
  return undef;
}

sub handle {
  my ($line) = @_;
  my ($cmd, $arg) = split / /, $line, 2;
  return unless defined $cmd;
  if ($cmd eq 'ping') { say_host("pong $PROTOCOL"); }
  elsif ($cmd eq 'time') {
    say_host(system('date', '-u', '-s', "\@$arg") == 0 ? 'ok time' : 'err time');
  }
  elsif ($cmd eq 'ports') { my $cur = listeners(); loopback_forwarding() if $cur =~ /:lo\b/; say_host("ports $cur"); }
  elsif ($cmd eq 'binfmt') { say_host('binfmt ' . binfmt()); }
  elsif ($cmd eq 'touch' && defined $arg) {
    $arg =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge;
    touch_path($arg);
  }
  elsif ($cmd eq 'pin' && defined $arg) { $arg =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge; pin($arg); }
  elsif ($cmd eq 'unpin' && defined $arg) { $arg =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge; unpin($arg); }
  elsif ($cmd eq 'unmount') {
    closedir($_) for values %pins;
    %pins = ();
    my $err = unmount_shares();
    if (defined $err) { system('/usr/local/sbin/berth-mount'); say_host("err unmount $err"); }
    else { say_host('ok unmount'); }
  }
  elsif ($cmd eq 'mount') {
    say_host(system('/usr/local/sbin/berth-mount') == 0 ? 'ok mount' : 'err mount');
  }
}

# Loopback-only listeners: the host forwards them to 10.0.2.16, which is rewritten to 127.0.0.1. Set up when
# the first one appears (iptables costs a second under emulation: not on the boot path).
my $lo_ready = 0;
sub loopback_forwarding {
  return if $lo_ready++;
  system('sh', '-c', 'ip addr add 10.0.2.16/32 dev eth0 2>/dev/null; sysctl -qw net.ipv4.conf.eth0.route_localnet=1; '
    . 'for p in tcp udp; do iptables -t nat -C PREROUTING -d 10.0.2.16/32 -p $p -j DNAT --to-destination 127.0.0.1 2>/dev/null '
    . '|| iptables -t nat -A PREROUTING -d 10.0.2.16/32 -p $p -j DNAT --to-destination 127.0.0.1; done');
}

# The foreign architectures registered with binfmt_misc (berth-binfmt ran before the engine).
sub binfmt {
  opendir(my $d, '/proc/sys/fs/binfmt_misc') or return '';
  return join ' ', sort map { substr($_, 5) } grep { /^qemu-/ } readdir $d;
}

say_host("ready $PROTOCOL");

my ($buf, $last, $next_scan, $eof) = ('', '', 0, 0);
while (1) {
  if ($eof) {
    # EOF: no host agent on the other end (restarting, or the VM was just resumed). Poll gently.
    select(undef, undef, undef, 0.2);
    $eof = 0;
  } elsif ($sel->can_read(0.2)) {
    my $n = sysread($ch, my $data, 65536);
    if (!$n) { $eof = 1; }
    else {
      $buf .= $data;
      while ($buf =~ s/^([^\n]*)\n//) { handle($1); }
    }
  }
  my $now = uptime();
  if ($now >= $next_scan) {
    $next_scan = $now + 0.2;
    my $cur = listeners();
    if ($cur ne $last) {
      loopback_forwarding() if $cur =~ /:lo\b/;
      say_host("ports $cur");
      $last = $cur;
    }
  }
}
`;

/**
 * Mounts the host folders shared over virtio-9p, from fw_cfg "mounts": one per line,
 * "<tag> TAB <guest path> TAB <mount options>". Runs before the engine, so containers that bind-mount a
 * shared folder find it; berth-guestd runs it again after a resume.
 */
export const BERTH_MOUNT = `#!/bin/sh
set -u
modprobe qemu_fw_cfg 2>/dev/null || true
FW=/sys/firmware/qemu_fw_cfg/by_name/${FW_CFG_PREFIX}
i=0; while [ ! -d "$FW" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
L=$FW/mounts/raw
[ -r "$L" ] || exit 0
T=$(printf '\\t')
rc=0
while IFS="$T" read -r tag dir opts || [ -n "\${tag:-}" ]; do
  [ -n "$tag" ] || continue
  mountpoint -q "$dir" && continue
  mkdir -p "$dir"
  if ! mount -t 9p -o "trans=virtio,version=9p2000.L,$opts" "$tag" "$dir"; then
    echo "berth-mount: cannot mount the shared folder $tag on $dir" >&2; rc=1
  fi
  tag=
done < "$L"
exit $rc
`;

export const BERTH_MOUNT_UNIT = `[Unit]
Description=berth shared folders (virtio-9p)
DefaultDependencies=no
After=local-fs.target systemd-modules-load.service
Before=docker.service containerd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-mount
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/**
 * The guest's resolver: host.berth.internal (and Docker Desktop's host.docker.internal) is the host (QEMU's
 * user network maps 10.0.2.2 to the host's loopback); every other name goes to QEMU's DNS proxy, which asks
 * the host's current resolver, so a host DNS change (VPN, new network) reaches the guest without a restart.
 * It listens on the guest's own address: containers get it in their resolv.conf (Docker drops loopback ones).
 */
export const BERTH_DNS_UNIT = `[Unit]
Description=berth DNS (host.berth.internal; everything else through the host's resolver)
After=berth-net.service
Wants=berth-net.service

[Service]
ExecStart=/usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --server=10.0.2.3 \\
  --listen-address=10.0.2.15 --bind-interfaces --cache-size=1000 --user=dnsmasq --group=nogroup \\
  --address=/host.berth.internal/10.0.2.2 --address=/host.docker.internal/10.0.2.2
Restart=always
RestartSec=200ms

[Install]
WantedBy=multi-user.target
`;

export const RESOLV_CONF = `nameserver 10.0.2.15
nameserver 10.0.2.3
`;

export const BERTH_GUESTD_UNIT = `[Unit]
Description=berth guest channel (readiness, clock, ports, file events)
After=docker.service
Wants=docker.service
StartLimitIntervalSec=0

[Service]
# docker.service is Type=notify: ordering after it means dockerd said it is ready.
ExecStart=/usr/local/sbin/berth-guestd
# One open directory per shared directory (see pin() in berth-guestd).
LimitNOFILE=65536
Restart=always
RestartSec=100ms

[Install]
WantedBy=multi-user.target
`;

/** Lean initrd: only what mounting the root disk needs (virtio + ext4), not every storage driver. */
export const INITRAMFS_CONF = `MODULES=list
`;
/** An initramfs-tools hook (no package owns it, so no conffile prompt) that force-loads the few modules. */
export const INITRAMFS_HOOK = `#!/bin/sh
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
for m in virtio_pci virtio_blk virtio_net ext4; do force_load "$m"; done
`;

/**
 * Run by mmdebstrap after the essential packages and before the rest: the initramfs settings must be in
 * place before the kernel package builds its initrd, so it is built once and lean (under qemu-user, for a
 * foreign-arch image, every initrd build costs minutes).
 */
export const ESSENTIAL_HOOK = `#!/bin/sh
set -eu
R="$1"
F="$2"
install -d "$R/etc/initramfs-tools/conf.d" "$R/etc/initramfs-tools/hooks"
install -m 0644 "$F/initramfs.conf" "$R/etc/initramfs-tools/conf.d/berth.conf"
install -m 0755 "$F/initramfs-hook" "$R/etc/initramfs-tools/hooks/berth"
`;

export const SSHD_CONFIG = `# berth: key-only root login; host key injected per instance at boot
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
# No PAM: key-only root login needs none of it, and its session modules (logind over D-Bus) cost hundreds
# of milliseconds per connection under emulation, on the warm-start path.
UsePAM no
# Not under /root: the host user's home may be shared over it.
AuthorizedKeysFile /etc/ssh/berth_authorized_keys
AllowStreamLocalForwarding yes
MaxSessions 100
`;

export const DOCKER_DAEMON_JSON = `{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" }
}
`;

/** The kernel mounts the root (rw, see the command line); nothing for systemd to wait on or re-mount. */
export const FSTAB = `# root: mounted by the kernel (root=/dev/vda rw)
`;

/** Run by mmdebstrap's customize hook with the root directory as $1. */
export const CUSTOMIZE_SCRIPT = `#!/bin/sh
set -eu
R="$1"
F="$2"
install -m 0755 "$F/berth-init" "$R/usr/local/sbin/berth-init"
install -m 0644 "$F/berth-init.service" "$R/etc/systemd/system/berth-init.service"
install -m 0644 "$F/berth-net.service" "$R/etc/systemd/system/berth-net.service"
install -m 0755 "$F/berth-binfmt" "$R/usr/local/sbin/berth-binfmt"
install -m 0644 "$F/berth-binfmt.service" "$R/etc/systemd/system/berth-binfmt.service"
install -d "$R/usr/lib/berth/binfmt"
mv "$R"/usr/lib/binfmt.d/qemu-*.conf "$R/usr/lib/berth/binfmt/" 2>/dev/null || true
install -m 0755 "$F/berth-guestd" "$R/usr/local/sbin/berth-guestd"
install -m 0644 "$F/berth-guestd.service" "$R/etc/systemd/system/berth-guestd.service"
install -m 0755 "$F/berth-mount" "$R/usr/local/sbin/berth-mount"
install -m 0644 "$F/berth-mount.service" "$R/etc/systemd/system/berth-mount.service"
install -m 0644 "$F/berth-dns.service" "$R/etc/systemd/system/berth-dns.service"
install -d "$R/etc/ssh/sshd_config.d" "$R/etc/docker"
install -m 0644 "$F/modules-load.conf" "$R/etc/modules-load.d/berth.conf"
install -m 0644 "$F/modprobe-blacklist.conf" "$R/etc/modprobe.d/berth-blacklist.conf"
install -m 0644 "$F/containerd.toml" "$R/etc/containerd/config.toml"
install -d "$R/etc/systemd/journald.conf.d"
install -m 0644 "$F/journald.conf" "$R/etc/systemd/journald.conf.d/berth.conf"
install -m 0644 "$F/sshd-berth.conf" "$R/etc/ssh/sshd_config.d/berth.conf"
install -m 0644 "$F/daemon.json" "$R/etc/docker/daemon.json"
install -m 0644 "$F/fstab" "$R/etc/fstab"
rm -f "$R"/etc/ssh/ssh_host_*
echo berth > "$R/etc/hostname"
rm -f "$R/etc/resolv.conf"; install -m 0644 "$F/resolv.conf" "$R/etc/resolv.conf"
# Units: what the engine needs, nothing else.
chroot "$R" systemctl enable berth-init.service berth-net.service berth-binfmt.service berth-mount.service berth-dns.service berth-guestd.service docker.service ssh.service >/dev/null
# Masked: what a headless engine VM never needs, each of which costs a second or more under emulation.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \\
         getty@tty1.service serial-getty@ttyS0.service serial-getty@ttyAMA0.service systemd-networkd.service systemd-networkd.socket \\
         systemd-networkd-wait-online.service modprobe@drm.service modprobe@loop.service modprobe@dm_mod.service \\
         modprobe@fuse.service modprobe@efi_pstore.service systemd-pstore.service systemd-remount-fs.service \\
         systemd-fsck-root.service sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount \\
         systemd-update-utmp.service systemd-update-utmp-runlevel.service; do
  chroot "$R" systemctl mask "$u" >/dev/null 2>&1 || true
done
echo 'root:*' | chroot "$R" chpasswd -e
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
`;

export const GUEST_FILES: Record<string, string> = {
  'berth-init': BERTH_INIT,
  'berth-init.service': BERTH_INIT_UNIT,
  'berth-net.service': BERTH_NET_UNIT,
  'berth-binfmt': BERTH_BINFMT,
  'berth-binfmt.service': BERTH_BINFMT_UNIT,
  'berth-guestd': BERTH_GUESTD,
  'berth-guestd.service': BERTH_GUESTD_UNIT,
  'berth-mount': BERTH_MOUNT,
  'berth-mount.service': BERTH_MOUNT_UNIT,
  'berth-dns.service': BERTH_DNS_UNIT,
  'resolv.conf': RESOLV_CONF,
  'initramfs.conf': INITRAMFS_CONF,
  'initramfs-hook': INITRAMFS_HOOK,
  'essential.sh': ESSENTIAL_HOOK,
  'modules-load.conf': MODULES_LOAD,
  'modprobe-blacklist.conf': MODPROBE_BLACKLIST,
  'containerd.toml': CONTAINERD_CONFIG,
  'journald.conf': JOURNALD_CONF,
  'sshd-berth.conf': SSHD_CONFIG,
  'daemon.json': DOCKER_DAEMON_JSON,
  fstab: FSTAB,
  'customize.sh': CUSTOMIZE_SCRIPT,
};
