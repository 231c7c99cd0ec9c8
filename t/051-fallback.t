# A worker that finds the published generation invalid falls back to the
# newest valid generation kept on disk that is newer than the one it
# serves, instead of staying on what it had: a worker idle through
# generations N-1 and N that then sees a damaged N+1 serves N, not N-2.
#
# Deterministic without timing: the generation files and the control
# file are written by hand (as t/050-bad-snapshot.t does), so no worker
# ever sees the generations in between published.  Checked: the fallback
# (one [error] line, uco_snapshot_fallbacks_total), no log flood while
# the control file stays, a search that skips a missing and a damaged
# candidate (refused at its header or at its checksum), the published
# generation taken as soon as the control file changes, and new workers
# (nginx started on a damaged publication) falling back before their
# first request.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (52, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('52', 32), 52);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (5201, uco.secret_hash('secret-5201'));
SQL

my $MAKE_BAD = data_dir() . '/make-bad.pl';
my $g = ctl_generation();
my $good = snapshot_path($g);
my $URI = '/v1/eligibility?card=' . ('52' x 32);
my $CONFIG = <<'CONF';
location = /v1/eligibility { uco_eligibility; }
location = /metrics { uco_metrics; }
location = /status { uco_status; }
CONF

# the generations that answer six requests (both workers are likely asked)
sub answers {
    return map {
        my $r = http_get($URI, Authorization => 'Bearer 5201.secret-5201');
        my $j = json_decode($r->{body}) // {};
        "$r->{status} " . ($j->{generation} // '-');
    } 1 .. 6;
}

# wait (bounded) until every answer comes from generation $gen
sub served_by {
    my ($gen) = @_;
    my @got;
    wait_until(sub {
        @got = answers();
        return !grep { $_ ne "200 $gen" } @got;
    }, 10);
    return @got;
}

sub metric {
    my ($name) = @_;
    my $r = http_get('/metrics');
    return $r->{body} =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}

# write generation $gen as a file of that kind (make-bad.pl's names,
# "good" for a valid one), as the loader would have kept it
sub install {
    my ($kind, $gen) = @_;
    my $dir = tmpdir() . "/made-$gen";
    my ($rc, $out) = capture([$^X, $MAKE_BAD, '--generation', $gen, $good,
        $dir, $kind]);
    die "make-bad.pl $kind failed: $out" if $rc;
    write_file(snapshot_path($gen), read_file("$dir/$kind.ucs"), 0644);
}


my $log_start = error_log_mark();
nginx_start(config => $CONFIG);
is_deeply([served_by($g)], [("200 $g") x 6], "generation $g is served");
is(metric('uco_snapshot_fallbacks_total'), 0, 'no fallback yet');

# ---- N-1 and N kept, a damaged N+1 published: the workers serve N
install('good', $g + 1);
install('good', $g + 2);
install('checksum', $g + 3);
my $mark = error_log_mark();
set_ctl_generation($g + 3);
is_deeply([served_by($g + 2)], [('200 ' . ($g + 2)) x 6],
    'checksum of generation ' . ($g + 3) . ' refused: generation '
    . ($g + 2) . ", the newest valid one kept, answers (not $g)");
my $log = error_log_since($mark);
like($log, qr/\[error\].*generation ${\($g + 3)} refused: checksum/,
    'the refusal is logged at error');
my ($bad, $kept) = ($g + 3, $g + 2);
my $said = "published snapshot generation $bad is refused: serving"
    . " generation $kept instead";
like($log, qr/\[error\].*\Q$said\E/,
    'and the fallback, at error');
unlike($log, qr/serving snapshot generation ${\($g + 1)}\b/,
    'the older kept generation is not loaded on the way');
# every worker must have fallen back (one count each) before the no-flood
# check below: one the six requests missed would log its refusal there;
# the scrapes are requests too, and drive it
my $workers = nginx_single_process() ? 1 : 2;
ok(wait_until(sub {
    (metric('uco_snapshot_fallbacks_total') // 0) >= $workers;
}, 10), "uco_snapshot_fallbacks_total counts it, once a worker");
my $st = json_decode(http_get('/status')->{body}) // {};
is($st->{refused_generation}, $g + 3, 'status names the refused one');

# ---- no flood: the published one is not retried while the control
# file stays
$mark = error_log_mark();
answers() for 1 .. 3;
is(scalar(grep { /\[error\]/ } split /\n/, error_log_since($mark)), 0,
    'no more [error] lines while the control file stays');

# ---- the search skips a damaged candidate (refused at the checksum,
# then at the header) and a missing one
install('good', $g + 4);
install('checksum', $g + 5);
install('magic', $g + 7);
$mark = error_log_mark();
set_ctl_generation($g + 7);
is_deeply([served_by($g + 4)], [('200 ' . ($g + 4)) x 6],
    'generation ' . ($g + 4) . ' answers: ' . ($g + 5) . ' damaged, '
    . ($g + 6) . ' missing, ' . ($g + 7) . ' published and damaged');
my @err = grep { /\[error\]/ } split /\n/, error_log_since($mark);
ok(@err >= 2 && !grep({ !/generation ${\($g + 7)}/ } @err),
    'the [error] lines are about the published generation only')
    or diag(join "\n", @err);

# ---- a change of the control file: the published one is taken
install('good', $g + 8);
set_ctl_generation($g + 8);
is_deeply([served_by($g + 8)], [('200 ' . ($g + 8)) x 6],
    'a valid publication is served at once');

# ---- new workers: nginx started on a damaged publication
nginx_stop();
install('truncated', $g + 9);
set_ctl_generation($g + 9);
$mark = error_log_mark();
nginx_start(config => $CONFIG);
is_deeply([answers()], [('200 ' . ($g + 8)) x 6],
    'workers started on a damaged generation serve the newest valid kept'
    . ' one from their first request');
like(error_log_since($mark), qr/serving generation ${\($g + 8)} instead/,
    'and log it');

# ---- the loader publishes again: served
my $g2 = loader_once();
cmp_ok($g2, '>', $g + 9, "the loader publishes generation $g2");
is_deeply([served_by($g2)], [("200 $g2") x 6], 'and it is served');

nginx_stop();
check_no_alerts(error_log_since($log_start), '051-fallback');
