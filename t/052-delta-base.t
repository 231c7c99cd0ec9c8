# A delta generation names its base by generation, size and checksum
# (docs/snapshot-format.md).  A worker keeps the base it maps; a delta
# whose base is missing, or is not the file the delta names, is refused
# with one [error] line and counted in uco_snapshot_refused_total, and
# the worker keeps serving what it had; policy-loader --rollback refuses
# such a delta too.  The forged deltas are the loader's own, with one
# field of the delta record changed and the checksum made valid again,
# so that the base check, not the checksum, refuses them.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use Digest::SHA qw(sha256);

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (53, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('53', 32), 53);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (5301, uco.secret_hash('secret-5301'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (531, 5301, 'percent', 10);
SQL

my $URI = '/v1/eligibility?card=' . ('53' x 32);
my $CONFIG = <<'CONF';
location = /v1/eligibility { uco_eligibility; }
location = /metrics { uco_metrics; }
CONF

# header: generation at 32, checksum at 56 (32 bytes); the delta record
# follows the 344-byte header: base generation at 344, checksum at 360
my ($GEN, $SUM, $BASE_GEN, $BASE_SUM) = (32, 56, 440, 456);

sub answers {
    return map {
        my $r = http_get($URI, Authorization => 'Bearer 5301.secret-5301');
        my $j = json_decode($r->{body}) // {};
        "$r->{status} " . ($j->{decision} // $j->{error} // '?') . ' '
            . ($j->{generation} // '-');
    } 1 .. 6;
}

sub metric {
    my ($name) = @_;
    my $r = http_get('/metrics');
    return $r->{body} =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# the delta $from as generation $gen, with $edit applied, resealed
sub forge {
    my ($from, $gen, $edit) = @_;
    my $b = read_file(snapshot_path($from));
    $edit->(\$b);
    substr($b, $GEN, 8) = pack 'Q<', $gen;
    substr($b, $SUM, 32) = "\0" x 32;
    substr($b, $SUM, 32) = sha256($b);
    write_file(snapshot_path($gen), $b, 0644);
}

sub inspect {
    my ($gen) = @_;
    my ($rc, $out) = capture([loader_path(), 'inspect', snapshot_path($gen)]);
    my %f = $out =~ /^(\w+): (.*)$/mg;
    $f{rc} = $rc;
    return \%f;
}

my $log_start = error_log_mark();
nginx_start(config => $CONFIG);
my $base = ctl_generation();
loader_start(args => ['-i', '0.2']);
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 53});
ok(wait_until(sub { ctl_generation() > $base
    && !grep { !/^200 card_blocked / } answers() }, 15),
    'the change is published and served');
my $delta = ctl_generation();
loader_stop();

my $f = inspect($delta);
is($f->{kind}, 'delta', "generation $delta is a delta");
is($f->{base_generation}, $base, "over base $base");
is_deeply([answers()], [("200 card_blocked $delta") x 6],
    'every worker serves the delta');
my $refused = metric('uco_snapshot_refused_total');

# ---- a delta whose base file does not exist
my $missing = $delta + 10;
forge($delta, $missing, sub { substr(${$_[0]}, $BASE_GEN, 8) = pack 'Q<',
    $delta + 100 });
is(inspect($missing)->{rc}, 0, "generation $missing is valid on its own");
my $mark = error_log_mark();
set_ctl_generation($missing);
is_deeply([answers()], [("200 card_blocked $delta") x 6],
    'a delta over a missing base is refused: the workers keep serving');
like(error_log_since($mark), qr/\[error\].*snapshot generation $missing refused: its base generation \d+ cannot be used/,
    'with an [error] line that names the base');
cmp_ok(metric('uco_snapshot_refused_total'), '>', $refused,
    'counted in uco_snapshot_refused_total');

# ---- a delta that names the right base file with another checksum
my $wrong = $delta + 20;
forge($delta, $wrong, sub { substr(${$_[0]}, $BASE_SUM, 1) ^= "\x01" });
$mark = error_log_mark();
set_ctl_generation($wrong);
is_deeply([answers()], [("200 card_blocked $delta") x 6],
    'a delta over a base with another checksum is refused');
like(error_log_since($mark), qr/\[error\].*snapshot generation $wrong refused: base snapshot missing or mismatched/,
    'as a mismatched base');

# ---- --rollback checks the base too
for my $bad ($missing, $wrong) {
    my ($rc, $out) = capture([loader_path(), '-o', snapdir(),
        '--rollback', $bad]);
    isnt($rc, 0, "--rollback to the forged delta $bad fails");
    like($out, qr/rollback refused: generation $bad(?: is a delta over generation \d+, whose file cannot be read|: base generation $base: base snapshot missing or mismatched)/,
        'and says why') or diag($out);
}
my ($rc, $out) = capture([loader_path(), '-o', snapdir(), '--rollback',
    $delta]);
is($rc, 0, "--rollback to the real delta $delta works") or diag($out);
is_deeply([answers()], [("200 card_blocked $delta") x 6],
    "and generation $delta is served");

unlink snapshot_path($missing), snapshot_path($wrong);
nginx_stop();
my $log = error_log_since($log_start);
check_no_alerts($log, '052-delta-base');
