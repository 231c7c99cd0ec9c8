# Several nodes: two nginx + policy-loader stacks (own snapshot
# directories, own ports, on loopback) against one PostgreSQL converge on
# the same data after each change: the same decisions and the same
# change-log watermark in uco_status (generation numbers are per node).
# A node cut off from the database (its loader stopped) keeps answering
# from its last data, marked stale, while the other follows the next
# change; back, it catches up.  docs/deployment.md describes the
# topology.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use HTTP::Tiny;
use IO::Socket::INET;
use POSIX ();

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (94, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('hashpan', repeat('94', 32), 94);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (9401, uco.secret_hash('secret-9401'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (941, 9401, 'percent', 10);
SQL

my $CONFIG = <<'CONF';
location = /v1/eligibility {
    uco_max_staleness 1s;
    uco_eligibility;
}
location = /status {
    uco_status;
}
CONF

my $http = HTTP::Tiny->new(timeout => 5);
my $B = tmpdir() . '/node-b';
my ($b_port, $b_nginx, $b_loader);

sub get {
    my ($port, $path, %h) = @_;
    my $r = $http->get("http://127.0.0.1:$port$path", { headers => \%h });
    return ($r->{status}, json_decode($r->{content}) // {});
}

# "decision[ stale]" of a few answers of a node
sub decisions {
    my ($port) = @_;
    my %seen;
    for (1 .. 4) {
        my (undef, $j) = get($port, '/v1/eligibility?card=' . ('94' x 32),
            Authorization => 'Bearer 9401.secret-9401');
        $seen{($j->{decision} // $j->{error} // '?')
            . ($j->{stale} ? ' stale' : '')}++;
    }
    return join ',', sort keys %seen;
}

sub watermark {
    my ($port) = @_;
    my (undef, $j) = get($port, '/status');
    return $j->{watermark} // -1;
}

sub start_b_loader {
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$B/loader.log";
        open STDERR, '>&', \*STDOUT;
        exec loader_path(), '-d', pg_conninfo(), '-o', "$B/snap",
            '--file-mode', '0644', '-i', '0.2' or POSIX::_exit(127);
    }
    return $pid;
}

sub stop_b_loader {
    return unless $b_loader;
    kill 'TERM', $b_loader;
    waitpid $b_loader, 0;
    undef $b_loader;
}

sub stop_b_nginx {
    return unless $b_nginx;
    kill 'QUIT', $b_nginx;
    wait_until(sub { !kill 0, $b_nginx
        or (eval { read_file("/proc/$b_nginx/stat") } // '') =~ /\)\s+Z/ },
        10);
    undef $b_nginx;
}

END { stop_b_loader(); stop_b_nginx(); }

# ---------------------------------------------------------------- node A

my $a_log = error_log_mark();
nginx_start(config => $CONFIG);
my $a_port = server_port();
loader_start(args => ['-i', '0.2']);

# ---------------------------------------------------------------- node B

for my $d ($B, "$B/snap", "$B/logs", "$B/conf") {
    mkdir $d, 0755 or die "mkdir $d: $!\n";
}
$b_port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Listen => 1, ReuseAddr => 1) or die "no port: $!\n";
    my $p = $s->sockport;
    close $s;
    $p;
};
my $module = $ENV{UCO_TEST_MODULE} // repo_root()
    . '/build/ngx_http_uco_module.so';
(my $b_locations = $CONFIG) =~ s/^/        /mg;
write_file("$B/conf/nginx.conf", <<"CONF");
load_module $module;
worker_processes 2;
pid $B/logs/nginx.pid;
error_log $B/logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    uco_snapshot $B/snap;
    client_body_temp_path $B/body;
    proxy_temp_path $B/proxy;
    fastcgi_temp_path $B/fastcgi;
    uwsgi_temp_path $B/uwsgi;
    scgi_temp_path $B/scgi;
    server {
        listen 127.0.0.1:$b_port;
$b_locations
    }
}
CONF
$b_loader = start_b_loader();
ok(wait_until(sub { -e "$B/snap/uco.ctl" && ctl_generation("$B/snap") },
    10), 'node B: its loader publishes into its own directory');
my %env = map { split /=/, $_, 2 } split ' ', ($ENV{UCO_TEST_NGINX_ENV}
    // '');
my ($rc, $out) = capture([$ENV{UCO_TEST_NGINX} // '/usr/sbin/nginx', '-p', "$B/", '-c',
    "$B/conf/nginx.conf", '-e', "$B/logs/error.log"], env => \%env);
is($rc, 0, 'node B: nginx starts') or diag($out);
$b_nginx = wait_until(sub {
    my $p = eval { read_file("$B/logs/nginx.pid") } // '';
    $p =~ /^(\d+)/ ? $1 : 0;
}, 5);

# ---------------------------------------------------------------- converge

ok(wait_until(sub { decisions($a_port) eq 'eligible'
    && decisions($b_port) eq 'eligible' }, 10), 'both nodes: eligible');

psql(q{UPDATE uco.card SET status = 'blocked' WHERE id = 94});
ok(wait_until(sub { decisions($a_port) eq 'card_blocked'
    && decisions($b_port) eq 'card_blocked' }, 10),
    'a block committed once reaches both nodes');
my $w = psql(q{SELECT max(id) FROM uco.change_log});
ok(wait_until(sub { watermark($a_port) == $w && watermark($b_port) == $w },
    5), "both nodes report the same change-log watermark ($w)");

# ---------------------------------------------------------------- cut off

stop_b_loader();
psql(q{UPDATE uco.card SET status = 'active' WHERE id = 94});
ok(wait_until(sub { decisions($a_port) eq 'eligible' }, 10),
    'node A follows the next change');
ok(wait_until(sub { decisions($b_port) eq 'card_blocked stale' }, 5),
    'node B, cut off, answers from its last data, marked stale');
cmp_ok(watermark($b_port), '<', watermark($a_port),
    'and its watermark shows how far behind it is');

$b_loader = start_b_loader();
ok(wait_until(sub { decisions($b_port) eq 'eligible' }, 10),
    'node B back: it catches up, fresh');
is(watermark($b_port), watermark($a_port), 'the watermarks agree again');

stop_b_loader();
stop_b_nginx();
loader_stop();
nginx_stop();
check_no_alerts(error_log_since($a_log), 'node A');
check_no_alerts(read_file("$B/logs/error.log"), 'node B');
