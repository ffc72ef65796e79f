/**
 * The pod namespaces in one short-lived Perl process (perl-base, as the container monitor), with
 * system calls instead of five programs (`mount` three times, `unshare`, `sh`, `hostname`, `ip`):
 * the pod's `/dev/shm` tmpfs, the namespace directory as a private bind mount of itself, then
 * `unshare(CLONE_NEWNET|CLONE_NEWUTS|CLONE_NEWIPC)`, the pod's hostname, loopback up, and each new
 * namespace bind-mounted from `/proc/self/ns/<kind>` onto its file, which keeps it alive.
 *
 * Arguments: `<mount nr>,<unshare nr>,<sethostname nr> <shm dir | -> <ns dir> <hostname> <kind>=<file>...`
 * (kinds `net`, `uts`, `ipc`). Exits 0, or 1 with `<what> failed: <errno text>` on stderr; what it
 * mounted is left for the caller to unmount (as after a failed `mount`/`unshare` run).
 *
 * @internal
 * @module
 */

import { syscallNumbers } from '../internal/syscalls.js';

/** The program, passed to `perl -e`. */
export const POD_NAMESPACES_SCRIPT = String.raw`
use strict;
my ($nrs, $shm, $nsdir, $hostname, @ns) = @ARGV;
my ($mount_nr, $unshare_nr, $sethostname_nr) = split(/,/, $nrs);
sub fail { print STDERR "$_[0] failed: $!\n"; exit 1; }
# mount(2) takes pointers: each string a variable of its own (perl refuses literals), NULL as 0
sub sys_mount {
  my ($source, $target, $type, $flags, $data) = @_;
  return syscall($mount_nr + 0, defined $source ? $source : 0, $target, defined $type ? $type : 0, $flags, defined $data ? $data : 0) == 0;
}
if ($shm ne '-') {
  my ($src, $type, $data) = ('shm', 'tmpfs', 'mode=1777,size=65536k');
  # MS_NOSUID | MS_NODEV | MS_NOEXEC
  sys_mount($src, $shm, $type, 2 | 4 | 8, $data) or fail('mounting the pod /dev/shm');
}
# a private mount point of its own, so the namespace bind mounts do not propagate anywhere
sys_mount($nsdir, $nsdir, undef, 4096, undef) or fail('preparing the pod namespace directory');     # MS_BIND
sys_mount(undef, $nsdir, undef, 1 << 18, undef) or fail('preparing the pod namespace directory');   # MS_PRIVATE
exit 0 unless @ns;
my %flag = (net => 0x40000000, uts => 0x04000000, ipc => 0x08000000);
my $flags = 0;
for (@ns) { my ($kind) = split(/=/, $_, 2); $flags |= $flag{$kind}; }
syscall($unshare_nr + 0, $flags) == 0 or fail('creating the pod namespaces');
if ($flags & $flag{uts}) {
  syscall($sethostname_nr + 0, $hostname, length($hostname)) == 0 or fail('setting the pod hostname');
}
if ($flags & $flag{net}) {
  # loopback up: SIOCGIFFLAGS, | IFF_UP, SIOCSIFFLAGS on struct ifreq (16-byte name, short flags)
  socket(my $sock, 2, 2, 0) or fail('bringing loopback up');
  my $req = pack('a16 s x22', 'lo', 0);
  ioctl($sock, 0x8913, $req) or fail('bringing loopback up');
  my $up = pack('a16 s x22', 'lo', unpack('x16 s', $req) | 1);
  ioctl($sock, 0x8914, $up) or fail('bringing loopback up');
  close $sock;
}
for (@ns) {
  my ($kind, $file) = split(/=/, $_, 2);
  my $self = "/proc/self/ns/$kind";
  sys_mount($self, $file, undef, 4096, undef) or fail('creating the pod namespaces');
}
exit 0;
`;

/** The script's first argument on this architecture, or `undefined` (then the util-linux tools are used). */
export function podNamespaceSyscalls(arch: string = process.arch): string | undefined {
  return syscallNumbers(['mount', 'unshare', 'sethostname'], arch);
}
