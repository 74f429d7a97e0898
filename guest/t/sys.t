# sys.pl's helpers, on the host: parsers fed with fixtures.
use strict;
use warnings;
use FindBin;
use Test::More;
use File::Temp qw(tempdir);

require "$FindBin::Bin/../rootfs/usr/local/lib/berth/sys.pl";

subtest 'unescape: the host\'s %XX escapes (src/util/escape.ts) back to bytes' => sub {
  is(unescape('/a%20b/100%25%0Ax'), "/a b/100%\nx", 'space, percent, newline');
  is(unescape('%2f%2F'), '//', 'either case of hex digits');
  is(unescape('/plain/path'), '/plain/path', 'nothing to undo');
  is(unescape('50%zz'), '50%zz', 'a % without two hex digits stays');
  is(unescape('%252F'), '%2F', 'undone once, not twice');
  is(unescape(undef), undef, 'undef stays undef');
};

subtest 'parse_conf: key=value lines' => sub {
  my $c = parse_conf("# a comment\n\nprotocol=3\ninitrd_modules=a b  c\nx=y=z\n=no key\n bad line\nempty=\n");
  is_deeply($c, { protocol => 3, initrd_modules => 'a b  c', x => 'y=z', empty => '' }, 'values to the end of the line');
  is_deeply(parse_conf(undef), {}, 'no text: empty');
};

subtest 'parse_conf reads the host\'s fw_cfg "network" entry (src/driver/qemu/user-net.ts)' => sub {
  my $n = parse_conf("address=10.0.2.15\nprefix=24\ngateway=10.0.2.2\ndns=10.0.2.3\nhost=10.0.2.2\nloopback=10.0.2.16\n");
  is_deeply($n, { address => '10.0.2.15', prefix => 24, gateway => '10.0.2.2', dns => '10.0.2.3', host => '10.0.2.2',
    loopback => '10.0.2.16' });
};

subtest 'kernel_param: berth.<name>= of the kernel command line' => sub {
  my $cmdline = "console=ttyS0 root=/dev/vda rw berth.hostname=dev-box berth.fwcfg=opt/berth quiet\n";
  is(kernel_param('hostname', $cmdline), 'dev-box');
  is(kernel_param('fwcfg', $cmdline), 'opt/berth', 'up to the next space, newline excluded');
  is(kernel_param('fwcfg', "berth.fwcfg=opt/x\n"), 'opt/x', 'at the start');
  is(kernel_param('hostname', 'xberth.hostname=no systemd.hostname=no'), undef, 'only berth.<name>, as a whole word');
  is(kernel_param('h.x', 'berth.hXx=1'), undef, 'the name is literal');
};

subtest 'parse_mounts: /proc/self/mounts with its octal escapes' => sub {
  my @m = parse_mounts(join '',
    "/dev/vda / ext4 rw,relatime,discard 0 0\n",
    "berth0 /home/me/My\\040Projects 9p rw,trans=virtio 0 0\n",
    "berth1 /a\\011tab\\012nl\\134bs 9p ro 0 0\n",
    "short line\n");
  is(scalar @m, 3, 'lines with fewer than four fields are skipped');
  is_deeply($m[0], ['/dev/vda', '/', 'ext4', 'rw,relatime,discard']);
  is($m[1][1], '/home/me/My Projects', '\\040 is a space');
  is($m[2][1], "/a\ttab\nnl\\bs", 'tab, newline, backslash');
  is_deeply([parse_mounts(undef)], [], 'no text: none');
};

subtest 'parse_shares: the fw_cfg "mounts" table (src/share/shares.ts guestMountTable)' => sub {
  my @s = parse_shares(join '',
    "berth0\t/home/me\trw,msize=512000,cache=mmap\n",
    "berth1\t/data sets\tro,msize=512000,cache=loose\n",
    "berth2\t/home/me/app\trw,msize=512000,cache=mmap,berth.sync=0a1b2c\n",
    "berth3\t/odd\trw,berth.sync=NOT-HEX\n",
    "\t/no-tag\trw\n",
    "berth5\t/no-options\n");
  is(scalar @s, 4, 'lines without a tag or options are skipped');
  is_deeply($s[0], { tag => 'berth0', dir => '/home/me', ro => 0, sync => undef, options => ['msize=512000', 'cache=mmap'] });
  is_deeply($s[1], { tag => 'berth1', dir => '/data sets', ro => 1, sync => undef, options => ['msize=512000', 'cache=loose'] },
    'spaces in a path, read-only');
  is($s[2]{sync}, '0a1b2c', 'a synchronised folder: its id');
  is_deeply($s[2]{options}, ['msize=512000', 'cache=mmap'], 'berth.sync is not a 9p option');
  is($s[3]{sync}, undef, 'an id that is not hex names no copy');
  is_deeply($s[3]{options}, [], '... and is dropped all the same');
};

subtest 'syscall_numbers: this architecture\'s, every name the programs use' => sub {
  my $nr = syscall_numbers();
  plan skip_all => 'not an architecture berth runs on' unless $nr;
  for my $name (qw(mount mknodat statx utimensat inotify_init1 inotify_add_watch inotify_rm_watch lsetxattr lremovexattr)) {
    like($nr->{$name}, qr/^\d+$/, $name);
  }
  # A harmless call shows the numbers are this architecture's.
  ok(syscall($nr->{inotify_init1}, 0x80000) >= 0, 'inotify_init1 works by its number'); # IN_CLOEXEC
};

subtest 'mounted: from the live mount table' => sub {
  plan skip_all => 'no /proc/self/mounts' unless -r '/proc/self/mounts';
  ok(mounted('/'), '/ is mounted');
  ok(!mounted('/surely/not/a/mount/point'), 'a made-up path is not');
};

subtest 'device_by_serial: the data disk among /sys/block by its serial' => sub {
  my $sys = tempdir(CLEANUP => 1);
  for (['vda', ''], ['vdb', "berth-data\n"], ['vdc', "other\n"]) {
    mkdir "$sys/$_->[0]";
    spew("$sys/$_->[0]/serial", $_->[1]);
  }
  mkdir "$sys/sr0"; # no serial file
  is(device_by_serial('berth-data', $sys), '/dev/vdb');
  is(device_by_serial('missing', $sys), undef, 'none: undef');
};

subtest 'has_ext4: the superblock magic at byte 1080' => sub {
  my $d = tempdir(CLEANUP => 1);
  spew("$d/blank", "\0" x 2048);
  spew("$d/ext4", ("\0" x 1080) . "\x53\xEF" . ("\0" x 100));
  ok(!has_ext4("$d/blank"), 'zeros: no');
  ok(has_ext4("$d/ext4"), 'magic: yes');
  ok(!has_ext4("$d/missing"), 'missing: no');
};

subtest 'move_legacy_data: an OS disk of the previous layout becomes a data disk, resumable' => sub {
  my $r = tempdir(CLEANUP => 1);
  is(move_legacy_data($r), 'new', 'an empty disk: new');
  # The previous layout: a whole root with the engine's state under var/lib.
  mkdirs("$r/$_") for qw(usr/bin etc home/u var/lib/docker/volumes/v var/lib/containerd var/lib/berth/sync lost+found);
  symlink('usr/bin', "$r/bin");
  spew("$r/var/lib/docker/volumes/v/data", 'kept');
  spew("$r/etc/hostname", 'old');
  is(move_legacy_data($r), 'migrated');
  is(slurp("$r/docker/volumes/v/data"), 'kept', 'the volume is at docker/');
  ok(-d "$r/containerd" && -d "$r/berth/sync", 'containerd and berth too');
  ok(-e "$r/.legacy-os/etc/hostname" && !-e "$r/etc", 'the old OS is set aside');
  is_deeply([sort grep { !/^\.\.?$/ } do { opendir(my $d, $r); readdir $d }],
    [qw(.berth-data .legacy-os berth containerd docker lost+found)], 'everything else too (links, homes)');
  ok(-d "$r/lost+found", 'lost+found stays');
  is(slurp("$r/.berth-data"), "berth-data 1\n", 'marked last');
  is(move_legacy_data($r), 'ready', 'again: nothing to do');

  # Cut short after setting the OS aside (no marker yet): the next boot finishes.
  my $h = tempdir(CLEANUP => 1);
  mkdirs("$h/.legacy-os/var/lib/docker/image");
  mkdirs("$h/.legacy-os/usr");
  is(move_legacy_data($h), 'migrated', 'resumed');
  ok(-d "$h/docker/image", 'the state moved');
  ok(!-e "$h/containerd", 'what was not there is not made up');
};

subtest 'parse_hidden: the host\'s "hide" entry, unescaped; lines that are not absolute paths skipped' => sub {
  is_deeply([parse_hidden("/home/u/.berth\n/home/u/my%0Aberth\nrelative\n\n")], ['/home/u/.berth', "/home/u/my\nberth"]);
  is_deeply([parse_hidden(undef)], [], 'no entry (an older host): nothing');
};

done_testing;
