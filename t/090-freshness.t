# Freshness: the loader wakes on NOTIFY (a change reaches nginx while the
# polling interval is 30 s); a transaction that got its change-log id
# first but commits last is still picked up (out-of-order commit, on
# purpose), with NOTIFY and with polling alone; the loader confirms the data even when nothing changes, so
# answers are not stale; once it stops confirming, answers past
# uco_max_staleness are marked (header and JSON field) or refused with
# 503 (uco_stale_policy reject), and become fresh again when it is back;
# bad values of the directives fail the configuration test.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use Time::HiRes qw(sleep time);

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until) VALUES
    (81, 1, 'bank', '2099-12-31'),
    (82, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('81', 32), 81),
    ('hashpan', repeat('82', 32), 82);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (8001, uco.secret_hash('secret-8001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (801, 8001, 'percent', 10);
SQL

my $AUTH = 'Bearer 8001.secret-8001';

my $CONFIG = <<'CONF';
location = /v1/eligibility {
    uco_max_staleness 1s;
    uco_eligibility;
}
location = /strict {
    uco_max_staleness 1s;
    uco_stale_policy reject;
    uco_eligibility;
}
location = /lenient {
    uco_eligibility;
}
CONF

sub ask {
    my ($card, $path) = @_;
    my $r = http_get(($path // '/v1/eligibility') . '?card=' . ($card x 32),
        Authorization => $AUTH);
    $r->{json} = json_decode($r->{body}) // {};
    return $r;
}

# "status decision generation [value]" of several answers (both workers)
sub answers {
    my ($card, $n) = @_;
    return map {
        my $j = ask($card)->{json};
        ($j->{decision} // $j->{error} // '?') . ' '
            . (ref $j->{programme} ? $j->{programme}{value} : '-');
    } 1 .. ($n // 4);
}

sub all_are {
    my ($card, $want) = @_;
    return !grep { $_ ne $want } answers($card);
}

sub idle_in_transaction {
    return psql(q{SELECT count(*) FROM pg_stat_activity
                  WHERE state = 'idle in transaction'}) > 0;
}

my $log_start = error_log_mark();
nginx_start(config => $CONFIG);

# ---------------------------------------------------------------- NOTIFY

my $g0 = ctl_generation();
loader_start(args => ['-i', '30', '--full']);
ok(wait_until(sub { ctl_generation() > $g0 }, 10),
    'the daemon started with --full publishes its first generation');
ok(wait_until(sub { all_are('81', 'eligible 10') }, 5),
    'nginx serves it');
my $g1 = ctl_generation();

psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 81});
ok(wait_until(sub { all_are('81', 'card_blocked -') }, 10),
    'a committed block reaches nginx well inside the 30 s poll interval:'
    . ' the loader was woken by NOTIFY');
cmp_ok(ctl_generation(), '>', $g1, 'in a new generation');

# ---------------------------------------------------------------- out of order

# A takes its change-log id first and commits last.
my $a = psql_session();
print {$a} "BEGIN;\nUPDATE uco.card SET status = 'blocked' WHERE id = 82;\n";
ok(wait_until(\&idle_in_transaction, 5),
    'transaction A holds an uncommitted change');
my ($a_id) = psql(q{SELECT max(id) FROM uco.change_log});

psql(q{UPDATE uco.programme SET discount_percent = 20 WHERE id = 801});
my $b_id = psql(q{SELECT max(id) FROM uco.change_log});
cmp_ok($b_id, '>', $a_id, "B committed change-log id $b_id above every"
    . " id visible before it ($a_id); A's id lies in between");
ok(wait_until(sub { all_are('82', 'eligible 20') }, 10),
    "B's change is published while A is open: card 82 still eligible");
my $g_b = ctl_generation();

print {$a} "COMMIT;\n";
close $a;
is($?, 0, 'transaction A commits');
ok(wait_until(sub { all_are('82', 'card_blocked -') }, 10),
    "A's change, below the published watermark, is published too")
    or diag(loader_log());
cmp_ok(ctl_generation(), '>', $g_b, 'in a generation after B\'s');
loader_stop();

# the same with polling only (--no-listen, as behind a replica): B's
# publish and A's late commit are found by the change-log check alone
loader_start(args => ['-i', '0.2', '--no-listen']);
$a = psql_session();
print {$a} "BEGIN;\nUPDATE uco.card SET status = 'active' WHERE id = 82;\n";
ok(wait_until(\&idle_in_transaction, 5), 'A again holds a change');
psql(q{UPDATE uco.card SET status = 'active' WHERE id = 81});
ok(wait_until(sub { all_are('81', 'eligible 20') }, 10),
    "polling: B's change is published");
ok(all_are('82', 'card_blocked -'), "and A's is not yet");
print {$a} "COMMIT;\n";
close $a;
ok(wait_until(sub { all_are('82', 'eligible 20') }, 10),
    'polling: the late commit is published');
like(read_file(loader_log()), qr/not listening|--no-listen/,
    'the loader said it polls only');

# ---------------------------------------------------------------- staleness

# The daemon polls every 0.2 s and confirms each time: 3 s without a
# change are not stale.
sleep 3;
my $r = ask('81');
is($r->{status}, 200, 'an unchanged database: 200');
ok(!exists $r->{json}{stale}, 'and no "stale" field')
    or diag($r->{body});
ok(!exists $r->{headers}{'x-uco-stale'}, 'and no X-Uco-Stale header');
like($r->{body}, qr/"generation":\d+}$/, 'the answer carries the generation');

my $mark = error_log_mark();
loader_stop();
ok(wait_until(sub { ask('81')->{json}{stale} }, 5),
    'with the loader stopped, answers become stale');
$r = ask('81');
is($r->{status}, 200, 'uco_stale_policy mark (default): still 200');
is($r->{json}{decision}, 'eligible', 'with the decision');
is($r->{json}{stale}, JSON::PP::true(), 'and "stale": true');
cmp_ok($r->{json}{data_age}, '>=', 2, "and data_age ($r->{json}{data_age})");
like($r->{headers}{'x-uco-stale'} // '', qr/^\d+$/,
    'and an X-Uco-Stale header with the age');
ok($r->{json}{generation}, 'and the generation');

$r = ask('81', '/strict');
is($r->{status}, 503, 'uco_stale_policy reject: 503');
is($r->{json}{error}, 'stale_snapshot', 'with error stale_snapshot');

$r = ask('81', '/lenient');
is($r->{status}, 200, 'without uco_max_staleness: 200');
ok(!exists $r->{json}{stale}, 'never marked stale');

ok(wait_until(sub { error_log_since($mark) =~ /\[warn\].*data is stale/ },
    5), 'a stale worker logs a warning');

loader_start(args => ['-i', '0.2']);
ok(wait_until(sub {
    my $s = ask('81', '/strict');
    $s->{status} == 200 && !exists $s->{json}{stale};
}, 10), 'the loader back: fresh answers again');
ok(wait_until(sub { !exists ask('81')->{json}{stale} }, 5),
    'marked answers lose the mark');
# a worker notices on its next request: keep asking, either worker may
# have been the stale one
ok(wait_until(sub { ask('81'); error_log_since($mark) =~ /fresh again/ },
    10, 0.2), 'and the worker logs that');
my @warns = error_log_since($mark) =~ /data is stale/g;
cmp_ok(scalar @warns, '<=', 2, 'one warning per worker, not per answer');
loader_stop();

nginx_stop();
check_no_alerts(error_log_since($log_start), '090-freshness');

# ---------------------------------------------------------------- directives

for my $bad (
    ['uco_max_staleness abc;', qr/"uco_max_staleness" directive invalid/],
    ['uco_max_staleness;', qr/invalid number of arguments/],
    ['uco_stale_policy bogus;', qr/invalid value "bogus"/])
{
    my ($rc, $out) = nginx_config_test(config => "location = /v1/e {\n"
        . "    $bad->[0]\n    uco_eligibility;\n}\n");
    isnt($rc, 0, "nginx -t refuses \"$bad->[0]\"");
    like($out, $bad->[1], 'and says why') or diag($out);
}
