# berth-guestd's parsers, on the host (loaded without running: main() only runs as a program).
use strict;
use warnings;
use FindBin;
use Test::More;
use File::Temp qw(tempdir);

require "$FindBin::Bin/../rootfs/usr/local/sbin/berth-guestd";

my $HEAD4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
my $HEAD6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
# One line of /proc/net/{tcp,udp}[6]: local and remote address:port in the kernel's hex, the state.
sub row { my ($n, $local, $remote, $st) = @_; return sprintf("%4d: %s %s %s 00000000:00000000 00:00000000 00000000     0        0 %d 1\n", $n, $local, $remote, $st, 1000 + $n); }
my $ANY4 = '00000000';
my $LO4 = '0100007F'; # 127.0.0.1
my $GUEST4 = '0F02000A'; # 10.0.2.15
my $ANY6 = '0' x 32;
my $LO6 = '00000000000000000000000001000000'; # ::1
my $NONE4 = '00000000:0000';
my $NONE6 = ('0' x 32) . ':0000';

subtest 'addr_kind: wildcard, loopback, anything else' => sub {
  is(addr_kind($ANY4), 'any');
  is(addr_kind($ANY6), 'any');
  is(addr_kind($LO4), 'lo', '127.0.0.1');
  is(addr_kind('0500007F'), 'lo', '127.0.0.5: all of 127/8');
  is(addr_kind($LO6), 'lo', '::1');
  is(addr_kind($GUEST4), undef, 'the guest\'s own address (dnsmasq)');
  is(addr_kind('0000000000000000FFFF00000100007F'), undef, '::ffff:127.0.0.1 is not counted as loopback');
};

subtest 'parse_listeners: TCP listeners, v4 and v6' => sub {
  my %t = (
    tcp => $HEAD4 . row(0, "$ANY4:1F90", $NONE4, '0A')   # 0.0.0.0:8080 LISTEN
      . row(1, "$LO4:1538", $NONE4, '0A')                 # 127.0.0.1:5432 LISTEN
      . row(2, "$ANY4:0016", $NONE4, '0A')                # :22, berth's sshd
      . row(3, "$GUEST4:0035", $NONE4, '0A')              # 10.0.2.15:53, dnsmasq
      . row(4, "$GUEST4:0016", '0202000A:D431', '01'),    # an established connection
    tcp6 => $HEAD6 . row(0, "$ANY6:0BB8", $NONE6, '0A')  # [::]:3000
      . row(1, "$LO6:2328", $NONE6, '0A')                 # [::1]:9000
      . row(2, "$ANY6:0016", $NONE6, '0A'),               # [::]:22
  );
  is(parse_listeners(\%t), 'tcp:3000:any tcp:5432:lo tcp:8080:any tcp:9000:lo');
};

subtest 'parse_listeners: a port on loopback and on a wildcard is "any"' => sub {
  my %t = (tcp => $HEAD4 . row(0, "$LO4:1F90", $NONE4, '0A'), tcp6 => $HEAD6 . row(0, "$ANY6:1F90", $NONE6, '0A'));
  is(parse_listeners(\%t), 'tcp:8080:any', 'loopback first, wildcard later');
  %t = (tcp => $HEAD4 . row(0, "$ANY4:1F90", $NONE4, '0A'), tcp6 => $HEAD6 . row(0, "$LO6:1F90", $NONE6, '0A'));
  is(parse_listeners(\%t), 'tcp:8080:any', 'wildcard first, loopback later');
};

subtest 'parse_listeners: UDP, only unconnected sockets' => sub {
  my %t = (
    udp => $HEAD4 . row(0, "$ANY4:14E9", $NONE4, '07')  # 0.0.0.0:5353
      . row(1, "$LO4:1FBD", $NONE4, '07')                # 127.0.0.1:8125
      . row(2, "$ANY4:A000", '0202000A:0035', '01')      # connected (to a DNS server): a client
      . row(3, "$GUEST4:0035", $NONE4, '07'),            # 10.0.2.15:53, dnsmasq
    udp6 => $HEAD6 . row(0, "$LO6:0202", $NONE6, '07')  # [::1]:514
      . row(1, "$ANY6:0016", $NONE6, '07'),              # UDP 22 is not sshd: reported
  );
  is(parse_listeners(\%t), 'udp:22:any udp:514:lo udp:5353:any udp:8125:lo');
};

subtest 'owners: the process holding each socket inode, its name kept to safe characters' => sub {
  my $dir = tempdir(CLEANUP => 1);
  my %procs = (101 => ["docker-proxy\n", 'socket:[5001]'], 102 => ["nc\e]52;x\n", 'socket:[5002]'], 103 => ["other\n", '/dev/null']);
  for my $pid (keys %procs) {
    mkdir "$dir/$pid"; mkdir "$dir/$pid/fd";
    open(my $c, '>', "$dir/$pid/comm") or die; print $c $procs{$pid}[0]; close $c;
    symlink($procs{$pid}[1], "$dir/$pid/fd/3") or die;
  }
  is_deeply(socket_owners({ 5001 => 1, 5002 => 1, 5003 => 1 }, $dir), { 5001 => 'docker-proxy', 5002 => 'nc52x' });
  is_deeply(socket_owners({}, $dir), {}, 'nothing asked: /proc not read');
  my %t = (tcp => $HEAD4 . row(0, "$ANY4:1F90", $NONE4, '0A') . row(1, "$LO4:1538", $NONE4, '0A'));
  my ($text, $inode) = parse_listeners(\%t);
  is_deeply($inode, { 'tcp:8080' => 1000, 'tcp:5432' => 1001 }, 'inodes by port');
  is(with_owners($text, $inode, { 1000 => 'docker-proxy' }), 'tcp:5432:lo tcp:8080:any:docker-proxy');
};

subtest 'parse_listeners: missing files and empty tables' => sub {
  is(parse_listeners({}), '', 'no /proc/net files (no IPv6): nothing');
  is(parse_listeners({ tcp => $HEAD4, udp => $HEAD4 }), '', 'headers only');
  is(parse_listeners({ tcp => $HEAD4 . row(0, "$ANY4:1F90", $NONE4, '0A'), tcp6 => undef }), 'tcp:8080:any', 'one file absent');
};

subtest 'parse_boot_record and boot_marks: the milestones sent with "ready"' => sub {
  my $rec = join '',
    "1.21 kernel done\n", "1.83 initrd done\n", "2.30 init start\n", "2.31 containerd start\n", "2.32 fw start\n",
    "2.32 fw done 0\n", "2.40 dockerd start\n", "3.10 modules done 0\n", "not a record line\n", "2.45 dockerd start\n";
  my ($done, $at) = parse_boot_record($rec);
  ok(!$done, 'no "boot done" yet');
  is_deeply($at, { kernel => '1.21', initrd => '1.83', init => '2.30', dockerd => '2.40' }, 'the first of each');
  is(boot_marks($at, '6.50'), 'kernel=1.21 initrd=1.83 init=2.30 dockerd=2.40 engine=6.50', 'in time order');
  ($done) = parse_boot_record("$rec" . "5.00 boot done\n");
  ok($done, '"boot done"');
  ($done, $at) = parse_boot_record(undef);
  ok($done, 'no record (an older init): done');
  is(boot_marks($at, '1.00'), 'engine=1.00');
};

subtest 'a failed engine: found in the boot record, its reason in its log' => sub {
  my (undef, undef, $failed) = parse_boot_record("2.40 dockerd start\n3.00 dockerd exit 0\n");
  ok(!$failed, 'a clean exit (a stop) is no failure');
  (undef, undef, $failed) = parse_boot_record("2.40 dockerd start\n3.00 dockerd exit 256\n");
  ok($failed, 'exit 256: failed');
  my $log = join "\n", 'time="2026-12-01T02:47:03Z" level=info msg="Starting up"',
    'time="2026-12-01T02:47:04Z" level=error msg="failed to start daemon: invalid bip \"x\""',
    'time="2026-12-01T02:47:04Z" level=info msg="stopping event stream following graceful shutdown"', '';
  is(engine_failure($log), 'failed to start daemon: invalid bip "x"', 'the last error, unwrapped');
  is(engine_failure("time=\"t\" level=info msg=\"Starting up\"\nunable to configure the Docker daemon with file /etc/docker/daemon.json: bad\n"),
    'unable to configure the Docker daemon with file /etc/docker/daemon.json: bad', 'a bare line');
  is(engine_failure('time="t" level=info msg="only info"'), 'only info', 'else the last line');
  is(engine_failure(''), 'the engine exited (no message in its log)', 'an empty log');
  is(length(engine_failure('x' x 5000)), 1000, 'bounded');
};

subtest 'usage: df of a directory and the memory, as five numbers; nothing for what it cannot read' => sub {
  my $mem = "MemTotal:        1004412 kB\nMemFree:          5000 kB\nMemAvailable:     704412 kB\n";
  like(usage('/', $mem), qr/\A\d+ \d+ \d+ 1004412 704412\z/, 'the root file system');
  is(usage('/no/such/dir', $mem), '', 'a missing directory');
  is(usage('relative', $mem), '', 'not an absolute path');
  is(usage("/tmp\n/etc", $mem), '', 'no newline');
  is(usage('/', "MemTotal: lots\n"), '', 'meminfo without the fields');
};

subtest 'flush: sync, then the caches dropped; false when they cannot be' => sub {
  my $dir = tempdir(CLEANUP => 1);
  ok(flush("$dir/drop_caches"), 'synced and dropped');
  open(my $f, '<', "$dir/drop_caches") or die;
  is(scalar <$f>, "3\n", 'wrote 3');
  ok(!flush("$dir/no/such/file"), 'a drop that fails');
};

subtest 'binfmt: the registered qemu-user interpreters, which the host turns into platforms' => sub {
  my $dir = tempdir(CLEANUP => 1);
  is(binfmt($dir), '', 'none registered (binfmt: false in berth.yaml)');
  spew("$dir/$_", '') for qw(register status qemu-riscv64 qemu-aarch64);
  is(binfmt($dir), 'aarch64 riscv64', 'their qemu names, sorted; binfmt_misc\'s own files left out');
  is(binfmt("$dir/missing"), '', 'binfmt_misc not mounted: none');
};

subtest 'clock: the wall clock with its nanoseconds, close to the host clock' => sub {
  my $c = clock();
  like($c, qr/\A\d+\.\d{9}\z/, 'epoch seconds and nanoseconds');
  cmp_ok(abs($c - time()), '<', 2, 'now');
};

# inotify on $path for IN_ATTRIB, non-blocking: ($fh, a sub that says whether an event came).
sub attrib_watch {
  my ($path) = @_;
  my $nr = syscall_numbers();
  my $fd = syscall($nr->{inotify_init1}, 0x800 | 0x80000); # IN_NONBLOCK | IN_CLOEXEC
  die "inotify_init1: $!" if $fd < 0;
  syscall($nr->{inotify_add_watch}, $fd, $path, 0x4) >= 0 or die "inotify_add_watch: $!"; # IN_ATTRIB
  open(my $fh, '<&=', $fd) or die "fdopen: $!";
  return sub {
    my $n = sysread($fh, my $buf, 4096);
    return defined $n && $n >= 16 && (unpack('x4 V', $buf) & 0x4) ? 1 : 0;
  };
}

subtest 'attr_event: an attribute event that leaves mode, mtime and attributes as they were' => sub {
  plan skip_all => 'not an architecture berth runs on' unless syscall_numbers();
  my $dir = tempdir(CLEANUP => 1);
  my $f = "$dir/f";
  open(my $w, '>', $f) or die; print $w "x"; close $w;
  chmod 0640, $f;
  utime 1000000000, 1000000000, $f;
  my $came = attrib_watch($f);
  ok(!$came->(), 'no event before');
  is(attr_event($f, (lstat $f)[2]), 'xattr', 'made with an attribute of its own');
  ok($came->(), 'an IN_ATTRIB event');
  my @st = lstat $f;
  is($st[2] & 07777, 0640, 'mode untouched');
  is($st[9], 1000000000, 'mtime untouched');
  # The attribute is gone again: listing the file's user attributes (llistxattr) gives nothing.
  my ($names, $llistxattr) = ("\0" x 256, syscall_numbers()->{mount} == 165 ? 195 : 12); # x86_64, aarch64
  is(syscall($llistxattr, $f, $names, 256), 0, 'no extended attribute left');

  # A fifo takes no user attribute: its mode is set again instead, and that is an event too.
  my $p = "$dir/p";
  system('mkfifo', '-m', '0604', $p) == 0 or die;
  my $came2 = attrib_watch($p);
  is(attr_event($p, (lstat $p)[2]), 'mode', 'made on a fifo by setting its mode again');
  ok($came2->(), 'an IN_ATTRIB event on the fifo');
  is((lstat $p)[2] & 07777, 0604, "the fifo's mode as it was");
};

done_testing;
