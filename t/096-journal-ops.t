# The ring file nginx's master creates is 0660 whatever nginx's umask,
# with the group of its setgid directory (the journal process's group;
# docs/journal.md).
# policy-loader journal as an operator runs it: a config file (-c) whose
# settings the command line overrides; a Redis reached on a unix socket
# only, with AUTH (the default user's password from a file of its own,
# an ACL user's from the config file), no password ever in the log or
# accepted on the command line, a wrong one refused and spooled; the
# metrics file (promtool accepts it: records delivered and spooled per
# sink, spools, ring lag, last delivery); partition retention (months
# made ahead, those past retention-months dropped, reports still right,
# detaching, a role that may only EXECUTE the maintenance); every bad
# option or setting exits 2 with a message naming it.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use POSIX ();

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (96, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('96', 32), 96);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (9601, uco.secret_hash('secret-9601'));
SQL

my $LOADER = loader_path();
my $PROMTOOL = -x '/usr/bin/promtool' ? '/usr/bin/promtool' : undef;

ctl_generation();    # sets up the test directory
my $T = tmpdir();
my $JDIR = "$T/journal";
my $RDIR = "$T/redis-auth";
my $SOCK = "$RDIR/redis.sock";
my $LOG = "$T/journal.log";
my $PROM = "$T/journal.prom";
my $DEFAULT_PW = 'default-pw-0096';
my $ACL_PW = 'acl-pw-0096';
mkdir $JDIR;
mkdir $RDIR;

# ------------------------------------------------------------ the ring file

# a group that is not the master's own: nogroup as root, else a
# supplementary group of the test's user, if it has one
my ($gid) = $> == 0 ? (getgrnam('nogroup'))[2]
    : grep { $_ != $( + 0 } split ' ', $);
chown -1, $gid, $JDIR if defined $gid;
chmod 02750, $JDIR;
my $umask = umask 022;
nginx_start(http_config => "uco_journal $JDIR;\n");
umask $umask;
my @st = stat "$JDIR/journal.ring";
is(sprintf('%04o', $st[2] & 07777), '0660',
    'the ring file is created 0660 under umask 022');
SKIP: {
    skip('no second group to test the setgid directory with', 1)
        unless defined $gid;
    is($st[5], $gid, 'with the group of its setgid directory');
}

# a Redis of the test's own: no TCP port, a password for the default
# user, and an ACL user that may only XADD to uco:* keys
my $redis = fork // die "fork: $!\n";
if ($redis == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$RDIR/redis.out";
    open STDERR, '>&', \*STDOUT;
    exec 'redis-server', '--port', '0', '--unixsocket', $SOCK,
        '--unixsocketperm', '700', '--requirepass', $DEFAULT_PW,
        '--user', 'jrnl', 'on', ">$ACL_PW", '~uco:*', '+xadd', '+ping',
        '--dir', $RDIR, '--save', '', '--appendonly', 'no',
        '--daemonize', 'no', '--logfile', "$RDIR/redis.log"
        or POSIX::_exit(127);
}
my $journal;
END {
    local $?;
    for my $pid (grep { $_ } $journal, $redis) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
}

sub rcli {
    return capture(['redis-cli', '-s', $SOCK, '--no-auth-warning', '-a',
        $DEFAULT_PW, @_]);
}

sub xlen { my (undef, $out) = rcli('XLEN', $_[0]); chomp $out; $out }

ok(wait_until(sub { (rcli('PING'))[1] =~ /PONG/ }, 10),
    'redis-server on a unix socket, with a password');
like((capture(['redis-cli', '-s', $SOCK, 'XLEN', 'x']))[1], qr/NOAUTH/,
    'which refuses clients without AUTH');

sub ask {
    my ($n) = @_;
    for (1 .. $n) {
        my $r = http_get('/v1/eligibility?card=' . ('96' x 32),
            Authorization => 'Bearer 9601.secret-9601');
        is($r->{status}, 200, 'a decision') unless $r->{status} == 200;
    }
}

sub journal_start {
    my (@args) = @_;
    die "journal already running\n" if $journal;
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $LOG;
        open STDERR, '>&', \*STDOUT;
        if (@args && $args[0] eq '--as-nobody') {
            shift @args;
            my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
            $) = "$gid $gid";
            POSIX::setgid($gid) && POSIX::setuid($uid)
                or POSIX::_exit(126);
            exec repo_root() . '/build/policy-loader', 'journal', @args
                or POSIX::_exit(127);
        }
        exec $LOADER, 'journal', @args or POSIX::_exit(127);
    }
    $journal = $pid;
}

sub journal_stop {
    my $pid = $journal or return;
    undef $journal;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    return $?;
}

sub log_text { eval { read_file($LOG) } // '' }

sub metrics {
    my $text = eval { read_file($PROM) } // '';
    return { map { /^(\S+) (\S+)$/ ? ($1 => $2) : () }
        grep { !/^#/ } split /\n/, $text };
}

sub pg_rows { psql('SELECT count(*) FROM uco.decision') }

# ------------------------------------- config file, password from a file

write_file("$T/redis.pw", "$DEFAULT_PW\n");
my $conf = "$T/journal.conf";
write_file($conf, <<"CONF");
# policy-loader journal settings
ring = $JDIR
db = "${\ pg_conninfo()}"
redis_socket = $SOCK
redis-password-file = $T/redis.pw
stream = uco:file
redis-entry = fields
spool = $T/spool
interval = 0.01
timeout = 0.5
metrics-file = $PROM
log-level = debug
syslog = no
CONF

journal_start('-c', $conf, '--stream', 'uco:cli');
ask(5);
ok(wait_until(sub { xlen('uco:cli') == 5 }, 10),
    'AUTH over the unix socket: 5 entries, in the command line\'s stream');
is(xlen('uco:file'), 0, 'the command line won over the file');
like((rcli('XRANGE', 'uco:cli', '-', '+', 'COUNT', 1))[1],
    qr/^partner\n\d+\n(.*\n)*decision\n[a-z_]+$/m,
    'redis-entry = fields from the file: each value a field of its own');
ok(wait_until(sub { pg_rows() == 5 }, 10), 'and 5 rows in PostgreSQL');
like(log_text(), qr/journal: connected to redis \Q$SOCK\E \(AUTH\)/,
    'the log names the socket and that it authenticated');

ok(wait_until(sub {
        (metrics()->{'uco_journal_sink_delivered_total{sink="redis"}'}
            // 0) == 5 }, 5), 'metrics: 5 delivered to redis');
my $m = metrics();
is($m->{'uco_journal_sink_delivered_total{sink="postgresql"}'}, 5,
    'and to postgresql');
is($m->{'uco_journal_sink_spool_records{sink="redis"}'}, 0,
    'nothing spooled');
is($m->{'uco_journal_sink_up{sink="postgresql"}'}, 1, 'both sinks up');
is($m->{'uco_journal_ring_lag'}, 0, 'the ring drained');
is($m->{'uco_journal_ring_records_total{outcome="appended"}'}, 5,
    'the ring\'s counters');
cmp_ok($m->{'uco_journal_sink_last_delivery_timestamp_seconds'
    . '{sink="redis"}'}, '>', time - 60, 'the last delivery time');
SKIP: {
    skip('promtool is not installed (apt-get install prometheus)', 1)
        unless $PROMTOOL;
    my ($rc, $out) = capture(['sh', '-c',
        "$PROMTOOL check metrics < '$PROM'"]);
    is($rc, 0, 'promtool check metrics accepts the file') or diag($out);
}
is(journal_stop(), 0, 'SIGTERM: exit 0');

# ---------------------------------- an ACL user, password in the config

write_file($conf, <<"CONF");
ring = $JDIR
db = "${\ pg_conninfo()}"
redis-socket = $SOCK
redis-user = jrnl
redis-password = "$ACL_PW"
stream = uco:acl
spool = $T/spool
interval = 0.01
CONF
journal_start('--config', $conf);
ask(3);
ok(wait_until(sub { xlen('uco:acl') == 3 }, 10),
    'AUTH as an ACL user allowed XADD only: 3 entries');
ok(wait_until(sub { pg_rows() == 8 }, 10), '8 rows in PostgreSQL');
is(journal_stop(), 0, 'SIGTERM: exit 0');

# ------------------------------------------------------ a wrong password

write_file($conf, <<"CONF");
ring = $JDIR
redis-socket = $SOCK
redis-user = jrnl
redis-password = wrong-pw-0096
stream = uco:acl
spool = $T/spool
interval = 0.01
metrics-file = $PROM
CONF
journal_start('-c', $conf);
ask(2);
ok(wait_until(sub { log_text() =~ /AUTH \(ACL user\) refused: WRONGPASS/ },
    10), 'a wrong password: AUTH refused, logged');
ok(wait_until(sub {
        (metrics()->{'uco_journal_sink_spool_records{sink="redis"}'} // 0)
            == 2 }, 10), 'the records are spooled, the metrics say so');
is(metrics()->{'uco_journal_sink_up{sink="redis"}'}, 0, 'redis down');
cmp_ok(metrics()->{'uco_journal_sink_failures_total{sink="redis"}'}, '>',
    0, 'failures counted');
is(xlen('uco:acl'), 3, 'nothing added');
is(journal_stop(), 0, 'SIGTERM: exit 0');

# ------------------------------------- an error reply to every XADD

# the stream's key holds a string: each XADD of the batch is answered
# WRONGTYPE, the batch spools whole and is replayed once the key is gone
rcli('SET', 'uco:wt', 'not a stream');
write_file($conf, <<"CONF");
ring = $JDIR
redis-socket = $SOCK
redis-user = jrnl
redis-password = "$ACL_PW"
stream = uco:wt
spool = $T/spool-wt
interval = 0.01
metrics-file = $PROM
CONF
journal_start('-c', $conf);
ask(3);
ok(wait_until(sub { log_text() =~ /redis XADD: WRONGTYPE/ }, 10),
    'an error reply to XADD: logged');
ok(wait_until(sub {
        (metrics()->{'uco_journal_sink_spool_records{sink="redis"}'} // 0)
            == 3 }, 10), 'the records are spooled');
rcli('DEL', 'uco:wt');
ok(wait_until(sub { xlen('uco:wt') == 3 }, 20),
    'replayed once the key is gone: 3 entries');
ok(wait_until(sub {
        (metrics()->{'uco_journal_sink_spool_records{sink="redis"}'} // 1)
            == 0 }, 10), 'the spool emptied');
is(journal_stop(), 0, 'SIGTERM: exit 0');

my $log = log_text();
unlike($log, qr/\Q$DEFAULT_PW\E|\Q$ACL_PW\E|wrong-pw-0096/,
    'no password in the log, even at debug');

# ------------------------- least privilege: the journal as another user

# nginx's master (root) created the ring; a journal process that is
# neither root nor nginx's user, only in the directory's group, drains it
SKIP: {
    my ($uid, $ugid) = (getpwnam('nobody'))[2, 3];
    skip('needs root, and a user nobody in the ring\'s group', 2)
        unless $> == 0 && defined $uid && defined $gid && $ugid == $gid;
    mkdir "$T/spool-nobody";
    chown $uid, $gid, "$T/spool-nobody";
    my $before = pg_rows();
    # the plain binary: a valgrind wrapper could not write its logs
    journal_start('--as-nobody', '--ring', $JDIR, '--db', pg_conninfo(),
        '--spool', "$T/spool-nobody", '--interval', '0.01');
    ask(4);
    ok(wait_until(sub { pg_rows() == $before + 4 }, 10),
        'a journal process running as nobody (group of the ring) drains '
        . 'the ring root created');
    is(journal_stop(), 0, 'SIGTERM: exit 0');
}

# ---------------------------------------------------- partition retention

# months in UTC, N months before now
sub month_ago {
    my ($n, $fmt) = @_;
    return psql("SELECT to_char(now() AT TIME ZONE 'UTC' - interval "
        . "'$n months', '$fmt')");
}
my ($m13, $m12) = map { month_ago($_, 'YYYY_MM') } 13, 12;
psql(<<'SQL');
SELECT uco.decision_partition(now() - interval '13 months'),
       uco.decision_partition(now() - interval '12 months');
INSERT INTO uco.decision (decision_id, decided_at, node, partner_id,
                          decision, discount, generation)
VALUES (1, now() - interval '13 months', 0, 9601, 'eligible', 100, 1),
       (2, now() - interval '12 months', 0, 9601, 'eligible', 200, 1);
SQL
my $rows = pg_rows();

write_file($conf, <<"CONF");
ring = $JDIR
db = "${\ pg_conninfo()}"
retention_months = 12
spool = $T/spool
interval = 0.01
CONF
journal_start('-c', $conf);
ask(1);
ok(wait_until(sub { log_text() =~ /partition maintenance: dropped /
        && pg_rows() == $rows }, 20),
    'retention-months = 12: a new decision stored, one old one gone');
like(log_text(), qr/partition maintenance: dropped uco\.decision_$m13\b/,
    'the partition 13 months old is dropped, and logged');
is(psql("SELECT to_regclass('uco.decision_$m13') IS NULL, "
        . "to_regclass('uco.decision_$m12') IS NOT NULL"), 't|t',
    'the one 12 months old is kept');
is(psql("SELECT count(*) FROM generate_series(0, 2) m WHERE to_regclass("
        . "'uco.decision_' || to_char(date_trunc('month', now() AT TIME "
        . "ZONE 'UTC') + make_interval(months => m), 'YYYY_MM')) IS NOT "
        . "NULL"), 3, 'this month\'s and the next two exist');
is(psql("SELECT string_agg(to_char(month, 'YYYY-MM') || ':' || decisions,"
        . " ',' ORDER BY month) FROM uco.partner_month_report() WHERE "
        . "partner_id = 9601"),
    month_ago(12, 'YYYY-MM') . ':1,' . month_ago(0, 'YYYY-MM') . ':'
        . ($rows - 1), 'the report counts what is kept, month by month');
is(journal_stop(), 0, 'SIGTERM: exit 0');

is(psql('SELECT * FROM uco.decision_retention(1, true)'),
    "detached uco.decision_$m12", 'decision_retention(1, true) detaches');
is(psql("SELECT count(*) FROM uco.decision_$m12"), 1,
    'the detached table keeps its rows for archiving');
is(psql("SELECT count(*) FROM pg_inherits WHERE inhrelid = "
        . "'uco.decision_$m12'::regclass"), 0, 'outside uco.decision');

# the journal's role needs EXECUTE, not the ownership of uco.decision
is(psql(<<'SQL'), 'created uco.decision_' . month_ago(-3, 'YYYY_MM'),
CREATE ROLE uco_jt;
GRANT USAGE ON SCHEMA uco TO uco_jt;
GRANT EXECUTE ON FUNCTION uco.decision_maintain(integer, integer)
    TO uco_jt;
SET ROLE uco_jt;
SELECT * FROM uco.decision_maintain(0, 3);
SQL
    'a role with EXECUTE only makes partitions through the function');
like(eval { psql("SET ROLE uco_jt;\nSELECT uco.decision_retention(1)") }
    // $@, qr/permission denied for function decision_retention/,
    'and may not call what it was not granted (no EXECUTE for PUBLIC)');
like(eval { psql("GRANT CREATE ON SCHEMA uco TO uco_jt;\nSET ROLE uco_jt;\n"
    . "SELECT uco.decision_partition(now() + interval '5 months')") } // $@,
    qr/must be owner of table decision/,
    'creating a partition itself needs the ownership of uco.decision, '
    . 'not only CREATE on the schema');

# ------------------------------------------------------ --syslog, --help

my ($rc, $out) = capture([$LOADER, 'journal', '--syslog', '--ring', $JDIR,
    '--redis-socket', $SOCK, '--spool', '/proc/uco-none/spool']);
is($rc, 1, 'a spool that cannot be created: exit 1');
is($out, '', 'with --syslog, nothing on stderr');
($rc, $out) = capture([$LOADER, 'journal', '--ring', $JDIR,
    '--redis-socket', $SOCK, '--spool', '/proc/uco-none/spool']);
like($out, qr/error: journal: --spool: cannot create/,
    'without, the error on stderr');

($rc, $out) = capture([$LOADER, 'journal', '--help']);
is($rc, 0, '--help: exit 0');
like($out, qr/--config\ FILE.*--redis-socket.*--redis-password-file.*
    --metrics-file.*--log-level.*--syslog/xs, 'and lists the options');

# ----------------------------------------------------------- bad options

write_file("$T/empty.pw", "\n");
my $n = 0;
for my $case (
    [['-c', "$T/none.conf"], "--config: $T/none.conf: No such file"],
    ["bogus = 1\n", 'bad.conf:2: unknown setting "bogus"'],
    ["interval = fast\n", 'bad.conf:2: --interval: "fast" is not'],
    ["syslog = maybe\n", 'bad.conf:2: syslog: "maybe" is not yes or no'],
    ["redis-password\n", 'bad.conf:2: expected "key = value"'],
    ["redis-password = \"\"\n", 'redis-password: empty'],
    [['--redis-password', 'x'], '--redis-password: not on the command'],
    [['--redis-password-file', "$T/none.pw"],
        "--redis-password-file: $T/none.pw: No such file"],
    [['--redis-password-file', "$T/empty.pw"],
        'no password on its first line'],
    [['--redis-user', 'u'], 'an ACL user needs a password'],
    [['--redis', 'h:1'], '--redis and --redis-socket exclude each other'],
    [['--log-level', 'loud'], '--log-level: "loud" is not one of'],
    [['--metrics-file', ''], '--metrics-file: empty file name'],
    [['--spool', ''], '--spool: empty directory name'],
    [['--retention-months', '1201', '--db', ''],
        '--retention-months: "1201" is not a number of months'],
    [['--retention-months', '-1', '--db', ''],
        '--retention-months: "-1" is not'],
    [['--retention-months', '3'], 'partitions are PostgreSQL\'s, give --db'],
    [['stray'], 'unexpected argument "stray"'])
{
    my @args = ('--ring', $JDIR, '--redis-socket', $SOCK);
    if (ref $case->[0]) {
        push @args, @{ $case->[0] };
    } else {
        write_file("$T/bad.conf", "ring = $JDIR\n$case->[0]");
        @args = ('-c', "$T/bad.conf", '--redis-socket', $SOCK);
    }
    ($rc, $out) = capture([$LOADER, 'journal', @args]);
    my $what = ref $case->[0] ? "@{ $case->[0] }" : $case->[0];
    chomp $what;
    is($rc, 2, "$what: exit 2");
    like($out, qr/\Q$case->[1]\E/, 'with a message naming the problem')
        or diag($out);
}

done_testing();
