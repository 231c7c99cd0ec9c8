# policy-loader journal reads a batch's Redis replies itself, each read
# waiting (SO_RCVLOWAT) for the fewest bytes the missing replies can
# take, less what it holds of them: replies that arrive in pieces, split
# anywhere in a reply, the last reply's end alone, are all read without
# a read ever waiting for the timeout, and every record arrives once, in
# order.  The pieces come
# from a proxy of the test's own between the journal and a real Redis
# (loopback); the journal's --timeout is 30 s, so that one read waiting
# for bytes that never come fails the test's 20 s wait.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (97, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('97', 32), 97);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (9701, uco.secret_hash('secret-9701'));
SQL

my $LOADER = loader_path();
my $STREAM = repo_root() . '/tools/journal-stream';

ctl_generation();    # sets up the test directory
my $T = tmpdir();
my $JDIR = "$T/journal";
my $LOG = "$T/journal.log";
mkdir $JDIR;

my $rport = redis_start();
nginx_start(http_config => "uco_journal $JDIR;\n");

# ------------------------------------------------------------- the proxy

# the journal's commands to Redis as they come; Redis's replies back,
# one read of them in two (its last 1 to 7 bytes 20 ms after the rest),
# the next in pieces of 1 to 7 bytes 0.2 ms apart, each piece its own
# TCP segment
my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
    Listen => 4, ReuseAddr => 1) or die "listen: $!\n";
my $pport = $listen->sockport;
my $proxy = fork // die "fork: $!\n";
if ($proxy == 0) {
    srand(97);
    while (my $c = $listen->accept) {
        setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
        my $r = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$rport")
            or POSIX::_exit(1);
        my $sel = IO::Select->new($c, $r);
        my $held = 0;
        PUMP: while (1) {
            for my $h ($sel->can_read(60)) {
                my $n = sysread $h, my $buf, 65536;
                last PUMP unless $n;
                if ($h == $c) {
                    syswrite $r, $buf;
                    next;
                }
                # all but the last 1 to 7 bytes at once, then the rest
                # (a reply's end held back: fewer bytes to come than the
                # shortest reply), or the whole in pieces of 1 to 7
                if ($held = !$held) {
                    my $tail = length $buf > 8 ? 1 + int rand 7 : 0;
                    syswrite $c, substr($buf, 0, length($buf) - $tail, '');
                    select undef, undef, undef, 0.02;
                    syswrite $c, $buf;
                    next;
                }
                while (length $buf) {
                    syswrite $c, substr($buf, 0, 1 + int rand 7, '');
                    select undef, undef, undef, 0.0002;
                }
            }
        }
        close $c;
        close $r;
    }
    POSIX::_exit(0);
}
close $listen;
END { local $?; if ($proxy) { kill "TERM", $proxy; waitpid $proxy, 0 } }

# ---------------------------------------------------------------- journal

my $jpid = fork // die "fork: $!\n";
if ($jpid == 0) {
    open STDOUT, '>>', $LOG;
    open STDERR, '>&', \*STDOUT;
    exec $LOADER, 'journal', '--ring', $JDIR, '--spool', "$T/spool",
        '--redis', "127.0.0.1:$pport", '--timeout', '30',
        '--interval', '0.05' or POSIX::_exit(127);
}
END { local $?; if ($jpid) { kill "TERM", $jpid; waitpid $jpid, 0 } }

my @ids;
sub ask {
    my ($n) = @_;
    for (1 .. $n) {
        my $r = http_get('/v1/eligibility?card=' . ('97' x 32)
            . '&amount=' . (1 + @ids),
            Authorization => 'Bearer 9701.secret-9701');
        my $id = (json_decode($r->{body}) // {})->{decision_id};
        push @ids, $id if $r->{status} == 200 && defined $id;
    }
}

sub stream_ids {
    my ($rc, $out) = capture(['/usr/bin/python3', $STREAM, '-p', $rport]);
    return map { (json_decode($_) // {})->{fields}{id} // () }
        grep { /\S/ } split /\n/, $out;
}

# a batch at a time: each batch's replies come through the proxy, in
# turn held back at their end or in small pieces
my $stalled = 0;
for my $round (1 .. 24) {
    ask(1 + $round % 5);
    wait_until(sub { stream_ids() >= @ids }, 10) or $stalled++;
}
is($stalled, 0, '24 batches, each delivered within 10 s: no read waited '
    . 'for the 30 s timeout');
ask(200);
ok(wait_until(sub { stream_ids() >= @ids }, 20),
    '200 more at once, delivered within 20 s');
is_deeply([stream_ids()], [sort { $a <=> $b } @ids],
    'each once, in decision order');
my $log = eval { read_file($LOG) } // '';
unlike($log, qr/timeout|spooling|bytes after/,
    'no timeout, no spool, nothing left over');
like($log, qr/connected to redis 127\.0\.0\.1:$pport/,
    'the journal went through the proxy');

kill 'TERM', $jpid;
waitpid $jpid, 0;
is($? >> 8, 0, 'SIGTERM: exit 0');
undef $jpid;

done_testing();
