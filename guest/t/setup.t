# berth-setup's steps, on the host (loaded without running: main() only runs as a program), with the fw_cfg
# entries faked and plain folders for binfmt_misc and the image's registrations.
use strict;
use warnings;
use FindBin;
use Test::More;
use File::Temp qw(tempdir);

require "$FindBin::Bin/../rootfs/usr/local/sbin/berth-setup";

# The image's registrations: Debian's qemu-user-binfmt lines (guest/build/customize.sh copies them), one per
# file; these are shortened, but each is its own.
my %CONF = map { ($_ => ":qemu-$_:M::\\x7fELF\\x02\\x01\\x01:\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/$_-binfmt-P:POCF\n") }
  qw(aarch64 arm riscv64 ppc64le s390x);

# Runs the binfmt step with $entry as the host's fw_cfg "binfmt" entry (undef: no such entry), binfmt_misc being
# the folder $M; returns what it wrote, as [file, text] pairs, in order (each write to binfmt_misc's register
# file registers one interpreter).
sub run_binfmt {
  my ($entry, $M) = @_;
  my $confs = tempdir(CLEANUP => 1);
  spew("$confs/qemu-$_.conf", $CONF{$_}) for keys %CONF;
  my @written;
  no warnings qw(redefine once);
  local *main::fw_cfg = sub { return $_[0] eq 'binfmt' ? $entry : undef; };
  my $spew = \&main::spew;
  local *main::spew = sub { push @written, [@_]; return $spew->(@_); };
  ok(binfmt($M, $confs), 'the step succeeds');
  return @written;
}

subtest 'binfmt: registers exactly the architectures of the host\'s list' => sub {
  my $M = tempdir(CLEANUP => 1);
  is_deeply([run_binfmt('aarch64', $M)], [["$M/register", $CONF{aarch64}]], '"aarch64": its registration only');
  is(slurp("$M/register"), $CONF{aarch64}, 'as it is in the image');
};

subtest 'binfmt: the whole default list, in its order' => sub {
  my $M = tempdir(CLEANUP => 1);
  # What src/hostagent/guest-files.ts writes for binfmt: true on an x86_64 instance.
  my @w = run_binfmt('aarch64 arm riscv64 ppc64le s390x', $M);
  is_deeply([map { $_->[1] } @w], [@CONF{qw(aarch64 arm riscv64 ppc64le s390x)}], 'one write each');
  is_deeply([grep { $_->[0] ne "$M/register" } @w], [], 'all to register');
};

subtest 'binfmt: an empty list (binfmt: false) or no entry registers nothing' => sub {
  my $M = tempdir(CLEANUP => 1);
  is_deeply([run_binfmt('', $M)], [], 'empty entry');
  is_deeply([run_binfmt(undef, $M)], [], 'no entry (an older host)');
  ok(!-e "$M/register", 'register never written');
};

subtest 'binfmt: an architecture already registered is left alone' => sub {
  my $M = tempdir(CLEANUP => 1);
  # binfmt_misc shows each registered interpreter as a file of its name (a resumed or re-run setup).
  spew("$M/qemu-aarch64", "enabled\n");
  is_deeply([run_binfmt('aarch64 arm', $M)], [["$M/register", $CONF{arm}]], 'only arm registered');
  is_deeply([run_binfmt('aarch64', $M)], [], 'nothing left to register');
};

subtest 'binfmt: an architecture the image has no registration for is skipped' => sub {
  my $M = tempdir(CLEANUP => 1);
  is_deeply([run_binfmt('mips aarch64', $M)], [["$M/register", $CONF{aarch64}]], 'the others still registered');
};

done_testing;
