# The loader as a system tool: a config file (options on the command line
# win, bad lines are named with file and line), --log-level and --syslog,
# the "inspect FILE" command, and --metrics-file: a node_exporter textfile
# that promtool accepts, written atomically, counting builds and
# database errors.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (86, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('86', 32), 86), ('social', '8686', 86);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (8601, uco.secret_hash('secret-8601'));
SQL

my $LOADER = loader_path();
my $PROMTOOL = -x '/usr/bin/promtool' ? '/usr/bin/promtool' : undef;
setup();
my $T = tmpdir();

# (exit code, stdout, stderr)
sub run_loader {
    my (@args) = @_;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$T/run.out" or POSIX::_exit(126);
        open STDERR, '>', "$T/run.err" or POSIX::_exit(126);
        exec $LOADER, @args or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    return ($rc, read_file("$T/run.out"), read_file("$T/run.err"));
}

sub metrics {
    my ($path) = @_;
    my $text = eval { read_file($path) } // '';
    return ($text, { map { /^(\S+) (\S+)$/ ? ($1 => $2) : () }
        grep { !/^#/ } split /\n/, $text });
}

sub promtool_ok {
    my ($path, $name) = @_;
    SKIP: {
        skip('promtool is not installed (apt-get install prometheus)', 1)
            unless $PROMTOOL;
        my ($rc, $out) = capture(['sh', '-c',
            "$PROMTOOL check metrics < '$path'"]);
        is($rc, 0, "$name: promtool check metrics accepts it") or diag($out);
    }
}

# ---- a config file; the command line's --dir wins over the file's
my $prom = "$T/loader.prom";
my $conf = "$T/loader.conf";
write_file($conf, <<"CONF");
# policy-loader settings
dir = /nonexistent/uco
keep = 2
  metrics-file = "$prom"
log-level = warn
CONF
my $g0 = ctl_generation();
my $mark = -s loader_log();
my $g = loader_once(args => ['--config', $conf]);
cmp_ok($g, '>', $g0, "--config: published generation $g into --dir");
ok(!-e '/nonexistent/uco', "the file's dir was overridden");
unlike(substr(read_file(loader_log()), $mark), qr/: info: /,
    'log-level = warn from the file: no info lines');

my ($text, $m) = metrics($prom);
promtool_ok($prom, 'after --once');
is($m->{'uco_loader_builds_total{result="published"}'}, 1,
    'one published build');
is($m->{'uco_loader_generation'}, $g, 'generation');
is($m->{'uco_loader_rows{table="cards"}'}, 1, 'one card row');
is($m->{'uco_loader_rows{table="identifiers"}'}, 2, 'two identifiers');
is($m->{'uco_loader_snapshot_bytes'}, -s snapshot_path($g), 'bytes');
cmp_ok($m->{'uco_loader_build_duration_seconds'}, '<', 60, 'duration');
cmp_ok(abs($m->{'uco_loader_last_sync_timestamp_seconds'} - time), '<',
    60, 'last sync is now');
ok(!-e "$prom.tmp", 'no temp file left');

# ---- bad config files
my @bad = (
    ["bogus = 1\n", qr/loader\.conf:1: unknown setting "bogus"/],
    ["# c\n\nkeep = 0\n", qr/loader\.conf:3: --keep: "0" is not a number/],
    ["once = yes\n", qr/unknown setting "once"/],
    ["dir\n", qr/:1: expected "key = value"/],
    ["syslog = maybe\n", qr/syslog: "maybe" is not yes or no/],
    ["log-level = loud\n", qr/--log-level: "loud" is not one of/],
);
for my $case (@bad) {
    my ($body, $re) = @$case;
    write_file($conf, $body);
    my ($rc, $out, $err) = run_loader('--config', $conf, '--once');
    is($rc, 2, "config \"${\ (split /\n/, $body)[-1]}\": exit 2");
    like($err, $re, 'and the message names file, line and problem')
        or diag($err);
}
my ($rc, $out, $err) = run_loader('--config', "$T/missing.conf");
is($rc, 2, 'a missing config file: exit 2');
like($err, qr/--config: .*missing\.conf: No such file/, 'and says so');
($rc, $out, $err) = run_loader('--log-level', 'loud', '--once');
is($rc, 2, '--log-level loud: exit 2');

($rc, $out) = run_loader('--help');
like($out, qr/^\s+-c, --config FILE/m, '--help lists --config');
like($out, qr/^\s+--metrics-file/m, '--help lists --metrics-file');
like($out, qr/^\s+--syslog/m, '--help lists --syslog');
like($out, qr/^\s+--log-level/m, '--help lists --log-level');

# ---- inspect FILE, the command form
($rc, $out, $err) = run_loader('inspect', snapshot_path($g));
is($rc, 0, 'inspect FILE exits 0') or diag($err);
like($out, qr/^generation: $g$/m, 'and prints the generation');
like($out, qr/^result: valid$/m, 'and validates');
($rc, $out, $err) = run_loader('inspect');
is($rc, 2, 'inspect without a file: exit 2');
like($err, qr/unexpected argument "inspect"/, 'and says so');

# ---- --syslog: nothing on stderr (no syslog daemon needed)
write_file($conf, "syslog = yes\n");
($rc, $out, $err) = run_loader('-d', 'host=/nonexistent', '-o', snapdir(),
    '--once', '--config', $conf);
is($rc, 1, '--syslog: a failing --once still exits 1');
is($err, '', '--syslog: nothing on stderr');

# ---- the daemon: a database outage is counted
my $dprom = "$T/daemon.prom";
loader_start(args => ['--metrics-file', $dprom, '-i', '0.2']);
ok(wait_until(sub { -e $dprom }, 10), 'the daemon writes its metrics file');
pg_stop();
ok(wait_until(sub {
    (metrics($dprom))[1]->{'uco_loader_db_errors_total'} }, 10, 0.1),
    'a database outage shows in uco_loader_db_errors_total');
pg_start();
promtool_ok($dprom, 'daemon');
my $status = loader_stop();
is($status, 0, 'the daemon stops cleanly');
