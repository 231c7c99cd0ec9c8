# Metrics and status: uco_metrics exposes Prometheus text that promtool
# accepts, with decisions by partner, responses by status, auth failures
# by reason summed over both workers through the shared zone; swaps and
# refused generations are counted; a table too small for the partners
# counts the rest as partner="other"; uco_status answers JSON about the
# served snapshot, 503 before there is one.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (81, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('81', 32), 81);
INSERT INTO uco.partner (id, secret_sha256) VALUES
    (8001, uco.secret_hash('secret-8001')),
    (8002, uco.secret_hash('secret-8002'));
INSERT INTO uco.partner (id, secret_sha256, status)
    VALUES (8003, uco.secret_hash('secret-8003'), 'suspended');
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (801, 8001, 'percent', 10), (802, 8002, 'percent', 5);
SQL

my $PROMTOOL = -x '/usr/bin/promtool' ? '/usr/bin/promtool' : undef;
my $CONFIG = <<'CONF';
location = /v1/eligibility { uco_eligibility; }
location = /metrics { uco_metrics; }
location = /status { uco_status; }
CONF
my $CARD = '/v1/eligibility?card=' . ('81' x 32);
my $UNKNOWN = '/v1/eligibility?card=' . ('99' x 32);

sub ask {
    my ($uri, $cred) = @_;
    return http_get($uri, defined $cred ? (Authorization => "Bearer $cred")
        : ())->{status};
}

# {series => value} of one scrape; series as written, labels included
sub scrape {
    my $r = http_get('/metrics');
    die "GET /metrics: $r->{status}\n" unless $r->{status} == 200;
    my %m = map { /^(\S+) (\S+)$/ ? ($1 => $2) : () }
        grep { !/^#/ } split /\n/, $r->{body};
    return ($r, \%m);
}

sub promtool_ok {
    my ($text, $name) = @_;
    SKIP: {
        skip('promtool is not installed (apt-get install prometheus)', 1)
            unless $PROMTOOL;
        my $file = tmpdir() . '/scrape.txt';
        write_file($file, $text);
        my ($rc, $out) = capture(['sh', '-c',
            "$PROMTOOL check metrics < '$file'"]);
        is($rc, 0, "$name: promtool check metrics accepts the page")
            or diag($out);
    }
}

my $g = ctl_generation();
my $mark = error_log_mark();
nginx_start(config => $CONFIG);

my ($r, $m) = scrape();
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
    'Prometheus text format');
promtool_ok($r->{body}, 'before any request');
is($m->{'uco_snapshot_generation'}, $g, "serving generation $g");
is($m->{'uco_snapshot_published_generation'}, $g, 'published generation');
is($m->{'uco_snapshot_loaded'}, 1, 'a snapshot is loaded');
is($m->{'uco_snapshot_records{kind="cards"}'}, 1, 'one card');
is($m->{'uco_snapshot_records{kind="identifiers"}'}, 1, 'one identifier');
is($m->{'uco_snapshot_records{kind="partners"}'}, 3, 'three partners');
cmp_ok($m->{'uco_snapshot_bytes'}, '==', -s snapshot_path($g),
    'snapshot bytes are the file size');
cmp_ok($m->{'uco_snapshot_age_seconds'}, '<', 600, 'snapshot age');
is($m->{'uco_decisions_total{partner="other",decision="eligible"}'}, 0,
    'the overflow row is there, at zero');

# requests spread over both workers (one connection each)
is(ask($CARD, '8001.secret-8001'), 200, 'eligible') for 1 .. 5;
is(ask($UNKNOWN, '8001.secret-8001'), 200, 'unknown card') for 1 .. 2;
is(ask($CARD, '8002.secret-8002'), 200, 'second partner');
is(ask($CARD), 401, 'no credentials');
is(ask($CARD, 'garbage'), 401, 'malformed credentials');
is(ask($CARD, '8001.wrong'), 401, 'wrong secret') for 1 .. 3;
is(ask($CARD, '9999.secret'), 401, 'unknown partner');
is(ask($CARD, '8003.secret-8003'), 403, 'suspended partner');
is(ask('/v1/eligibility?card=zz', '8001.secret-8001'), 400, 'bad card');

($r, $m) = scrape();
promtool_ok($r->{body}, 'after requests');
my %want = (
    'uco_decisions_total{partner="8001",decision="eligible"}' => 5,
    'uco_decisions_total{partner="8001",decision="card_unknown"}' => 2,
    'uco_decisions_total{partner="8001",decision="card_blocked"}' => 0,
    'uco_decisions_total{partner="8002",decision="eligible"}' => 1,
    'uco_responses_total{status="200"}' => 8,
    'uco_responses_total{status="401"}' => 6,
    'uco_responses_total{status="403"}' => 1,
    'uco_responses_total{status="400"}' => 1,
    'uco_auth_failures_total{reason="missing"}' => 1,
    'uco_auth_failures_total{reason="malformed"}' => 1,
    'uco_auth_failures_total{reason="bad_secret"}' => 3,
    'uco_auth_failures_total{reason="unknown_partner"}' => 1,
    'uco_auth_failures_total{reason="partner_suspended"}' => 1,
    'uco_auth_failures_total{reason="terminal_not_allowed"}' => 0,
    'uco_metrics_partner_slots_used' => 2,
    'uco_metrics_partner_slots' => 1024,
);
is($m->{$_}, $want{$_}, "$_ = $want{$_}") for sort keys %want;
ok(!exists $m->{'uco_decisions_total{partner="8003",decision="eligible"}'},
    'a refused partner gets no decision series');

# ---- swaps and refusals
my $swaps = $m->{'uco_snapshot_swaps_total'};
cmp_ok($swaps, '>=', 2, "both workers loaded the first generation ($swaps)");
my $g2 = loader_once();
is(ask($CARD, '8001.secret-8001'), 200, 'answer after a new generation')
    for 1 .. 4;
# every worker must serve $g2 before the refusal below: a worker that
# never mapped it would go on serving the first generation
my $workers = nginx_single_process() ? 1 : 2;
ok(wait_until(sub {
    ($r, $m) = scrape();
    $m->{'uco_snapshot_swaps_total'} >= $swaps + $workers;
}, 10), 'swaps counted, one a worker');
is($m->{'uco_snapshot_generation'}, $g2, "scrape shows generation $g2");
is($m->{'uco_snapshot_refused_total'}, 0, 'nothing refused yet');

set_ctl_generation($g2 + 100);
($r, $m) = scrape();
cmp_ok($m->{'uco_snapshot_refused_total'}, '>=', 1,
    'a published generation without a file is counted as refused');
is($m->{'uco_snapshot_generation'}, $g2, 'the old generation is served');
is($m->{'uco_snapshot_published_generation'}, $g2 + 100,
    'and the published one is shown');
promtool_ok($r->{body}, 'after a refusal');

my $st = http_get('/status');
is($st->{status}, 200, 'status 200 while a generation is served');
my $j = json_decode($st->{body}) // {};
is($j->{status}, 'ok', 'status ok');
is($j->{generation}, $g2, 'status generation');
is($j->{refused_generation}, $g2 + 100, 'status names the refused one');
is($j->{format_version}, unpack('V', substr(read_file(snapshot_path($g2)), 8, 4)),
    'format version, as in the file header');
is_deeply($j->{counts}, { cards => 1, identifiers => 1, partners => 3,
    programmes => 2, terminals => 0 }, 'status counts');
ok(defined $j->{watermark} && $j->{watermark} > 0, 'status watermark');
is(http_request('POST', '/status', [], 'x')->{status}, 405,
    'status refuses POST');
set_ctl_generation($g2);

# ---- a reload keeps the zone, so the counters
my $key = 'uco_decisions_total{partner="8001",decision="eligible"}';
my $before = (scrape())[1]->{$key};
my $log_at = error_log_mark();
kill 'HUP', nginx_pid();
ok(wait_until(sub { error_log_since($log_at) =~ /start worker process/ }, 10),
    'nginx reloaded');
sleep 0.5;
($r, $m) = scrape();
is($m->{$key}, $before, "the counters survive a reload ($before)");
nginx_stop();
like(error_log_since($mark), qr/generation \d+ refused/,
    'the refusal is logged');
check_no_alerts(error_log_since($mark), 'metrics');

ok(!grep({ /^uco_journal_/ } keys %$m), 'no journal series without one');

# ---- a one-slot table: the second partner is counted as "other"; with
# a journal, its counters are on the page too
my $jdir = tmpdir() . '/journal';
mkdir $jdir;
nginx_start(config => $CONFIG,
    http_config => "uco_metrics_partners 1;\nuco_journal $jdir;");
ask($CARD, '8001.secret-8001') for 1 .. 2;
ask($CARD, '8002.secret-8002') for 1 .. 3;
($r, $m) = scrape();
promtool_ok($r->{body}, 'with overflow and a journal');
is($m->{'uco_journal_records_total{outcome="appended"}'}, 5,
    'five decisions appended to the journal');
is($m->{'uco_journal_queue_depth'}, 5, 'and waiting in the ring');
cmp_ok($m->{'uco_journal_capacity'}, '>=', 64, 'ring capacity');
is($m->{'uco_metrics_partner_slots'}, 1, 'one slot');
is($m->{'uco_decisions_total{partner="8001",decision="eligible"}'}, 2,
    'the first partner holds the slot');
is($m->{'uco_decisions_total{partner="other",decision="eligible"}'}, 3,
    'the second is counted in the overflow row');
nginx_stop();

# ---- no snapshot yet
my $empty = tmpdir() . '/empty';
mkdir $empty, 0755;
nginx_start(config => $CONFIG, http_config => "uco_snapshot $empty;");
$st = http_get('/status');
is($st->{status}, 503, 'status 503 without a snapshot');
is((json_decode($st->{body}) // {})->{status}, 'no_snapshot',
    'status says no_snapshot');
($r, $m) = scrape();
is($m->{'uco_snapshot_loaded'}, 0, 'metrics: nothing loaded');
promtool_ok($r->{body}, 'without a snapshot');
nginx_stop();

run_tests();

__DATA__

=== TEST 1: uco_metrics_partners must be positive
--- http_config
uco_metrics_partners 0;
--- config
location = /metrics { uco_metrics; }
--- must_die
--- error_log
"uco_metrics_partners" must be between 1 and

=== TEST 2: uco_status without uco_snapshot
--- no_uco_snapshot
--- config
location = /status { uco_status; }
--- must_die
--- error_log eval
qr/\[emerg\].*require "uco_snapshot"/
