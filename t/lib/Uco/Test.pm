package Uco::Test;

# A small Test::Nginx-like harness for uco, on Debian's Test::Base.
#
# Per test file: a throwaway PostgreSQL cluster with the uco schema and the
# file's data, a snapshot published by build/policy-loader, and one nginx
# (master + 2 workers) per block.  Everything lives under /tmp/uco-test/<test>/ and
# is removed at exit unless UCO_TEST_KEEP=1.
#
#     use FindBin;
#     use lib "$FindBin::Bin/lib";
#     use Uco::Test;
#
#     data_sql(<<'SQL');
#     INSERT INTO uco.partner ...
#     SQL
#
#     run_tests();
#
#     __DATA__
#     === TEST 1: an eligible card
#     --- request
#     GET /v1/eligibility?card=...
#     --- more_headers
#     Authorization: Bearer 1001.secret-1001
#     --- error_code: 200
#     --- response_json
#     {"decision":"eligible"}
#
# Sections: main_config, http_config, config (server level; default is
# "location = /v1/eligibility { uco_eligibility; }"), no_uco_snapshot (do
# not add "uco_snapshot <snapdir>;" to http{}; it is also left out when
# http_config has its own), sql (run before the block, then the loader
# publishes a new generation), faketime (start nginx under libfaketime at
# that UTC time), request (one, or an arrayref with "eval"), more_headers,
# error_code, response_body (exact), response_body_like,
# response_body_unlike, response_json (every key present with an equal
# value), response_headers ("Name: value" exact, "!Name" absent),
# response_headers_like ("Name: regex"), wait (seconds to sleep after the
# requests), error_log / no_error_log (substrings, one a line, or an
# arrayref of strings and qr// with "eval"), must_die (nginx must refuse
# to start; error_log is then matched against its output too).
#
# With "eval", request may be an arrayref: every response section may then
# be an arrayref too (one element per request) or a single value for all.
#
# Every block also checks that nginx logged no [alert], [crit] or [emerg].
# In config sections $TEST_NGINX_SNAPDIR, $TEST_NGINX_SERVROOT,
# $TEST_NGINX_DATA_DIR and $TEST_NGINX_SERVER_PORT are replaced.
# block_defaults(name => value, ...) gives every block a section it lacks.
#
# For flows that blocks cannot say (swaps, daemons, corrupt files) the
# same machinery is exported: psql, loader_once / loader_start /
# loader_stop, ctl_generation / set_ctl_generation, snapshot_path,
# nginx_start / nginx_stop, http_get / http_request, error_log_mark /
# error_log_since, check_no_alerts, wait_until, pg_stop / pg_start,
# pg_conninfo, psql_session, standby_start / standby_stop / standby_psql
# / standby_conninfo / standby_catch_up (a streaming hot standby of the
# test's cluster), redis_start / redis_stop / redis_cli / redis_port.
#
# As root, PostgreSQL runs as "nobody" (initdb refuses root) and nginx
# workers run as nobody too: /tmp/uco-test/<test>/ is made world-readable.
# UCO_TEST_NGINX, UCO_TEST_MODULE, UCO_TEST_LOADER, UCO_TEST_PG_BIN and
# UCO_TEST_FAKETIME_LIB override the programs used.
#
# UCO_TEST_NGINX_VALGRIND=1 (make test-valgrind) runs nginx as one
# process in the foreground (master_process off, daemon off) under
# tools/valgrind-memcheck, which logs to $UCO_VALGRIND_LOGS; files that
# need a master or several workers skip what they cannot check
# (nginx_single_process() tells them), and faketime blocks are skipped.

use strict;
use warnings;

use Test::Base;

use Cwd qw(abs_path);
use Fcntl qw(SEEK_SET);
use File::Basename qw(basename dirname);
use File::Path qw(make_path remove_tree);
use IO::Handle;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    run_tests data_sql add_block_preprocessor block_defaults setup
    psql loader_once loader_start loader_stop loader_log loader_path
    snapdir servroot tmpdir repo_root data_dir
    ctl_generation set_ctl_generation snapshot_files snapshot_path
    nginx_start nginx_try_start nginx_stop nginx_pid server_port
    nginx_follow_pid
    nginx_config_test nginx_single_process
    error_log_mark error_log_since check_no_alerts
    http_get http_request json_decode read_file write_file
    wait_until faketime_available capture
    pg_stop pg_start pg_conninfo psql_session
    standby_start standby_stop standby_psql standby_conninfo
    standby_catch_up
    redis_start redis_stop redis_cli redis_port
);

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');
my $NAME = basename($0, '.t');
# Outside the checkout: nginx workers and PostgreSQL run as nobody, and a
# checkout under /root is not theirs to traverse.
my $TMPROOT = $ENV{UCO_TEST_TMP} // "/tmp/uco-test";
my $TMP = "$TMPROOT/$NAME";
my $SERV = "$TMP/nginx";
my $SNAPDIR = "$TMP/snap";
my $PGDIR = "$TMP/pg";
my $PGSOCK = $PGDIR;
my $MAIN_PID = $$;

# UCO_TEST_MODULE / UCO_TEST_LOADER / UCO_TEST_NGINX override the binaries
my $MODULE = $ENV{UCO_TEST_MODULE} // "$ROOT/build/ngx_http_uco_module.so";
my $LOADER = $ENV{UCO_TEST_LOADER} // "$ROOT/build/policy-loader";
my $NGINX = $ENV{UCO_TEST_NGINX}
    // (-x '/usr/sbin/nginx' ? '/usr/sbin/nginx' : 'nginx');
my $PG_BIN = $ENV{UCO_TEST_PG_BIN} // '/usr/lib/postgresql/15/bin';
my $FAKETIME_LIB = $ENV{UCO_TEST_FAKETIME_LIB}
    // '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

my $VALGRIND = $ENV{UCO_TEST_NGINX_VALGRIND} ? 1 : 0;
# seconds nginx may take to start or stop: memcheck is slow at both
my $NGINX_WAIT = $VALGRIND ? 60 : 5;

my $IS_ROOT = $> == 0;
my $RUN_AS = 'nobody';

my $data_sql = '';
my @preprocessors;
my $set_up = 0;
my $pg_started = 0;
my $nginx_pid;
my $nginx_port;
my $nginx_log_mark = 0;
my $loader_pid;
my $redis_pid;
my $redis_port;
my $standby_started = 0;
my $STANDBY = "$TMP/standby";
my $STANDBY_SOCK = $STANDBY;

# libpq must see no stray connection settings from the caller
delete @ENV{ grep { /^PG/ } keys %ENV };
$ENV{PGOPTIONS} = '-c client_min_messages=warning';
# nginx local time must never matter: only uco_time_zone may
$ENV{TZ} = 'UTC';

$SIG{INT} = $SIG{TERM} = sub { exit 130 };


sub import {
    my $caller = caller;

    strict->import;
    warnings->import;
    {
        no strict 'refs';
        *{"${caller}::$_"} = \&{"Uco::Test::$_"} for @EXPORT;
    }
    eval "package $caller; use Test::More; 1" or die $@;
    Test::More::plan('no_plan') unless Test::More->builder->has_plan;
}


# ---------------------------------------------------------------- paths

sub repo_root { $ROOT }
sub tmpdir    { $TMP }
sub servroot  { $SERV }
sub snapdir   { $SNAPDIR }
sub data_dir  { "$ROOT/t/data" }
sub server_port { $nginx_port }
sub nginx_pid { $nginx_pid }
sub nginx_single_process { $VALGRIND }
sub loader_log { "$TMP/loader.log" }
sub loader_path { $LOADER }

sub faketime_available { -e $FAKETIME_LIB }


sub read_file {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "open $path: $!\n";
    local $/;
    my $data = <$fh>;
    return $data // '';
}


sub write_file {
    my ($path, $data, $mode) = @_;
    open my $fh, '>:raw', $path or die "open $path: $!\n";
    print {$fh} $data or die "write $path: $!\n";
    close $fh or die "close $path: $!\n";
    chmod $mode // 0644, $path;
}


# ---------------------------------------------------------------- processes

# Run a command; return (exit code, stdout + stderr).  Option: env.
sub capture {
    my ($cmd, %opt) = @_;

    local %ENV = (%ENV, %{ $opt{env} || {} });
    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        exec @$cmd or do {
            print "exec $cmd->[0]: $!\n";
            POSIX::_exit(127);
        };
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8 || ($? & 127 ? 128 + ($? & 127) : 0), $out);
}


# PostgreSQL refuses to run as root: drop to nobody when we are root.
sub as_pg_user {
    my @cmd = @_;
    return $IS_ROOT ? ('runuser', '-u', $RUN_AS, '--', @cmd) : @cmd;
}


# A daemon's exited master is reaped by init, maybe seconds later: a
# zombie counts as gone.
sub alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    my $stat = eval { read_file("/proc/$pid/stat") } // '';
    return $stat =~ /\)\s+Z/ ? 0 : 1;
}


sub wait_until {
    my ($cond, $timeout, $step) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $r = $cond->();
        return $r if $r;
        return 0 if time > $deadline;
        sleep($step // 0.05);
    }
}


# ---------------------------------------------------------------- setup

sub data_sql {
    my ($sql) = @_;
    die "data_sql() must be called before the first block\n" if $set_up;
    $data_sql .= $sql;
}


sub add_block_preprocessor {
    push @preprocessors, @_;
}


# Sections every block gets unless it has its own, e.g.
# block_defaults(more_headers => 'Authorization: Bearer 1001.secret').
sub block_defaults {
    my (%sections) = @_;
    add_block_preprocessor(sub {
        my ($block) = @_;
        for my $name (sort keys %sections) {
            $block->set_value($name, $sections{$name})
                unless defined sec($block, $name);
        }
    });
}


sub setup {
    return if $set_up;
    $set_up = 1;

    for my $f ($MODULE, $LOADER) {
        next if $f eq '' || -e $f;
        Test::More::BAIL_OUT("$f is missing: run make first");
    }

    remove_tree($TMP);
    make_path("$SERV/conf", "$SERV/logs", "$SERV/tmp", $SNAPDIR, $PGDIR);
    chmod 0755, $TMPROOT, $TMP, $SERV, $SNAPDIR;
    write_file("$TMP/loader.log", '');

    # a Unix socket path has at most 107 bytes
    if (length("$PGDIR/.s.PGSQL.5432") > 100) {
        require File::Temp;
        $PGSOCK = File::Temp::tempdir('uco-pg-XXXXXX', TMPDIR => 1);
    }
    if ($IS_ROOT) {
        my (undef, undef, $uid, $gid) = getpwnam($RUN_AS)
            or die "no user $RUN_AS\n";
        chown $uid, $gid, $PGDIR, $PGSOCK;
        chmod 0755, $PGSOCK;
        my ($rc) = capture([as_pg_user('test', '-w', $PGDIR)]);
        Test::More::BAIL_OUT("$RUN_AS cannot write $PGDIR: every parent"
            . " directory must be searchable by others") if $rc;
    }

    my $ok = eval {
        start_postgres();
        my ($rc, $out) = capture(["$ROOT/sql/migrate", '-h', $PGSOCK,
            '-U', 'postgres', '-d', 'postgres']);
        die "sql/migrate failed:\n$out" if $rc;
        psql($data_sql) if $data_sql =~ /\S/;
        loader_once();
        1;
    };
    return if $ok;
    fail('set up PostgreSQL, the schema, the data and a first snapshot');
    diag($@);
    exit 1;
}


sub start_postgres {
    my ($rc, $out) = capture([as_pg_user("$PG_BIN/initdb", '--no-sync',
        '-A', 'trust', '-U', 'postgres', '-D', "$PGDIR/data")]);
    die "initdb failed:\n$out" if $rc;
    pg_ctl_start($PGDIR, $PGSOCK);
    $pg_started = 1;
}


# pg_ctl start of the cluster in DIR/data, its socket in SOCK, its log
# DIR/postgres.log; OPTS: more server options ("-c name=value ...")
sub pg_ctl_start {
    my ($dir, $sock, $opts) = @_;
    my ($rc, $out) = capture([as_pg_user("$PG_BIN/pg_ctl", '-D',
        "$dir/data", '-l', "$dir/postgres.log", '-w', '-o',
        "-c listen_addresses='' -k $sock -c fsync=off " . ($opts // ''),
        'start')]);
    die "pg_ctl start ($dir) failed:\n$out\n" . (eval { read_file(
        "$dir/postgres.log") } // '') if $rc;
}


sub stop_postgres {
    return unless $pg_started;
    $pg_started = 0;
    pg_ctl_stop($PGDIR, 'immediate');
}


# pg_ctl stop of the cluster in DIR/data; returns (exit code, output)
sub pg_ctl_stop {
    my ($dir, $mode) = @_;
    return capture([as_pg_user("$PG_BIN/pg_ctl", '-D', "$dir/data", '-m',
        $mode, '-w', 'stop')]);
}


sub cleanup {
    nginx_stop() if $nginx_pid;
    loader_stop() if $loader_pid;
    redis_stop() if $redis_pid;
    standby_stop();
    stop_postgres();
    return if $ENV{UCO_TEST_KEEP};
    remove_tree($TMP);
    remove_tree($PGSOCK) if $PGSOCK ne $PGDIR;
    remove_tree($STANDBY_SOCK) if $STANDBY_SOCK ne $STANDBY;
}


END {
    if ($$ == $MAIN_PID) {
        my $status = $?;
        cleanup();
        $? = $status;
    }
}


# Stop the test's PostgreSQL (fast: clients are disconnected) and start
# it again on the same data, for tests of a database outage.
sub pg_stop {
    setup();
    return unless $pg_started;
    my ($rc, $out) = pg_ctl_stop($PGDIR, 'fast');
    die "pg_ctl stop failed:\n$out" if $rc;
    $pg_started = 0;
}


sub pg_start {
    setup();
    return if $pg_started;
    pg_ctl_start($PGDIR, $PGSOCK);
    $pg_started = 1;
}


# ---------------------------------------------------------------- database

# Run SQL as the postgres superuser; return psql's unaligned output.
sub psql {
    my ($sql) = @_;
    setup();
    return psql_at($PGSOCK, $sql);
}


sub psql_at {
    my ($sock, $sql) = @_;
    my $file = "$TMP/query.sql";
    write_file($file, $sql);
    my ($rc, $out) = capture(['psql', '-X', '-q', '-A', '-t', '-v',
        'ON_ERROR_STOP=1', '-h', $sock, '-U', 'postgres', '-d',
        'postgres', '-f', $file]);
    die "psql failed:\n$out\nSQL:\n$sql\n" if $rc;
    chomp $out;
    return $out;
}


sub conninfo {
    return "host=$PGSOCK user=postgres dbname=postgres";
}

sub pg_conninfo { setup(); conninfo() }


# A psql that reads its statements from the returned handle, one at a
# time as they are printed (autoflushed), for transactions held open
# across other work; close the handle to end it (psql's exit status in
# $?).
sub psql_session {
    setup();
    my $pid = open(my $fh, '|-') // die "fork: $!\n";
    if ($pid == 0) {
        open STDOUT, '>>', "$TMP/psql-session.log";
        open STDERR, '>&', \*STDOUT;
        exec 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', $PGSOCK,
            '-U', 'postgres', '-d', 'postgres'
            or POSIX::_exit(127);
    }
    $fh->autoflush(1);
    return $fh;
}


# ---------------------------------------------------------------- standby

# A real hot standby of the test's cluster: pg_basebackup -R (streaming
# replication over the primary's Unix socket, the same user, the trust
# that initdb gives local replication) into <tmp>/standby, started on a
# socket directory of its own with hot_standby_feedback.  Returns its
# conninfo.  Stopped at exit.
sub standby_start {
    setup();
    return standby_conninfo() if $standby_started;
    remove_tree($STANDBY);
    make_path($STANDBY);
    chmod 0755, $STANDBY;
    if (length("$STANDBY/.s.PGSQL.5432") > 100) {
        require File::Temp;
        $STANDBY_SOCK = File::Temp::tempdir('uco-pgs-XXXXXX', TMPDIR => 1);
    }
    if ($IS_ROOT) {
        my (undef, undef, $uid, $gid) = getpwnam($RUN_AS);
        chown $uid, $gid, $STANDBY, $STANDBY_SOCK;
        chmod 0755, $STANDBY_SOCK;
    }
    my ($rc, $out) = capture([as_pg_user("$PG_BIN/pg_basebackup", '-h',
        $PGSOCK, '-U', 'postgres', '-D', "$STANDBY/data", '-R', '-X',
        'stream', '-c', 'fast', '--no-sync')]);
    die "pg_basebackup failed:\n$out" if $rc;
    pg_ctl_start($STANDBY, $STANDBY_SOCK,
        '-c hot_standby=on -c hot_standby_feedback=on');
    $standby_started = 1;
    return standby_conninfo();
}


sub standby_stop {
    return unless $standby_started;
    $standby_started = 0;
    pg_ctl_stop($STANDBY, 'immediate');
}


sub standby_conninfo {
    return "host=$STANDBY_SOCK user=postgres dbname=postgres";
}


# SQL on the standby, as psql() on the primary.
sub standby_psql {
    my ($sql) = @_;
    die "no standby: standby_start() first\n" unless $standby_started;
    return psql_at($STANDBY_SOCK, $sql);
}


# Wait (up to 10 s) until the standby has replayed all the primary has
# written so far; true if it has.
sub standby_catch_up {
    my $lsn = psql('SELECT pg_current_wal_lsn()');
    return wait_until(sub {
        standby_psql("SELECT pg_last_wal_replay_lsn() >= '$lsn'") eq 't';
    }, 10);
}


# ---------------------------------------------------------------- loader

sub loader_args {
    my (%opt) = @_;
    my @args = ('-d', $opt{conninfo} // conninfo(), '-o',
        $opt{dir} // $SNAPDIR, '--file-mode', '0644');
    push @args, '--keep', $opt{keep} if defined $opt{keep};
    push @args, @{ $opt{args} || [] };
    return @args;
}


sub append_loader_log {
    my ($text) = @_;
    open my $fh, '>>', loader_log() or return;
    print {$fh} $text;
}


# Build and publish one generation; return the published generation.
# Options: dir (default snapdir()), keep, conninfo (default the test's
# cluster, e.g. standby_conninfo()), args (extra arguments).
sub loader_once {
    my (%opt) = @_;
    setup();
    my @cmd = ($LOADER, '--once', loader_args(%opt));
    my ($rc, $out) = capture(\@cmd);
    append_loader_log("# @cmd\n$out");
    die "policy-loader --once failed (exit $rc):\n$out" if $rc;
    return ctl_generation($opt{dir});
}


# Start the loader as a daemon (-i 1 unless given in args).
sub loader_start {
    my (%opt) = @_;
    setup();
    die "loader already running\n" if $loader_pid;
    my @args = loader_args(%opt);
    push @args, '-i', 1 unless grep { $_ eq '-i' } @args;
    append_loader_log("# $LOADER @args\n");

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', loader_log();
        open STDERR, '>&', \*STDOUT;
        exec $LOADER, @args or POSIX::_exit(127);
    }
    $loader_pid = $pid;
    return $pid;
}


# Stop the daemon with SIGTERM (or the signal given, e.g. 'KILL'); return
# its wait status (undef if it had to be killed).
sub loader_stop {
    my ($signal) = @_;
    return unless $loader_pid;
    my $pid = $loader_pid;
    undef $loader_pid;
    kill $signal // 'TERM', $pid;
    my $done = wait_until(sub { waitpid($pid, POSIX::WNOHANG()) == $pid },
        5);
    return $? if $done;
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return undef;
}


# ---------------------------------------------------------------- redis

# A redis-server of the test's own on a free port (the same port again
# after redis_stop(), so that clients reconnect to it), data under
# <tmp>/redis with an append-only file: a stop and start keeps the data,
# like an outage.  Returns the port.
sub redis_start {
    setup();
    die "redis already running\n" if $redis_pid;
    $redis_port //= free_port();
    my $dir = "$TMP/redis";
    make_path($dir);
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$dir/redis.out";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--port', $redis_port, '--bind', '127.0.0.1',
            '--dir', $dir, '--appendonly', 'yes', '--appendfsync',
            'always', '--save', '', '--daemonize', 'no',
            '--logfile', "$dir/redis.log"
            or POSIX::_exit(127);
    }
    $redis_pid = $pid;
    wait_until(sub { (redis_cli('PING'))[1] =~ /PONG/ }, 5)
        or die "redis-server did not start on $redis_port\n";
    return $redis_port;
}


# Stop it as an outage does: SIGTERM, which writes its files first.
sub redis_stop {
    my $pid = $redis_pid or return;
    undef $redis_pid;
    kill 'TERM', $pid;
    return if wait_until(sub { waitpid($pid, POSIX::WNOHANG()) == $pid },
        10);
    kill 'KILL', $pid;
    waitpid $pid, 0;
}


sub redis_port { $redis_port }


# redis-cli against it; returns (exit code, output).
sub redis_cli {
    my (@args) = @_;
    return capture(['redis-cli', '-h', '127.0.0.1', '-p', $redis_port,
        @args]);
}


# ---------------------------------------------------------------- snapshots

sub ctl_generation {
    my ($dir) = @_;
    setup();
    my $path = ($dir // $SNAPDIR) . '/uco.ctl';
    open my $fh, '<:raw', $path or return undef;
    my $n = sysread $fh, my $buf, 32;
    return undef unless $n && $n >= 24 && substr($buf, 0, 8) eq "UCOCTL\0\0";
    return unpack 'Q<', substr($buf, 16, 8);
}


# Publish a generation by hand: one in-place 8-byte write, as the loader.
sub set_ctl_generation {
    my ($gen, $dir) = @_;
    my $path = ($dir // $SNAPDIR) . '/uco.ctl';
    open my $fh, '+<:raw', $path or die "open $path: $!\n";
    sysseek $fh, 16, SEEK_SET or die "seek $path: $!\n";
    syswrite($fh, pack('Q<', $gen)) == 8 or die "write $path: $!\n";
    close $fh;
}


sub snapshot_path {
    my ($gen, $dir) = @_;
    return sprintf '%s/snap-%020llu.ucs', $dir // $SNAPDIR, $gen;
}


# Generations present in the directory, ascending.
sub snapshot_files {
    my ($dir) = @_;
    setup();
    opendir my $dh, $dir // $SNAPDIR or return ();
    my @gens = map { /^snap-(\d{20})\.ucs$/ ? $1 + 0 : () } readdir $dh;
    return sort { $a <=> $b } @gens;
}


# ---------------------------------------------------------------- nginx

sub free_port {
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => 0, Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "no free port: $!\n";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}


sub expand {
    my ($text) = @_;
    return $text unless defined $text && !ref $text;
    $text =~ s/\$TEST_NGINX_SNAPDIR\b/$SNAPDIR/g;
    $text =~ s/\$TEST_NGINX_SERVROOT\b/$SERV/g;
    $text =~ s/\$TEST_NGINX_DATA_DIR\b/$ROOT\/t\/data/g;
    $text =~ s/\$TEST_NGINX_SERVER_PORT\b/$nginx_port/g;
    return $text;
}


sub nginx_conf {
    my (%o) = @_;
    my $http = expand($o{http_config} // '');
    my $config = expand($o{config}
        // "location = /v1/eligibility {\n    uco_eligibility;\n}\n");
    my $main = expand($o{main_config} // '');
    my $snap = (defined $o{no_uco_snapshot} || $http =~ /\buco_snapshot\b/)
        ? '' : "    uco_snapshot $SNAPDIR;\n";
    my $env = defined $o{faketime} ? "env FAKETIME;\n" : '';
    my $load = $MODULE eq '' ? '' : "load_module $MODULE;\n";

    my $procs = $VALGRIND ? "daemon off;\nmaster_process off;\n"
        : "daemon on;\nmaster_process on;\nworker_processes 2;\n";

    return <<"CONF";
${procs}pid $SERV/logs/nginx.pid;
error_log $SERV/logs/error.log info;
$load$env$main
events {
    worker_connections 64;
}

http {
    access_log $SERV/logs/access.log;
    client_body_temp_path $SERV/tmp/client_body;
    proxy_temp_path $SERV/tmp/proxy;
    fastcgi_temp_path $SERV/tmp/fastcgi;
    uwsgi_temp_path $SERV/tmp/uwsgi;
    scgi_temp_path $SERV/tmp/scgi;
    default_type text/plain;
$snap
$http

    server {
        listen 127.0.0.1:$nginx_port;
        server_name localhost;

$config
    }
}
CONF
}


sub error_log_path { "$SERV/logs/error.log" }


sub error_log_mark {
    return -s error_log_path() // 0;
}


sub error_log_since {
    my ($mark) = @_;
    my $text = eval { read_file(error_log_path()) } // '';
    return substr($text, $mark // 0);
}


# "nginx -t" on a configuration made from the same options as
# nginx_try_start(); return (exit code, output).
sub nginx_config_test {
    my (%o) = @_;
    setup();
    $nginx_port //= free_port();
    write_file("$SERV/conf/nginx-t.conf", nginx_conf(%o));
    return capture([nginx_command(), '-t', '-p', "$SERV/", '-c',
        "$SERV/conf/nginx-t.conf", '-e', "$SERV/logs/nginx-t.log"],
        env => { nginx_env(), UCO_VALGRIND_LEAK_CHECK => 'no' });
}


sub nginx_command {
    return $VALGRIND ? ("$ROOT/tools/valgrind-memcheck", 'nginx', $NGINX)
        : ($NGINX);
}


# UCO_TEST_NGINX_ENV="K=V K=V": extra environment for nginx only, e.g.
# the sanitizer runtime preloaded by make test-asan
sub nginx_env {
    return map { split /=/, $_, 2 } split ' ', ($ENV{UCO_TEST_NGINX_ENV} // '');
}


# Start nginx; return (1, '') or (0, its output).  Options: main_config,
# http_config, config, no_uco_snapshot, faketime, must_die (nginx is
# expected to refuse the configuration: no leak check under valgrind).
sub nginx_try_start {
    my (%o) = @_;
    setup();
    nginx_stop() if $nginx_pid;

    $nginx_port = free_port();
    write_file("$SERV/conf/nginx.conf", nginx_conf(%o));
    unlink "$SERV/logs/nginx.pid";
    $nginx_log_mark = error_log_mark();

    my %env = nginx_env();
    $env{UCO_VALGRIND_LEAK_CHECK} = 'no' if $o{must_die};
    if (defined $o{faketime}) {
        $env{LD_PRELOAD} = join ' ', grep { defined && length }
            $env{LD_PRELOAD}, $FAKETIME_LIB;
        $env{FAKETIME} = "\@$o{faketime}";
    }
    my @cmd = (nginx_command(), '-p', "$SERV/", '-c',
        "$SERV/conf/nginx.conf", '-e', error_log_path());
    return nginx_start_foreground(\@cmd, \%env) if $VALGRIND;

    my ($rc, $out) = capture(\@cmd, env => \%env);
    return (0, $out) if $rc;

    my $pid = wait_until(sub {
        my $p = eval { read_file("$SERV/logs/nginx.pid") };
        return $p && $p =~ /^(\d+)/ ? $1 : 0;
    }, $NGINX_WAIT);
    return (0, "$out\nno pid file after start") unless $pid;
    $nginx_pid = $pid;

    return nginx_wait_up($out);
}


sub nginx_wait_up {
    my ($out) = @_;
    my $up = wait_until(sub {
        if ($VALGRIND) {
            return 'exited' unless alive($nginx_pid);
            return 0 unless listens($nginx_pid, $nginx_port);
        }
        return IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $nginx_port, Proto => 'tcp') ? 'up' : 0;
    }, $NGINX_WAIT);
    return (1, $out) if $up eq 'up';
    return (0, "$out\nnginx does not accept connections");
}


# Whether pid itself listens on the port.  A daemon binds before its
# start command returns; an nginx in the foreground binds seconds later
# under memcheck, and meanwhile another checkout's nginx may take the
# port that free_port() found, and answer our requests.
sub listens {
    my ($pid, $port) = @_;
    my %inodes;

    open my $fh, '<', '/proc/net/tcp' or return 0;
    while (my $line = <$fh>) {
        my @c = split ' ', $line;
        $inodes{$c[9]} = 1 if @c > 9 && $c[3] eq '0A'
            && $c[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
    }
    close $fh;

    opendir my $dh, "/proc/$pid/fd" or return 0;
    for my $fd (readdir $dh) {
        my $link = readlink "/proc/$pid/fd/$fd" // next;
        return 1 if $link =~ /^socket:\[(\d+)\]$/ && $inodes{$1};
    }
    return 0;
}


# daemon off: nginx is our child (valgrind execs it in place), its
# output goes to a file; a refused configuration is an early exit
sub nginx_start_foreground {
    my ($cmd, $env) = @_;
    my $out = "$SERV/logs/nginx.out";

    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        %ENV = (%ENV, %$env);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        exec @$cmd or POSIX::_exit(127);
    }
    $nginx_pid = $pid;

    my ($ok, $why) = nginx_wait_up('');
    return (1, '') if $ok;
    nginx_stop();
    return (0, (eval { read_file($out) } // '') . $why);
}


# After a binary upgrade (USR2, then QUIT to the old master): the new
# master, from the pid file, is the one nginx_stop() stops.
sub nginx_follow_pid {
    my $p = eval { read_file("$SERV/logs/nginx.pid") } // '';
    $nginx_pid = $1 if $p =~ /^(\d+)/;
    return $nginx_pid;
}


sub nginx_start {
    my ($ok, $out) = nginx_try_start(@_);
    die "nginx did not start:\n$out\n" . error_log_since($nginx_log_mark)
        unless $ok;
    return $nginx_pid;
}


# Stop the nginx we started, by its pid; its workers exit with it.
sub nginx_stop {
    my $pid = $nginx_pid or return;
    undef $nginx_pid;
    my $mark = error_log_mark();
    kill 'TERM', $pid;
    if ($VALGRIND) {
        # memcheck can run the handler just before epoll_wait() blocks,
        # which then sleeps on: signal again until nginx says "exit"
        # (not after: memcheck is then checking leaks)
        return if wait_until(sub {
            return 1 if waitpid($pid, POSIX::WNOHANG());
            kill 'TERM', $pid
                unless error_log_since($mark) =~ /#\d+: exit$/m;
            return 0;
        }, $NGINX_WAIT, 0.5);
        Test::More::diag("nginx $pid did not stop on SIGTERM: killed, so"
            . ' memcheck could not check it at exit');
        kill 'KILL', $pid;
        waitpid $pid, 0;
        return;
    }
    return if wait_until(sub { !alive($pid) }, 10);

    my @workers = grep { parent_of($_) == $pid } all_pids();
    kill 'KILL', $pid, @workers;
    wait_until(sub { !alive($pid) }, 2);
}


sub all_pids {
    opendir my $dh, '/proc' or return ();
    return grep { /^\d+$/ } readdir $dh;
}


sub parent_of {
    my ($pid) = @_;
    my $stat = eval { read_file("/proc/$pid/stat") } // '';
    return $stat =~ /\)\s+\S+\s+(\d+)/ ? $1 : 0;
}


sub check_no_alerts {
    my ($log, $name) = @_;
    my @bad = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $log;
    ok(!@bad, "$name - no [alert], [crit] or [emerg] in error.log")
        or diag(join "\n", @bad);
}


# ---------------------------------------------------------------- http

# Send one request; return {status, reason, headers, header_lines, body}.
# Headers: arrayref of [name, value] pairs or a string of "Name: value"
# lines.
sub http_request {
    my ($method, $uri, $headers, $body) = @_;
    local $SIG{PIPE} = 'IGNORE';
    die "nginx is not running\n" unless $nginx_port;

    my @h = ref $headers ? @$headers : parse_header_lines($headers);
    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n";
    $req .= "$_->[0]: $_->[1]\r\n" for @h;
    if (defined $body && !grep { lc $_->[0] eq 'content-length' } @h) {
        $req .= 'Content-Length: ' . length($body) . "\r\n";
    }
    $req .= "\r\n" . ($body // '');

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $nginx_port, Proto => 'tcp', Timeout => 5)
        or return { status => 0, error => "connect: $!" };
    binmode $sock;
    syswrite $sock, $req;

    my $raw = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + 10;
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $sock, $raw, 65536, length $raw;
        last unless $n;
    }
    close $sock;
    return parse_response($raw, $method);
}


sub http_get {
    my ($uri, %headers) = @_;
    return http_request('GET', $uri, [map { [$_, $headers{$_}] }
        sort keys %headers]);
}


sub parse_header_lines {
    my ($text) = @_;
    return () unless defined $text;
    return map { /^([^:\s]+):\s*(.*?)\s*$/ ? [$1, $2] : () }
        grep { /\S/ } split /\n/, $text;
}


sub parse_response {
    my ($raw, $method) = @_;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my %res = (status => 0, headers => {}, header_lines => [],
        body => $body // '', raw => $raw);
    return \%res unless defined $head
        && $head =~ s/^HTTP\/1\.[01] (\d{3}) ?([^\r\n]*)\r\n?//;
    @res{qw(status reason)} = ($1, $2);

    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:]+):\s*(.*)$/;
        push @{ $res{header_lines} }, [$1, $2];
        my $k = lc $1;
        $res{headers}{$k} = exists $res{headers}{$k}
            ? "$res{headers}{$k}, $2" : $2;
    }
    if (($res{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        $res{body} = dechunk($res{body});
    }
    $res{body} = '' if $method eq 'HEAD';
    return \%res;
}


sub dechunk {
    my ($data) = @_;
    my $out = '';
    while ($data =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
        my $len = hex $1;
        last if $len == 0;
        $out .= substr($data, 0, $len, '');
        $data =~ s/^\r\n//;
    }
    return $out;
}


sub json_decode {
    my ($text) = @_;
    my $v = eval { JSON::PP->new->decode($text) };
    return $v;
}


# ---------------------------------------------------------------- blocks

sub run_tests {
    setup();
    for my $block (blocks()) {
        $_->($block) for @preprocessors;
        my $tb = Test::More->builder;
        my $first = $tb->current_test;
        my $mark = error_log_mark();
        my $ok = eval { run_block($block); 1 };
        fail($block->name . " - harness error: $@") unless $ok;
        nginx_stop() if $nginx_pid;
        my @results = ($tb->summary)[$first .. $tb->current_test - 1];
        if (grep { !$_ } @results) {
            my @tail = grep { /\S/ && !/\[notice\]/ } split /\n/,
                error_log_since($mark);
            splice @tail, 0, @tail - 30 if @tail > 30;
            diag("error.log of '" . $block->name . "':\n"
                . join("\n", @tail)) if @tail;
        }
    }
}


# A block's section value, or undef (Test::Base returns () when absent).
sub sec {
    my ($block, $name) = @_;
    my ($value) = $block->$name;
    return $value;
}


sub section_list {
    my ($value) = @_;
    return () unless defined $value;
    return ($value) if ref $value eq 'Regexp';
    return ref $value eq 'ARRAY' ? @$value
        : grep { /\S/ } split /\n/, expand($value);
}


sub nth {
    my ($value, $i) = @_;
    return ref $value eq 'ARRAY' ? $value->[$i] : $value;
}


sub run_block {
    my ($block) = @_;
    my $name = $block->name;

    if (defined sec($block, 'faketime') && !faketime_available()) {
        SKIP: {
            skip("$name: libfaketime is not installed ($FAKETIME_LIB;"
                . ' apt-get install libfaketime)', 1);
        }
        return;
    }
    if (defined sec($block, 'faketime') && $VALGRIND) {
        SKIP: {
            skip("$name: libfaketime is not preloaded under valgrind", 1);
        }
        return;
    }

    if (defined(my $sql = sec($block, 'sql'))) {
        psql($sql);
        loader_once();
    }

    my %conf = map { ($_ => sec($block, $_)) }
        grep { defined sec($block, $_) }
        qw(main_config http_config config no_uco_snapshot faketime);

    if (defined sec($block, 'must_die')) {
        my ($started, $out) = nginx_try_start(%conf, must_die => 1);
        ok(!$started, "$name - nginx refuses to start");
        nginx_stop() if $started;
        check_log($block, $out . error_log_since($nginx_log_mark), 1);
        return;
    }

    my ($started, $out) = nginx_try_start(%conf);
    unless ($started) {
        fail("$name - nginx starts");
        diag($out . error_log_since($nginx_log_mark));
        return;
    }

    my $requests = sec($block, 'request');
    my @requests = ref $requests ? @$requests
        : defined $requests ? ($requests) : ();
    for my $i (0 .. $#requests) {
        my $tag = @requests > 1 ? "$name (req $i)" : $name;
        check_response($block, $i, $tag, send_block_request($block,
            $requests[$i], nth(sec($block, 'more_headers'), $i)));
    }

    my $wait = sec($block, 'wait');
    sleep($wait) if $wait;
    my $mark = $nginx_log_mark;
    nginx_stop();
    check_log($block, error_log_since($mark), 0);
}


sub send_block_request {
    my ($block, $request, $headers) = @_;
    $request = expand($request);
    $request =~ s/^\s+//;
    my ($line, $body) = split /\n/, $request, 2;
    my ($method, $uri) = split ' ', $line;
    $body = undef unless defined $body && length $body;
    return http_request($method, $uri, expand($headers), $body);
}


sub check_response {
    my ($block, $i, $name, $res) = @_;

    if (defined(my $code = nth(sec($block, 'error_code'), $i))) {
        is($res->{status}, $code, "$name - status code ok")
            or diag("body: $res->{body}");
    }
    if (defined(my $body = nth(sec($block, 'response_body'), $i))) {
        is($res->{body}, expand($body), "$name - response_body ok");
    }
    if (defined(my $re = nth(sec($block, 'response_body_like'), $i))) {
        $re = ref $re ? $re : do { chomp(my $p = $re); qr/$p/s };
        like($res->{body}, $re, "$name - response_body_like ok");
    }
    if (defined(my $re = nth(sec($block, 'response_body_unlike'), $i))) {
        $re = ref $re ? $re : do { chomp(my $p = $re); qr/$p/s };
        unlike($res->{body}, $re, "$name - response_body_unlike ok");
    }
    if (defined(my $json = nth(sec($block, 'response_json'), $i))) {
        check_json($res, $json, $name);
    }
    if (defined(my $h = nth(sec($block, 'response_headers'), $i))) {
        for my $line (section_list($h)) {
            if ($line =~ /^!\s*(\S+)/) {
                ok(!exists $res->{headers}{lc $1},
                    "$name - no header $1");
            } elsif ($line =~ /^([^:]+):\s*(.*?)\s*$/) {
                is($res->{headers}{lc $1}, $2, "$name - header $1 ok");
            }
        }
    }
    if (defined(my $h = nth(sec($block, 'response_headers_like'), $i))) {
        for my $line (section_list($h)) {
            next unless $line =~ /^([^:]+):\s*(.*?)\s*$/;
            like($res->{headers}{lc $1} // '', qr/$2/,
                "$name - header $1 like /$2/");
        }
    }
}


sub check_json {
    my ($res, $expected, $name) = @_;
    my $want = ref $expected ? $expected : json_decode($expected);
    die "$name: response_json is not a JSON object\n"
        unless ref $want eq 'HASH';

    my $got = json_decode($res->{body});
    unless (ref $got eq 'HASH') {
        fail("$name - response is a JSON object");
        diag("body: $res->{body}");
        return;
    }
    my @bad = grep {
        !exists $got->{$_} || !Test::More::eq_array([$got->{$_}],
            [$want->{$_}])
    } sort keys %$want;
    ok(!@bad, "$name - response_json ok")
        or diag("differs in: @bad\n     got: $res->{body}\nexpected: "
            . JSON::PP->new->canonical->encode($want));
}


sub check_log {
    my ($block, $log, $died) = @_;
    my $name = $block->name;

    for my $pat (section_list(sec($block, 'error_log'))) {
        if (ref $pat) {
            like($log, $pat, "$name - error_log matches $pat");
        } else {
            ok(index($log, $pat) >= 0, "$name - error_log has \"$pat\"");
        }
    }
    for my $pat (section_list(sec($block, 'no_error_log'))) {
        if (ref $pat) {
            unlike($log, $pat, "$name - error_log has no $pat");
        } else {
            ok(index($log, $pat) < 0, "$name - error_log lacks \"$pat\"")
                or diag(join "\n", grep { index($_, $pat) >= 0 }
                    split /\n/, $log);
        }
    }
    check_no_alerts($log, $name) unless $died;
}


1;
