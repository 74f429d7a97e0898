import { BERTH_SYNCD } from './berth-syncd.js';

/**
 * Files berth puts into the guest image, and the script that wires them up.
 * Their text is part of the image recipe hash: editing anything here builds a new image.
 */

/** fw_cfg entries (host → guest at boot, no disk needed); read by berth-init from sysfs. */
export const FW_CFG_PREFIX = 'opt/berth';

/**
 * PID 1 of the guest (/sbin/init). Under emulation systemd, udev and journald cost about 7 s between the kernel
 * handing over and dockerd starting; this starts the engine's parts directly, in parallel.
 */
export const BERTH_INIT = String.raw`#!/usr/bin/perl
# berth-init: PID 1 of the berth guest. Starts only what the engine needs, in parallel, and keeps the
# services running: no systemd, no udev (the kernel's devtmpfs has the device nodes), no journal.
# Boot steps run once; services are restarted when they exit. Each names the steps it waits for.
# Shutdown: SIGUSR2 (berth-guestd sends it on the ACPI power button) powers off, SIGTERM/SIGINT reboot.
# Timings: /run/berth/boot ("<uptime> <name> start|done|exit <status>"), read by "berth start -v" and bench/.
use strict;
use warnings;
BEGIN { require '/usr/local/lib/berth/sys.pl'; }
sub WNOHANG () { 1 }
sub min { my $m = shift; for (@_) { $m = $_ if $_ < $m; } return $m; }

$ENV{PATH} = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
umask 022;
chdir '/';

sub mnt {
  my ($type, $dir, $flags, $data) = @_;
  return if -e '/proc/self/mounts' && mounted($dir);
  mkdir $dir;
  mount_fs($type, $type, $dir, $flags, $data);
}
mnt('proc', '/proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, '');
mnt('sysfs', '/sys', MS_NOSUID | MS_NODEV | MS_NOEXEC, '');
mnt('devtmpfs', '/dev', MS_NOSUID, 'mode=755');
mnt('devpts', '/dev/pts', MS_NOSUID | MS_NOEXEC, 'gid=5,mode=620,ptmxmode=000');
mnt('tmpfs', '/dev/shm', MS_NOSUID | MS_NODEV, 'mode=1777');
mnt('mqueue', '/dev/mqueue', MS_NOSUID | MS_NODEV | MS_NOEXEC, '');
mnt('tmpfs', '/run', MS_NOSUID | MS_NODEV, 'mode=755,size=20%');
mnt('tmpfs', '/run/lock', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'size=5m');
mnt('cgroup2', '/sys/fs/cgroup', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'nsdelegate');
# Shared propagation, as under systemd: mounts made later (a share after a resume) reach containers using rshared.
mount_fs(undef, undef, '/', MS_REC | MS_SHARED, undef) or system('mount', '--make-rshared', '/');
symlink("/proc/self/fd$_->[1]", "/dev/$_->[0]") for (['fd', ''], ['stdin', '/0'], ['stdout', '/1'], ['stderr', '/2']);
mkdir $_, 0755 for '/run/berth', '/run/sshd', '/var/log/berth';
chmod 01777, '/tmp';

my $console;
open($console, '>>', '/dev/console') or undef $console;
sub note { syswrite($console, sprintf("berth-init: [%.2f] %s\n", uptime(), $_[0])) if $console; }
my $boot;
open($boot, '>>', '/run/berth/boot') or undef $boot;
sub record { syswrite($boot, ($_[1] // uptime()) . " $_[0]\n") if $boot; }
# The kernel's and the initrd's hand-overs, from the kernel log (timestamps in microseconds).
if (sysopen(my $kmsg, '/dev/kmsg', 2048)) { # O_NONBLOCK: stop at the end of the log
  while (sysread($kmsg, my $rec, 8192)) {
    my ($us, $msg) = $rec =~ /^\d+,\d+,(\d+),[^;]*;(.*)/ or next;
    record('kernel done', sprintf('%.2f', $us / 1e6)) if $msg =~ /^Run \/init as init process/;
    record('initrd done', sprintf('%.2f', $us / 1e6)) if $msg =~ /^berth initrd: root mounted/;
  }
}
record('init start');

my ($hostname) = (slurp('/proc/cmdline') // '') =~ /\b(?:berth|systemd)\.hostname=(\S+)/;
spew('/proc/sys/kernel/hostname', $hostname) if defined $hostname;
# What systemd's defaults set, plus room for the file watchers of dev servers in containers.
my %sysctl = (
  'fs/protected_hardlinks' => 1, 'fs/protected_symlinks' => 1, 'fs/protected_regular' => 1, 'fs/protected_fifos' => 1,
  'kernel/pid_max' => 4194304, 'net/ipv4/ping_group_range' => "0 2147483647",
  'fs/inotify/max_user_watches' => 524288, 'fs/inotify/max_user_instances' => 8192,
);
spew("/proc/sys/$_", "$sysctl{$_}\n") for keys %sysctl;
# cgroup v2 without systemd: hand every controller to the children (dockerd uses the cgroupfs driver).
if (my $c = slurp('/sys/fs/cgroup/cgroup.controllers')) { spew('/sys/fs/cgroup/cgroup.subtree_control', join(' ', map { "+$_" } split ' ', $c)); }
# QEMU 7.2's TCG can leave a vCPU looping for ever on a stale int3 when the kernel patches a hot static branch
# while another vCPU runs through it: seen as both vCPUs stuck in kmem_cache_alloc (soft lockups in runc)
# when the first container made the first memory cgroup, which switches memcg's static keys on. Make that
# first memory cgroup now, while nothing else runs, and keep it (empty), so no container start patches them.
mkdir '/sys/fs/cgroup/berth';

# Drivers for the VM's devices (udev's coldplug, in one modprobe) and the modules the steps below need.
sub aliases { return map { my $a = slurp($_); defined $a ? split(' ', $a) : () } glob('/sys/bus/{pci,virtio,acpi,platform}/devices/*/modalias'); }
# The shared folders (and so dockerd) wait only for the first line; the rest loads meanwhile.
my @FIRST = qw(qemu_fw_cfg 9pnet_virtio 9p);
my @EARLY = qw(virtio_console evdev button binfmt_misc);
my @ENGINE = qw(overlay bridge br_netfilter veth nf_tables nft_compat nft_chain_nat nf_nat nf_conntrack
  nf_conntrack_netlink xt_MASQUERADE xt_addrtype xt_conntrack ip_tables xfrm_user);
my $NET = "link set lo up\nlink set eth0 up\naddr add 10.0.2.15/24 dev eth0\nroute add default via 10.0.2.2\n";
spew('/run/berth/net', $NET);
sub limited { my ($nofile, $oom, @cmd) = @_; return ('/bin/sh', '-c', "ulimit -n $nofile; echo $oom > /proc/self/oom_score_adj; exec \"\$@\"", 'sh', @cmd); }

my @units = (
  # In the order of the first pass: the engine's path first.
  { name => 'containerd', cmd => [limited(1048576, -999, 'containerd')] },
  # berth's initrd loads them (see INITRD_MODULES): the exec of modprobe only when one is missing.
  { name => 'fw', once => 1, (grep { !-d "/sys/module/$_" } @FIRST) ? (cmd => ['modprobe', '-qa', @FIRST]) : (code => sub { 1 }) },
  # In-process (no exec, no interpreter start-up): dockerd waits for it.
  { name => 'mount', once => 1, after => ['fw'], code => \&mount_shares },
  # The guest's copies of synchronised shared folders (see berth-syncd): ready once they match the host's. Not
  # started when there are none (mount_shares then writes its ready file): no Perl compile beside dockerd's start.
  { name => 'syncd', after => ['mount'], ready => '/run/berth/sync.ready', cmd => ['/usr/local/sbin/berth-syncd'] },
  # Shared folders first: containers restarted by the engine may bind-mount them.
  { name => 'dockerd', after => ['mount', 'syncd'], cmd => [limited(1048576, -500, 'dockerd', '--containerd=/run/containerd/containerd.sock')] },
  # Some aliases have no module (built into the kernel, or blacklisted): modprobe's status says nothing then.
  # Steps off the engine's path run at nice 10 (services at 0: what they start inherits it).
  { name => 'modules', once => 1, optional => 1, nice => 10, cmd => ['modprobe', '-qab', @EARLY, aliases()] },
  { name => 'engine-modules', once => 1, cmd => ['modprobe', '-qa', @ENGINE] },
  { name => 'net', once => 1, cmd => ['ip', '-batch', '/run/berth/net'] },
  { name => 'host', once => 1, nice => 10, after => ['fw'], cmd => ['/usr/local/sbin/berth-setup', 'host'] },
  { name => 'binfmt', once => 1, nice => 10, after => ['modules'], cmd => ['/usr/local/sbin/berth-setup', 'binfmt'] },
  # The instance disk may be larger than the image's filesystem: grow it online.
  { name => 'resize', once => 1, nice => 10, cmd => ['resize2fs', '/dev/vda'] },
  # -r: no re-exec of sshd for each connection (an exec and its start-up under emulation: the agent's SSH
  # handshake 228 -> 182 ms, and its first one after a resume runs on a cold translation cache).
  { name => 'sshd', after => ['host'], cmd => ['/usr/sbin/sshd', '-D', '-e', '-r'] },
  # The guest's resolver: host.berth.internal (and Docker Desktop's host.docker.internal) is the host (QEMU's
  # user network maps 10.0.2.2 to the host's loopback); every other name goes to QEMU's DNS proxy, which asks
  # the host's current resolver, so a host DNS change (VPN, new network) reaches the guest without a restart.
  # It listens on the guest's own address: containers get it in their resolv.conf (Docker drops loopback ones).
  { name => 'dnsmasq', after => ['net'], cmd => ['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--no-poll',
      '--server=10.0.2.3', '--listen-address=10.0.2.15', '--bind-interfaces', '--cache-size=1000', '--user=dnsmasq',
      '--group=nogroup', '--pid-file=', '--address=/host.berth.internal/10.0.2.2', '--address=/host.docker.internal/10.0.2.2'] },
  { name => 'guestd', after => ['modules'], cmd => [limited(65536, 0, '/usr/local/sbin/berth-guestd')] },
);
my %unit = map { ($_->{name} => $_) } @units;
my %by_pid;

sub spawn {
  my ($u) = @_;
  if ($u->{code}) {
    $u->{started} = uptime();
    record("$u->{name} start");
    my $ok = $u->{code}->();
    $u->{done} = 1;
    record("$u->{name} done " . ($ok ? 0 : 1));
    return;
  }
  my $pid = fork();
  if (!defined $pid) { $u->{due} = uptime() + 1; return; }
  if ($pid == 0) {
    setpgrp(0, 0);
    open(STDIN, '<', '/dev/null');
    open(STDERR, '>>', "/var/log/berth/$u->{name}.log") or open(STDERR, '>', '/dev/null');
    open(STDOUT, '>&', \*STDERR);
    setpriority(0, 0, $u->{nice}) if $u->{nice};
    exec { $u->{cmd}[0] } @{$u->{cmd}} or exit 127;
  }
  $u->{pid} = $pid;
  $u->{started} = uptime();
  $by_pid{$pid} = $u;
  record("$u->{name} start");
}

my $stopping;
sub reap {
  while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
    my $u = delete $by_pid{$pid} or next; # an orphan handed to PID 1
    my $st = $?;
    delete $u->{pid};
    if ($u->{once}) {
      $u->{done} = 1;
      record("$u->{name} done $st");
      note("$u->{name} failed (status $st), see /var/log/berth/$u->{name}.log") if $st != 0 && !$u->{optional};
    } elsif (!$stopping) {
      record("$u->{name} exit $st");
      # A service that dies before it is ready must not hold back what waits for it (the engine).
      if ($u->{ready} && !$u->{done}) { $u->{done} = 1; note("$u->{name} exited before it was ready: not waiting for it"); }
      # Restart at once, unless it keeps dying young: then back off up to 5 s.
      my $now = uptime();
      $u->{backoff} = $now - $u->{started} < 5 ? min(($u->{backoff} // 0.05) * 2, 5) : 0.1;
      $u->{due} = $now + $u->{backoff};
      note("$u->{name} exited (status $st), restarting in $u->{backoff} s");
    }
  }
}

# "boot done" once every step has finished: berth-guestd says ready only after it (and after dockerd answers),
# so the first containers never meet the boot's own work (module loads, growing the disk) half-way.
my $boot_done;
sub start_ready {
  for my $u (grep { $_->{ready} && $_->{started} && !$_->{done} } @units) {
    next unless -e $u->{ready};
    $u->{done} = 1;
    record("$u->{name} ready");
  }
  if (!$boot_done && !grep { $_->{once} && !$_->{done} } @units) { $boot_done = 1; record('boot done'); }
  for my $u (@units) {
    next if $u->{pid} || ($u->{once} && $u->{started}) || $u->{skipped};
    next if defined $u->{due} && $u->{due} > uptime();
    next if grep { !$unit{$_}{done} } @{$u->{after} // []};
    if ($u->{ready} && !$u->{started} && -e $u->{ready}) { $u->{done} = $u->{skipped} = 1; record("$u->{name} not needed"); next; }
    spawn($u);
  }
}

# Signals only write to a pipe; the loop below does the work (no work inside a handler).
pipe(my $sig_r, my $sig_w) or die "berth-init: pipe: $!\n";
my $want;
$SIG{CHLD} = sub { syswrite($sig_w, 'c'); };
$SIG{USR2} = sub { $want = 'poweroff'; syswrite($sig_w, 's'); };
$SIG{$_} = sub { $want = 'reboot'; syswrite($sig_w, 's'); } for qw(TERM INT);

sub wait_gone {
  my ($secs, @pids) = @_;
  my $until = uptime() + $secs;
  while (uptime() < $until) {
    reap();
    return 1 unless grep { kill 0, $_ } (@pids ? @pids : user_pids());
    nap(0.05);
  }
  return 0;
}

# Every process but this one and the kernel's threads (which have no command line; kill(-1, 0) counts them).
sub user_pids { return grep { $_ != 1 && (slurp("/proc/$_/cmdline") // '') ne '' } map { m{^/proc/(\d+)$} ? $1 : () } glob('/proc/[0-9]*'); }

sub shutdown_all {
  my ($how) = @_;
  $stopping = 1;
  note("stopping the engine ($how)");
  # The engine first (it stops its containers, within their stop timeouts), then containerd, then the rest.
  # berth-syncd after them: it copies the guest's last changes of synchronised folders to the host.
  for my $step ([60, 'dockerd'], [5, 'containerd'], [30, 'syncd'], [5, map { $_->{name} } @units]) {
    my ($secs, @names) = @$step;
    my @pids = grep { defined } map { $unit{$_}{pid} } @names;
    next unless @pids;
    kill 'TERM', @pids;
    wait_gone($secs, @pids);
    note("stopped @names") if @names < 3;
  }
  kill 'TERM', -1;
  wait_gone(2) or note('killing what is left');
  kill 'KILL', -1;
  reap();
  note('unmounting');
  system('umount', '-a', '-t', '9p');
  system('sync');
  system('mount', '-o', 'remount,ro', '/');
  spew('/proc/sysrq-trigger', $how eq 'poweroff' ? 'o' : 'b');
  nap(60) while 1;
}

while (1) {
  reap();
  shutdown_all($want) if $want;
  start_ready();
  my @due = grep { defined } map { $_->{pid} ? undef : $_->{due} } @units;
  # A service that says it is ready with a file: look for it often.
  push @due, uptime() + 0.02 if grep { $_->{ready} && $_->{started} && !$_->{done} } @units;
  my $timeout = @due ? min(@due) - uptime() : undef;
  $timeout = 0 if defined $timeout && $timeout < 0;
  my $rin = '';
  vec($rin, fileno($sig_r), 1) = 1;
  sysread($sig_r, my $junk, 4096) if select(my $rout = $rin, undef, undef, $timeout) > 0;
}
`;

/**
 * Helpers shared by berth-init and berth-setup, loaded with require (no Exporter). Only Perl's builtins: under
 * emulation every module costs (POSIX, List::Util, File::Path, Time::HiRes: 100–200 ms each to load).
 */
export const BERTH_PERL_LIB = String.raw`# berth's Perl helpers (/usr/local/lib/berth/sys.pl).
use strict;
use warnings;

sub MS_RDONLY () { 1 }
sub MS_NOSUID () { 2 }
sub MS_NODEV () { 4 }
sub MS_NOEXEC () { 8 }
sub MS_REMOUNT () { 32 }
sub MS_BIND () { 4096 }
sub MS_REC () { 16384 }
sub MS_SHARED () { 1 << 20 }

sub slurp { my ($p) = @_; open(my $f, '<', $p) or return undef; local $/; my $s = <$f>; close $f; return $s; }
sub spew { my ($p, $s) = @_; open(my $f, '>', $p) or return 0; print $f $s; return close $f; }
sub uptime { return (split ' ', slurp('/proc/uptime') // '0')[0]; }
sub nap { select(undef, undef, undef, $_[0]); }
sub mkdirs { my $p = ''; for (grep { length } split m{/}, $_[0]) { $p .= "/$_"; mkdir $p; } return -d $_[0]; }

sub mounted {
  my ($dir) = @_;
  my $m = slurp('/proc/self/mounts') // return 0;
  (my $esc = $dir) =~ s/([ \t\n\\])/sprintf('\\%03o', ord $1)/ge;
  return $m =~ m{^\S+ \Q$esc\E }m;
}

# mount(2) directly: an exec of mount(8) costs tens of milliseconds under emulation. Falls back to mount(8)
# on an architecture whose syscall number is not listed. True on success.
my %SYS_MOUNT = (x86_64 => 165, aarch64 => 40);
my $SYS = $SYS_MOUNT{(slurp('/proc/sys/kernel/arch') // '') =~ s/\s+$//r};
sub mount_fs {
  my ($type, $src, $dir, $flags, $data) = @_;
  my @w = ($src // 0, $dir, $type // 0, $data // 0); # syscall() needs writable strings
  return 1 if defined $SYS && syscall($SYS, @w[0 .. 2], $flags, $w[3]) == 0;
  return 0 unless defined $type;
  my @o = (($flags & MS_RDONLY) ? 'ro' : (), defined $data && $data ne '' ? $data : ());
  return system('mount', '-t', $type, (@o ? ('-o', join(',', @o)) : ()), $src, $dir) == 0;
}

# An fw_cfg entry from the host (see FW_CFG_PREFIX); undef if absent. The qemu_fw_cfg driver fills sysfs
# after modprobe returns: wait for it, once.
my $FW = '/sys/firmware/qemu_fw_cfg/by_name/${FW_CFG_PREFIX}';
my $fw_waited;
sub fw_cfg {
  if (!$fw_waited++) { for (1 .. 100) { last if -d $FW; nap(0.02); } }
  return slurp("$FW/$_[0]/raw");
}

# The host folders shared over virtio-9p, from fw_cfg "mounts": "<tag> TAB <guest path> TAB <rw|ro>,<options>"
# lines. At boot (berth-init, before the engine: containers that bind-mount a shared folder find it) and after
# a resume (berth-setup mount). False if one failed (each failure is reported on stderr).
# A synchronised folder (option berth.sync=<id>) is mounted at /run/berth/sync/<tag> instead: berth-syncd
# keeps a copy of it on the guest's disk, at the guest path. With none, berth-syncd has nothing to wait for.
sub mount_shares {
  my ($ok, $sync) = (1, 0);
  for (split /\n/, fw_cfg('mounts') // '') {
    my ($tag, $dir, $opts) = split /\t/;
    next unless defined $opts && $tag ne '';
    my ($mode, @rest) = split /,/, $opts;
    if (grep { /^berth\.sync=/ } @rest) {
      @rest = grep { !/^berth\.sync=/ } @rest;
      $dir = "/run/berth/sync/$tag";
      $sync++;
    }
    next if mounted($dir);
    mkdirs($dir);
    my $data = join(',', 'trans=virtio', 'version=9p2000.L', @rest);
    next if mount_fs('9p', $tag, $dir, $mode eq 'ro' ? MS_RDONLY : 0, $data);
    print STDERR "berth: cannot mount the shared folder $tag on $dir: $!\n";
    $ok = 0;
  }
  spew('/run/berth/sync.ready', '') unless $sync;
  return $ok;
}
1;
`;

/**
 * Per-instance setup from QEMU's fw_cfg entries (see FW_CFG_PREFIX), one step per run so that berth-init runs
 * them in parallel; berth-guestd runs "mount" again after a resume.
 */
export const BERTH_SETUP = String.raw`#!/usr/bin/perl
# berth-setup host|mount|binfmt
#   host:   /etc/hosts, SSH keys (sshd waits for it).
#   mount:  the shared folders again, after a resume (see mount_shares in sys.pl).
#   binfmt: registers the qemu-user interpreters the host asked for ("binfmt": qemu arch names) with flag F,
#           so they work inside containers too. Debian's binfmt.d files are kept elsewhere, unregistered.
use strict;
use warnings;
BEGIN { require '/usr/local/lib/berth/sys.pl'; }

sub get { return fw_cfg($_[0]); }

my $step = shift // '';
if ($step eq 'host') {
  chomp(my $h = slurp('/proc/sys/kernel/hostname') // 'berth');
  spew('/etc/hosts', "127.0.0.1 localhost\n127.0.1.1 $h\n10.0.2.2 host.berth.internal host.docker.internal\n");
  spew('/etc/hostname', "$h\n");
  umask 077;
  # Outside /root: the user's home may be shared over the guest's /root.
  if (defined(my $k = get('authorized_keys'))) { chomp $k; spew('/etc/ssh/berth_authorized_keys', "$k\n"); }
  if (defined(my $k = get('ssh_host_ed25519_key'))) {
    my $f = '/etc/ssh/ssh_host_ed25519_key';
    spew("$f.new", $k) && rename("$f.new", $f);
    my $pub = get('ssh_host_ed25519_key.pub');
    umask 022;
    if (defined $pub) { spew("$f.pub", $pub); } else { system("ssh-keygen -y -f $f > $f.pub"); }
  }
} elsif ($step eq 'mount') {
  exit(mount_shares() ? 0 : 1);
} elsif ($step eq 'binfmt') {
  my $M = '/proc/sys/fs/binfmt_misc';
  mounted($M) || mount_fs('binfmt_misc', 'binfmt_misc', $M, 0, '') or die "berth-setup: cannot mount $M\n";
  my $list = get('binfmt') // 'aarch64 arm riscv64 ppc64le s390x';
  for my $a (split ' ', $list) {
    my $conf = slurp("/usr/lib/berth/binfmt/qemu-$a.conf");
    spew("$M/register", $conf) if defined $conf && !-e "$M/qemu-$a";
  }
} else {
  die "usage: berth-setup host|mount|binfmt\n";
}
exit 0;
`;

/** containerd for Docker only: no Kubernetes CRI plugin (it costs a second of startup under emulation). */
export const CONTAINERD_CONFIG = `version = 2
disabled_plugins = ["io.containerd.grpc.v1.cri"]
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
 *   guest → host: "ready 3 kernel=<s> initrd=<s> init=<s> dockerd=<s>" once dockerd answers on its socket
 *                 (readiness is pushed to the host, not polled from it; the boot's milestones, in seconds since
 *                 the kernel started, come with it); "pong 3" (3: the protocol; not before ready);
 *                 "ports <proto>:<port>:<any|lo> ..." whenever the set of listening sockets changes (polled
 *                 from /proc every 200 ms) or the host asks; "ok <cmd>" / "err <cmd> <detail>".
 *                 "binfmt <arch> ..." (the qemu-user interpreters registered), when asked.
 *   host → guest: "ping"; "time <epoch>" (set the clock after a resume); "ports" (send the list now); "binfmt";
 *                 "touch <path>" (wake inotify watchers of a shared folder after a host-side change);
 *                 "sync <path> <state>" (a host-side change in a synchronised folder: for berth-syncd);
 *                 "pin <dir>" / "unpin <dir>" (hold shared directories open, see pin());
 *                 "unmount" / "mount" (shared folders around a suspend: QEMU cannot save a VM with 9p mounted).
 * It also turns the ACPI power button (QEMU's system_powerdown) into a clean shutdown: SIGUSR2 to berth-init.
 */
export const BERTH_GUESTD = String.raw`#!/usr/bin/perl
use strict;
use warnings;
no warnings 'portable'; # 64-bit hex words of the input capabilities
# Builtins only (IO::Select and IO::Socket::UNIX cost half a second to load under emulation, at boot).
BEGIN { require '/usr/local/lib/berth/sys.pl'; }

$SIG{PIPE} = 'IGNORE';
# Protocol version, sent with "ready" and "pong" (version 1, the shell script before it, sent neither).
my $PROTOCOL = 3;
# The port by its name (no udev here to make /dev/virtio-ports/ links).
my ($PORT) = map { m{/(vport[^/]+)/name$} ? "/dev/$1" : () }
  grep { (slurp($_) // '') eq "io.berth.events\n" } glob('/sys/class/virtio-ports/*/name');
exit 0 unless defined $PORT;
open(my $ch, '+<', $PORT) or die "berth-guestd: $PORT: $!\n";
binmode $ch;

# The handles among @fhs that are readable within $timeout seconds.
sub readable {
  my ($timeout, @fhs) = @_;
  my $rin = '';
  vec($rin, fileno $_, 1) = 1 for @fhs;
  return () if select(my $rout = $rin, undef, undef, $timeout) <= 0;
  return grep { vec($rout, fileno $_, 1) } @fhs;
}

# Input devices that have a power button (the ACPI one on x86_64, gpio-keys on arm64): 24-byte events.
my %power;
for my $ev (glob('/dev/input/event*')) {
  my ($n) = $ev =~ /(event\d+)$/;
  my @words = reverse split ' ', slurp("/sys/class/input/$n/device/capabilities/key") // '';
  next unless @words > 1 && hex($words[1]) & (1 << (116 - 64)); # KEY_POWER = 116
  open(my $fh, '<', $ev) or next;
  $power{fileno $fh} = $fh;
}
sub power_event {
  my ($fh) = @_;
  my $n = sysread($fh, my $buf, 24 * 16) or do { delete $power{fileno $fh}; return; };
  for (my $o = 0; $o + 24 <= $n; $o += 24) {
    my ($type, $code, $value) = unpack('x16 S S l', substr($buf, $o, 24));
    kill 'USR2', 1 if $type == 1 && $code == 116 && $value == 1;
  }
}

# Ready when berth-init's steps are all done ("boot done" in its record) and dockerd answers GET /_ping. The
# ready line carries the boot's milestones: seconds since the kernel started, from the same record.
my $ready = 0;
my %MARK = ('kernel done' => 'kernel', 'initrd done' => 'initrd', 'init start' => 'init', 'dockerd start' => 'dockerd');
sub boot_record {
  my (%at, $done);
  for (split /\n/, slurp('/run/berth/boot') // return (1, {})) {
    my ($t, $what) = /^(\S+) (.*)$/ or next;
    $done = 1 if $what eq 'boot done';
    $at{$MARK{$what}} //= $t if $MARK{$what};
  }
  return ($done, \%at);
}
sub boot_marks {
  my ($at, $ready_at) = @_;
  return join ' ', (map { "$_=$at->{$_}" } sort { $at->{$a} <=> $at->{$b} } keys %$at), "engine=$ready_at";
}
sub engine_up {
  socket(my $s, 1, 1, 0) or return 0; # AF_UNIX, SOCK_STREAM
  connect($s, pack('S Z*', 1, '/run/docker.sock')) or return 0;
  syswrite($s, "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n");
  my $r = '';
  while (readable(2, $s)) { sysread($s, my $d, 512) or last; $r .= $d; }
  return $r =~ m{^HTTP/1\.[01] 200 };
}

sub say_host { syswrite($ch, "$_[0]\n"); }

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

# berth-syncd's requests pipe (see berth-syncd). Lines that do not fit now are dropped, and it is asked to
# compare everything ("rescan") as soon as there is room.
my ($sync_fh, $sync_lost) = (undef, 0);
sub to_syncd {
  my ($line) = @_;
  sysopen($sync_fh, '/run/berth/sync.fifo', 1 | 04000) or return 0 if !$sync_fh; # O_WRONLY O_NONBLOCK: no reader, no wait
  if ($sync_lost) { syswrite($sync_fh, "rescan\n") or return 0; $sync_lost = 0; }
  return 1 if syswrite($sync_fh, "$line\n");
  $sync_lost = 1 if $!{EAGAIN};
  $sync_fh = undef unless $sync_lost;
  return 0;
}
# Before a suspend: berth-syncd stops using 9p (it answers with a file).
sub pause_syncd {
  unlink '/run/berth/sync.paused';
  to_syncd('pause') or return;
  for (1 .. 200) { return if -e '/run/berth/sync.paused'; nap(0.05); }
}

sub handle {
  my ($line) = @_;
  my ($cmd, $arg) = split / /, $line, 2;
  return unless defined $cmd;
  # Paths come %XX-escaped (spaces, newlines).
  $arg =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge if defined $arg && $cmd =~ /^(?:touch|pin|unpin)$/;
  if ($cmd eq 'ping') { say_host("pong $PROTOCOL") if $ready; }
  elsif ($cmd eq 'time') {
    say_host(system('date', '-u', '-s', "\@$arg") == 0 ? 'ok time' : 'err time');
  }
  elsif ($cmd eq 'ports') { my $cur = listeners(); loopback_forwarding() if $cur =~ /:lo\b/; say_host("ports $cur"); }
  elsif ($cmd eq 'binfmt') { say_host('binfmt ' . binfmt()); }
  elsif ($cmd eq 'touch' && defined $arg) { touch_path($arg); }
  elsif ($cmd eq 'sync' && defined $arg) { to_syncd($line); }
  elsif ($cmd eq 'pin' && defined $arg) { pin($arg); }
  elsif ($cmd eq 'unpin' && defined $arg) { unpin($arg); }
  elsif ($cmd eq 'unmount') {
    closedir($_) for values %pins;
    %pins = ();
    pause_syncd();
    my $err = unmount_shares();
    if (defined $err) { system('/usr/local/sbin/berth-setup', 'mount'); to_syncd('resume'); say_host("err unmount $err"); }
    else { say_host('ok unmount'); }
  }
  elsif ($cmd eq 'mount') {
    my $ok = system('/usr/local/sbin/berth-setup', 'mount') == 0;
    to_syncd('resume');
    say_host($ok ? 'ok mount' : 'err mount');
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

# The foreign architectures registered with binfmt_misc (by berth-setup binfmt, at boot).
sub binfmt {
  opendir(my $d, '/proc/sys/fs/binfmt_misc') or return '';
  return join ' ', sort map { substr($_, 5) } grep { /^qemu-/ } readdir $d;
}

my ($buf, $last, $next_scan, $eof, $engine_since) = ('', '', 0, 0, undef);
while (1) {
  # A step that hangs must not hold the engine back for long: 30 s after dockerd answers, ready anyway.
  $engine_since = uptime() if !$ready && !defined $engine_since && engine_up();
  if (!$ready && defined $engine_since) {
    my ($done, $at) = boot_record();
    if ($done || uptime() - $engine_since > 30) {
      $ready = 1;
      my $now = uptime();
      if (open(my $b, '>>', '/run/berth/boot')) { print $b "$now engine ready\n"; }
      say_host("ready $PROTOCOL " . boot_marks($at, $now));
    }
  }
  my $wait = $ready ? 0.2 : 0.05;
  if ($eof) {
    # EOF: no host agent on the other end (restarting, or the VM was just resumed). Poll gently.
    select(undef, undef, undef, $wait);
    $eof = 0;
  } else {
    for my $fh (readable($wait, $ch, values %power)) {
      if ($power{fileno $fh}) { power_event($fh); next; }
      my $n = sysread($ch, my $data, 65536);
      if (!$n) { $eof = 1; }
      else {
        $buf .= $data;
        while ($buf =~ s/^([^\n]*)\n//) { handle($1); }
      }
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

export const RESOLV_CONF = `nameserver 10.0.2.15
nameserver 10.0.2.3
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
 * /init of berth's own initrd: loads the drivers the root disk needs, mounts it and hands over to /sbin/init.
 * (initramfs-tools' initrd runs udev for the same job: about 2 s under emulation.) Busybox is the only binary.
 */
export const INITRD_INIT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t devtmpfs -o mode=0755,nosuid devtmpfs /dev
$B mount -t proc -o nosuid,nodev,noexec proc /proc
for m in $($B cat /modules); do $B insmod "/lib/modules/$m" || echo "berth initrd: cannot load $m"; done
root=/dev/vda; fstype=ext4; opts=rw
for a in $($B cat /proc/cmdline); do
  case "$a" in
    root=*) root=\${a#root=} ;;
    rootfstype=*) fstype=\${a#rootfstype=} ;;
    rootflags=*) opts="rw,\${a#rootflags=}" ;;
  esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 1000 ]; do $B usleep 10000; i=$((i + 1)); done
if ! $B mount -t "$fstype" -o "$opts" "$root" /root; then
  echo "berth initrd: cannot mount the root filesystem $root ($fstype, $opts)"
  $B sleep 5
  exit 1
fi
echo "berth initrd: root mounted" > /dev/kmsg
$B mount --move /dev /root/dev
$B umount /proc
exec $B switch_root /root /sbin/init
`;

/**
 * The modules berth's initrd loads (with their dependencies): the root disk, its filesystem, the network, and
 * fw_cfg + 9p, which the shared folders (and so dockerd) wait for in berth-init.
 */
export const INITRD_MODULES =
  'crc32c_generic virtio_pci virtio_blk virtio_net ext4 qemu_fw_cfg 9pnet_virtio 9p';

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

/** The kernel mounts the root (rw, see the command line); nothing to wait on or re-mount. */
export const FSTAB = `# root: mounted by the kernel (root=/dev/vda rw)
`;

/** Run by mmdebstrap's customize hook with the root directory as $1. */
export const CUSTOMIZE_SCRIPT = `#!/bin/sh
set -eu
R="$1"
F="$2"
for f in berth-init berth-setup berth-guestd berth-syncd; do install -m 0755 "$F/$f" "$R/usr/local/sbin/$f"; done
install -d "$R/usr/local/lib/berth"
install -m 0644 "$F/sys.pl" "$R/usr/local/lib/berth/sys.pl"
# berth-init is the init: no systemd (see BERTH_INIT).
ln -sf /usr/local/sbin/berth-init "$R/sbin/init"
install -d "$R/usr/lib/berth/binfmt" "$R/var/log/berth"
mv "$R"/usr/lib/binfmt.d/qemu-*.conf "$R/usr/lib/berth/binfmt/" 2>/dev/null || true
install -d "$R/etc/ssh/sshd_config.d" "$R/etc/docker"
install -m 0644 "$F/modprobe-blacklist.conf" "$R/etc/modprobe.d/berth-blacklist.conf"
install -m 0644 "$F/containerd.toml" "$R/etc/containerd/config.toml"
install -m 0644 "$F/sshd-berth.conf" "$R/etc/ssh/sshd_config.d/berth.conf"
install -m 0644 "$F/daemon.json" "$R/etc/docker/daemon.json"
install -m 0644 "$F/fstab" "$R/etc/fstab"
rm -f "$R"/etc/ssh/ssh_host_*
echo berth > "$R/etc/hostname"
rm -f "$R/etc/resolv.conf"; install -m 0644 "$F/resolv.conf" "$R/etc/resolv.conf"
echo 'root:*' | chroot "$R" chpasswd -e
# berth's initrd (see INITRD_INIT): busybox, /init, and the modules in dependency order, uncompressed.
K=$(ls "$R/lib/modules" | head -n 1)
I="$R/tmp/berth-initrd"
rm -rf "$I"; mkdir -p "$I/bin" "$I/dev" "$I/proc" "$I/root" "$I/lib/modules"
mknod -m 0600 "$I/dev/console" c 5 1
cp "$R/bin/busybox" "$I/bin/busybox"
install -m 0755 "$F/initrd-init" "$I/init"
for m in ${INITRD_MODULES}; do chroot "$R" modprobe -S "$K" --show-depends "$m"; done |
  awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
  while read -r p; do cp "$R$p" "$I/lib/modules/"; basename "$p"; done > "$I/modules"
chroot "$R" sh -c 'cd /tmp/berth-initrd && find . | cpio -o -H newc -R 0:0 --quiet' > "$R/boot/berth-initrd.img"
rm -rf "$I"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*
`;

export const GUEST_FILES: Record<string, string> = {
  'berth-init': BERTH_INIT,
  'berth-setup': BERTH_SETUP,
  'sys.pl': BERTH_PERL_LIB,
  'berth-guestd': BERTH_GUESTD,
  'berth-syncd': BERTH_SYNCD,
  'resolv.conf': RESOLV_CONF,
  'initrd-init': INITRD_INIT,
  'initramfs.conf': INITRAMFS_CONF,
  'initramfs-hook': INITRAMFS_HOOK,
  'essential.sh': ESSENTIAL_HOOK,
  'modprobe-blacklist.conf': MODPROBE_BLACKLIST,
  'containerd.toml': CONTAINERD_CONFIG,
  'sshd-berth.conf': SSHD_CONFIG,
  'daemon.json': DOCKER_DAEMON_JSON,
  fstab: FSTAB,
  'customize.sh': CUSTOMIZE_SCRIPT,
};
