# berth-init's unit table and network files, on the host (loaded without running: main() only runs as PID 1's
# program).
use strict;
use warnings;
use FindBin;
use Test::More import => ['!note']; # berth-init has its own note()

require "$FindBin::Bin/../rootfs/usr/local/sbin/berth-init";
# The Docker runtime's overlay: the engine's units (berth-init requires it at boot from /usr/local/lib/berth).
require "$FindBin::Bin/../runtimes/docker/rootfs/usr/local/lib/berth/engine.pl";

my @FIRST = qw(qemu_fw_cfg 9pnet_virtio 9p);
my @ENGINE = engine_units();
my @units = units(first => \@FIRST, first_loaded => 1, aliases => ['pci:v00001AF4d00001000sv*', 'acpi:PNP0C0C:'],
  engine => \@ENGINE);
my %unit = map { ($_->{name} => $_) } @units;
# Everything a unit waits for, directly or not.
sub waits_for {
  my ($name, $seen) = @_;
  $seen //= {};
  for my $a (@{$unit{$name}{after} // []}) { next if $seen->{$a}++; waits_for($a, $seen); }
  return $seen;
}

subtest 'the table is well formed' => sub {
  is(scalar(keys %unit), scalar(@units), 'names are unique');
  for my $u (@units) {
    ok((defined $u->{cmd}) != (defined $u->{code}), "$u->{name}: a program or code, not both");
    ok(ref $u->{cmd} eq 'ARRAY' && @{$u->{cmd}}, "$u->{name}: a command line") if $u->{cmd};
    ok(!$u->{ready} || !$u->{once}, "$u->{name}: only a service says it is ready with a file");
    for my $a (@{$u->{after} // []}) { ok($unit{$a}, "$u->{name} waits for $a, which is a unit"); }
  }
};

subtest 'no unit waits for itself (no cycles), and each comes after what it waits for' => sub {
  for my $u (@units) { ok(!waits_for($u->{name})->{$u->{name}}, "$u->{name}: not in a cycle"); }
  # The first pass goes down the table once: with every unit after what it waits for, the in-process steps
  # (fw, netconf, mount) and dockerd all start in it.
  my %pos;
  @pos{map { $_->{name} } @units} = (0 .. $#units);
  for my $u (@units) {
    for my $a (@{$u->{after} // []}) { ok($pos{$a} < $pos{$u->{name}}, "$a before $u->{name} in the table"); }
  }
  is_deeply([map { $_->{name} } @units[0, 1]], ['data', 'containerd'], 'the engine\'s path first: its disk, containerd');
};

subtest 'the engine waits for the shared folders, their synchronised copies and the network files' => sub {
  my $d = waits_for('dockerd');
  ok($d->{$_}, "dockerd waits for $_") for qw(data fw mount syncd netconf);
  ok(!$d->{$_}, "dockerd does not wait for $_") for qw(modules engine-modules net host binfmt resize sshd dnsmasq guestd legacy-os);
  is_deeply($unit{dockerd}{after}, ['data', 'mount', 'syncd', 'netconf', 'engine-config'], 'directly');
  ok($unit{'engine-config'}{code} && waits_for('engine-config')->{fw}, 'its settings: in-process, from fw_cfg');
  is_deeply($unit{containerd}{after}, ['data'], 'containerd waits only for the data disk');
  ok($unit{data}{code}, 'the data disk is in-process');
  is($unit{resize}{cmd}[-1], '/dev/vda', 'no data disk: resize grows the OS disk');
  my %d = map { ($_->{name} => $_) } units(first => \@FIRST, first_loaded => 1, aliases => [], data_device => '/dev/vdb');
  is($d{resize}{cmd}[-1], '/dev/vdb', 'with one: the data disk');
  ok(waits_for('resize')->{data}, 'after it is mounted (an online grow)');
  ok($unit{netconf}{code} && $unit{mount}{code}, 'the network files and the mounts are in-process');
  is($unit{syncd}{ready}, '/run/berth/sync.ready', 'berth-syncd says it is ready with a file');
};

subtest 'what needs the host\'s fw_cfg entries waits for fw' => sub {
  ok(waits_for($_)->{fw}, "$_ waits for fw") for qw(netconf mount syncd dockerd net host sshd dnsmasq);
  ok(waits_for('dnsmasq')->{net}, 'dnsmasq waits for eth0 (net)');
  ok(waits_for('binfmt')->{modules}, 'binfmt waits for binfmt_misc (modules)');
  ok(waits_for('guestd')->{modules}, 'guestd waits for the virtio console and the power button (modules)');
};

subtest 'fw: in-process when the initrd loaded the modules, else one modprobe' => sub {
  ok($unit{fw}{code} && !$unit{fw}{cmd}, 'loaded: nothing to run');
  my %u = map { ($_->{name} => $_) } units(first => \@FIRST, first_loaded => 0, aliases => [], engine => \@ENGINE);
  is_deeply($u{fw}{cmd}, ['modprobe', '-qa', @FIRST], 'missing: modprobe');
  is_deeply([@{$unit{modules}{cmd}}[-2, -1]], ['pci:v00001AF4d00001000sv*', 'acpi:PNP0C0C:'], 'modules: the devices\' aliases');
};

subtest 'which units are boot steps ("boot done" waits for them) and which are services' => sub {
  is_deeply([sort map { $_->{name} } grep { $_->{once} } @units],
    [sort qw(data fw netconf mount engine-config legacy-os modules engine-modules net host binfmt resize)], 'boot steps');
  is_deeply([sort map { $_->{name} } grep { !$_->{once} } @units],
    [sort qw(containerd syncd dockerd sshd dnsmasq guestd)], 'services');
};

subtest 'the engine (the runtime\'s overlay) goes into the table where its units say' => sub {
  is_deeply([map { $_->{name} } @units],
    [qw(data containerd fw netconf mount engine-config legacy-os syncd dockerd modules engine-modules net host binfmt resize sshd dnsmasq guestd)],
    'the data disk then containerd first, dockerd after syncd, engine-modules after modules');
  ok(!grep({ exists $_->{place_after} } @units), 'the placement is not left in the table');
  is_deeply([map { $_->{name} } units(first => \@FIRST, first_loaded => 1, aliases => [])],
    [qw(data fw netconf mount legacy-os syncd modules net host binfmt resize sshd dnsmasq guestd)], 'without an engine: the base');
  my %names = map { ($_->{name} => 1) } @units;
  for my $step (engine_stop_order()) {
    my ($secs, @names) = @$step;
    ok($secs > 0 && @names, 'a stop step: seconds and names');
    ok($names{$_}, "the stop order names the unit $_") for @names;
  }
  is_deeply([map { $_->[1] } engine_stop_order()], ['dockerd', 'containerd'], 'dockerd (and its containers) first');
};

subtest 'network_files: from the host\'s network entry' => sub {
  my $net = parse_conf("address=10.0.2.15\nprefix=24\ngateway=10.0.2.2\ndns=10.0.2.3\nhost=10.0.2.2\nloopback=10.0.2.16\n");
  my %f = network_files($net, 'dev-box');
  is_deeply([sort keys %f], ['/etc/hosts', '/run/berth/dnsmasq.conf', '/run/berth/net', '/run/berth/resolv.conf']);
  is($f{'/run/berth/net'}, "link set lo up\nlink set eth0 up\naddr add 10.0.2.15/24 dev eth0\nroute add default via 10.0.2.2\n");
  is($f{'/run/berth/resolv.conf'}, "nameserver 10.0.2.15\nnameserver 10.0.2.3\n", 'dnsmasq first, then QEMU\'s DNS proxy');
  is($f{'/run/berth/dnsmasq.conf'}, "server=10.0.2.3\nlisten-address=10.0.2.15\n"
    . "address=/host.berth.internal/10.0.2.2\naddress=/host.docker.internal/10.0.2.2\n");
  is($f{'/etc/hosts'}, "127.0.0.1 localhost\n127.0.1.1 dev-box\n10.0.2.2 host.berth.internal host.docker.internal\n");
  my %other = network_files(parse_conf("address=192.168.76.9\nprefix=20\ngateway=192.168.64.1\ndns=192.168.64.3\nhost=192.168.64.2\n"), 'b');
  like($other{'/run/berth/net'}, qr{addr add 192\.168\.76\.9/20 dev eth0\nroute add default via 192\.168\.64\.1\n}, 'other addresses: nothing fixed');
  like($other{'/etc/hosts'}, qr/^192\.168\.64\.2 host\.berth\.internal/m, 'the host address is its own entry');
  is_deeply([network_files({ %$net, dns => undef }, 'b')], [], 'an address missing: nothing');
  is_deeply([network_files({}, 'b')], [], 'no entry: nothing');
};

subtest 'network_files: a cluster node\'s second card and registry' => sub {
  my $net = parse_conf("address=10.0.2.15\nprefix=24\ngateway=10.0.2.2\ndns=10.0.2.3\nhost=10.0.2.2\n"
    . "lan_address=10.213.4.12\nlan_prefix=24\nlan_mac=52:54:00:d5:04:0c\nregistry=10.213.4.11\n");
  my %f = network_files({ %$net, lan_dev => 'eth1' }, 'c-2');
  like($f{'/run/berth/net'}, qr{route add default via 10\.0\.2\.2\nlink set eth1 up\naddr add 10\.213\.4\.12/24 dev eth1\n$},
    'the second card after eth0 and its route');
  like($f{'/etc/hosts'}, qr/^10\.213\.4\.11 registry\.berth\.internal$/m, 'the registry for dockerd (/etc/hosts)');
  like($f{'/run/berth/dnsmasq.conf'}, qr{^address=/registry\.berth\.internal/10\.213\.4\.11$}m, 'and for containers');
  %f = network_files($net, 'c-2');
  unlike($f{'/run/berth/net'}, qr/eth1|10\.213/, 'no card found: no address set');
  %f = network_files({ %$net, lan_dev => 'eth1; reboot', registry => '10.0.0.1 evil' }, 'c-2');
  unlike($f{'/run/berth/net'}, qr/reboot|10\.213/, 'a device name that is not one: ignored');
  unlike($f{'/etc/hosts'}, qr/evil|registry/, 'a registry that is not an address: ignored');
};

subtest 'a cluster\'s registry: only on the node that serves it' => sub {
  ok(!grep({ $_->{name} =~ /registry/ } @ENGINE), 'no registry units by default');
  no warnings qw(redefine once);
  local *network = sub { return { registry_serve => '1' } };
  my %u = map { ($_->{name} => $_) } units(first => \@FIRST, first_loaded => 1, aliases => [], engine => [engine_units()]);
  ok($u{'registry-config'} && $u{registry}, 'the registry and its settings');
  is_deeply($u{registry}{after}, ['registry-config', 'net'], 'after its settings and the network');
  like(join(' ', @{$u{registry}{cmd}}), qr/--chuid docker-registry .* serve \/run\/berth\/registry\.yml$/, 'as its own user');
  like(registry_config('/var/lib/berth/registry', 5000), qr{rootdirectory: /var/lib/berth/registry\n.*addr: :5000\n}s,
    'storage on the data disk, the port on every address');
};

subtest 'lan_device: the card with the MAC address' => sub {
  require File::Temp;
  my $d = File::Temp::tempdir(CLEANUP => 1);
  for ([eth0 => '52:54:00:12:34:56'], [eth1 => '52:54:00:d5:04:0c'], [lo => '00:00:00:00:00:00']) {
    mkdir "$d/$_->[0]";
    spew("$d/$_->[0]/address", "$_->[1]\n");
  }
  is(lan_device('52:54:00:D5:04:0C', $d), 'eth1', 'found, case aside');
  is(lan_device('52:54:00:00:00:01', $d), undef, 'no such card');
  is(lan_device('not-a-mac', $d), undef, 'not a MAC address');
};

subtest 'write_daemon_json: the host\'s engine settings over the image\'s file, atomically' => sub {
  require File::Temp;
  my $d = File::Temp::tempdir(CLEANUP => 1);
  spew("$d/daemon.json", "{}\n");
  no warnings 'redefine';
  local *main::fw_cfg = sub { return $_[0] eq 'engine' ? "{\"debug\": true}\n" : undef; };
  ok(write_daemon_json("$d/daemon.json"), 'written');
  is(slurp("$d/daemon.json"), "{\"debug\": true}\n");
  ok(!-e "$d/daemon.json.new", 'no temp file left');
  local *main::fw_cfg = sub { return undef; };
  ok(write_daemon_json("$d/daemon.json"), 'no entry (an older host): fine');
  is(slurp("$d/daemon.json"), "{\"debug\": true}\n", 'and the file stays');
};

subtest 'hostLoopback: the DOCKER-USER rules for a policy' => sub {
  my @deny = host_loopback_commands('deny', '10.0.2.2');
  is_deeply(\@deny, [['-w', '-N', 'DOCKER-USER'], ['-w', '-A', 'DOCKER-USER', '-d', '10.0.2.2', '-j', 'REJECT']], 'deny: all of it');
  my @some = host_loopback_commands('5432,8080', '10.0.2.2');
  is(scalar(@some), 6, 'two ports, tcp and udp each, then the rest refused');
  is_deeply($some[1], ['-w', '-A', 'DOCKER-USER', '-d', '10.0.2.2', '-p', 'tcp', '--dport', '5432', '-j', 'RETURN']);
  is($some[-1][-1], 'REJECT', 'refused last');
  ok(!grep({ ($_->{name} // '') eq 'host-loopback' } engine_units()), 'allow (no fw_cfg entry here): no step');
};

done_testing;
