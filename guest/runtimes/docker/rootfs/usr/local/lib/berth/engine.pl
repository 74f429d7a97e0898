# The container engine of this image: Docker Engine (dockerd + containerd + runc, Debian's docker.io). berth's
# "docker" runtime (src/runtime/docker/) adds this overlay to the image; berth-init takes the engine's units
# and its stop order from here (loaded with require after sys.pl: limited() is there). Another runtime brings
# its own engine.pl defining the same two subs.
use strict;
use warnings;

# The netfilter and storage modules the engine needs: a boot step beside its start, not on its path.
my @MODULES = qw(overlay bridge br_netfilter veth nf_tables nft_compat nft_chain_nat nf_nat nf_conntrack
  nf_conntrack_netlink xt_MASQUERADE xt_addrtype xt_conntrack ip_tables xfrm_user);

# A cluster's registry: its settings file, and its storage on the data disk.
sub REGISTRY_CONF () { '/run/berth/registry.yml' }
sub REGISTRY_DIR () { '/var/lib/berth/registry' }

# The engine's units (the fields: units in berth-init), each placed in the unit table right after the base
# unit named by place_after (first when there is none): the engine's path starts first.
sub engine_units {
  # The host's loopback for containers (hostLoopback in the YAML), in Docker's DOCKER-USER chain, which dockerd
  # keeps: a step before dockerd only when something is to be denied.
  my $policy = network()->{host_loopback} // 'allow';
  my @loopback = $policy eq 'allow' ? () : ({ name => 'host-loopback', place_after => 'netconf', once => 1,
    after => ['netconf'], code => sub { return host_loopback_rules($policy, network()->{host}); } });
  # A cluster's registry (berth cluster), on the node the host named: Debian's docker-registry as its own
  # user, its storage on the data disk (kept by stop, start and upgrades).
  my @registry = (network()->{registry_serve} // '') eq '1' ? (
    { name => 'registry-config', place_after => 'data', once => 1, after => ['data'], code => sub { return write_registry_config(); } },
    { name => 'registry', place_after => 'guestd', nice => 10, after => ['registry-config', 'net'],
      cmd => ['start-stop-daemon', '--start', '--chuid', 'docker-registry', '--exec', '/usr/bin/docker-registry',
        '--', 'serve', REGISTRY_CONF] },
  ) : ();
  return (
    @loopback,
    @registry,
    { name => 'containerd', place_after => 'data', after => ['data'], cmd => [limited(1048576, -999, 'containerd')] },
    # In-process: the instance's daemon.json (berth's settings and the YAML's docker: section), from the host.
    { name => 'engine-config', place_after => 'mount', once => 1, after => ['fw'], code => \&write_daemon_json },
    # Shared folders first: containers restarted by the engine may bind-mount them; and the network's files
    # (containers copy resolv.conf).
    { name => 'dockerd', place_after => 'syncd', after => ['data', 'mount', 'syncd', 'netconf', 'engine-config', map { $_->{name} } @loopback],
      cmd => [limited(1048576, -500, 'dockerd', '--containerd=/run/containerd/containerd.sock')] },
    { name => 'engine-modules', place_after => 'modules', once => 1, cmd => ['modprobe', '-qa', @MODULES] },
  );
}

# iptables commands (argument lists) that keep containers off the host's loopback (reached at $host) but for
# the ports allowed: "deny", or "5432,8080".
sub host_loopback_commands {
  my ($policy, $host) = @_;
  my @cmds = (['-w', '-N', 'DOCKER-USER']);
  if ($policy ne 'deny') {
    for my $p (grep { /^\d+$/ } split /,/, $policy) {
      push @cmds, map { ['-w', '-A', 'DOCKER-USER', '-d', $host, '-p', $_, '--dport', $p, '-j', 'RETURN'] } qw(tcp udp);
    }
  }
  push @cmds, ['-w', '-A', 'DOCKER-USER', '-d', $host, '-j', 'REJECT'];
  return @cmds;
}
sub host_loopback_rules {
  my ($policy, $host) = @_;
  return 0 unless defined $host && $host =~ /^[\d.]+$/;
  my $ok = 1;
  for my $c (host_loopback_commands($policy, $host)) {
    my $new_chain = $c->[1] eq '-N';
    $ok = 0 if system('iptables', @$c) != 0 && !$new_chain; # the chain may exist already
  }
  return $ok;
}

# The fw_cfg entry "engine" over the image's /etc/docker/daemon.json (an older host sends none: the image's stays).
sub write_daemon_json {
  my ($text, $file) = (fw_cfg('engine'), $_[0] // '/etc/docker/daemon.json');
  return 1 unless defined $text;
  return spew("$file.new", $text) && rename("$file.new", $file);
}

# The registry's settings: its storage (made, and handed to its user) and its port on every guest address.
sub registry_config {
  my ($dir, $port) = @_;
  return "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
    . "storage:\n  filesystem:\n    rootdirectory: $dir\n  delete:\n    enabled: true\n"
    . "http:\n  addr: :$port\n";
}
sub write_registry_config {
  my ($dir, $file) = (REGISTRY_DIR, $_[0] // REGISTRY_CONF);
  my (undef, undef, $uid, $gid) = getpwnam('docker-registry');
  return 0 unless defined $uid;
  mkdir($dir, 0750) unless -d $dir;
  return 0 unless chown($uid, $gid, $dir);
  my $port = conf('registry_port') // 5000;
  return spew("$file.new", registry_config($dir, $port)) && rename("$file.new", $file);
}

# At shutdown, before everything else: [seconds to wait, unit names], in order. The engine first (it stops its
# containers, within their stop timeouts), then containerd.
sub engine_stop_order { return ([60, 'dockerd'], [5, 'containerd']); }

1;
