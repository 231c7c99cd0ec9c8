# Swapping generations without a reload: a change in PostgreSQL published
# by "policy-loader --once" is answered by the running workers at once; the
# loader daemon publishes a change by itself within seconds; --keep removes
# old generations; nginx started before any snapshot answers 503 and then
# serves the first one published.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (41, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('41', 32), 41);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (4001, uco.secret_hash('secret-4001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (401, 4001, 'percent', 10);
SQL

my $URI = '/v1/eligibility?card=' . ('41' x 32);

# several answers, so that both workers are asked
sub answers {
    my ($n) = @_;
    return map {
        my $r = http_get($URI, Authorization => 'Bearer 4001.secret-4001');
        my $j = json_decode($r->{body}) // {};
        "$r->{status} " . ($j->{decision} // $j->{error} // '?')
            . ' ' . ($j->{generation} // '-')
            . (ref $j->{programme} ? " $j->{programme}{value}" : '');
    } 1 .. ($n // 6);
}

my $log_start = error_log_mark();

# ---- a change published by --once reaches running workers
my $g1 = ctl_generation();
ok($g1, "generation $g1 published at setup");
nginx_start();
my $master = nginx_pid();

is_deeply([answers()], [("200 eligible $g1 10") x 6],
    'the first generation is served');

psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 41});
my $g2 = loader_once();
cmp_ok($g2, '>', $g1, "loader --once published a higher generation ($g2)");
is_deeply([answers()], [("200 card_blocked $g2") x 6],
    'the next answers are card_blocked from the new generation');
is(nginx_pid(), $master, 'same nginx master');
ok(kill(0, $master), 'the master is still running');
unlike(error_log_since($log_start), qr/reconfiguring|signal 1 \(SIGHUP\)/,
    'nginx was not reloaded');

# ---- the daemon publishes a change by itself
loader_start();
psql(q{UPDATE uco.card SET status = 'active' WHERE id = 41});
my $t0 = time;
my $back = wait_until(sub { (answers(1))[0] =~ /^200 eligible \d+ 10$/ },
    10, 0.1);
ok($back, 'the daemon published the unblocked card by itself within 10 s'
    . sprintf(' (%.1f s)', time - $t0));

# read before the change: the daemon may publish before psql returns
my $g_before = ctl_generation();
psql(q{UPDATE uco.programme SET discount_percent = 15 WHERE id = 401});
$t0 = time;
my $changed = wait_until(sub { (answers(1))[0] =~ /^200 eligible \d+ 15$/ },
    10, 0.1);
ok($changed, 'the daemon published a programme change within 10 s'
    . sprintf(' (%.1f s)', time - $t0));
cmp_ok(ctl_generation(), '>', $g_before, 'with a new generation');
my @all = answers();
my $g_now = ctl_generation();
is_deeply(\@all, [("200 eligible $g_now 15") x 6],
    'every worker answers from the newest generation');

my $idle_gen = ctl_generation();
sleep 2.5;
is(ctl_generation(), $idle_gen,
    'the daemon publishes nothing while nothing changes');

my $status = loader_stop();
ok(defined $status, 'the daemon stops on SIGTERM');

# ---- --keep
loader_once(keep => 2) for 1 .. 3;
my $cur = ctl_generation();
my @gens = snapshot_files();
is(scalar @gens, 2, '--keep 2 leaves two generations: ' . "@gens");
is($gens[-1], $cur, 'the newest file is the published generation');
ok(!-e snapshot_path($g1) && !-e snapshot_path($g2),
    'older generations are deleted');
is_deeply([answers()], [("200 eligible $cur 15") x 6],
    'the published generation is served after the old files are gone');

nginx_stop();

# ---- no snapshot yet: 503, then the first generation is served
my $late = tmpdir() . '/late';
mkdir $late, 0755 or die "mkdir $late: $!";
chmod 0755, $late;
nginx_start(http_config => "uco_snapshot $late;");
is_deeply([answers(2)], [('503 no_snapshot -') x 2],
    'an empty snapshot directory answers 503');
my $first = loader_once(dir => $late);
ok($first, "the loader published generation $first into it");
# without a control file a worker looks for one at most once a second
ok(wait_until(sub { !grep { !/^200 / } answers() }, 3, 0.1),
    'the first generation is served within 3 s, without a reload');
is_deeply([answers()], [("200 eligible $first 15") x 6],
    'and by every worker');
nginx_stop();

check_no_alerts(error_log_since($log_start), '040-swap');
like(read_file(loader_log()), qr/published generation/,
    'the loader logs what it published');
