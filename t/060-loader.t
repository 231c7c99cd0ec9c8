# policy-loader: its command line and its resilience, against the real
# PostgreSQL of the harness.  Bad options exit 2 with a message naming the
# problem and touch nothing; --help / --version; --once against an
# unreachable database fails and leaves the published generation served;
# --inspect accepts a good file and refuses every file of t/data/bad/;
# --rollback republishes a kept generation and refuses one that is not
# kept; the daemon survives a PostgreSQL outage (nginx keeps answering
# from the last generation, the loader logs a retry with back-off) and
# publishes the next change once the database is back; published files
# have the requested mode whatever the umask, and no temp file is left.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use POSIX ();
use Time::HiRes qw(sleep time);

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (61, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('61', 32), 61);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (6001, uco.secret_hash('secret-6001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (601, 6001, 'percent', 10);
SQL

my $LOADER = loader_path();
my $URI = '/v1/eligibility?card=' . ('61' x 32);
my $UNREACHABLE = 'host=/nonexistent user=postgres dbname=postgres'
    . ' connect_timeout=2';

# several answers, so that both workers are asked
sub answers {
    my ($n) = @_;
    return map {
        my $r = http_get($URI, Authorization => 'Bearer 6001.secret-6001');
        my $j = json_decode($r->{body}) // {};
        "$r->{status} " . ($j->{decision} // $j->{error} // '?')
            . ' ' . ($j->{generation} // '-')
            . (ref $j->{programme} ? " $j->{programme}{value}" : '');
    } 1 .. ($n // 6);
}

# run the loader; return (exit code, stdout, stderr), kept apart.  One
# that has not exited after 10 s (a bad option taken for a daemon) is
# killed: exit code 137.
sub run_loader {
    my (@args) = @_;
    my $out = tmpdir() . '/run.out';
    my $err = tmpdir() . '/run.err';
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        exec $LOADER, @args or POSIX::_exit(127);
    }
    unless (wait_until(sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 10,
        0.02))
    {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    return ($rc, read_file($out), read_file($err));
}

sub file_mode {
    my ($path) = @_;
    my @st = stat $path or return -1;
    return $st[2] & 07777;
}

sub temp_files {
    my ($dir) = @_;
    opendir my $dh, $dir or return ('(no directory)');
    return sort grep { /\.tmp$/ } readdir $dh;
}

sub loader_log_since {
    my ($mark) = @_;
    return substr(read_file(loader_log()), $mark);
}

my $g1 = ctl_generation();
ok($g1, "generation $g1 published at setup");

# ---------------------------------------------------------------- options

my $never = tmpdir() . '/never';
my @bad = (
    [['--bogus'], qr/unknown option --bogus/, 'an unknown option'],
    [['-x'], qr/unknown option -x/, 'an unknown short option'],
    [['--interval', 'abc'], qr/--interval: "abc" is not a number/,
        '--interval abc'],
    [['--interval', '0'], qr/--interval: "0"/, '--interval 0'],
    [['--interval', '1s'], qr/--interval: "1s"/, '--interval 1s'],
    [['--keep', '0'], qr/--keep: "0" is not a number/, '--keep 0'],
    [['--keep', '-1'], qr/--keep: "-1"/, '--keep -1'],
    [['--keep', '3x'], qr/--keep: "3x"/, '--keep 3x'],
    [['--file-mode', '999'], qr/--file-mode: "999" is not an octal mode/,
        '--file-mode 999'],
    [['--file-mode', '0400'], qr/--file-mode: 0400 would not let/,
        '--file-mode 0400 (the loader could not write its files)'],
    [['--file-mode', '017777'], qr/--file-mode: "017777"/,
        '--file-mode above 07777'],
    [['--rollback', '0'], qr/--rollback: "0" is not a generation/,
        '--rollback 0'],
    [['--rollback', 'abc'], qr/--rollback: "abc"/, '--rollback abc'],
    [['--once', '--rollback', '1'], qr/exclude each other/,
        '--once with --rollback'],
    [['--keep'], qr/--keep needs a value/, '--keep without a value'],
    [['--once', 'extra'], qr/unexpected argument "extra"/,
        'a stray argument'],
    [['--dir', ''], qr/--dir: empty directory name/, 'an empty --dir'],
);
for my $case (@bad) {
    my ($args, $re, $name) = @$case;
    my ($rc, $out, $err) = run_loader('-d', $UNREACHABLE, '-o', $never,
        @$args);
    is($rc, 2, "$name: exit status 2");
    like($err, $re, "$name: stderr names the problem") or diag($err);
    is($out, '', "$name: nothing on stdout");
}
ok(!-e $never, 'no bad command line created the --dir');

# a --dir that cannot be created: under a regular file
my $regular = tmpdir() . '/regular';
write_file($regular, "not a directory\n");
my ($rc, $out, $err) = run_loader('-d', $UNREACHABLE, '-o',
    "$regular/snap", '--once');
is($rc, 2, '--dir under a regular file: exit status 2');
like($err, qr/--dir: cannot create \Q$regular\E\/snap: Not a directory/,
    '--dir under a regular file: stderr says why') or diag($err);

($rc, $out, $err) = run_loader('-d', $UNREACHABLE, '-o', $regular,
    '--once');
is($rc, 2, '--dir naming a regular file: exit status 2');
like($err, qr/--dir: \Q$regular\E is not a directory/,
    '--dir naming a regular file: stderr says so') or diag($err);
is(read_file($regular), "not a directory\n", 'and the file is untouched');

($rc, $out, $err) = run_loader('--help');
is($rc, 0, '--help exits 0');
for my $opt (qw(--db --dir --once --interval --no-listen --keep --file-mode
    --rollback
    --inspect --verbose --help --version))
{
    like($out, qr/^\s+(?:-\w, )?\Q$opt\E\b/m, "--help lists $opt");
}
is($err, '', '--help writes nothing on stderr');

($rc, $out, $err) = run_loader('--version');
is($rc, 0, '--version exits 0');
like($out, qr/^policy-loader \d+\.\d+\.\d+\S*\n\z/,
    '--version prints "policy-loader X.Y.Z"');
($rc, my $vout) = run_loader('-V');
is($vout, $out, '-V prints the same');

# ---------------------------------------------------------------- --once, no database

nginx_start();
my $log_start = error_log_mark();
is_deeply([answers()], [("200 eligible $g1 10") x 6],
    "nginx serves generation $g1");

my @files_before = snapshot_files();
my $t0 = time;
($rc, $out, $err) = run_loader('--once', '-d', $UNREACHABLE, '-o',
    snapdir(), '--file-mode', '0644');
isnt($rc, 0, "--once against an unreachable database fails (exit $rc)");
cmp_ok(time - $t0, '<', 10, 'and does not hang');
like($err, qr/error: .*\/nonexistent/,
    'and logs an error naming the database it could not reach')
    or diag($err);
is(ctl_generation(), $g1, "uco.ctl still publishes generation $g1");
is_deeply([snapshot_files()], \@files_before, 'no snapshot file changed');
is_deeply([temp_files(snapdir())], [], 'no temp file left');
is_deeply([answers()], [("200 eligible $g1 10") x 6],
    "nginx still serves generation $g1");

# ---------------------------------------------------------------- --inspect

($rc, $out) = capture([$LOADER, '--inspect', snapshot_path($g1)]);
is($rc, 0, '--inspect accepts the published file') or diag($out);
like($out, qr/^generation: $g1$/m, '--inspect prints its generation');
like($out, qr/^cards: 1$/m, '--inspect prints the card count');
like($out, qr/^partners: 1$/m, '--inspect prints the partner count');
like($out, qr/^programmes: 1$/m, '--inspect prints the programme count');
like($out, qr/^result: valid$/m, '--inspect says valid');

my @bad_files = glob(data_dir() . '/bad/*.ucs');
cmp_ok(scalar @bad_files, '>=', 8, 'the corrupt fixtures are there');
for my $file (@bad_files) {
    my $name = $file =~ s{.*/}{}r;
    ($rc, $out) = capture([$LOADER, '--inspect', $file]);
    is($rc, 1, "--inspect refuses $name");
    like($out, qr/^result: invalid: \S.*$/m, "--inspect says why for $name")
        or diag($out);
}
($rc, $out) = capture([$LOADER, '--inspect', tmpdir() . '/missing.ucs']);
is($rc, 1, '--inspect of a missing file exits 1');
like($out, qr/No such file/, 'and says so');
($rc, $out) = capture([$LOADER, '--inspect', snapdir()]);
is($rc, 1, '--inspect of a directory exits 1');
like($out, qr/not a regular file/, 'and says so');

# ---------------------------------------------------------------- --rollback

psql(q{UPDATE uco.programme SET discount_percent = 20 WHERE id = 601});
my $g2 = loader_once();
cmp_ok($g2, '>', $g1, "generation $g2 published with 20 %");
ok(wait_until(sub { !grep { $_ ne "200 eligible $g2 20" } answers() }, 3,
    0.1), "nginx serves generation $g2");

($rc, $out, $err) = run_loader('-o', snapdir(), '--rollback', $g1);
is($rc, 0, "--rollback $g1 exits 0") or diag($err);
like($err, qr/rolled back to generation $g1\b/, 'and says so');
is(ctl_generation(), $g1, "uco.ctl publishes generation $g1 again");
ok(wait_until(sub { !grep { $_ ne "200 eligible $g1 10" } answers() }, 3,
    0.1), "nginx answers from generation $g1 again")
    or diag(join "\n", answers());
ok(-e snapshot_path($g2), "generation $g2 is still kept");

my $g3 = loader_once();
cmp_ok($g3, '>', $g2, "the next --once after a rollback publishes a new"
    . " generation $g3 above $g2");
ok(wait_until(sub { !grep { $_ ne "200 eligible $g3 20" } answers() }, 3,
    0.1), "nginx serves generation $g3");

# --keep 2 removes $g1 and $g2; a generation no longer kept is refused
loader_once(keep => 2) for 1 .. 2;
my $live = ctl_generation();
my @kept = snapshot_files();
is(scalar @kept, 2, "--keep 2 left two generations (@kept)");
ok(!-e snapshot_path($g1), "generation $g1 is no longer kept");
for my $gen ($g1, $live + 100) {
    ($rc, $out, $err) = run_loader('-o', snapdir(), '--rollback', $gen);
    isnt($rc, 0, "--rollback $gen (not kept) fails (exit $rc)");
    like($err, qr/rollback refused: .*snap-0*$gen\.ucs/,
        'and names the missing file') or diag($err);
    is(ctl_generation(), $live, "uco.ctl still publishes generation $live");
}
is_deeply([answers()], [("200 eligible $live 20") x 6],
    "nginx still serves generation $live");

# a corrupt file under a kept generation's name is refused too
my $forged = $live + 50;
write_file(snapshot_path($forged), read_file(data_dir()
    . '/bad/checksum.ucs'));
($rc, $out, $err) = run_loader('-o', snapdir(), '--rollback', $forged);
isnt($rc, 0, "--rollback to a corrupt generation $forged fails");
like($err, qr/rollback refused: .*checksum/, 'and says why') or diag($err);
is(ctl_generation(), $live, "uco.ctl still publishes generation $live");
unlink snapshot_path($forged);

# ---------------------------------------------------------------- daemon and an outage

my $mark = length read_file(loader_log());
my $pid = loader_start(args => ['--full']);
ok(wait_until(sub { loader_log_since($mark) =~ /published generation/ },
    5, 0.1), 'the daemon started with --full publishes a first generation');
my $g_daemon = ctl_generation();
cmp_ok($g_daemon, '>', $live, "generation $g_daemon");
ok(wait_until(sub { !grep { $_ ne "200 eligible $g_daemon 20" } answers() },
    3, 0.1), "nginx serves generation $g_daemon");

# a second loader on the same directory is refused while the daemon runs
($rc, $out, $err) = run_loader('--once', '-d', $UNREACHABLE, '-o',
    snapdir());
is($rc, 1, 'a second loader on the same directory exits 1');
like($err, qr/in use by another policy-loader/, 'and says why')
    or diag($err);

# and so is a rollback: it would race the daemon's next publish
($rc, $out, $err) = run_loader('-o', snapdir(), '--rollback', $live);
is($rc, 1, '--rollback while the daemon runs exits 1');
like($err, qr/in use by another policy-loader/, 'and says why')
    or diag($err);
is(ctl_generation(), $g_daemon, "uco.ctl still publishes $g_daemon");

$mark = length read_file(loader_log());
pg_stop();
my $down = time;
ok(wait_until(sub {
    my @r = loader_log_since($mark) =~ /retrying in (\d+\.\d) s/g;
    @r >= 2;
}, 6, 0.1), 'the daemon logs retries while PostgreSQL is down');
my $outage = loader_log_since($mark);
like($outage, qr/: warn: .*retrying in \d+\.\d s/,
    'the first failure is a warning with a retry delay')
    or diag($outage);
my @delays = $outage =~ /retrying in (\d+\.\d) s/g;
cmp_ok($delays[1], '>', $delays[0], "the delay backs off (@delays)");
is(waitpid($pid, POSIX::WNOHANG()), 0, 'the daemon is still running');
is(ctl_generation(), $g_daemon, "uco.ctl still publishes $g_daemon");
is_deeply([answers()], [("200 eligible $g_daemon 20") x 6],
    'nginx answers 200 from the last generation during the outage');

pg_start();
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 61});
$t0 = time;
ok(wait_until(sub { (answers(1))[0] =~ /^200 card_blocked \d+$/ }, 15,
    0.2), 'the daemon publishes the blocked card after the outage'
    . sprintf(' (%.1f s after the restart)', time - $t0))
    or diag(loader_log_since($mark));
my $g_after = ctl_generation();
cmp_ok($g_after, '>', $g_daemon, "in a new generation $g_after");
ok(wait_until(sub { !grep { $_ ne "200 card_blocked $g_after" } answers() },
    3, 0.1), 'every worker answers card_blocked');
like(loader_log_since($mark), qr/connected to the database/,
    'the daemon logs that it reconnected');

my $status = loader_stop();
is($status, 0, 'the daemon exits 0 on SIGTERM');

nginx_stop();
check_no_alerts(error_log_since($log_start), '060-loader nginx');

# ---------------------------------------------------------------- files

# a temp file of a loader that died is removed; the new files get the
# requested mode exactly, whatever the umask
my $dir = tmpdir() . '/modes';
mkdir $dir, 0755 or die "mkdir $dir: $!";
my $stale = "$dir/.snap-00000000000000000007.tmp";
write_file($stale, 'half a snapshot');
$mark = length read_file(loader_log());
my $old_umask = umask 0077;
my $gm = eval { loader_once(dir => $dir, args => ['--file-mode', '0664']) };
umask $old_umask;
ok($gm, "--once into a new directory published generation $gm")
    or diag($@);
ok(!-e $stale, 'the stale temp file of a dead loader is removed');
like(loader_log_since($mark), qr/removed stale temp file .*\.snap-0+7\.tmp/,
    'and that is logged');
is_deeply([temp_files($dir)], [], 'no .snap-*.tmp or .uco.ctl.tmp remains');
is(sprintf('%04o', file_mode(snapshot_path($gm, $dir))), '0664',
    'the snapshot file has --file-mode 0664 under umask 077');
is(sprintf('%04o', file_mode("$dir/uco.ctl")), '0664',
    'uco.ctl has --file-mode 0664 under umask 077');

for my $i (1 .. 3) {
    loader_once(dir => $dir, args => ['--file-mode', '0604']);
    is_deeply([temp_files($dir)], [], "run $i: no temp file remains");
}
my @gens = snapshot_files($dir);
is(scalar @gens, 3, "the default --keep 3 keeps three files (@gens)");
is(sprintf('%04o', file_mode(snapshot_path($gens[-1], $dir))), '0604',
    'the newest file has --file-mode 0604');
for my $gen (@gens) {
    ($rc, $out) = capture([$LOADER, '--inspect', snapshot_path($gen, $dir)]);
    is($rc, 0, "snap $gen is whole and valid") or diag($out);
    like($out, qr/^file_bytes: (\d+)\n(?s:.*)^file_size: \1$/m,
        "snap $gen: the file is as long as its header says");
}

# the harness's own directory: every file complete, mode 0644
is_deeply([temp_files(snapdir())], [], 'no temp file in the snapshot dir');
for my $gen (snapshot_files()) {
    is(sprintf('%04o', file_mode(snapshot_path($gen))), '0644',
        "snap $gen has --file-mode 0644");
}
