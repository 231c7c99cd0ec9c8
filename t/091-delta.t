# The loader's delta path: after a full build (the base), every change is
# published as a delta over that base (docs/snapshot-format.md): a card
# blocked, a holder's categories (also a new combination), a new card
# with its identifiers, an identifier added, removed and moved to another
# card, a card deleted, a partner suspended, a programme added or changed
# and a transaction that commits out of order.  Each shows as a delta
# generation over the unchanged base; past --delta-max-cards the loader
# builds a new base in the background, and the answers stay those of the
# database throughout.

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
INSERT INTO uco.partner (id, secret_sha256) VALUES
    (9101, uco.secret_hash('secret-9101')),
    (9102, uco.secret_hash('secret-9102'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories)
    VALUES (9111, 9101, 'percent', 10, 1), (9121, 9102, 'percent', 5, 0);
SQL

my @CARDS = (911, 912, 913, 914, 915);

sub answer {
    my ($card, $partner) = @_;
    $partner //= 9101;
    my $r = http_get("/v1/eligibility?kind=social&card=$card",
        Authorization => "Bearer $partner.secret-$partner");
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
    } @CARDS;
}

my $mark = 0;
sub since { my $l = read_file(loader_log()); my $s = substr($l, $mark);
            $mark = length $l; return $s }

sub inspect {
    my ($gen) = @_;
    my ($rc, $out) = capture([loader_path(), 'inspect', snapshot_path($gen)]);
    my %f = $out =~ /^(\w+): (.*)$/mg;
    $f{rc} = $rc;
    return \%f;
}

my $base;

# wait until the state is $want; return how the loader published it
sub expect {
    my ($want, $name) = @_;
    my $ok = wait_until(sub { state() eq $want }, 10);
    ok($ok, $name) or diag('got: ' . state());
    wait_until(sub { substr(read_file(loader_log()), $mark)
        =~ /published generation/ }, 5);
    my $log = since();
    return 'none' unless $log =~ /published generation (\d+) \((\w+)/;
    my ($gen, $how) = ($1, $2);
    return 'full' if $how eq 'cards';
    my $f = inspect($gen);
    return "delta over $f->{base_generation}" if $f->{kind} eq 'delta';
    return "? $f->{kind}";
}

my $log_start = error_log_mark();
nginx_start();
$mark = length read_file(loader_log());
my $g0 = ctl_generation();
my $PROM = tmpdir() . '/loader.prom';
loader_start(args => ['-i', '0.2', '-v', '--metrics-file', $PROM]);
ok(wait_until(sub { substr(read_file(loader_log()), $mark)
    =~ /going on from generation $g0 \(the base/ }, 30),
    "the daemon goes on from generation $g0, published at setup");
ok(wait_until(sub { state() eq '911 eligible, 912 not_eligible category,'
    . ' 913 not_eligible category, 914 card_unknown, 915 card_unknown' },
    10), 'the daemon starts');
since();
$base = ctl_generation();
is($base, $g0, 'without building');
is(inspect($base)->{kind}, 'base', "generation $base is a base");
my $base_ino = (stat snapshot_path($base))[1];
my $D = "delta over $base";

psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 911});
is(expect('911 card_blocked, 912 not_eligible category,'
    . ' 913 not_eligible category, 914 card_unknown, 915 card_unknown',
    'a card blocked'), $D, 'a card blocked: a delta');

# the loader's metrics say what the live delta lies over
sub prom {
    my %m = (eval { read_file($PROM) } // '') =~ /^(uco_loader_\w+) (\d+)$/mg;
    return \%m;
}
ok(wait_until(sub { (prom()->{uco_loader_generation} // 0)
    == ctl_generation() }, 5), 'the metrics file has the delta');
is(prom()->{uco_loader_base_generation}, $base,
    'uco_loader_base_generation is the base');
is(prom()->{uco_loader_delta_cards}, 1, 'uco_loader_delta_cards 1');

psql(q{UPDATE uco.card SET valid_until = '2001-01-01' WHERE id = 911;
       UPDATE uco.card SET status = 'active' WHERE id = 911});
is(expect('911 card_expired, 912 not_eligible category,'
    . ' 913 not_eligible category, 914 card_unknown, 915 card_unknown',
    'a card expired by date'), $D, 'two changes of one card: a delta');

psql(q{UPDATE uco.holder SET categories = 1 WHERE id = 2});
is(expect('911 card_expired, 912 eligible, 913 not_eligible category,'
    . ' 914 card_unknown, 915 card_unknown', 'a holder gains a category'),
    $D, 'categories to a set the base has: a delta');

psql(q{UPDATE uco.holder SET categories = 3 WHERE id = 3});
is(expect('911 card_expired, 912 eligible, 913 eligible,'
    . ' 914 card_unknown, 915 card_unknown',
    'a holder gets a new combination'), $D,
    'categories to a new set: a delta');

psql(q{INSERT INTO uco.holder (id, categories) VALUES (4, 1);
       INSERT INTO uco.card (id, holder_id, kind, valid_until)
           VALUES (914, 4, 'bank', '2099-12-31');
       INSERT INTO uco.card_identifier (kind, value, card_id)
           VALUES ('social', '914', 914)});
is(expect('911 card_expired, 912 eligible, 913 eligible,'
    . ' 914 eligible, 915 card_unknown', 'a new card'), $D,
    'a new card with an identifier: a delta');

psql(q{INSERT INTO uco.card_identifier (kind, value, card_id)
           VALUES ('social', '915', 913)});
is(expect('911 card_expired, 912 eligible, 913 eligible,'
    . ' 914 eligible, 915 eligible', 'an identifier added'), $D,
    'an identifier added to a base card: a delta');

psql(q{DELETE FROM uco.card_identifier WHERE card_id = 912});
is(expect('911 card_expired, 912 card_unknown, 913 eligible,'
    . ' 914 eligible, 915 eligible', 'an identifier removed'), $D,
    'an identifier removed: a delta');

# 913's own identifier moves to card 911 (expired): the base still maps
# '913' to card 913, the delta says otherwise
psql(q{UPDATE uco.card_identifier SET card_id = 911 WHERE value = '913'});
is(expect('911 card_expired, 912 card_unknown, 913 card_expired,'
    . ' 914 eligible, 915 eligible', 'an identifier moved'), $D,
    'an identifier moved to another card: a delta');
psql(q{DELETE FROM uco.card_identifier WHERE value = '913'});
is(expect('911 card_expired, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 eligible', 'the moved identifier removed'), $D,
    'then removed from the card it moved to: unknown, not the base card');

psql(q{UPDATE uco.programme SET required_categories = 0 WHERE id = 9111});
is(expect('911 card_expired, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 eligible', 'a programme changed'), $D,
    'a programme changed: a delta with the partners');
is(answer(914, 9102), 'eligible', 'the other partner answers');

psql(q{UPDATE uco.partner SET status = 'suspended' WHERE id = 9102});
ok(wait_until(sub { !grep { answer(914, 9102) !~ /partner_suspended/ }
    1 .. 4 }, 10), 'a partner suspended')
    or diag(answer(914, 9102));
is(expect('911 card_expired, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 eligible', 'others unchanged'), $D,
    'a partner suspended: a delta');

psql(q{INSERT INTO uco.programme (id, partner_id, discount_type,
           discount_kopecks) VALUES (9112, 9101, 'fixed', 7000)});
sub programme_of {
    my $r = http_get('/v1/eligibility?kind=social&card=914&amount=10000',
        Authorization => 'Bearer 9101.secret-9101');
    my $j = json_decode($r->{body}) // {};
    return ref $j->{programme} ? $j->{programme}{id} : 0;
}
ok(wait_until(sub { !grep { programme_of() != 9112 } 1 .. 4 }, 10),
    'a programme added is answered');
is(expect('911 card_expired, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 eligible', 'others unchanged'), $D,
    'a programme added: a delta');

# out of order: A takes its change-log id first and commits last
my $a = psql_session();
print {$a} "BEGIN;\nUPDATE uco.card SET status = 'replaced'"
    . " WHERE id = 914;\n";
ok(wait_until(sub { psql(q{SELECT count(*) FROM pg_stat_activity
    WHERE state = 'idle in transaction'}) > 0 }, 5), 'A is open');
psql(q{UPDATE uco.card SET valid_until = '2099-12-31' WHERE id = 911});
is(expect('911 eligible, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 eligible', "B's change"), $D,
    "B: a delta while A is open");
print {$a} "COMMIT;\n";
close $a;
is(expect('911 eligible, 912 card_unknown, 913 card_unknown,'
    . ' 914 card_replaced, 915 eligible', "A's late commit"), $D,
    "A's late commit: a delta");

psql(q{DELETE FROM uco.card WHERE id = 912});
is(expect('911 eligible, 912 card_unknown, 913 card_unknown,'
    . ' 914 card_replaced, 915 eligible', 'a card deleted'), $D,
    'a deleted card: a delta');
my $del = inspect(ctl_generation());
is($del->{deleted_cards}, 1, 'the delta holds the deleted card as a '
    . 'tombstone');
is($del->{delta_partners}, 'own', 'and the changed partners');

is((stat snapshot_path($base))[1], $base_ino,
    'the base file was never rewritten');
like(error_log_since($log_start),
    qr/serving snapshot generation \d+ \(delta of \d+ cards over base generation $base /,
    'nginx serves deltas over the base');

# a rollback to a kept delta: the base is kept with it
my @gens = snapshot_files();
ok(-e snapshot_path($base), 'the base outlives --keep while a delta '
    . 'needs it: ' . "@gens");

# ---- a restarted loader goes on from the live delta and catches up
# from the change log: no full build
loader_stop();
my $live = ctl_generation();
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 911});
since();
loader_start(args => ['-i', '0.2', '-v']);
is(expect('911 card_blocked, 912 card_unknown, 913 card_unknown,'
    . ' 914 card_replaced, 915 eligible', 'a change while it was down'), $D,
    'a change made while the loader was down: a delta over the same base');
like(read_file(loader_log()), qr/going on from generation $live \(a delta over base $base,/,
    'the restarted loader went on from the live delta');
psql(q{UPDATE uco.card SET status = 'active' WHERE id = 911});
is(expect('911 eligible, 912 card_unknown, 913 card_unknown,'
    . ' 914 card_replaced, 915 eligible', 'and after it'), $D,
    'the next change: a delta over the same base');
is(inspect(ctl_generation())->{deleted_cards}, 1,
    'the overlay it went on from is kept (the deleted card)');

# ---- past --delta-max-cards: a new base built in the background while
# deltas go on over the old one; the answers stay right across it
loader_stop();
my $base2 = loader_once();
$mark = length read_file(loader_log());
loader_start(args => ['-i', '0.2', '-v', '--delta-max-cards', '2']);
ok(wait_until(sub { substr(read_file(loader_log()), $mark)
    =~ /going on from generation $base2 \(the base/ }, 30),
    "a restarted loader goes on from the base $base2 that --once built");
since();
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 911});
is(expect('911 card_blocked, 912 card_unknown, 913 card_unknown,'
    . ' 914 card_replaced, 915 eligible', 'one card'), "delta over $base2",
    'one card: a delta');
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 913});
is(expect('911 card_blocked, 912 card_unknown, 913 card_unknown,'
    . ' 914 card_replaced, 915 card_blocked', 'two cards'),
    "delta over $base2", 'two cards: a delta');
psql(q{UPDATE uco.card SET status = 'active' WHERE id = 914});
is(expect('911 card_blocked, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 card_blocked', 'three cards'),
    "delta over $base2", 'three cards, past --delta-max-cards 2: '
    . 'still a delta over the old base');
my $RE = qr/base generation (\d+) built in the background/;
ok(wait_until(sub { read_file(loader_log()) =~ $RE }, 30),
    'meanwhile a new base is built in the background');
my ($base3) = read_file(loader_log()) =~ $RE;
ok(wait_until(sub {
    (inspect(ctl_generation())->{base_generation} // 0) == $base3 }, 10),
    "and a delta over base $base3 is published");
is(inspect($base3)->{kind}, 'base', "generation $base3 is a base");
cmp_ok(ctl_generation(), '>', $base3, 'the delta over it is newer');
is(state(), '911 card_blocked, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 card_blocked', 'the answers did not change');
since();
psql(q{UPDATE uco.card SET status = 'active' WHERE id = 911});
is(expect('911 eligible, 912 card_unknown, 913 card_unknown,'
    . ' 914 eligible, 915 card_blocked', 'after the new base'),
    "delta over $base3", 'deltas continue over the new base');
is_deeply([glob(snapdir() . '/.snap-*')], [], 'no temp file is left');

# ---- the change log no longer holds what a restart needs: a full build
loader_stop();
psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 914});
psql(q{DELETE FROM uco.change_log});
psql(q{UPDATE uco.card SET valid_until = '2098-12-31' WHERE id = 911});
since();
loader_start(args => ['-i', '0.2', '-v']);
is(expect('911 eligible, 912 card_unknown, 913 card_unknown,'
    . ' 914 card_blocked, 915 card_blocked', 'change log emptied'), 'full',
    'rows of the change log deleted past the live generation: a full '
    . 'build');
like(read_file(loader_log()), qr/change log no longer holds every change/,
    'the loader says why');

# every published file is whole and valid
for my $gen (snapshot_files()) {
    my ($rc, $out) = capture([loader_path(), '--inspect',
        snapshot_path($gen)]);
    is($rc, 0, "generation $gen is valid") or diag($out);
}

loader_stop();
nginx_stop();
check_no_alerts(error_log_since($log_start), '091-delta');
unlike(read_file(loader_log()), qr/delta failed/, 'no delta failed');
