/**
 * The container monitor: a small Perl program the driver starts (detached) for every container.
 *
 * Why a separate process, and why Perl:
 * - The OCI CLI `create` forks the container's init process and exits; the init is orphaned. To
 *   learn its exit status somebody must be its parent when it dies. The monitor makes itself a
 *   *child subreaper* (`prctl(PR_SET_CHILD_SUBREAPER)`), starts `<runtime> create`, and so adopts
 *   the init when the runtime exits; it `waitpid`s for it and writes the exit status to a file.
 *   This is what containerd's shim and CRI-O's conmon do. Node has no `prctl` nor a way to reap a
 *   process it did not spawn, so the monitor cannot be JavaScript without a native addon.
 * - The container's stdout/stderr are pipes the monitor reads and writes to the CRI `log_path` in
 *   the CRI log format (`<RFC 3339 time> <stream> <F|P> <text>`), so the log outlives the calling
 *   Node process. Everything printed while `create` runs (before the container can run anything)
 *   is the runtime's own output: it is returned to the driver instead of the log, which is how a
 *   failed `create` surfaces with the runtime's stderr.
 * - Perl (`perl-base`) is an *Essential* package on Debian and Proxmox VE is itself written in
 *   Perl, so it is present on every host this library targets. It loads no module but `strict`
 *   before the create is reported (each of POSIX, IO::Select and warnings costs milliseconds of
 *   start-up per container), and `Time::HiRes` only when it writes the first log line.
 * - SIGCHLD wakes its loop through a self-pipe, so `ok <pid>` goes out as soon as the runtime's
 *   create exits and the exit file is written as soon as the init is reaped.
 *
 * Arguments: `<prctl syscall nr | -> <mount namespace spec | -> <log path | -> <pid file> <exit file>
 * <command...>`; the spec (`<unshare nr>,<mount nr>,<umount2 nr>,<path>...`, see `hybrid-cgroup.ts`)
 * makes the child enter a private mount namespace and unmount the paths before it runs the command.
 * Protocol on fd 3: one line `ok <pid>` once the container is created, or `fail <wait status>`
 * followed by the runtime's output; then fd 3 is closed. The exit file is JSON
 * `{"pid","waitStatus","exitCode","signal","finishedAt"}`, written atomically (tmp + rename).
 *
 * @internal
 * @module
 */

/** The monitor program, passed to `perl -e`. */
export const MONITOR_SCRIPT = String.raw`
use strict;
# No other module: loading POSIX, IO::Select and warnings took about 20 ms per container. So the
# Linux values are spelled out: WNOHANG is 1, EINTR is 4, wait statuses are decoded by hand.

my ($prctl_nr, $mount_ns, $log_path, $pid_file, $exit_file, @cmd) = @ARGV;
$SIG{PIPE} = 'IGNORE';
open(my $status, '>&=', 3) or die "monitor: cannot open fd 3: $!\n";
select((select($status), $| = 1)[0]);

sub fail_early {
  my ($msg) = @_;
  print $status "fail 256\nmonitor: $msg\n";
  close $status;
  exit 1;
}

if ($prctl_nr ne '-') {
  syscall($prctl_nr + 0, 36, 1, 0, 0, 0) == 0 or fail_early("prctl(PR_SET_CHILD_SUBREAPER) failed: $!");
}
my $log;
if ($log_path ne '-') {
  open($log, '>>', $log_path) or fail_early("cannot open log $log_path: $!");
  select((select($log), $| = 1)[0]);
}

# SIGCHLD wakes the select loop at once (a self-pipe): the end of the runtime's create is seen
# when it happens, not at the next poll (the container keeps the output pipes open, so they
# never signal it themselves).
pipe(my $wake_r, my $wake_w) or fail_early("pipe: $!");
$SIG{CHLD} = sub { syswrite($wake_w, 'c'); };

pipe(my $out_r, my $out_w) or fail_early("pipe: $!");
pipe(my $err_r, my $err_w) or fail_early("pipe: $!");
my $child = fork();
defined $child or fail_early("fork: $!");
if ($child == 0) {
  close $out_r; close $err_r; close $status; close $wake_r; close $wake_w;
  close $log if $log;
  # stdin is an empty pipe, not /dev/null: a runtime chowns the container's stdio to the
  # container's root (user namespaces), which must never reach the host's /dev/null
  pipe(my $in_r, my $in_w) or exit 126;
  close $in_w;
  open(STDIN, '<&', $in_r) or exit 126;
  close $in_r;
  open(STDOUT, '>&', $out_w) or exit 126;
  open(STDERR, '>&', $err_w) or exit 126;
  close $out_w; close $err_w;
  if ($mount_ns ne '-') {
    # as 'unshare -m' (mounts private) + 'umount PATH 2>/dev/null': unshare(CLONE_NEWNS),
    # mount(NULL, "/", NULL, MS_REC|MS_PRIVATE, NULL), umount2(PATH, 0)
    my ($unshare_nr, $mount_nr, $umount_nr, @unmount) = split(/,/, $mount_ns);
    if (syscall($unshare_nr + 0, 0x20000) != 0) { print STDERR "monitor: unshare(CLONE_NEWNS) failed: $!\n"; exit 126; }
    my $root = '/';
    if (syscall($mount_nr + 0, 0, $root, 0, 0x44000, 0) != 0) { print STDERR "monitor: making the mounts private failed: $!\n"; exit 126; }
    for my $path (@unmount) { syscall($umount_nr + 0, $path, 0); }
  }
  { exec { $cmd[0] } @cmd; }
  print STDERR "monitor: cannot execute $cmd[0]: $!\n";
  exit 127;
}
close $out_w; close $err_w;

my %fh_of = (fileno($out_r) => $out_r, fileno($err_r) => $err_r);
my %stream_of = (fileno($out_r) => 'stdout', fileno($err_r) => 'stderr');
my %partial = (stdout => '', stderr => '');
my $phase = 'create';
my $create_output = '';
my ($init_pid, $init_status, $init_time, $drain_deadline);

sub utc {
  my @t = gmtime($_[0]);
  return sprintf('%04d-%02d-%02dT%02d:%02d:%02d', $t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0]);
}

# Nanosecond timestamps when Time::HiRes is there (the full perl package), else whole seconds;
# loaded with the first log line, after the create.
my $hires;
sub stamp {
  $hires = (eval { require Time::HiRes; 1 } ? 1 : 0) unless defined $hires;
  my ($s, $ns) = (time(), 0);
  if ($hires) { my ($sec, $usec) = Time::HiRes::gettimeofday(); ($s, $ns) = ($sec, $usec * 1000); }
  return utc($s) . sprintf('.%09dZ', $ns);
}

sub write_line {
  my ($stream, $tag, $text) = @_;
  return unless $log;
  print $log stamp() . " $stream $tag $text\n";
}

sub emit {
  my ($stream, $data) = @_;
  if ($phase eq 'create') { $create_output .= $data; return; }
  $partial{$stream} .= $data;
  while ((my $i = index($partial{$stream}, "\n")) >= 0) {
    write_line($stream, 'F', substr($partial{$stream}, 0, $i));
    substr($partial{$stream}, 0, $i + 1) = '';
  }
  while (length($partial{$stream}) >= 16384) {
    write_line($stream, 'P', substr($partial{$stream}, 0, 16384));
    substr($partial{$stream}, 0, 16384) = '';
  }
}

# Waits up to $timeout seconds for output or a SIGCHLD; returns how many output pipes were read.
sub read_ready {
  my ($timeout) = @_;
  my $rin = '';
  vec($rin, fileno($wake_r), 1) = 1;
  vec($rin, $_, 1) = 1 for keys %fh_of;
  my $ready = select(my $rout = $rin, undef, undef, $timeout);
  return 0 if !defined $ready || $ready <= 0;
  sysread($wake_r, my $junk, 512) if vec($rout, fileno($wake_r), 1);
  my $read = 0;
  for my $fd (keys %fh_of) {
    next unless vec($rout, $fd, 1);
    my $fh = $fh_of{$fd};
    my $stream = $stream_of{$fd};
    my $n = sysread($fh, my $buf, 65536);
    next if !defined $n && $! + 0 == 4;
    $read++;
    if (!$n) {
      delete $fh_of{$fd};
      close $fh;
      if ($phase ne 'create' && length($partial{$stream}) > 0) {
        write_line($stream, 'F', $partial{$stream});
        $partial{$stream} = '';
      }
      next;
    }
    emit($stream, $buf);
  }
  return $read;
}

sub finish {
  for my $stream ('stdout', 'stderr') {
    write_line($stream, 'F', $partial{$stream}) if length($partial{$stream}) > 0;
  }
  my ($code, $sig) = ('null', 'null');
  if (defined $init_status) {
    my $low = $init_status & 0x7f;
    if ($low == 0) { $code = ($init_status >> 8) & 0xff; }
    elsif ($low != 0x7f) { $sig = $low; }
  }
  my $ws = defined $init_status ? $init_status : 'null';
  my $when = utc($init_time) . 'Z';
  my $tmp = "$exit_file.tmp";
  if (open(my $fh, '>', $tmp)) {
    print $fh "{\"pid\":$init_pid,\"waitStatus\":$ws,\"exitCode\":$code,\"signal\":$sig,\"finishedAt\":\"$when\"}\n";
    close $fh;
    rename($tmp, $exit_file);
  }
  exit 0;
}

while (1) {
  read_ready($phase eq 'create' ? 0.05 : 0.2);
  while ((my $pid = waitpid(-1, 1)) > 0) {
    my $st = $?;
    if ($pid == $child && $phase eq 'create') {
      1 while %fh_of && read_ready(0) > 0;
      if ($st != 0) {
        print $status "fail $st\n$create_output";
        close $status;
        exit 1;
      }
      my $pf;
      open($pf, '<', $pid_file) or do { print $status "fail 256\nmonitor: runtime wrote no pid file: $!\n"; close $status; exit 1; };
      my $line = <$pf>;
      close $pf;
      ($init_pid) = ($line // '') =~ /(\d+)/;
      defined $init_pid or do { print $status "fail 256\nmonitor: bad pid file\n"; close $status; exit 1; };
      $phase = 'run';
      print $status "ok $init_pid\n";
      close $status;
    } elsif (defined $init_pid && $pid == $init_pid) {
      $init_status = $st;
      $init_time = time();
      $drain_deadline = time() + 2;
    }
  }
  if ($phase eq 'run' && !defined $init_status && !kill(0, $init_pid)) {
    # Reaped by someone else (not our child): the status is unknown.
    $init_time = time();
    $drain_deadline = time();
    $init_status = undef;
    finish();
  }
  if (defined $init_status && (!%fh_of || time() >= $drain_deadline)) {
    finish();
  }
}
`;

/** `prctl` syscall numbers by Node `process.arch`. */
const PRCTL_SYSCALL: Readonly<Record<string, number>> = { x64: 157, arm64: 167, arm: 172, ia32: 172, riscv64: 167, ppc64: 171, s390x: 172 };

/** The `prctl` syscall number of this machine, or `undefined` when the architecture is unknown. */
export function prctlSyscallNumber(arch: string = process.arch): number | undefined {
  return PRCTL_SYSCALL[arch];
}
