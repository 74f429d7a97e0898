# berth's Perl helpers (/usr/local/lib/berth/sys.pl), loaded with require by the programs in /usr/local/sbin
# (no Exporter: the subs land in package main). Only Perl's builtins: under emulation every module costs
# (POSIX, List::Util, File::Path, Time::HiRes: 100-200 ms each to load).
# Parsers take their input as text, so guest/t/*.t test them on the host with fixtures.
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
sub MS_NOSYMFOLLOW () { 256 }

sub slurp { my ($p) = @_; open(my $f, '<', $p) or return undef; local $/; my $s = <$f>; close $f; return $s; }
sub spew { my ($p, $s) = @_; open(my $f, '>', $p) or return 0; print $f $s; return close $f; }
sub uptime { return (split ' ', slurp('/proc/uptime') // '0')[0]; }
sub nap { select(undef, undef, undef, $_[0]); }
sub mkdirs { my $p = ''; for (grep { length } split m{/}, $_[0]) { $p .= "/$_"; mkdir $p; } return -d $_[0]; }

# A word of the host's lines, %XX-escaped (spaces, newlines, %: see src/util/escape.ts), back to its bytes.
sub unescape { my ($s) = @_; return defined $s ? $s =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ger : undef; }

# "key=value" lines (guest.conf, the fw_cfg "network" entry): a hash ref. Blank lines and "#" comments skipped.
sub parse_conf {
  my %c;
  for (split /\n/, $_[0] // '') { $c{$1} = $2 if /^([^#=\s][^=]*)=(.*)$/; }
  return \%c;
}

# This image's constants shared with the host's code (the channel protocol's version, the pin limit, the
# initrd's modules): guest.conf beside this file, generated at image build (see guest/PROTOCOL.md).
my $LIB = __FILE__ =~ s{[^/]*$}{}r;
my $CONF;
sub conf { $CONF //= parse_conf(slurp("${LIB}guest.conf")); return $CONF->{$_[0]}; }
# A file of /usr/local/lib/berth (beside this one), e.g. the runtime's engine.pl.
sub lib_file { return "$LIB$_[0]"; }

# A command run with a file-descriptor limit and an OOM score (the engine's daemons: see engine.pl).
sub limited { my ($nofile, $oom, @cmd) = @_; return ('/bin/sh', '-c', "ulimit -n $nofile; echo $oom > /proc/self/oom_score_adj; exec \"\$@\"", 'sh', @cmd); }

# A berth.<name>= parameter of the kernel command line ($text: the command line; default /proc/cmdline).
my $CMDLINE;
sub kernel_param {
  my ($name, $text) = @_;
  $text //= $CMDLINE //= slurp('/proc/cmdline') // '';
  return $text =~ /(?:^|\s)berth\.\Q$name\E=(\S+)/ ? $1 : undef;
}

# System call numbers for syscall(), per architecture ("require 'syscall.ph'" would load a header tree).
my %SYSCALLS = (
  x86_64 => { mount => 165, mknodat => 259, statx => 332, utimensat => 280, inotify_init1 => 294,
    inotify_add_watch => 254, inotify_rm_watch => 255, lsetxattr => 189, lremovexattr => 198 },
  aarch64 => { mount => 40, mknodat => 33, statx => 291, utimensat => 88, inotify_init1 => 26,
    inotify_add_watch => 27, inotify_rm_watch => 28, lsetxattr => 6, lremovexattr => 15 },
);
# The architecture, from the ELF header of the perl running this (e_machine): berth-init (PID 1) loads this
# before /proc is mounted, and its first mounts want mount(2) rather than an exec of mount(8).
my $ARCH = do {
  my $h = '';
  if (open(my $f, '<', $^X)) { sysread($f, $h, 20); close $f; }
  length($h) == 20 ? { 62 => 'x86_64', 183 => 'aarch64' }->{unpack('v', substr($h, 18, 2))} // '' : '';
};
# This architecture's numbers (a hash ref), undef on one not listed.
sub syscall_numbers { return $SYSCALLS{$ARCH}; }

# The mount table (the text of /proc/self/mounts): [source, dir, type, options] each, with the octal escapes
# of its fields (\040 for a space, \011, \012, \134) undone.
sub parse_mounts {
  return map { [map { s/\\([0-7]{3})/chr(oct $1)/ger } @$_[0 .. 3]] } grep { @$_ >= 4 } map { [split ' '] }
    split /\n/, $_[0] // '';
}
sub mounts { return parse_mounts(slurp('/proc/self/mounts')); }
sub mounted { my ($dir) = @_; return scalar grep { $_->[1] eq $dir } mounts(); }

# mount(2) directly: an exec of mount(8) costs tens of milliseconds under emulation. Falls back to mount(8)
# on an architecture whose syscall number is not listed. True on success.
my $SYS_MOUNT = ($SYSCALLS{$ARCH} // {})->{mount};
sub mount_fs {
  my ($type, $src, $dir, $flags, $data) = @_;
  my @w = ($src // 0, $dir, $type // 0, $data // 0); # syscall() needs writable strings
  return 1 if defined $SYS_MOUNT && syscall($SYS_MOUNT, @w[0 .. 2], $flags, $w[3]) == 0;
  return 0 unless defined $type;
  my @o = (($flags & MS_RDONLY) ? 'ro' : (), defined $data && $data ne '' ? $data : ());
  return system('mount', '-t', $type, (@o ? ('-o', join(',', @o)) : ()), $src, $dir) == 0;
}

# An fw_cfg entry from the host (see guest/PROTOCOL.md); undef if absent. Its folder in sysfs is named on the
# kernel command line (berth.fwcfg=). The qemu_fw_cfg driver fills sysfs after modprobe returns: wait for
# it, once.
my ($FW, $fw_waited);
sub fw_cfg {
  if (!$fw_waited++) {
    my $prefix = kernel_param('fwcfg');
    $FW = "/sys/firmware/qemu_fw_cfg/by_name/$prefix" if defined $prefix;
    if (defined $FW) { for (1 .. 100) { last if -d $FW; nap(0.02); } }
  }
  return defined $FW ? slurp("$FW/$_[0]/raw") : undef;
}

# QEMU's user-network addresses, from the fw_cfg "network" entry: a hash ref (address, prefix, gateway, dns,
# host, loopback), empty without the entry.
sub network { return parse_conf(fw_cfg('network')); }

# The host folders shared over virtio-9p, from the text of the fw_cfg "mounts" table ("<tag> TAB <guest
# path> TAB <rw|ro>,<options>" lines): { tag, dir, ro, options => [9p options], sync => id } each. sync: the
# <id> of a synchronised folder's option berth.sync=<id> (hex: it names the guest's copy), else undef.
sub parse_shares {
  my @s;
  for (split /\n/, $_[0] // '') {
    my ($tag, $dir, $opts) = split /\t/;
    next unless defined $opts && $tag ne '';
    my ($mode, @o) = split /,/, $opts;
    my ($sync) = map { /^berth\.sync=([0-9a-f]+)$/ ? $1 : () } @o;
    push @s, { tag => $tag, dir => $dir, ro => ($mode // '') eq 'ro' ? 1 : 0, sync => $sync,
      options => [grep { !/^berth\.sync=/ } @o] };
  }
  return @s;
}
sub host_shares { return parse_shares(fw_cfg('mounts')); }

# Mounts the shared folders. At boot (berth-init, before the engine: containers that bind-mount a shared
# folder find it) and after a resume (berth-setup mount). False if one failed (each failure is reported on
# stderr). A synchronised folder is mounted at /run/berth/sync/<tag> instead: berth-syncd keeps a copy of it on
# the guest's disk, at the guest path. With none, berth-syncd has nothing to wait for.
sub mount_shares {
  my ($ok, $sync) = (1, 0);
  for my $s (host_shares()) {
    my $dir = $s->{dir};
    if (defined $s->{sync}) { $dir = "/run/berth/sync/$s->{tag}"; $sync++; }
    next if mounted($dir);
    mkdirs($dir);
    my $data = join(',', 'trans=virtio', 'version=9p2000.L', @{$s->{options}});
    # No set-id programs or device nodes from the host. A synchronised folder's host side is berth-syncd's
    # alone, and it follows no symbolic link there: a link planted on either side cannot send its copies
    # outside the folder (nosymfollow: path walks refuse links; the links themselves are still copied).
    my $flags = ($s->{ro} ? MS_RDONLY : 0) | MS_NOSUID | MS_NODEV | (defined $s->{sync} ? MS_NOSYMFOLLOW : 0);
    next if mount_fs('9p', $s->{tag}, $dir, $flags, $data);
    print STDERR "berth: cannot mount the shared folder $s->{tag} on $dir: $!\n";
    $ok = 0;
  }
  spew('/run/berth/sync.ready', '') unless $sync;
  # berth's own folders inside the shares (the fw_cfg "hide" entry): an empty read-only tmpfs over each, which
  # containers' recursive binds of a share carry along.
  for my $dir (parse_hidden(fw_cfg('hide'))) {
    next if !-d $dir || mounted($dir);
    next if mount_fs('tmpfs', 'berth-hidden', $dir, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, 'size=4k,mode=0555');
    print STDERR "berth: cannot hide $dir: $!\n";
    $ok = 0;
  }
  return $ok;
}

# The fw_cfg "hide" entry: guest paths, one per line, %-escaped.
sub parse_hidden { return map { unescape($_) } grep { m{^/} } split /\n/, $_[0] // ''; }

# ---- the data disk ----
# The engine's state lives on its own disk (the OS disk comes from the image and is replaced by an upgrade):
# a virtio disk whose serial is guest.conf's data_serial, ext4, mounted at DATA_ROOT; each directory of
# DATA_DIRS there is bind-mounted at its path in the OS. An instance made before the data disk had its state on
# the OS disk: "berth start --upgrade" hands that whole disk over as the data disk, and move_legacy_data sets it
# in order on the first boot.
sub DATA_ROOT () { '/mnt/berth-data' }
my %DATA_DIRS = (docker => '/var/lib/docker', containerd => '/var/lib/containerd', berth => '/var/lib/berth');
# The marker of a data disk in this layout, at its root: "berth-data 1".
sub DATA_MARK () { '.berth-data' }

# The block device whose serial is $serial: "/dev/vdb"; undef if none. $sys: /sys/block (tests: a fixture).
sub device_by_serial {
  my ($serial, $sys) = @_;
  $sys //= '/sys/block';
  for my $d (sort glob("$sys/*")) {
    chomp(my $s = slurp("$d/serial") // next);
    return '/dev/' . ($d =~ s{.*/}{}r) if $s eq $serial;
  }
  return undef;
}

# True if the device (or file) holds an ext2/3/4 filesystem: the superblock's magic 0xEF53 at byte 1080.
sub has_ext4 {
  open(my $f, '<', $_[0]) or return 0;
  my $m = '';
  sysseek($f, 1080, 0) and sysread($f, $m, 2);
  close $f;
  return $m eq "\x53\xEF";
}

# A data disk handed over from the previous layout (a whole OS root with var/lib/docker in it) set in order:
# the state directories moved to the top (renames within one filesystem: instant), everything else moved aside
# into .legacy-os (removed later, in the background: berth-init's legacy-os step), then the marker written last. Each
# step can be run again: a boot cut short half-way finishes the job. Returns what it did, for the log.
sub move_legacy_data {
  my ($root) = @_;
  return 'ready' if -e "$root/" . DATA_MARK;
  my $aside = "$root/.legacy-os";
  return 'new' unless -e "$root/usr" || -e "$root/var" || -d $aside;
  my %keep = map { ($_ => 1) } 'lost+found', '.legacy-os', DATA_MARK, keys %DATA_DIRS;
  opendir(my $dh, $root) or return "error: cannot read $root: $!";
  my @old = grep { !/^\.\.?$/ && !$keep{$_} } readdir $dh;
  closedir $dh;
  mkdir $aside;
  for my $e (@old) { rename("$root/$e", "$aside/$e") or return "error: cannot move $e aside: $!"; }
  for my $name (sort keys %DATA_DIRS) {
    my $from = "$aside$DATA_DIRS{$name}";
    next if -e "$root/$name" || !-e $from;
    rename($from, "$root/$name") or return "error: cannot move $DATA_DIRS{$name}: $!";
  }
  spew("$root/" . DATA_MARK, "berth-data 1\n") or return "error: cannot write the marker: $!";
  return 'migrated';
}

# Makes the data disk ready before the engine starts: finds it, formats it the first time (lazily: the qcow2
# reads as zeros, so the inode tables need no writing), mounts it, sets a handed-over disk in order, and
# bind-mounts the state directories. Without a data disk (an instance of the previous layout still on its old
# image) the state stays on the OS disk: nothing to do. True on success.
sub mount_data {
  my $dev = device_by_serial(conf('data_serial') // 'berth-data') // return 1;
  my $root = DATA_ROOT;
  if (!mounted($root)) {
    if (!has_ext4($dev)) {
      system('mkfs.ext4', '-q', '-L', 'berth-data', '-E', 'lazy_itable_init=1,lazy_journal_init=1', $dev) == 0
        or do { print STDERR "berth: mkfs.ext4 $dev failed\n"; return 0; };
    }
    mkdirs($root);
    mount_fs('ext4', $dev, $root, 0, 'discard,noinit_itable') or do { print STDERR "berth: cannot mount $dev: $!\n"; return 0; };
  }
  my $how = move_legacy_data($root);
  print STDERR "berth: data disk $dev: $how\n";
  return 0 if $how =~ /^error/;
  spew("$root/" . DATA_MARK, "berth-data 1\n") if $how eq 'new';
  for my $name (sort keys %DATA_DIRS) {
    my $dir = $DATA_DIRS{$name};
    next if mounted($dir);
    mkdirs("$root/$name") && mkdirs($dir) or do { print STDERR "berth: cannot make $dir: $!\n"; return 0; };
    mount_fs(undef, "$root/$name", $dir, MS_BIND, undef) or system('mount', '--bind', "$root/$name", $dir) == 0
      or do { print STDERR "berth: cannot bind $dir: $!\n"; return 0; };
  }
  return 1;
}
1;
