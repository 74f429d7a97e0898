# The container engine of this image: Docker Engine (dockerd + containerd + runc, Debian's docker.io). berth's
# "docker" runtime (src/runtime/docker/) adds this overlay to the image; berth-init takes the engine's units
# and its stop order from here (loaded with require after sys.pl: limited() is there). Another runtime brings
# its own engine.pl defining the same two subs.
use strict;
use warnings;

# The netfilter and storage modules the engine needs: a boot step beside its start, not on its path.
my @MODULES = qw(overlay bridge br_netfilter veth nf_tables nft_compat nft_chain_nat nf_nat nf_conntrack
  nf_conntrack_netlink xt_MASQUERADE xt_addrtype xt_conntrack ip_tables xfrm_user);

# The engine's units (the fields: units in berth-init), each placed in the unit table right after the base
# unit named by place_after (first when there is none): the engine's path starts first.
sub engine_units {
  return (
    { name => 'containerd', place_after => 'data', after => ['data'], cmd => [limited(1048576, -999, 'containerd')] },
    # Shared folders first: containers restarted by the engine may bind-mount them; and the network's files
    # (containers copy resolv.conf).
    # In-process: the instance's daemon.json (berth's settings and the YAML's docker: section), from the host.
    { name => 'engine-config', place_after => 'mount', once => 1, after => ['fw'], code => \&write_daemon_json },
    { name => 'dockerd', place_after => 'syncd', after => ['data', 'mount', 'syncd', 'netconf', 'engine-config'],
      cmd => [limited(1048576, -500, 'dockerd', '--containerd=/run/containerd/containerd.sock')] },
    { name => 'engine-modules', place_after => 'modules', once => 1, cmd => ['modprobe', '-qa', @MODULES] },
  );
}

# The fw_cfg entry "engine" over the image's /etc/docker/daemon.json (an older host sends none: the image's stays).
sub write_daemon_json {
  my ($text, $file) = (fw_cfg('engine'), $_[0] // '/etc/docker/daemon.json');
  return 1 unless defined $text;
  return spew("$file.new", $text) && rename("$file.new", $file);
}

# At shutdown, before everything else: [seconds to wait, unit names], in order. The engine first (it stops its
# containers, within their stop timeouts), then containerd.
sub engine_stop_order { return ([60, 'dockerd'], [5, 'containerd']); }

1;
