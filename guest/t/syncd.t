# berth-syncd's pieces, on the host (loaded without running; src/guest/berth-syncd.test.ts runs the whole
# program on plain folders).
use strict;
use warnings;
use FindBin;
use Test::More;

require "$FindBin::Bin/../rootfs/usr/local/sbin/berth-syncd";
subtest 'load_shares: the synchronised folders and the other 9p shares from the mounts table' => sub {
  my @s = load_shares(join '',
    "berth0\t/home/me\trw,msize=512000,cache=mmap\n",
    "berth1\t/home/me/app\trw,msize=512000,cache=mmap,berth.sync=0a1b\n",
    "berth2\t/ref\tro,msize=512000,cache=mmap,berth.sync=ff00\n");
  is(scalar @s, 2, 'two synchronised');
  is_deeply([@{$s[0]}{qw(i tag dir id ro remote local)}],
    [0, 'berth1', '/home/me/app', '0a1b', 0, '/run/berth/sync/berth1', '/var/lib/berth/sync/0a1b']);
  is_deeply([@{$s[1]}{qw(i id ro)}], [1, 'ff00', 1], 'read-only');
  ok(inside_9p('/home/me/app'), 'a copy bound inside the shared home');
  ok(!inside_9p('/ref'), 'one outside it');
  ok(!inside_9p('/home/me'), 'the share itself is not inside itself');
  ok(!inside_9p('/home/meme'), 'a sibling with a longer name is not inside');
};

subtest 'states: sig of real files, folders and links' => sub {
  my $nr = syscall_numbers();
  plan skip_all => 'not an architecture berth runs on' unless $nr;
  my $d = "/tmp/berth-syncd-t.$$";
  mkdir $d or die;
  spew("$d/f", 'hello');
  chmod 0640, "$d/f";
  utime 1700000000, 1700000000, "$d/f";
  symlink 'f', "$d/l";
  is(sig("$d/f"), 'f:5:1700000000.000000000:640', 'a file: size, mtime to the nanosecond, mode');
  like(sig($d), qr/^d:[0-7]+$/, 'a folder: its mode');
  is(sig("$d/l"), 'l:f', 'a link: its target');
  is(sig("$d/none"), undef, 'absent');
  unlink "$d/f", "$d/l";
  rmdir $d;
};

subtest 'same_file: equal but for the nanoseconds a side dropped (9p keeps whole seconds)' => sub {
  ok(same_file('f:5:1700000000.000000000:644', 'f:5:1700000000.123456789:644'), 'whole seconds on one side');
  ok(!same_file('f:5:1700000000.100000000:644', 'f:5:1700000000.123456789:644'), 'both with nanoseconds, different');
  ok(!same_file('f:6:1700000000.000000000:644', 'f:5:1700000000.000000000:644'), 'another size');
  ok(!same_file('f:5:1700000000.000000000:600', 'f:5:1700000000.000000000:644'), 'another mode');
  ok(!same_file('d:755', 'd:755'), 'not files');
  ok(!same_file(undef, 'f:5:1700000000.000000000:644'), 'one absent');
};

done_testing;
