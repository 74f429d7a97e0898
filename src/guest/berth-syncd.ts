/**
 * berth-syncd, the guest side of synchronised shared folders (mounts with `sync: true`). Part of the image
 * (see GUEST_FILES): editing it builds a new image.
 */
export const BERTH_SYNCD = String.raw`#!/usr/bin/perl
# berth-syncd: keeps each synchronised shared folder ("sync: true" in the instance's mounts) in step. Each has
# three places in the guest:
#   /run/berth/sync/<tag>      the host folder over 9p (mounted by mount_shares; files are the host user's)
#   /var/lib/berth/sync/<id>   the guest's own copy of it, on the guest's disk (<id>: from the host path)
#   <guest path>               a bind mount of that copy: what the guest and containers use
# So reads, writes and metadata in the guest run at the speed of its own disk (9p costs ~0.5 ms per round trip
# under emulation), and inotify works natively. This daemon copies changes across, in the background:
#   guest -> host: inotify on the copy;
#   host -> guest: the host agent watches the host folder and sends "sync <path>" lines, which berth-guestd
#                  writes to /run/berth/sync.fifo.
# At start the copy is made equal to the host folder (the host is the source of truth after a restart), then
# the bind mount is made and /run/berth/sync.ready written: berth-init starts dockerd only after it.
# Each path's state at its last sync, on both sides (type, size, mtime, mode), tells which side changed: one
# side: copied to the other (new file beside, then renamed over: readers never see half a file); both: the
# host's version wins and the guest's is kept under /var/lib/berth/sync-conflicts. A copy coming back as an
# event matches its recorded state: nothing loops. A folder is removed only down to what is unchanged since
# its last sync; anything newer in it is copied back rather than lost.
# The host agent also sends the state of every path, between "scan-begin" and "scan-end", after a resume or its
# own restart (no events flowed meanwhile). Other fifo lines: "pause" (stop using 9p; /run/berth/sync.paused
# says done: a suspend unmounts 9p), "resume", "rescan" (berth-guestd lost events: compare both whole trees,
# over 9p). SIGTERM: copies what is pending, then exits.
# Tests run it on the host with plain folders: BERTH_SYNCD_ROOT (a prefix for its own paths; no mounts made)
# and BERTH_SYNCD_TABLE (the mount table), BERTH_SYS_PL (where sys.pl is).
use strict;
use warnings;
BEGIN { require($ENV{BERTH_SYS_PL} // '/usr/local/lib/berth/sys.pl'); }

my $ROOT = $ENV{BERTH_SYNCD_ROOT};
my ($RUN, $LIB) = map { ($ROOT // '') . $_ } '/run/berth', '/var/lib/berth';
my $FIFO = "$RUN/sync.fifo";
my $READY = "$RUN/sync.ready";
my $PAUSED = "$RUN/sync.paused";
my $CONFLICTS = "$LIB/sync-conflicts";
# Changes are copied once events stop for QUIET seconds, and at the latest CAP seconds after the first.
my ($QUIET, $CAP) = (0.03, 0.3);

# The synchronised shares, from the same fw_cfg table mount_shares reads.
my @shares;
for (split /\n/, $ENV{BERTH_SYNCD_TABLE} // fw_cfg('mounts') // '') {
  my ($tag, $dir, $opts) = split /\t/;
  my ($id) = defined $opts ? $opts =~ /(?:^|,)berth\.sync=([0-9a-f]+)(?:,|$)/ : ();
  next unless defined $id;
  push @shares, { i => scalar @shares, tag => $tag, dir => $dir, id => $id, ro => ($opts =~ /^ro\b/ ? 1 : 0),
    remote => "$RUN/sync/$tag", local => "$LIB/sync/$id", L => {}, H => {} };
}
unlink $PAUSED;
# Raw system calls (no modules to load): the fifo, exact nanosecond times, and inotify.
my %NR = (
  x86_64 => { mknodat => 259, statx => 332, utimensat => 280, init => 294, add => 254, rm => 255 },
  aarch64 => { mknodat => 33, statx => 291, utimensat => 88, init => 26, add => 27, rm => 28 },
);
my $NR = $NR{(slurp('/proc/sys/kernel/arch') // '') =~ s/\s+$//r};
# mknodat(2) for the fifo: an exec of mkfifo costs tens of milliseconds under emulation, before the engine starts.
if (!-p $FIFO) { syscall($NR ? $NR->{mknodat} : -1, -100, my $f = $FIFO, 0010600, 0) == 0 or system('mkfifo', '-m', '0600', $FIFO); }
# Read and write: never EOF, whoever comes and goes on the other end. 1 MiB of room (F_SETPIPE_SZ): host events
# wait there while a long pass runs (when it is full, berth-guestd asks for a rescan instead).
open(my $fifo, '+<', $FIFO) or die "berth-syncd: $FIFO: $!\n";
fcntl($fifo, 1031, 1 << 20);
# None here: only answer a pause (berth-guestd waits for that before a suspend).
if (!@shares) {
  spew($READY, '');
  while (1) { sysread($fifo, my $x, 4096); spew($PAUSED, '') if $x =~ /^pause$/m; }
}

$SIG{PIPE} = 'IGNORE';
umask 022; # copies get their source's mode: chmod after, where the umask took bits away
sub logf { printf STDERR "%.2f %s\n", uptime(), $_[0]; }

$NR or die "berth-syncd: unknown architecture\n";

# A path's state: "f:<size>:<mtime s.ns>:<mode>", "d:<mode>", "l:<target>"; undef: absent; "o": anything else
# (fifos, sockets, devices: not synchronised). The host agent sends the same for the host's side.
sub stat_of {
  my $buf = "\0" x 256;
  return () if syscall($NR->{statx}, -100, $_[0], 0x100, 0x7ff, $buf) != 0; # AT_SYMLINK_NOFOLLOW, BASIC_STATS
  my ($uid, $gid, $mode) = unpack('L L S', substr($buf, 20, 10));
  my ($size) = unpack('Q', substr($buf, 40, 8));
  my ($msec, $mnsec) = unpack('q L', substr($buf, 112, 12));
  return ($mode, $size, $msec, $mnsec, $uid, $gid);
}
sub sig {
  my ($mode, $size, $sec, $ns) = stat_of($_[0]) or return undef;
  my $t = $mode & 0170000;
  return sprintf('f:%d:%d.%09d:%o', $size, $sec, $ns, $mode & 07777) if $t == 0100000;
  return sprintf('d:%o', $mode & 07777) if $t == 0040000;
  return 'l:' . (readlink($_[0]) // '') if $t == 0120000;
  return 'o';
}
sub same { my ($a, $b) = @_; return defined $a ? defined $b && $a eq $b : !defined $b; }
# The same file at start-up, though a side kept only whole seconds of the mtime (as 9p does for a copy's).
sub same_file {
  my ($a, $b) = map { defined $_ && /^f:(\d+):(\d+)\.(\d+):(\d+)$/ ? [$1, $2, $3, $4] : undef } @_;
  return $a && $b && $a->[0] == $b->[0] && $a->[1] == $b->[1] && $a->[3] eq $b->[3] && ($a->[2] == 0 || $b->[2] == 0);
}
sub names { opendir(my $d, $_[0]) or return (); return grep { $_ ne '.' && $_ ne '..' } readdir $d; }
sub parent { my $r = $_[0]; $r =~ s{/[^/]*$}{}; return $r; }

# ---- copying one path to the other side ----
my $seq = 0;
sub temp_beside { return parent($_[0]) . '/.berth-sync.' . $$ . '.' . ++$seq; }

# A file, with the mode and mtime of its state $sig, written beside its target and renamed over it (readers
# never see half a file); $new: straight to the target, which must not exist (over 9p: two round trips
# fewer). $own: [uid, gid] to give it.
sub copy_file {
  my ($src, $dst, $sig, $own, $new) = @_;
  my ($mode, $sec, $ns) = $sig =~ /^f:\d+:(\d+)\.(\d+):([0-7]+)$/ ? (oct $3, $1, $2) : return 0;
  open(my $in, '<', $src) or return 0;
  my $tmp = $new ? $dst : temp_beside($dst);
  sysopen(my $out, $tmp, 0x1 | 0x40 | 0x80, $mode) or return 0; # O_WRONLY O_CREAT O_EXCL
  my $ok = 1;
  while ($ok) {
    my $n = sysread($in, my $buf, 1 << 20);
    if (!defined $n) { $ok = 0; last; }
    last if $n == 0;
    for (my $o = 0; $o < $n;) { my $w = syswrite($out, $buf, $n - $o, $o); if (!$w) { $ok = 0; last; } $o += $w; }
  }
  $ok = close($out) && $ok;
  chown(@$own, $tmp) if $ok && $own;
  chmod($mode, $tmp) if $ok && ($own || $mode & 07022); # chown clears set-id bits
  $ok &&= syscall($NR->{utimensat}, -100, $tmp, pack('q q q q', $sec, $ns, $sec, $ns), 0) == 0;
  return 1 if $ok && ($new || rename($tmp, $dst));
  unlink $tmp;
  return 0;
}

sub make_link {
  my ($target, $dst) = @_;
  my $tmp = temp_beside($dst);
  return 1 if symlink($target, $tmp) && rename($tmp, $dst);
  unlink $tmp;
  return 0;
}

# Removes $rel on one side, down to what is unchanged since its last sync ($force: everything); 1 if all gone.
sub remove_tree {
  my ($s, $side, $rel, $force) = @_;
  my ($p, $rec) = $side eq 'local' ? ($s->{local} . $rel, $s->{L}) : ($s->{remote} . $rel, $s->{H});
  my $sg = sig($p);
  return 1 unless defined $sg;
  if ($sg =~ /^d/) {
    my $all = 1;
    for my $n (names($p)) { $all = 0 unless remove_tree($s, $side, "$rel/$n", $force); }
    if ($all && rmdir $p) { delete $s->{L}{$rel}; delete $s->{H}{$rel}; return 1; }
    return 0;
  }
  if (($force || same($sg, $rec->{$rel})) && unlink $p) { delete $s->{L}{$rel}; delete $s->{H}{$rel}; return 1; }
  return 0;
}

# What to look at: "<share index>\0<rel>" => { how => 1|2|3 (see sync_path), local => the guest's copy had an
# event, host => the host folder had one, hint => the host's state sent with it }.
my %dirty;
sub mark {
  my ($i, $rel, $how, $from, $hint) = @_;
  my $d = $dirty{"$i\0$rel"} //= { how => 0 };
  $d->{how} = $how if $d->{how} < $how;
  $d->{$from} = 1 if $from;
  $d->{hint} = $hint if $from && $from eq 'host';
}

# Copies $rel from side $from (state $fs) over the other side (state $ts). Returns 2 for a folder made on the
# other side (all below it needs copying), 1 for a folder, 0 for anything else, undef if it could not be done
# now (it is looked at again at the next event or pass).
sub apply {
  my ($s, $from, $rel, $fs, $ts, $force) = @_;
  my $to = $from eq 'local' ? 'remote' : 'local';
  my ($src, $dst) = ($s->{$from} . $rel, $s->{$to} . $rel);
  if (!defined $fs) {
    return 0 if $rel eq '' || remove_tree($s, $to, $rel, $force);
    # Something newer there was kept: it goes back the other way, whole.
    delete $s->{L}{$rel}; delete $s->{H}{$rel};
    mark($s->{i}, $rel, 3);
    return undef;
  }
  my $res = apply_to($s, $to, $src, $dst, $rel, $fs, $ts, $force);
  # Its folder is not there yet (its event still to come): the folder first, then this in it.
  mark($s->{i}, parent($rel), 3) if !defined $res && !-d ($s->{$to} . parent($rel));
  return $res;
}

sub apply_to {
  my ($s, $to, $src, $dst, $rel, $fs, $ts, $force) = @_;
  # Files and folders made in the guest's copy get the host folder's owner (as 9p shows the host's files).
  my $own = $to eq 'local' ? $s->{owner} : undef;
  if ($fs =~ /^d:([0-7]+)/) {
    my ($mode, $made) = (oct $1, 0);
    if (!defined $ts || $ts !~ /^d/) {
      return undef if defined $ts && !remove_tree($s, $to, $rel, $force);
      mkdir($dst, $mode) or return undef;
      chmod($mode, $dst) if $mode & 07022;
      chown(@$own, $dst) if $own;
      $made = 1;
    }
    chmod($mode, $dst) if !$made && $ts ne $fs;
    return $made ? 2 : 1;
  }
  if (defined $ts && $ts =~ /^d/) { return undef unless remove_tree($s, $to, $rel, $force); }
  if ($fs =~ /^l:(.*)$/s) { return make_link($1, $dst) ? 0 : undef; }
  return copy_file($src, $dst, $fs, $own, $to eq 'remote' && !defined $ts) ? 0 : undef;
}

# Brings $rel to the same state on both sides. $how: 1 the path, 2 and its entries, 3 all below it. $ev: the
# events (see %dirty); the host's come with its state of the path, so no 9p round trip is needed to see that a
# copy of ours came back. $mirror (start-up): the host is the truth; what only the guest's copy has is removed.
sub sync_path {
  my ($s, $rel, $how, $ev, $mirror) = @_;
  my ($lp, $rp) = ($s->{local} . $rel, $s->{remote} . $rel);
  my $l = sig($lp);
  # Events on one side only, and that side is as last synchronised: nothing to do.
  return if $how == 1 && $ev && (!$ev->{local} || same($l, $s->{L}{$rel}))
    && (!$ev->{host} || defined $ev->{hint} && $ev->{hint} eq ($s->{H}{$rel} // 'none'));
  # The host's side: from its event, or (the guest's event only) as last synchronised, since the host agent
  # sends every host-side change; a copy that finds it otherwise looks again. Else over 9p.
  my $known = $how == 1 && $ev && !$mirror;
  my $r = !$known ? sig($rp) : $ev->{host} ? (defined $ev->{hint} && $ev->{hint} ne 'none' ? $ev->{hint} : undef) : $s->{H}{$rel};
  # Over a host file: look first (its change may be on its way here), so it is not lost.
  $r = sig($rp) if $known && !$ev->{host} && defined $r && defined $l && $l =~ /^f/;
  return if defined $l && $l eq 'o' || defined $r && $r eq 'o';
  my $lch = !same($l, $s->{L}{$rel});
  my $rch = !same($r, $s->{H}{$rel});
  my $res;
  # Neither side changed since the last sync (though they differ: 9p keeps whole seconds of a copy's mtime).
  if (same($l, $r) || !$lch && !$rch || $mirror && same_file($l, $r)) {
    $res = defined $l && $l =~ /^d/ ? 1 : 0;
  } elsif ($mirror || $rch) {
    if ($lch && !$mirror && defined $l && $l =~ /^f/) { # both changed: the host wins, the guest's is kept
      (my $flat = $s->{id} . $rel) =~ s{/}{%}g;
      mkdirs($CONFLICTS);
      copy_file($lp, "$CONFLICTS/$flat." . time(), $l);
      logf("conflict on $s->{dir}$rel: the host's version wins, the guest's is in $CONFLICTS");
    }
    $res = apply($s, 'remote', $rel, $r, $l, $mirror);
    ($l, $r) = (sig($lp), $r) if defined $res;
  } elsif (!$s->{ro}) {
    $res = apply($s, 'local', $rel, $l, $r, 0);
    if (!defined $res && $known) { return sync_path($s, $rel, 2, undef, 0); } # with the host's real state
    $r = defined $res ? pushed($s, $rp, $l) : $r;
  } else {
    return; # the guest's copy of a read-only share changed underneath (only root can): left alone
  }
  return unless defined $res;
  # Each side's state now: what later events are compared with.
  if (defined $l) { $s->{L}{$rel} = $l; } else { delete $s->{L}{$rel}; }
  if (defined $r) { $s->{H}{$rel} = $r; } else { delete $s->{H}{$rel}; }
  return unless $res && ($how > 1 || $res == 2);
  my %n = map { ($_ => 1) } names($lp), names($rp);
  for my $n (sort keys %n) {
    next if $n =~ /^\.berth-sync\./;
    sync_path($s, "$rel/$n", $how == 3 || $res == 2 ? 3 : 1, undef, $mirror);
  }
}

# The host's state of a copy just written there: the source's, but 9p keeps only whole seconds of an mtime it
# is given (learnt from the first file copied, by reading it back).
sub pushed {
  my ($s, $rp, $l) = @_;
  return $l unless defined $l && $l =~ /^f:/;
  if (!defined $s->{whole_seconds}) {
    my $r = sig($rp);
    $s->{whole_seconds} = defined $r && $r ne $l ? 1 : 0;
    return $r;
  }
  return $s->{whole_seconds} ? $l =~ s/\.\d{9}:/.000000000:/r : $l;
}

# ---- inotify on the guest's copies ----
my $IN_FD = syscall($NR->{init}, 0x800 | 0x80000); # IN_NONBLOCK | IN_CLOEXEC
die "berth-syncd: inotify_init1: $!\n" if $IN_FD < 0;
open(my $inotify, '<&=', $IN_FD) or die "berth-syncd: inotify fd: $!\n";
# MODIFY ATTRIB CLOSE_WRITE MOVED_FROM MOVED_TO CREATE DELETE | ONLYDIR DONT_FOLLOW EXCL_UNLINK. A file being
# written is copied when it is closed; one written to for WRITING seconds without a close, then too.
my $MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x01000000 | 0x02000000 | 0x04000000;
my %watch; # wd => [share, rel of the folder]
my %writing; # "<share index>\0<rel>" => when the first write without a close was seen
my $WRITING = 2;
my $watch_full = 0;
sub watch_tree {
  my ($s, $rel) = @_;
  my $p = $s->{local} . $rel;
  my $wd = syscall($NR->{add}, $IN_FD, $p, $MASK);
  if ($wd < 0) { logf("cannot watch $p: $! (fs.inotify.max_user_watches?)") unless $watch_full++; return; }
  $watch{$wd} = [$s, $rel];
  for my $n (names($p)) { watch_tree($s, "$rel/$n") if !-l "$p/$n" && -d _; }
}
sub unwatch_tree {
  my ($s, $rel) = @_;
  for my $wd (keys %watch) {
    my ($ws, $wr) = @{$watch{$wd}};
    next unless $ws == $s && ($wr eq $rel || index($wr, "$rel/") == 0);
    syscall($NR->{rm}, $IN_FD, $wd + 0);
    delete $watch{$wd};
  }
}
sub read_inotify {
  while (1) {
    my $n = sysread($inotify, my $buf, 65536);
    last unless $n;
    for (my $o = 0; $o + 16 <= $n;) {
      my ($wd, $mask, undef, $len) = unpack('l L L L', substr($buf, $o, 16));
      my $name = unpack('Z*', substr($buf, $o + 16, $len));
      $o += 16 + $len;
      if ($mask & 0x4000) { mark($_->{i}, '', 3, 'local') for @shares; next; } # IN_Q_OVERFLOW: look at everything
      my $w = $watch{$wd} or next;
      if ($mask & 0x8000) { delete $watch{$wd}; next; } # IN_IGNORED: the watch is gone
      my ($s, $dir) = @$w;
      next if $name eq '' || $name =~ /^\.berth-sync\./;
      my $rel = "$dir/$name";
      if ($mask & 0x40000000) { # a folder
        unwatch_tree($s, $rel) if $mask & 0x40;
        if ($mask & (0x100 | 0x80)) { watch_tree($s, $rel); mark($s->{i}, $rel, 3, 'local'); next; }
      }
      my $k = "$s->{i}\0$rel";
      if ($mask == 0x2) { $writing{$k} //= uptime(); next; }
      delete $writing{$k};
      mark($s->{i}, $rel, 1, 'local');
    }
  }
}

# ---- host events and requests, from berth-guestd ----
my ($paused, $fifo_buf) = (0, '');
sub read_fifo {
  my $rin = '';
  vec($rin, fileno($fifo), 1) = 1;
  return unless select(my $rout = $rin, undef, undef, 0) > 0;
  sysread($fifo, my $data, 65536) or return;
  $fifo_buf .= $data;
  while ($fifo_buf =~ s/^([^\n]*)\n//) {
    my ($cmd, $arg, $hint) = split / /, $1, 3;
    if ($cmd eq 'sync' && defined $arg) {
      $arg =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge;
      $hint =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge if defined $hint;
      for my $s (@shares) {
        my $d = $s->{dir};
        next unless $arg eq $d || index($arg, "$d/") == 0;
        my $rel = substr($arg, length $d);
        next if $rel =~ m{/\.berth-sync\.[^/]*$};
        if (defined $hint && $hint eq 'scan-begin') { $s->{scan} = {}; next; }
        if (defined $hint && $hint eq 'scan-end') { scan_end($s); next; }
        $s->{scan}{$rel} = 1 if $s->{scan};
        mark($s->{i}, $rel, defined $hint ? 1 : 2, 'host', $hint);
      }
    } elsif ($cmd eq 'pause') {
      $paused = 1;
      unbind_nested();
      spew($PAUSED, '');
    } elsif ($cmd eq 'resume') {
      # The host agent sends every path's state next (see scan_end): no comparing over 9p.
      $paused = 0;
      unlink $PAUSED;
      bind_copy($_) for @shares;
    } elsif ($cmd eq 'rescan') {
      mark($_->{i}, '', 3) for @shares;
    }
  }
}

# The host agent sent the state of every path of the host folder (after a resume, or its own restart): what was
# synchronised but is not among them is gone on the host.
sub scan_end {
  my ($s) = @_;
  my $seen = delete $s->{scan} or return;
  for my $rel (keys %{$s->{H}}) { mark($s->{i}, $rel, 1, 'host', 'none') if $rel ne '' && !$seen->{$rel}; }
}

my ($first, $last);
sub flush {
  return if $paused;
  my %d = %dirty;
  %dirty = ();
  my $n = 0;
  for my $k (sort keys %d) {
    my ($i, $rel) = split /\0/, $k, 2;
    if ($paused) { # a pause came in the pass: the rest waits for the resume
      my ($e, $o) = ($dirty{$k} //= { how => 0 }, $d{$k});
      $e->{how} = $o->{how} if $e->{how} < $o->{how};
      $e->{local} ||= $o->{local};
      @$e{qw(host hint)} = (1, $o->{hint}) if $o->{host} && !$e->{host};
      next;
    }
    sync_path($shares[$i], $rel, $d{$k}{how}, $d{$k}, 0);
    read_fifo() if ++$n % 64 == 0; # keep the host's events flowing (they are handled at the next pass)
  }
  # What this pass marked again (a folder to make first, something kept) waits for the next.
  ($first, $last) = %dirty ? (uptime()) x 2 : ();
}

# Files written to for a while without a close (a log): copied as they are now.
sub due_writes {
  my $t = uptime();
  for my $k (grep { $t - $writing{$_} >= $WRITING } keys %writing) {
    delete $writing{$k};
    my ($i, $rel) = split /\0/, $k, 2;
    mark($i, $rel, 1, 'local');
  }
  return %writing ? (sort { $a <=> $b } values %writing)[0] + $WRITING - $t : undef;
}

# Makes the guest's copy equal to the host's manifest ("<path> <state>" lines, see syncManifest in the host
# agent): over 9p only what differs is read. What the copy has beyond it is removed.
sub mirror {
  my ($s, $text) = @_;
  my %m = ('' => sig($s->{remote}));
  for (split /\n/, $text) {
    my ($rel, $st) = map { s/%([0-9A-Fa-f]{2})/chr(hex $1)/ger } split / /, $_, 2;
    $m{$rel} = $st if defined $st;
  }
  my @extra;
  my @walk = ('');
  while (defined(my $dir = shift @walk)) {
    for my $n (names($s->{local} . $dir)) {
      my $rel = "$dir/$n";
      if (!exists $m{$rel}) { push @extra, $rel; next; }
      push @walk, $rel if !-l $s->{local} . $rel && -d _;
    }
  }
  remove_tree($s, 'local', $_, 1) for @extra;
  $s->{pulled} = 0;
  for my $rel (sort keys %m) {
    my ($l, $r) = (sig($s->{local} . $rel), $m{$rel});
    next if $r eq 'o' || defined $l && $l eq 'o';
    if (!same($l, $r) && !same_file($l, $r)) {
      next unless defined apply($s, 'remote', $rel, $r, $l, 1);
      $s->{pulled}++;
      $l = sig($s->{local} . $rel);
    }
    ($s->{L}{$rel}, $s->{H}{$rel}) = ($l, $r);
  }
}

# The copy at the guest path (read-only for a read-only share).
sub bind_copy {
  my ($s) = @_;
  return if defined $ROOT || mounted($s->{dir});
  mkdirs($s->{dir});
  mount_fs(undef, $s->{local}, $s->{dir}, MS_BIND, undef) || system('mount', '--bind', $s->{local}, $s->{dir}) == 0
    or logf("cannot bind $s->{local} on $s->{dir}: $!");
  return unless $s->{ro};
  mount_fs(undef, undef, $s->{dir}, MS_BIND | MS_REMOUNT | MS_RDONLY, undef) || system('mount', '-o', 'remount,bind,ro', $s->{dir}) == 0
    or logf("cannot make $s->{dir} read-only: $!");
}

# A copy bound inside a 9p share (a project folder in the shared home) keeps that share from being unmounted
# for a suspend: it is unbound for the pause and bound again at the resume (containers keep their own mounts).
my @nine_p = map { my ($tag, $dir, $opts) = split /\t/; defined $opts && $opts !~ /berth\.sync=/ ? $dir : () }
  split /\n/, $ENV{BERTH_SYNCD_TABLE} // fw_cfg('mounts') // '';
sub inside_9p { my ($d) = @_; return grep { $d ne $_ && index($d, $_ eq '/' ? '/' : "$_/") == 0 } @nine_p; }
sub unbind_nested {
  for my $s (grep { inside_9p($_->{dir}) } @shares) {
    system('umount', $s->{dir}) == 0 or logf("cannot unbind $s->{dir} for the pause (in use?)") if mounted($s->{dir});
  }
}

# ---- start ----
mkdirs("$RUN/sync");
for my $s (@shares) {
  if (!defined $ROOT && !mounted($s->{remote})) { logf("$s->{dir}: the host folder is not mounted at $s->{remote}"); next; }
  if (!mkdirs($s->{local})) { logf("$s->{dir}: cannot make $s->{local}: $!"); next; }
  my (undef, undef, undef, undef, $uid, $gid) = stat_of($s->{remote});
  $s->{owner} = [$uid // 0, $gid // 0];
  chmod(0700, "$LIB/sync");
  my $t = uptime();
  my $manifest = $ENV{BERTH_SYNCD_MANIFEST} // fw_cfg("sync-$s->{tag}");
  if (defined $manifest) { mirror($s, $manifest); } else { sync_path($s, '', 3, undef, 1); }
  logf(sprintf('%s: the guest copy matches the host folder (%d paths, %.2f s, %s)', $s->{dir}, scalar keys %{$s->{L}},
    uptime() - $t, defined $manifest ? "from the host's manifest, $s->{pulled} copied" : 'compared over 9p'));
  watch_tree($s, '');
  bind_copy($s);
}
spew($READY, '');
# From here on it copies in the background: what the user runs comes first.
setpriority(0, 0, 10);

my $stop = 0;
pipe(my $sig_r, my $sig_w) or die "berth-syncd: pipe: $!\n";
$SIG{TERM} = $SIG{INT} = sub { $stop = 1; syswrite($sig_w, 't'); };
while (1) {
  if ($stop) {
    # Whatever the guest changed last goes to the host before the shutdown unmounts it.
    for (1 .. 3) { read_inotify(); mark(split(/\0/, $_, 2), 1, 'local') for keys %writing; %writing = (); last unless %dirty; flush(); }
    exit 0;
  }
  my $wait = due_writes();
  if (%dirty && !$paused) {
    $first //= uptime();
    $last //= $first;
    my $due = $last + $QUIET;
    $due = $first + $CAP if $first + $CAP < $due;
    my $d = $due - uptime();
    $wait = $d if !defined $wait || $d < $wait;
  }
  $wait = 0 if defined $wait && $wait < 0;
  my $rin = '';
  vec($rin, $_, 1) = 1 for $IN_FD, fileno($fifo), fileno($sig_r);
  if (select(my $rout = $rin, undef, undef, $wait) > 0) {
    read_inotify() if vec($rout, $IN_FD, 1);
    read_fifo() if vec($rout, fileno($fifo), 1);
    sysread($sig_r, my $junk, 64) if vec($rout, fileno($sig_r), 1);
    if (%dirty) { $last = uptime(); $first //= $last; }
  } else {
    flush();
  }
}
`;
