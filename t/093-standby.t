# A real hot standby: a streaming replica of the test's cluster
# (pg_basebackup -R), a loader reading it WITHOUT --no-listen, and nginx.
# The loader finds out by itself that LISTEN is pointless there (the
# standby refuses it, NOTIFY never arrives) and polls; a card blocked on
# the primary is answered card_blocked through the replica; a
# transaction that takes its change-log id first and commits last is
# still picked up through the replica; replica lag shows: with replay
# paused, the change-log watermark in uco_status stays behind the
# primary's and the loader stops confirming the data (synced_at), so
# answers turn stale past uco_max_staleness; resumed, the change arrives
# and the answers are fresh again; promoted, the standby is followed as
# a primary by the same loader.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until) VALUES
    (931, 1, 'bank', '2099-12-31'),
    (932, 1, 'bank', '2099-12-31'),
    (933, 1, 'bank', '2099-12-31'),
    (934, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('31', 32), 931),
    ('hashpan', repeat('32', 32), 932),
    ('hashpan', repeat('33', 32), 933),
    ('hashpan', repeat('34', 32), 934);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (9301, uco.secret_hash('secret-9301'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (931, 9301, 'percent', 10);
SQL

my $CONFIG = <<'CONF';
location = /v1/eligibility {
    uco_max_staleness 2s;
    uco_eligibility;
}
location = /status {
    uco_status;
}
CONF

sub ask {
    my ($card) = @_;
    my $r = http_get('/v1/eligibility?card=' . ($card x 32),
        Authorization => 'Bearer 9301.secret-9301');
    return json_decode($r->{body}) // {};
}

# "decision[ stale]" of four answers (both workers are likely asked)
sub answers {
    my ($card) = @_;
    return map {
        my $j = ask($card);
        ($j->{decision} // $j->{error} // '?') . ($j->{stale} ? ' stale' : '');
    } 1 .. 4;
}

sub all_are {
    my ($card, $want) = @_;
    return !grep { $_ ne $want } answers($card);
}

sub status {
    return json_decode(http_get('/status')->{body}) // {};
}

sub primary_watermark {
    return psql('SELECT coalesce(max(id), 0) FROM uco.change_log');
}

sub idle_in_transaction {
    return psql(q{SELECT count(*) FROM pg_stat_activity
                  WHERE state = 'idle in transaction'}) > 0;
}

# ---------------------------------------------------------------- replica
my $standby = standby_start();
ok(standby_catch_up(), 'a streaming standby of the cluster has caught up');
is(standby_psql('SELECT pg_is_in_recovery()'), 't', 'it is in recovery');
ok(!eval { standby_psql('LISTEN uco_change'); 1 }
    && $@ =~ /cannot execute LISTEN during recovery/,
    'and refuses LISTEN, as a hot standby does') or diag($@);

# ---------------------------------------------------------------- loader
my $log_start = error_log_mark();
nginx_start(config => $CONFIG);
my $g0 = ctl_generation();
# --full: build from the standby, not go on from the setup's generation
loader_start(conninfo => $standby, args => ['-i', '0.2', '--full']);
ok(wait_until(sub { ctl_generation() > $g0 }, 10),
    'the loader, without --no-listen, publishes from the standby');
my $log = read_file(loader_log());
my $said = 'the database is a hot standby (pg_is_in_recovery): NOTIFY does'
    . ' not arrive there, not listening, polling every 200 ms';
is(scalar(() = $log =~ /\Q$said\E/g), 1, 'and says that it polls, and why');
unlike($log, qr/LISTEN/, 'without trying LISTEN');
ok(wait_until(sub { all_are('31', 'eligible') }, 10), 'nginx serves it')
    or diag(join ', ', answers('31'));

# ---------------------------------------------------------------- a block
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 931});
ok(wait_until(sub { all_are('31', 'card_blocked') }, 10),
    'a card blocked on the primary is answered card_blocked through the'
    . ' replica');

# ---------------------------------------------------------------- out of order
my $a = psql_session();
print {$a} "BEGIN;\nUPDATE uco.card SET status = 'blocked' WHERE id = 932;\n";
ok(wait_until(\&idle_in_transaction, 5),
    'transaction A holds an uncommitted change on the primary');
my $a_id = primary_watermark();
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 933});
cmp_ok(primary_watermark(), '>', $a_id,
    'B committed a change-log id above A\'s');
ok(wait_until(sub { all_are('33', 'card_blocked') }, 10),
    "B's change arrives through the replica");
ok(all_are('32', 'eligible'), 'A\'s does not yet');
print {$a} "COMMIT;\n";
close $a;
is($?, 0, 'transaction A commits');
ok(wait_until(sub { all_are('32', 'card_blocked') }, 10),
    "A's change, below the published watermark, arrives too")
    or diag(read_file(loader_log()));

# ---------------------------------------------------------------- lag
ok(standby_catch_up(), 'the standby has caught up');
my $w = primary_watermark();
ok(wait_until(sub { (status()->{watermark} // 0) == $w }, 10),
    "uco_status shows the primary's change-log watermark $w");
ok(wait_until(sub { all_are('34', 'eligible') }, 10),
    'in sync, answers are not stale');

standby_psql('SELECT pg_wal_replay_pause()');
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 934});
my $w2 = primary_watermark();
ok(wait_until(sub { all_are('34', 'eligible stale') }, 10),
    'replay paused: the block has not arrived, and the answers are stale'
    . ' past uco_max_staleness (the loader no longer confirms the data)');
my $st = status();
cmp_ok($st->{watermark}, '<', $w2,
    "uco_status: watermark $st->{watermark} behind the primary's $w2");
cmp_ok($st->{sync_age_seconds}, '>', 2,
    "sync_age_seconds $st->{sync_age_seconds} grows");
my $lag = standby_psql(q{SELECT extract(epoch FROM now()
    - pg_last_xact_replay_timestamp()) > 2});
is($lag, 't', 'as the standby\'s pg_last_xact_replay_timestamp() says');

standby_psql('SELECT pg_wal_replay_resume()');
ok(wait_until(sub { all_are('34', 'card_blocked') }, 10),
    'replay resumed: the block arrives, and the answers are fresh again');
ok(wait_until(sub { (status()->{watermark} // 0) == $w2 }, 10),
    'uco_status shows the watermark of the primary again');

# ---------------------------------------------------------------- promotion
is(standby_psql('SELECT pg_promote()'), 't', 'the standby is promoted');
ok(wait_until(sub {
    read_file(loader_log()) =~ /the database has left recovery \(promoted\)/
}, 10), 'the loader notices, on the same connection');
standby_psql(q{UPDATE uco.card SET status = 'active' WHERE id = 934});
ok(wait_until(sub { all_are('34', 'eligible') }, 10),
    'a change on the promoted server arrives');
sleep 3;
ok(all_are('34', 'eligible'),
    'and 3 s later, past uco_max_staleness, the answers are not stale:'
    . ' a promoted server is in sync by definition');

is(loader_stop(), 0, 'the loader stops cleanly');
unlike(read_file(loader_log()), qr/\b(?:warn|error)\b/i,
    'and logged no warning or error');
nginx_stop();
check_no_alerts(error_log_since($log_start), '093-standby');
