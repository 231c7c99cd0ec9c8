# The loader's patch path: a change of existing cards (status, validity,
# a holder's categories within the sets the snapshot has) is published
# by patching a copy of the live snapshot; everything else (identifiers,
# a new or deleted card, a new category set, partners and programmes) is
# published by a full build.  Either way the answers are those of the
# database, including a transaction that commits out of order.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.category (bit, code) VALUES (0, 'pensioner'), (1, 'student');
INSERT INTO uco.holder (id, categories) VALUES (1, 1), (2, 0), (3, 2);
INSERT INTO uco.card (id, holder_id, kind, valid_until) VALUES
    (911, 1, 'bank', '2099-12-31'),
    (912, 2, 'bank', '2099-12-31'),
    (913, 3, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('social', '911', 911), ('social', '912', 912), ('social', '913', 913);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (9101, uco.secret_hash('secret-9101'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories)
    VALUES (9111, 9101, 'percent', 10, 1);
SQL

sub answer {
    my ($card) = @_;
    my $r = http_get("/v1/eligibility?kind=social&card=$card",
        Authorization => 'Bearer 9101.secret-9101');
    my $j = json_decode($r->{body}) // {};
    return ($j->{decision} // $j->{error} // '?')
        . ($j->{reason} ? " $j->{reason}" : '');
}

# every card's answer, from both workers
sub state {
    return join ', ', map {
        my $c = $_;
        my %a = map { (answer($c) => 1) } 1 .. 4;
        "$c " . join('|', sort keys %a);
    } 911, 912, 913;
}

my $mark = 0;
sub since { my $l = read_file(loader_log()); my $s = substr($l, $mark);
            $mark = length $l; return $s }

# wait until the state is $want; return how the loader published it
sub expect {
    my ($want, $name) = @_;
    my $ok = wait_until(sub { state() eq $want }, 10);
    ok($ok, $name) or diag('got: ' . state());
    wait_until(sub { substr(read_file(loader_log()), $mark)
        =~ /published generation/ }, 5);
    my $log = since();
    return $log =~ /patched \d+ cards/ ? 'patch'
        : $log =~ /published generation \d+ \(cards=/ ? 'full' : 'none';
}

my $log_start = error_log_mark();
nginx_start();
$mark = length read_file(loader_log());
loader_start(args => ['-i', '0.2', '-v']);
# its first build is a full one, whatever it finds
ok(wait_until(sub { substr(read_file(loader_log()), $mark)
    =~ /published generation \d+ \(cards=/ }, 30),
    'the daemon publishes its first generation in full');
expect('911 eligible, 912 not_eligible category, 913 not_eligible category',
    'the daemon starts');

psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 911});
is(expect('911 card_blocked, 912 not_eligible category,'
    . ' 913 not_eligible category', 'a card blocked'), 'patch',
    'a card blocked: patched');

psql(q{UPDATE uco.card SET valid_until = '2001-01-01' WHERE id = 911;
       UPDATE uco.card SET status = 'active' WHERE id = 911});
is(expect('911 card_expired, 912 not_eligible category,'
    . ' 913 not_eligible category', 'a card expired by date'), 'patch',
    'two changes of one card: patched');

psql(q{UPDATE uco.holder SET categories = 1 WHERE id = 2});
is(expect('911 card_expired, 912 eligible, 913 not_eligible category',
    'a holder gains a category'), 'patch',
    'categories to a set the snapshot has: patched');

psql(q{UPDATE uco.holder SET categories = 3 WHERE id = 3});
is(expect('911 card_expired, 912 eligible, 913 eligible',
    'a holder gets a new combination'), 'full',
    'categories to a new set: full build');

psql(q{DELETE FROM uco.card_identifier WHERE card_id = 912});
is(expect('911 card_expired, 912 card_unknown, 913 eligible',
    'an identifier removed'), 'full', 'identifiers: full build');

psql(q{UPDATE uco.programme SET required_categories = 0});
is(expect('911 card_expired, 912 card_unknown, 913 eligible',
    'a programme changed'), 'full', 'programmes: full build');

# out of order: A takes its change-log id first and commits last
my $a = psql_session();
print {$a} "BEGIN;\nUPDATE uco.card SET status = 'replaced'"
    . " WHERE id = 913;\n";
ok(wait_until(sub { psql(q{SELECT count(*) FROM pg_stat_activity
    WHERE state = 'idle in transaction'}) > 0 }, 5), 'A is open');
psql(q{UPDATE uco.card SET valid_until = '2099-12-31' WHERE id = 911});
is(expect('911 eligible, 912 card_unknown, 913 eligible',
    "B's change"), 'patch', "B: patched while A is open");
print {$a} "COMMIT;\n";
close $a;
is(expect('911 eligible, 912 card_unknown, 913 card_replaced',
    "A's late commit"), 'patch', "A's late commit: patched");

psql(q{DELETE FROM uco.card WHERE id = 912});
is(expect('911 eligible, 912 card_unknown, 913 card_replaced',
    'a card deleted'), 'full', 'a deleted card: full build');

# every published file is whole and valid
for my $gen (snapshot_files()) {
    my ($rc, $out) = capture([loader_path(), '--inspect',
        snapshot_path($gen)]);
    is($rc, 0, "generation $gen is valid") or diag($out);
}

loader_stop();
nginx_stop();
check_no_alerts(error_log_since($log_start), '091-patch');
unlike(read_file(loader_log()), qr/patch failed/, 'no patch failed');
