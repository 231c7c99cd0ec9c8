# Resilience, each under HTTP load (wrk on loopback, zero non-2xx and
# zero socket errors asserted):
#
# - PostgreSQL stopped: nginx keeps answering from the last generation
#   (marked stale past uco_max_staleness), the loader retries with a
#   growing back-off; PostgreSQL back: the loader reconnects, publishes
#   nothing when nothing changed (its change-log position survives the
#   reconnect: no rebuild), answers are fresh again, and the next change
#   is published;
# - the loader SIGKILLed while it builds and publishes (as soon as its
#   temp file appears, and a little later): nginx keeps serving a whole,
#   valid generation, the published generation names a valid file, and
#   a restarted loader removes the torn temp file and publishes;
# - nginx -s reload and a binary upgrade (USR2, then QUIT to the old
#   master) while a new generation is published: answers never stop
#   (new connections, see below for keep-alive).

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use POSIX ();
use Time::HiRes qw(sleep time);

# enough cards that a build takes a while: a window for the SIGKILL
data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    SELECT g, 1, 'bank', '2099-12-31' FROM generate_series(1, 50000) g;
INSERT INTO uco.card_identifier (kind, value, card_id)
    SELECT 'social', (1000000 + g)::text, g
    FROM generate_series(1, 50000) g;
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (8501, uco.secret_hash('secret-8501'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (851, 8501, 'percent', 10);
SQL

my $AUTH = 'Bearer 8501.secret-8501';
my $PATH = '/v1/eligibility?kind=social&card=1000001';
my $LOADER = loader_path();

sub ask {
    my $r = http_get($PATH, Authorization => $AUTH);
    $r->{json} = json_decode($r->{body}) // {};
    return $r;
}

# "status decision" of several answers (both workers)
sub answers {
    return map {
        my $r = ask();
        "$r->{status} " . ($r->{json}{decision} // $r->{json}{error} // '?');
    } 1 .. 4;
}

sub all_are {
    my ($want) = @_;
    return !grep { $_ ne $want } answers();
}

# wrk in the background for $secs; returns a sub that waits for it and
# returns its output
sub load {
    my ($secs, @headers) = @_;
    my $out = tmpdir() . '/wrk.out';
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT;
        exec 'wrk', '-t1', '-c4', "-d${secs}s", '-H', "Authorization: $AUTH",
            (map { ('-H', $_) } @headers),
            'http://127.0.0.1:' . server_port() . $PATH
            or POSIX::_exit(127);
    }
    return sub {
        waitpid $pid, 0;
        return read_file($out);
    };
}

sub check_load {
    my ($out, $name) = @_;
    my ($n) = $out =~ /(\d+) requests in/;
    ok($n, "$name: wrk sent requests (" . ($n // 0) . ')') or diag($out);
    unlike($out, qr/Non-2xx/, "$name: no non-2xx answer") or diag($out);
    unlike($out, qr/Socket errors/, "$name: no connection error")
        or diag($out);
}

sub loader_log_since {
    my ($mark) = @_;
    return substr(read_file(loader_log()), $mark);
}

sub temp_files {
    opendir my $dh, snapdir() or return ();
    return grep { /^\.snap-\d+\.tmp$/ } readdir $dh;
}

my $log_start = error_log_mark();
# a binary upgrade passes on only the environment named by "env": keep
# what make test-asan preloads
nginx_start(main_config => "env LD_PRELOAD;\nenv ASAN_OPTIONS;\n"
    . "env UBSAN_OPTIONS;\n", config => <<'CONF');
location = /v1/eligibility {
    uco_max_staleness 1s;
    uco_eligibility;
}
CONF

my $g0 = ctl_generation();
loader_start(args => ['-i', '0.2', '--full']);
ok(wait_until(sub { ctl_generation() > $g0 && all_are('200 eligible')
    && !ask()->{json}{stale} }, 10), 'the daemon serves fresh data');

# ---------------------------------------------------------------- database down

my $g = ctl_generation();
my $mark = length read_file(loader_log());
my $wait = load(3);
sleep 0.5;
pg_stop();
ok(wait_until(sub {
    my @r = loader_log_since($mark) =~ /retrying in (\d+\.\d) s/g;
    @r >= 2;
}, 6), 'the loader retries while PostgreSQL is down');
my @delays = loader_log_since($mark) =~ /retrying in (\d+\.\d) s/g;
cmp_ok($delays[1], '>', $delays[0], "with a growing back-off (@delays)");
ok(wait_until(sub { ask()->{json}{stale} }, 3),
    'answers are marked stale, still 200');
is_deeply([answers()], [('200 eligible') x 4], 'from the last generation');
is(ctl_generation(), $g, "generation $g stays published");
check_load($wait->(), 'PostgreSQL down');

$mark = length read_file(loader_log());
pg_start();
ok(wait_until(sub { loader_log_since($mark) =~ /connected to the database/ },
    10), 'the loader reconnects');
ok(wait_until(sub { !ask()->{json}{stale} }, 5), 'answers are fresh again');
is(ctl_generation(), $g, 'nothing changed: no new generation, no rebuild');
unlike(loader_log_since($mark), qr/published generation/,
    'the loader did not rebuild');

psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 1});
ok(wait_until(sub { all_are('200 card_blocked') }, 10),
    'a change after the outage is published');

# ---------------------------------------------------------------- SIGKILL

# full builds (--delta-max-cards 0): a delta's temp file lives too short
# a time to be caught; both go through the same publish (temp file,
# fsync, verify, rename), and deltas are killed below
my @FULL = ('-i', '0.2', '--delta-max-cards', '0');
loader_stop();
my $g_full = ctl_generation();
loader_start(args => \@FULL);
ok(wait_until(sub { ctl_generation() > $g_full }, 15),
    'the loader restarts with full builds');
$wait = load(5);
my $status = 'active';
for my $delay (0, 0.02, 0.08) {
    $mark = length read_file(loader_log());
    my $before = ctl_generation();
    my $old = $status eq 'active' ? 'card_blocked' : 'eligible';
    psql(qq{UPDATE uco.card SET status = '$status' WHERE id = 1});
    my $new = $status eq 'active' ? 'eligible' : 'card_blocked';
    $status = $status eq 'active' ? 'blocked' : 'active';

    my $seen = wait_until(sub { scalar temp_files() }, 10, 0.002);
    sleep $delay;
    loader_stop('KILL');
    ok($seen, "delay $delay: the loader was killed with a temp file open");

    my $live = ctl_generation();
    my ($rc, $out) = capture([$LOADER, '--inspect', snapshot_path($live)]);
    is($rc, 0, "delay $delay: the published generation $live is a valid"
        . ' file') or diag($out);
    my @got = answers();
    ok(!grep({ $_ ne "200 $old" && $_ ne "200 $new" } @got),
        "delay $delay: nginx answers from a whole generation (@got)");

    loader_start(args => \@FULL);
    ok(wait_until(sub { all_are("200 $new") }, 15),
        "delay $delay: the restarted loader publishes the change");
    is_deeply([temp_files()], [], "delay $delay: no temp file is left");
    cmp_ok(ctl_generation(), '>', $before, "delay $delay: a new generation");
}

# deltas: killed right after the commit, wherever the publish is
loader_stop();
$mark = length read_file(loader_log());
loader_start(args => ['-i', '0.2']);
ok(wait_until(sub { loader_log_since($mark) =~ /going on from generation/ },
    15), 'the loader restarts with deltas, going on from the live one');
for my $delay (0, 0.001, 0.003, 0.01) {
    my $old = $status eq 'active' ? 'card_blocked' : 'eligible';
    my $new = $status eq 'active' ? 'eligible' : 'card_blocked';
    psql(qq{UPDATE uco.card SET status = '$status' WHERE id = 1});
    $status = $status eq 'active' ? 'blocked' : 'active';
    sleep $delay;
    loader_stop('KILL');
    my $live = ctl_generation();
    my ($rc, $out) = capture([$LOADER, '--inspect', snapshot_path($live)]);
    is($rc, 0, "delta, delay $delay: the published generation $live is "
        . 'a valid file') or diag($out);
    my @got = answers();
    ok(!grep({ $_ ne "200 $old" && $_ ne "200 $new" } @got),
        "delta, delay $delay: nginx answers from a whole generation (@got)");
    loader_start(args => ['-i', '0.2']);
    ok(wait_until(sub { all_are("200 $new") }, 15),
        "delta, delay $delay: the restarted loader publishes the change");
}
is_deeply([temp_files()], [], 'no temp file is left');
check_load($wait->(), 'loader SIGKILLed');

# ---------------------------------------------------------------- reload, upgrade

# Connection: close, because on a reload the old workers close their idle
# keep-alive connections, and a client that sent its next request at
# that very moment sees the close (HTTP/1.1's idle-close race, which
# clients handle by retrying an idempotent request; wrk counts it as a
# read error).  New connections must never fail.
$wait = load(4, 'Connection: close');
my $master = nginx_pid();
sleep 0.5;
$mark = error_log_mark();
kill 'HUP', $master;
ok(wait_until(sub { error_log_since($mark) =~ /reconfiguring/ }, 5),
    'nginx -s reload');
psql(qq{UPDATE uco.card SET status = 'active' WHERE id = 1});
sleep 1;

my $pidfile = servroot() . '/logs/nginx.pid';
kill 'USR2', $master;
ok(wait_until(sub { -e "$pidfile.oldbin" && nginx_follow_pid() != $master },
    10), 'USR2: a new master runs beside the old one');
my $new_master = nginx_pid();
sleep 0.5;
kill 'QUIT', $master;
ok(wait_until(sub { !kill 0, $master or
    (read_file("/proc/$master/stat") // '') =~ /\)\s+Z/ }, 10),
    'QUIT: the old master exits');
ok(wait_until(sub { all_are('200 eligible') }, 10),
    'the new binary serves the change published during the upgrade');
check_load($wait->(), 'reload and binary upgrade');
loader_stop();

my $log = error_log_since($log_start);
nginx_stop();
check_no_alerts($log, '092-resilience');
unlike($log, qr/\[error\]/, 'no [error] in error.log');
