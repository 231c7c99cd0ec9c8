# Corrupt snapshots: with a good generation serving, a corrupt next
# generation (truncated, checksum mismatch, wrong magic / version / byte
# order, section bounds beyond the file with a valid checksum, a missing
# file) is refused with an [error] line and the old generation keeps
# answering 200; then good generations are accepted again.
#
# The corrupt files come from t/data/make-bad.pl.  This test also makes
# the reproducible fixtures in t/data/bad/ with it (generation 2,
# normalized header) and checks that "policy-loader --inspect" refuses
# each of them.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.category (bit, code) VALUES (0, 'pensioner');
INSERT INTO uco.holder (id, categories) VALUES (1, 1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (51, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('51', 32), 51),
    ('social', '5151', 51);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (5001, uco.secret_hash('secret-5001'));
INSERT INTO uco.partner_terminal (partner_id, terminal)
    VALUES (5001, 'T-1');
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories)
    VALUES (501, 5001, 'percent', 10, 1);
SQL

my $MAKE_BAD = data_dir() . '/make-bad.pl';
my $LOADER = loader_path();
my @KINDS = qw(truncated truncated-header checksum magic version byte-order
    section-past-end section-overflow);
my $URI = '/v1/eligibility?terminal=T-1&card=' . ('51' x 32);

# answers of several requests, so that both workers are asked
sub answers {
    return map {
        my $r = http_get($URI, Authorization => 'Bearer 5001.secret-5001');
        my $j = json_decode($r->{body}) // {};
        "$r->{status} " . ($j->{decision} // $j->{error} // '?') . ' '
            . ($j->{generation} // '-')
            . (ref $j->{programme} ? " $j->{programme}{value}" : '');
    } 1 .. 6;
}

# make one file of that kind for generation $gen; return its path
sub make_bad {
    my ($kind, $gen, $good) = @_;
    my $dir = tmpdir() . "/bad-$gen";
    my ($rc, $out) = capture([$^X, $MAKE_BAD, '--generation', $gen, $good,
        $dir, $kind]);
    die "make-bad.pl $kind failed: $out" if $rc;
    return "$dir/$kind.ucs";
}

my $g = ctl_generation();
my $good = snapshot_path($g);
ok(-s $good, "a good generation $g");

# ---- the fixtures in t/data/bad/
my ($rc, $out) = capture([$^X, $MAKE_BAD, '--generation', 2, '--normalize',
    $good, data_dir() . '/bad']);
is($rc, 0, 'make-bad.pl makes t/data/bad/') or diag($out);
for my $kind (@KINDS) {
    my $file = data_dir() . "/bad/$kind.ucs";
    ok(-e $file, "t/data/bad/$kind.ucs exists");
    ($rc, $out) = capture([$LOADER, '--inspect', $file]);
    is($rc, 1, "policy-loader --inspect refuses $kind.ucs") or diag($out);
}
my $resealed = make_bad('good', 2, $good);
($rc, $out) = capture([$LOADER, '--inspect', $resealed]);
is($rc, 0, 'policy-loader --inspect accepts the input resealed by'
    . ' make-bad.pl (its checksum is right)') or diag($out);

# ---- the module refuses each; the old generation keeps answering
my $log_start = error_log_mark();
nginx_start();
is_deeply([answers()], [("200 eligible $g 10") x 6],
    "generation $g is served");

my $next = $g;
for my $kind ('missing', @KINDS) {
    $next++;
    install($kind, $next) unless $kind eq 'missing';
    my $mark = error_log_mark();
    set_ctl_generation($next);

    is_deeply([answers()], [("200 eligible $g 10") x 6],
        "$kind: generation $next refused, generation $g still answers");
    my @err = grep { /\[error\]/ } split /\n/, error_log_since($mark);
    ok(@err, "$kind: an [error] line is logged")
        and note($err[0]);
}

sub install {
    my ($kind, $gen) = @_;
    my $data = read_file(make_bad($kind, $gen, $good));
    write_file(snapshot_path($gen), $data, 0644);
}

# ---- good generations are accepted again
$next++;
install('good', $next);
set_ctl_generation($next);
is_deeply([answers()], [("200 eligible $next 10") x 6],
    "a good file published by hand (generation $next) is accepted");

psql(q{UPDATE uco.programme SET discount_percent = 20 WHERE id = 501});
my $g2 = loader_once();
cmp_ok($g2, '>', $next, "the loader publishes generation $g2");
is_deeply([answers()], [("200 eligible $g2 20") x 6],
    'and it is served');

nginx_stop();
check_no_alerts(error_log_since($log_start), '050-bad-snapshot');
