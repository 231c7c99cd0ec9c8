# policy-loader journal: decisions travel from the ring to a Redis stream
# and to PostgreSQL complete; through a Redis outage and a PostgreSQL
# outage during load they are spooled (the spool visible in the ring
# header) and replayed, and each arrives exactly once in PostgreSQL; a
# loader killed (SIGKILL) after reading a batch and before acknowledging
# it loses nothing; the reports count the decisions; a record of another
# msgpack layout is delivered (and counted), one nginx could not have
# written is skipped (and counted); the stream's cap (MAXLEN, MINID) is
# sent as the options say; bad options exit 2.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use POSIX ();

data_sql(<<'SQL');
INSERT INTO uco.category (bit, code) VALUES (0, 'pensioner');
INSERT INTO uco.holder (id, categories)
    VALUES (1, uco.category_mask('pensioner')), (2, 0);
INSERT INTO uco.card (id, holder_id, kind, valid_until) VALUES
    (91, 1, 'bank', '2099-12-31'), (92, 2, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('91', 32), 91), ('hashpan', repeat('92', 32), 92);
INSERT INTO uco.partner (id, kind, secret_sha256)
    VALUES (9001, 'carrier', uco.secret_hash('secret-9001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories)
    VALUES (901, 9001, 'percent', 50, uco.category_mask('pensioner'));
SQL

my $LOADER = loader_path();
my $DUMP = repo_root() . '/tools/journal-dump';

ctl_generation();    # sets up the test directory
my $JDIR = tmpdir() . '/journal';
my $SPOOL = tmpdir() . '/spool';
my $LOG = tmpdir() . '/journal.log';
mkdir $JDIR;

my $rport = redis_start();
nginx_start(http_config => "uco_journal $JDIR;\n");

my @ids;
my $journal_pid;

sub ask {
    my ($n, $card) = @_;
    for (1 .. $n) {
        my $r = http_get('/v1/eligibility?card=' . ($card // '91' x 32)
            . '&amount=10000&terminal=bus-7',
            Authorization => 'Bearer 9001.secret-9001');
        my $id = (json_decode($r->{body}) // {})->{decision_id};
        push @ids, $id if $r->{status} == 200 && defined $id;
    }
}

sub journal_start {
    die "journal loader already running\n" if $journal_pid;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $LOG;
        open STDERR, '>&', \*STDOUT;
        exec $LOADER, 'journal', '--ring', $JDIR, '--db',
            pg_conninfo(),
            '--redis', "127.0.0.1:$rport", '--spool', $SPOOL,
            '--interval', '0.01', '--timeout', '0.5',
            '--metrics-file', tmpdir() . '/journal.prom'
            or POSIX::_exit(127);
    }
    $journal_pid = $pid;
}

sub journal_kill {
    my ($sig) = @_;
    my $pid = $journal_pid or return;
    undef $journal_pid;
    kill $sig // 'TERM', $pid;
    waitpid $pid, 0;
    return $?;
}

END { journal_kill('KILL') if $journal_pid }


sub pg_count {
    my $out = eval {
        psql('SELECT count(*), count(DISTINCT decision_id) '
            . 'FROM uco.decision')
    } // '-1|-1';
    return split /\|/, $out;
}

sub pg_has_all {
    my ($n, $d) = pg_count();
    return $n == scalar @ids && $d == scalar @ids;
}

# the stream's entries in order, as tools/journal-stream prints them:
# the msgpack record decoded by Python's msgpack, the other fields text
my $STREAM = repo_root() . '/tools/journal-stream';
sub stream_entries {
    my ($key) = @_;
    my ($rc, $out) = capture(['/usr/bin/python3', $STREAM, '-p', $rport,
        $key // 'uco:decisions']);
    return map { json_decode($_) // {} } grep { /\S/ } split /\n/, $out;
}

# the records' ids; an entry whose id field is not its record's has none
sub stream_ids {
    map {
        my $id = $_->{record}{id} // '';
        $id eq ($_->{fields}{id} // '-') ? $id : 'mismatch';
    } stream_entries();
}

sub ring_header {
    my ($rc, $out) = capture(['/usr/bin/python3', $DUMP,
        "$JDIR/journal.ring"]);
    return (json_decode((split /\n/, $out)[0]) // {})->{header} // {};
}

sub log_text { eval { read_file($LOG) } // '' }

sub same_set {
    my ($got, $want, $name) = @_;
    my %w = map { $_ => 1 } @$want;
    my %g = map { $_ => 1 } @$got;
    my @missing = grep { !$g{$_} } @$want;
    my @extra = grep { !$w{$_} } @$got;
    ok(!@missing && !@extra, $name)
        or diag("missing: @missing[0 .. ($#missing > 5 ? 5 : $#missing)];"
            . " extra: @extra");
}

# ---------------------------------------------------------------- delivery

journal_start();
ask(8);
ask(2, '92' x 32);
ok(wait_until(\&pg_has_all, 10), 'ten decisions in PostgreSQL');
ok(wait_until(sub { stream_ids() == 10 }, 10), 'ten in the stream');
same_set([split /\n/, psql('SELECT decision_id FROM uco.decision')], \@ids,
    'PostgreSQL holds exactly the ids the answers gave');
same_set([stream_ids()], \@ids, 'the stream too');

is(psql("SELECT node, partner_id, terminal, card_id, programme_id, "
        . "decision, reason, discount, amount, generation = "
        . ctl_generation() . ", abs(extract(epoch FROM now() - decided_at))"
        . " < 60 FROM uco.decision WHERE decision_id = $ids[0]"),
    '0|9001|bus-7|91|901|eligible||5000|10000|t|t',
    'a row is complete');
is(psql("SELECT decision, reason, card_id, programme_id, discount FROM "
        . "uco.decision WHERE decision_id = $ids[9]"),
    'not_eligible|category|92||', 'a not_eligible row');
my ($first) = map { $_->{record} } stream_entries();
is_deeply($first, { id => $ids[0], time => $first->{time}, node => 0,
    partner => 9001, terminal => 'bus-7', card => 91, programme => 901,
    decision => 'eligible', reason => undef, discount => 5000,
    amount => 10000, generation => ctl_generation() },
    'a stream entry holds the whole record, as msgpack');
is_deeply([map { [sort keys %$_] } (stream_entries())[0]],
    [[qw(entry fields record)]], 'and the id as a field, nothing else');
is(psql("SELECT (extract(epoch FROM decided_at) * 1000)::bigint FROM "
        . "uco.decision WHERE decision_id = $ids[0]"), $first->{time},
    'decided_at is the record\'s time, to the millisecond');
is(ring_header()->{tail}, ring_header()->{head}, 'the ring is drained');

# ------------------------------------------------------------ redis outage

redis_stop();
ask(15);
ok(wait_until(\&pg_has_all, 10), 'Redis down: PostgreSQL still gets all');
ok(wait_until(sub { (ring_header()->{spool_records} // 0) == 15 }, 10),
    'the 15 Redis could not take are spooled, visible in the ring header');
ok(ring_header()->{spool_bytes} > 15 * 100, 'with their size');
like(log_text(), qr/journal: redis: .*spooling/, 'the outage is logged');
ask(5);
redis_start();
ok(wait_until(sub { stream_ids() == 30 }, 15),
    'Redis back: the spool is replayed');
same_set([stream_ids()], \@ids, 'every id once in the stream, in order')
    and is_deeply([stream_ids()], [sort { $a <=> $b } @ids],
        'in decision order');
ok(wait_until(sub { (ring_header()->{spool_records} // 1) == 0 }, 5),
    'the spool is empty again');
ok(pg_has_all(), 'PostgreSQL has each exactly once');

# ------------------------------------------------------- postgresql outage

pg_stop();
ask(20);
ok(wait_until(sub { (ring_header()->{spool_records} // 0) == 20 }, 10),
    'PostgreSQL down: 20 spooled');
ok(wait_until(sub { stream_ids() == 50 }, 10), 'Redis still gets all');
pg_start();
ask(5);
ok(wait_until(\&pg_has_all, 40), 'PostgreSQL back: each exactly once');
same_set([split /\n/, psql('SELECT decision_id FROM uco.decision')], \@ids,
    'no id missing, none extra');
like(log_text(), qr/journal: postgresql spool replayed/,
    'the replay is logged');

# --------------------------------------------- killed before acknowledging

# an exclusive lock holds the loader inside its transaction: it has read
# the batch and not released it
my $locker = fork // die "fork: $!\n";
if ($locker == 0) {
    open STDOUT, '>', '/dev/null';
    open STDERR, '>&', \*STDOUT;
    exec 'psql', '-X', '-q', '-d', pg_conninfo(),
        '-c', 'BEGIN; LOCK TABLE uco.decision; '
        . 'SELECT pg_sleep(60)' or POSIX::_exit(127);
}
ok(wait_until(sub { psql("SELECT count(*) FROM pg_locks WHERE "
    . "relation = 'uco.decision'::regclass AND mode = "
    . "'AccessExclusiveLock' AND granted") == 1 }, 10), 'table locked');
ask(7);
ok(wait_until(sub { psql("SELECT count(*) FROM pg_stat_activity WHERE "
    . "application_name = 'policy-loader' AND wait_event_type = 'Lock'")
    == 1 }, 10), 'the loader waits inside its transaction');
my $h = ring_header();
is($h->{head} - $h->{tail}, 7, 'the batch is read, not acknowledged');
journal_kill('KILL');
kill 'TERM', $locker;
waitpid $locker, 0;
psql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE '
    . "query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()");
is(ring_header()->{tail}, $h->{tail}, 'the kill left them in the ring');
journal_start();
ok(wait_until(\&pg_has_all, 15), 'restarted: all there, each once');
ok(wait_until(sub { stream_ids() >= 57 }, 10), 'and in Redis');
same_set([do { my %u = map { $_ => 1 } stream_ids(); keys %u }], \@ids,
    'Redis has every id (at least once)');

# ---------------------------------------------------------------- reports

is(psql("SELECT decisions, eligible, discount_total FROM "
        . "uco.partner_month_report('Asia/Yekaterinburg')"),
    (scalar @ids) . '|' . (@ids - 2) . '|' . (@ids - 2) * 5000,
    'partner report: decisions, eligible, total discount');
is(psql('SELECT programme_id, rides, compensation, rides_without_fare '
        . 'FROM uco.carrier_month'),
    '901|' . (@ids - 2) . '|' . (@ids - 2) * 5000 . '|0',
    'carrier report: benefit rides and compensation');
is(psql("SELECT count(DISTINCT tableoid) FROM uco.decision"), 1,
    'all in one monthly partition');
is(psql("SELECT count(*) FROM pg_inherits WHERE inhparent = "
        . "'uco.decision'::regclass"), 3,
    'that month\'s and the two next, made ahead');

is(journal_kill('TERM'), 0, 'SIGTERM: exit 0');
unlike(log_text(), qr/error:|malformed/, 'no errors logged');

# a torn append (a crash inside write()) is cut at the next start
write_file("$SPOOL/postgresql.spool", "UCSP\x10\0");
journal_start();
ask(1);
ok(wait_until(\&pg_has_all, 10), 'a torn spool frame: cut, and on');
like(log_text(), qr/postgresql\.spool: 6 bytes after the last good frame/,
    'the cut is logged');
is(-s "$SPOOL/postgresql.spool", 0, 'the spool is empty');

# ------------------------------------------- records nginx did not write

# a record put into the ring's next slot by hand, as a writer would
sub ring_put {
    my ($rec) = @_;
    open my $fh, '+<:raw', "$JDIR/journal.ring" or die "ring: $!\n";
    my $hdr;
    sysseek $fh, 0, 0;
    sysread $fh, $hdr, 256;
    my ($slots, $head) = (unpack('Q<', substr($hdr, 24, 8)),
        unpack('Q<', substr($hdr, 64, 8)));
    my $off = 4096 + ($head % $slots) * 256;
    sysseek $fh, $off + 8, 0;
    syswrite $fh, pack('L<L<', length $rec, 0) . $rec;
    sysseek $fh, $off, 0;
    syswrite $fh, pack('Q<', $head + 1);
    sysseek $fh, 64, 0;
    syswrite $fh, pack('Q<', $head + 1);
    close $fh;
}
sub mp_str { my ($s) = @_; chr(0xa0 | length $s) . $s }
sub mp_wide { pack('CQ>', 0xcf, $_[0]) }    # not the smallest form

my $other = 4611686018427400000;
my $now_ms = int(time * 1000);
my %f = (id => mp_wide($other), time => mp_wide($now_ms),
    node => mp_wide(0), partner => mp_wide(9001),
    terminal => mp_str('other-1'), card => "\xc0", programme => "\xc0",
    decision => mp_str('card_unknown'), reason => "\xc0",
    discount => "\xc0", amount => mp_wide(700), generation => mp_wide(1));
my @order = qw(generation amount discount reason decision programme card
    terminal partner node time id);
my $skipped = ring_header()->{skipped};
ring_put(chr(0x80 | 13) . join('', map { mp_str($_) . $f{$_} } @order)
    . mp_str('added') . "\x01");
$f{terminal} = mp_str('bus 7');
$f{id} = mp_wide($other + 1);
ring_put(chr(0x80 | 12) . join('', map { mp_str($_) . $f{$_} } @order));
ok(wait_until(sub { psql("SELECT count(*) FROM uco.decision WHERE "
        . "decision_id = $other") == 1 }, 10),
    'a record of another layout (keys reversed, wide integers, a key '
    . 'added) is delivered');
is(psql("SELECT partner_id, terminal, card_id, decision, amount, "
        . "(extract(epoch FROM decided_at) * 1000)::bigint = $now_ms "
        . "FROM uco.decision WHERE decision_id = $other"),
    '9001|other-1||card_unknown|700|t', 'with its values');
ok(wait_until(sub { ring_header()->{skipped} == $skipped + 1 }, 10),
    'a record whose terminal nginx would refuse is skipped, counted');
like(log_text(), qr/malformed record at \d+ skipped/, 'and logged');
is(psql("SELECT count(*) FROM uco.decision WHERE decision_id = "
        . ($other + 1)), 0, 'not stored');
my $other_entry;
wait_until(sub { ($other_entry) = grep { ($_->{record}{id} // 0) == $other }
    stream_entries() }, 10);
is_deeply($other_entry->{record}{added}, 1,
    'the stream carries the record as it was written (the key added)');
# the metrics file is written once a second and at the exit
is(journal_kill('TERM'), 0, 'SIGTERM: exit 0');
like(read_file(tmpdir() . '/journal.prom'),
    qr/^uco_journal_records_decoded_total\{layout="other"\} 1$/m,
    'the metrics count the one read through msgpack-c');
like(read_file(tmpdir() . '/journal.prom'),
    qr/^uco_journal_records_decoded_total\{layout="fixed"\} [1-9]/m,
    'and the records nginx wrote as fixed');

# ------------------------------------------- the stream's cap, as sent

# a journal process delivering to Redis only, with these options; its pid
sub redis_only {
    my @opts = @_;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>>', $LOG;
        open STDERR, '>&', \*STDOUT;
        exec $LOADER, 'journal', '--ring', $JDIR, '--spool', $SPOOL,
            '--redis', "127.0.0.1:$rport", '--interval', '0.01', @opts
            or POSIX::_exit(127);
    }
    return $pid;
}

# what the journal sends Redis, seen by MONITOR: the cap of each option
my $rows = psql('SELECT count(*) FROM uco.decision');
for my $cap (['--maxlen', '7', qr/"MAXLEN" "~" "7" "\*" "id" "\d+"/],
    ['--minid-age', '60', qr/"MINID" "~" "(\d+)" "\*" "id" "\d+"/])
{
    my $mon = tmpdir() . "/monitor$cap->[0]";
    my $mpid = fork // die "fork: $!\n";
    if ($mpid == 0) {
        open STDOUT, '>', $mon;
        exec 'redis-cli', '-p', $rport, 'MONITOR' or POSIX::_exit(127);
    }
    wait_until(sub { -s $mon }, 5);
    my $pid = redis_only($cap->[0], $cap->[1]);
    my $before = time;
    ask(2);
    my $sent = sub { grep { /"XADD"/ } split /\n/, read_file($mon) };
    ok(wait_until(sub { $sent->() == 2 }, 10), "$cap->[0]: two XADD");
    kill 'TERM', $pid, $mpid;
    waitpid $_, 0 for $pid, $mpid;
    my @x = $sent->();
    like($x[0], $cap->[2], "$cap->[0] $cap->[1]: the cap as the option says");
    if ($cap->[0] eq '--minid-age' && $x[0] =~ $cap->[2]) {
        ok(abs($1 / 1000 - ($before - 60)) < 5,
            'MINID: now less the age, in milliseconds');
    }
}
is(psql('SELECT count(*) FROM uco.decision'), $rows,
    'PostgreSQL was not a sink of these');

# ----------------------------------------------- --redis-entry fields

# the values as fields of their own, as redis-cli shows them
my $fpid = redis_only('--redis-entry', 'fields', '--stream', 'uco:fields');
my $n_ids = @ids;
ask(1);
ask(1, '92' x 32);
ok(wait_until(sub { stream_entries('uco:fields') == 2 }, 10),
    '--redis-entry fields: two entries');
kill 'TERM', $fpid;
waitpid $fpid, 0;
my @fe = stream_entries('uco:fields');
is_deeply($fe[0]{fields}, { id => $ids[$n_ids], time => $fe[0]{fields}{time},
    node => 0, partner => 9001, terminal => 'bus-7', card => 91,
    programme => 901, decision => 'eligible', discount => 5000,
    amount => 10000, generation => ctl_generation() },
    'an entry of fields: every value, none absent');
ok(!exists $fe[0]{record}, 'and no record');
is_deeply($fe[1]{fields}, { id => $ids[$n_ids + 1],
    time => $fe[1]{fields}{time}, node => 0, partner => 9001,
    terminal => 'bus-7', card => 92, decision => 'not_eligible',
    reason => 'category', amount => 10000,
    generation => ctl_generation() },
    'absent values are left out, the reason is there');
ok(abs($fe[0]{fields}{time} / 1000 - time) < 60, 'time in milliseconds');

# ---------------------------------------------------------------- options

for my $case ([[], qr/--ring: the uco_journal directory is required/],
    [['--ring', $JDIR], qr/nowhere to deliver/],
    [['--ring', $JDIR, '--redis', 'h:0'], qr/not HOST\[:PORT\]/],
    [['--ring', $JDIR, '--db', '', '--maxlen', '5', '--minid-age', '9'],
        qr/exclude each other/],
    [['--ring', $JDIR, '--db', '', '--spool-max', '1k'], qr/at least 64k/],
    [['--ring', $JDIR, '--db', '', '--redis-entry', 'json'],
        qr/--redis-entry: "json" is neither record nor fields/],
    [['--bogus'], qr/unknown option --bogus/])
{
    my ($rc, $out) = capture([$LOADER, 'journal', @{ $case->[0] }]);
    is($rc, 2, "journal @{ $case->[0] }: exit 2");
    like($out, $case->[1], 'with a message naming the problem');
}
