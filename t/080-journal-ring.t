# The decision journal in the module: every decision gets a decision_id
# in the answer and a record in the ring file, which Python's msgpack (an
# independent decoder, tools/journal-dump) reads back complete, with the
# card's id and never the identifier sent; ids are unique and increase;
# a full ring rejects (503 journal_full) or drops as configured and counts
# either way; errors before a decision are not journaled; bad directives
# are refused; each worker has the whole ring mapped from its start.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

data_sql(<<'SQL');
INSERT INTO uco.category (bit, code) VALUES (0, 'pensioner');
INSERT INTO uco.holder (id, categories)
    VALUES (1, uco.category_mask('pensioner'));
INSERT INTO uco.card (id, holder_id, kind, status, valid_until) VALUES
    (81, 1, 'bank', 'active', '2099-12-31'),
    (82, 1, 'bank', 'blocked', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('81', 32), 81),
    ('hashpan', repeat('82', 32), 82);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (8001, uco.secret_hash('secret-8001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories)
    VALUES (801, 8001, 'percent', 10, uco.category_mask('pensioner'));
SQL

my $DUMP = repo_root() . '/tools/journal-dump';
my $JDIR = tmpdir() . '/journal';
my $RING = "$JDIR/journal.ring";
my $AUTH = 'Bearer 8001.secret-8001';
my $CARD = '81' x 32;

ctl_generation();    # sets up the test directory
mkdir $JDIR;

sub dump_ring {
    my ($rc, $out) = capture(['/usr/bin/python3', $DUMP, $RING]);
    die "journal-dump failed: $out" if $rc;
    my @lines = map { json_decode($_) } split /\n/, $out;
    my $header = shift(@lines)->{header};
    return ($header, map { $_->{record} } @lines);
}

sub start {
    my (%o) = @_;
    unlink $RING unless $o{keep};
    nginx_start(http_config => "uco_journal $JDIR;\n"
        . ($o{extra} // ''));
}

sub ask {
    my ($card, $query) = @_;
    return http_get("/v1/eligibility?card=$card" . ($query // ''),
        Authorization => $AUTH);
}

# ---------------------------------------------------------------- records

start(extra => "uco_journal_node 7;\n");

my $mark = error_log_mark();
my @answers = (ask($CARD, '&amount=150000&terminal=till-1'),
    ask($CARD), ask('82' x 32, '&terminal=till-2'), ask('99' x 32));
my $bad = ask('zz');

is_deeply([map { $_->{status} } @answers], [200, 200, 200, 200],
    'four decisions answered');
is($bad->{status}, 400, 'a malformed card is an error, not a decision');

my @ids = map { (json_decode($_->{body}) // {})->{decision_id} } @answers;
ok(!grep({ !defined || !/^[1-9][0-9]*$/ } @ids),
    'every answer has a decision_id, a string of digits') or diag("@ids");
is((json_decode($bad->{body}) // {})->{decision_id}, undef,
    'an error carries no decision_id');

my ($h, @recs) = dump_ring();
is(scalar @recs, 4, 'four records in the ring, none for the error');
is($h->{appended}, 4, 'appended counts them');
is_deeply([map { "$_->{id}" } @recs], \@ids,
    'records carry the ids the answers gave, in order');
ok($ids[0] < $ids[1] && $ids[1] < $ids[2] && $ids[2] < $ids[3],
    'ids increase');
is($ids[0] % 1024, 7, 'the node is in the low bits of the id');

my $now = time * 1000;
is_deeply($recs[0], {
    id => $recs[0]{id}, time => $recs[0]{time}, node => 7,
    partner => 8001, terminal => 'till-1', card => 81, programme => 801,
    decision => 'eligible', reason => undef, discount => 15000,
    amount => 150000, generation => ctl_generation(),
}, 'an eligible decision, every field');
ok(abs($recs[0]{time} - $now) < 60_000, 'its time is now, in ms');
is_deeply([@{ $recs[1] }{qw(decision programme amount discount terminal)}],
    ['eligible', 801, undef, undef, undef],
    'no amount: amount and discount nil');
is_deeply([@{ $recs[2] }{qw(decision card programme terminal)}],
    ['card_blocked', 82, undef, 'till-2'], 'a blocked card');
is_deeply([@{ $recs[3] }{qw(decision card)}], ['card_unknown', undef],
    'an unknown card: no card id');
my $raw = read_file($RING);
ok(index($raw, $CARD) < 0 && index($raw, '81' x 8) < 0,
    'the identifier sent is nowhere in the ring');
check_no_alerts(error_log_since($mark), 'records');

# each worker maps the whole ring at start (MADV_POPULATE_WRITE, Linux
# 5.14), so that no append takes a page fault
my @workers = nginx_single_process() ? (nginx_pid())
    : split ' ', (capture(['pgrep', '-P', nginx_pid()]))[1];
my @rss = map {
    my $smaps = eval { read_file("/proc/$_/smaps") } // '';
    $smaps =~ m{journal\.ring\n(?:(?!^[0-9a-f]+-).*\n)*?Rss:\s+(\d+) kB}m
        ? $1 : -1 } @workers;
SKIP: {
    my ($major, $minor) = (POSIX::uname())[2] =~ /^(\d+)\.(\d+)/;
    skip 'MADV_POPULATE_WRITE needs Linux 5.14', 1
        if $major < 5 || ($major == 5 && $minor < 14);
    skip 'the workers\' smaps cannot be read', 1 if grep { $_ < 0 } @rss;
    is_deeply(\@rss, [map { (-s $RING) / 1024 } @workers],
        'every worker has all of the ring mapped')
        or diag("ring rss: @rss kB of " . (-s $RING) / 1024);
}
nginx_stop();

# ------------------------------------------ restart keeps what is pending

start(keep => 1, extra => "uco_journal_node 7;\n");
my $id5 = (json_decode(ask($CARD)->{body}) // {})->{decision_id} // 0;
($h, @recs) = dump_ring();
is(scalar @recs, 5, 'a restart keeps undelivered records');
ok($id5 > $ids[3], 'ids keep increasing across restarts');
nginx_stop();

# ---------------------------------------------------------------- overflow

# the smallest ring: 64 slots
start(extra => "uco_journal_size 20k;\nuco_journal_full drop_and_count;\n");
$mark = error_log_mark();
my @st = map { ask($CARD)->{status} } 1 .. 70;
is(scalar(grep { $_ == 200 } @st), 70, 'drop_and_count: every check '
    . 'answered');
($h, @recs) = dump_ring();
is($h->{nslots}, 64, '20k holds 64 slots');
is_deeply([@{$h}{qw(appended dropped rejected)}], [64, 6, 0],
    'drop_and_count: 64 kept, 6 dropped and counted');
check_no_alerts(error_log_since($mark), 'drop_and_count');
nginx_stop();

start(extra => "uco_journal_size 20k;\nuco_journal_full reject;\n");
@st = map { ask($CARD) } 1 .. 66;
is_deeply([map { $_->{status} } @st[62 .. 65]], [200, 200, 503, 503],
    'reject: a full ring refuses the check');
like($st[65]{body}, qr/"error":"journal_full"/, 'with journal_full');
($h, @recs) = dump_ring();
is_deeply([@{$h}{qw(appended dropped rejected)}], [64, 0, 2],
    'reject: 64 kept, 2 rejected and counted');
nginx_stop();

# ---------------------------------------------------------------- config

for my $case (["uco_journal_node 1024;\n", qr/uco_journal_node.*0 \.\. 1023/],
    ["uco_journal_size 8k;\n", qr/uco_journal_size.*at least/],
    ["uco_journal_full sometimes;\n", qr/invalid value "sometimes"/])
{
    my ($rc, $out) = nginx_config_test(
        http_config => "uco_journal $JDIR;\n$case->[0]");
    ok($rc != 0, "refused: $case->[0]");
    like($out . eval { read_file(servroot() . '/logs/nginx-t.log') },
        $case->[1], 'with a message naming it');
}

# a ring of another size is refused, not overwritten
write_file($RING, "x" x 5000);
my ($rc, $out) = nginx_config_test(http_config => "uco_journal $JDIR;\n");
ok($rc != 0, 'a ring file of the wrong size is refused');
like($out, qr/has 5000 bytes/, 'naming the sizes');
is(-s $RING, 5000, 'and left alone');
