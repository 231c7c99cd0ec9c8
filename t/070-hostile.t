# Hostile requests at the endpoint, over raw sockets: oversized and
# malformed request lines, odd cards, repeated parameters, wrong methods,
# malformed credentials, a slow client, and a few hundred random-byte
# requests from a fixed seed.  Each gets a clean 4xx (a JSON error body
# where the module answers: 400, 401, 405), never a 5xx; afterwards a
# normal request still gets 200 from the same worker processes, and the
# error log has no [alert], [crit], [emerg] and no signal.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use IO::Select;
use IO::Socket::INET;
use Socket qw(SHUT_WR);
use Time::HiRes qw(sleep time);

my $t0;

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (71, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('71', 32), 71),
    ('social', '7171', 71);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (7001, uco.secret_hash('secret-7001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (701, 7001, 'percent', 10);
SQL

my $PATH = '/v1/eligibility';
my $CARD = '71' x 32;
my $AUTH = 'Authorization: Bearer 7001.secret-7001';
$SIG{PIPE} = 'IGNORE';

my $gen = ctl_generation();
my $log_start = error_log_mark();
nginx_start(http_config => "client_header_timeout 1s;\n"
    . "client_body_timeout 1s;\nlingering_timeout 1s;\n");
my $master = nginx_pid();

# ---------------------------------------------------------------- helpers

sub connect_nginx {
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => server_port(), Proto => 'tcp', Timeout => 5)
        or die "connect: $!\n";
    binmode $sock;
    return $sock;
}

# read until EOF or the timeout; return (bytes, 1 if EOF was seen)
sub read_all {
    my ($sock, $timeout) = @_;
    my $raw = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + ($timeout // 5);
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $sock, $raw, 65536, length $raw;
        return ($raw, 1) unless $n;     # EOF, or a reset after the answer
    }
    return ($raw, 0);
}

# the responses in a byte stream, each {status, headers, body}
sub parse_responses {
    my ($raw) = @_;
    my @res;
    while ($raw =~ s/\AHTTP\/1\.[01] (\d{3})[^\r\n]*\r\n//) {
        my %r = (status => $1, headers => {});
        while ($raw =~ s/\A([^\r\n:]+):[ \t]*([^\r\n]*)\r\n//) {
            $r{headers}{lc $1} = $2;
        }
        $raw =~ s/\A\r\n// or last;
        $r{body} = substr $raw, 0, $r{headers}{'content-length'} // 0, '';
        push @res, \%r;
    }
    return @res;
}

# send raw bytes, read until the connection closes; return the first
# response (status 0 if none) with raw, closed and all (every response)
sub raw_request {
    my ($bytes, %opt) = @_;
    my $sock = connect_nginx();
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $sock, $bytes, 65536, $off;
        last unless $n;                 # nginx may close a huge request
        $off += $n;
    }
    shutdown $sock, SHUT_WR if $opt{shutdown};
    my ($raw, $closed) = read_all($sock, $opt{timeout} // 5);
    close $sock;
    my @all = parse_responses($raw);
    my $first = $all[0] // { status => 0, headers => {}, body => '' };
    return { %$first, raw => $raw, closed => $closed, all => \@all };
}

sub request {
    my ($method, $uri, @headers) = @_;
    my $body = (@headers && ref $headers[-1] eq 'SCALAR')
        ? ${ pop @headers } : undef;
    my $req = "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n" . join('', map { "$_\r\n" } @headers);
    $req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    return raw_request($req . "\r\n" . ($body // ''));
}

# the processes that serve: the workers, or nginx itself when it runs
# as one process (under valgrind)
sub workers {
    return $master if nginx_single_process();
    my @pids = sort { $a <=> $b } map { /(\d+)/ ? $1 : () }
        split /\n/, `ps --ppid $master -o pid= 2>/dev/null`;
    return "@pids";
}

my $WORKERS = workers();
is(scalar(split ' ', $WORKERS), nginx_single_process() ? 1 : 2,
    "the serving processes: $WORKERS");

sub normal_request_ok {
    my ($name) = @_;
    my @got = map {
        my $r = request('GET', "$PATH?card=$CARD", $AUTH);
        my $j = json_decode($r->{body}) // {};
        "$r->{status} " . ($j->{decision} // '?') . ' '
            . ($j->{generation} // '-');
    } 1 .. 4;
    is_deeply(\@got, [("200 eligible $gen") x 4],
        "$name: normal requests still get 200");
    is(workers(), $WORKERS, "$name: the same workers are alive");
    ok(kill(0, $master), "$name: the master is alive");
}

# a JSON error from the module: status, code, the headers that go with it
sub is_json_error {
    my ($r, $status, $code, $name) = @_;
    is($r->{status}, $status, "$name: $status") or diag($r->{raw});
    is($r->{headers}{'content-type'}, 'application/json',
        "$name: JSON content type");
    my $j = json_decode($r->{body}) // {};
    is($j->{error}, $code, "$name: error $code") or diag($r->{body});
    like($j->{message} // '', qr/\S/, "$name: a message");
    if ($status == 401) {
        is($r->{headers}{'www-authenticate'}, 'Bearer realm="uco"',
            "$name: WWW-Authenticate");
    }
    if ($status == 405) {
        like($r->{headers}{allow} // '', qr/^GET, HEAD, POST$/,
            "$name: Allow");
    }
}

# nginx's own 4xx (not the module's): a status, no 5xx
sub is_nginx_error {
    my ($r, $status, $name) = @_;
    is($r->{status}, $status, "$name: $status") or diag($r->{raw});
    ok($r->{closed}, "$name: the connection is closed");
}

normal_request_ok('at start');

# ---------------------------------------------------------------- oversized

my $r = request('GET', "$PATH?card=$CARD&pad=" . ('x' x 100_000), $AUTH);
is_nginx_error($r, 414, 'a 100 kB query string');

$r = request('GET', "$PATH?card=$CARD",
    'Authorization: Bearer 7001.' . ('s' x 20_000));
is_nginx_error($r, 400, 'a 20 kB Authorization header');

$r = request('GET', "$PATH?card=" . ('7' x 70) . '&kind=social', $AUTH);
is_json_error($r, 400, 'invalid_card', 'a social card of 70 digits');
$r = request('GET', "$PATH?card=" . ('7' x 70), $AUTH);
is_json_error($r, 400, 'invalid_card', 'a hashpan of 70 digits');
$r = request('GET', "$PATH?card=" . ('f' x 4000), $AUTH);
is_json_error($r, 400, 'invalid_card', 'a hashpan of 4000 digits');
$r = request('GET', "$PATH?card=$CARD&amount=" . ('9' x 5000), $AUTH);
is_json_error($r, 400, 'invalid_amount', 'an amount of 5000 digits');

normal_request_ok('after oversized requests');

# ---------------------------------------------------------------- encodings

# values are not percent-decoded: an encoded byte is just invalid
$r = request('GET', "$PATH?card=" . substr($CARD, 0, 62) . '%41', $AUTH);
is_json_error($r, 400, 'invalid_card', 'a hashpan ending in %41');
$r = request('GET', "$PATH?card=71%371&kind=social", $AUTH);
is_json_error($r, 400, 'invalid_card', 'a social card with %37');
$r = request('GET', "$PATH?card=7171%00&kind=social", $AUTH);
is_json_error($r, 400, 'invalid_card', 'a card with %00');
$r = request('GET', "$PATH?card=%00", $AUTH);
is_json_error($r, 400, 'invalid_card', 'a card that is only %00');
$r = request('GET', "$PATH?card=%zz&kind=social", $AUTH);
is_json_error($r, 400, 'invalid_card', 'a card of %zz');
$r = request('GET', "$PATH?card=$CARD&kind=so%63ial", $AUTH);
is_json_error($r, 400, 'invalid_kind', 'an encoded kind');
$r = request('GET', "$PATH?card=$CARD&x=%zz&y=%&z=%%", $AUTH);
is($r->{status}, 200, 'invalid percent sequences in ignored parameters: 200');
$r = request('GET', "$PATH%zz?card=$CARD", $AUTH);
is_nginx_error($r, 400, 'an invalid percent sequence in the path');

$r = raw_request("GET $PATH?card=7171\0&kind=social HTTP/1.1\r\n"
    . "Host: localhost\r\n$AUTH\r\nConnection: close\r\n\r\n");
is_nginx_error($r, 400, 'a raw NUL byte in the request line');
$r = raw_request("GET $PATH?card=$CARD HTTP/1.1\r\nHost: localhost\r\n"
    . "Authorization: Bearer 7001.secret\0-7001\r\n"
    . "Connection: close\r\n\r\n");
is_nginx_error($r, 400, 'a raw NUL byte in the Authorization header');

normal_request_ok('after encodings');

# ---------------------------------------------------------------- parameters

$r = request('GET', "$PATH?card=$CARD&card=$CARD", $AUTH);
is_json_error($r, 400, 'duplicate_parameter', 'card=..&card=..');
$r = request('GET', "$PATH?card=$CARD&card=", $AUTH);
is_json_error($r, 400, 'duplicate_parameter', 'a second, empty card');
$r = request('GET', "$PATH?card=$CARD&card", $AUTH);
is_json_error($r, 400, 'duplicate_parameter', 'a second card without =');
$r = request('GET', "$PATH?" . join('&', ("card=$CARD") x 50), $AUTH);
is_json_error($r, 400, 'duplicate_parameter', 'card 50 times');

$r = request('GET', "$PATH?card=$CARD&" . join('&', ('x=1') x 50), $AUTH);
is($r->{status}, 200, '50 repeated unknown parameters: still answered 200');
is((json_decode($r->{body}) // {})->{decision}, 'eligible',
    '50 repeated unknown parameters: eligible');
$r = request('GET', "$PATH?" . join('&', map { "p$_=$_" } 1 .. 500)
    . "&card=$CARD", $AUTH);
is($r->{status}, 200, '500 unknown parameters before the card: 200');
$r = request('GET', "$PATH?card=$CARD" . ('&' x 1000) . '=' x 1000, $AUTH);
is($r->{status}, 200, '1000 empty parameters and a run of "=": 200');
$r = request('GET', "$PATH?&&&=&card=$CARD&=x&", $AUTH);
is($r->{status}, 200, 'empty names and values around the card: 200');
$r = request('GET', "$PATH?card", $AUTH);
is_json_error($r, 400, 'missing_card', 'card without a value');
$r = request('GET', "$PATH?CARD=$CARD", $AUTH);
is_json_error($r, 400, 'missing_card', 'CARD in capitals is not card');

normal_request_ok('after repeated parameters');

# ---------------------------------------------------------------- methods

# a POST without a Content-Type the module reads (t/080-batch.t has the
# rest) is refused before its body is read, and the body is discarded
$r = request('POST', "$PATH?card=$CARD", $AUTH, \'{"card":"7171"}');
is_json_error($r, 415, 'unsupported_media_type', 'POST with a body');
$r = request('POST', "$PATH?card=$CARD", $AUTH, \('b' x 200_000));
is_json_error($r, 415, 'unsupported_media_type', 'POST with a 200 kB body');
$r = request('PUT', "$PATH?card=$CARD", $AUTH, \'x');
is_json_error($r, 405, 'method_not_allowed', 'PUT');
$r = request('DELETE', "$PATH?card=$CARD", $AUTH);
is_json_error($r, 405, 'method_not_allowed', 'DELETE');
$r = request('OPTIONS', "$PATH?card=$CARD", $AUTH);
is_json_error($r, 405, 'method_not_allowed', 'OPTIONS');
$r = raw_request("POST $PATH?card=$CARD HTTP/1.1\r\nHost: localhost\r\n"
    . "$AUTH\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    . "5\r\nhello\r\n0\r\n\r\n");
is_json_error($r, 415, 'unsupported_media_type',
    'POST with a chunked body');

# the body of a refused POST is discarded: the next request on the same
# connection is read from the right place
my $body = "GET $PATH?card=$CARD HTTP/1.1\r\nHost: x\r\n\r\n" . ('z' x 16);
$r = raw_request("POST $PATH?card=$CARD HTTP/1.1\r\nHost: localhost\r\n"
    . "$AUTH\r\nContent-Length: " . length($body) . "\r\n\r\n$body"
    . "GET $PATH?card=$CARD HTTP/1.1\r\nHost: localhost\r\n$AUTH\r\n"
    . "Connection: close\r\n\r\n");
is_deeply([map { $_->{status} } @{ $r->{all} }], [415, 200],
    'a POST body that looks like a request is skipped: 415 then 200')
    or diag($r->{raw});

# a POST that promises a body and never sends it: answered at once, the
# rest of the body discarded until lingering_timeout (1s here)
$t0 = time;
$r = raw_request("POST $PATH?card=$CARD HTTP/1.1\r\nHost: localhost\r\n"
    . "$AUTH\r\nContent-Length: 1000\r\n\r\nonly this", timeout => 5);
is($r->{status}, 415, 'a POST whose body never comes: 415');
ok($r->{closed} && time - $t0 < 4, sprintf('and the connection is closed'
    . ' after lingering_timeout (%.1f s)', time - $t0));

normal_request_ok('after wrong methods');

# ---------------------------------------------------------------- credentials

my @bad_auth = (
    ['no Authorization', undef],
    ['Bearer', 'Bearer'],
    ['Bearer and spaces', 'Bearer    '],
    ['Bearer .', 'Bearer .'],
    ['Bearer 1.', 'Bearer 1.'],
    ['Bearer .secret', 'Bearer .secret-7001'],
    ['Bearer abc.x', 'Bearer abc.x'],
    ['Bearer 0.x', 'Bearer 0.x'],
    ['Bearer -7001.x', 'Bearer -7001.secret-7001'],
    ['Bearer 7001 without a dot', 'Bearer 7001'],
    ['a 20-digit partner id', 'Bearer 12345678901234567890.secret-7001'],
    ['a partner id above 2^64', 'Bearer 18446744073709551617.x'],
    ['a 19-digit unknown partner', 'Bearer 9999999999999999999.x'],
    ['a 300-byte secret', 'Bearer 7001.' . ('s' x 300)],
    ['a 257-byte secret', 'Bearer 7001.' . ('s' x 257)],
    ['the secret of another partner', 'Bearer 7001.secret-7002'],
    ['the secret with a trailing byte', 'Bearer 7001.secret-70011'],
    ['the secret less a byte', 'Bearer 7001.secret-700'],
    ['Basic xxx', 'Basic xxx'],
    ['Basic with a valid-looking pair', 'Basic 7001.secret-7001'],
    ['Bearer7001.secret-7001', 'Bearer7001.secret-7001'],
    ['a tab after Bearer', "Bearer\t7001.secret-7001"],
    ['a leading zero partner of 20 digits',
        'Bearer 00000000000000007001.secret-7001'],
    ['high bytes', "Bearer 7001.\xff\xfe\x80"],
);
for my $case (@bad_auth) {
    my ($name, $value) = @$case;
    $r = request('GET', "$PATH?card=$CARD",
        defined $value ? ("Authorization: $value") : ());
    is_json_error($r, 401, 'unauthorized', $name);
}
$r = request('GET', "$PATH?card=$CARD",
    'Authorization: Bearer 0007001.secret-7001');
is($r->{status}, 200, 'a partner id with leading zeros is still the id');
$r = request('GET', "$PATH?card=$CARD",
    'Authorization: bearer 7001.secret-7001');
is($r->{status}, 200, 'the scheme is case-insensitive');
$r = request('GET', "$PATH?card=$CARD", $AUTH, $AUTH);
ok($r->{status} == 400 || $r->{status} == 401,
    "two Authorization headers: a 4xx ($r->{status})");

normal_request_ok('after malformed credentials');

# ---------------------------------------------------------------- slow client

my $mark = error_log_mark();
my @slow = map {
    my $s = connect_nginx();
    syswrite $s, "GET $PATH?card=$CARD HTTP/1.1\r\nHost: loc";
    $s;
} 1 .. 10;
$t0 = time;
normal_request_ok('while 10 clients stall mid-request');
ok(time - $t0 < 1, sprintf('and served at once (%.2f s)', time - $t0));
my @closed = map {
    my ($raw, $eof) = read_all($_, 5);
    [$raw, $eof];
} @slow;
my $took = time - $t0;
is(scalar(grep { $_->[1] } @closed), 10,
    'nginx closes every stalled connection');
is(join('', map { $_->[0] } @closed), '', 'without an answer');
ok($took >= 0.8 && $took < 4,
    sprintf('after client_header_timeout 1s (%.1f s)', $took));
$_->close for @slow;
like(error_log_since($mark), qr/client timed out/,
    'the error log says the client timed out');

# a client that stalls after the headers of a POST body
my $s = connect_nginx();
syswrite $s, "PUT $PATH?card=$CARD HTTP/1.1\r\nHost: localhost\r\n$AUTH\r\n"
    . "Content-Length: 100\r\n\r\nabc";
$t0 = time;
my ($raw, $eof) = read_all($s, 5);
close $s;
like($raw, qr/^HTTP\/1\.1 405 /, 'a stalled PUT body still gets its 405');
ok($eof && time - $t0 < 4, sprintf('and the connection is closed (%.1f s)',
    time - $t0));

normal_request_ok('after slow clients');

# ---------------------------------------------------------------- random bytes

srand(42);
sub random_bytes {
    my ($n, $exclude) = @_;
    my $b = '';
    while (length $b < $n) {
        my $c = chr int rand 256;
        $b .= $c unless $exclude && $c =~ $exclude;
    }
    return $b;
}

my (%statuses, @bad_status, $silent);
my $record = sub {
    my ($what, $r) = @_;
    $statuses{$r->{status}}++;
    push @bad_status, "$what: $r->{status}"
        if $r->{status} >= 500 || ($r->{status} != 0 && $r->{status} < 200);
    $silent++ unless $r->{closed};
};
for my $i (1 .. 120) {
    # a request line of random bytes
    my $line = random_bytes(1 + int rand 300);
    $record->("random line $i", raw_request("$line\r\nHost: localhost\r\n"
        . "$AUTH\r\n\r\n", shutdown => 1, timeout => 3));
}
for my $i (1 .. 120) {
    # a well-formed request line with a random query
    my $query = random_bytes(1 + int rand 200, qr/[\r\n]/);
    $record->("random query $i", raw_request("GET $PATH?$query HTTP/1.1\r\n"
        . "Host: localhost\r\n$AUTH\r\nConnection: close\r\n\r\n",
        shutdown => 1, timeout => 3));
    # and a random card in a query the module reads
    my $card = random_bytes(1 + int rand 80, qr/[\r\n &#]/);
    $record->("random card $i", raw_request("GET $PATH?card=$card&kind="
        . (rand() < 0.5 ? 'social' : 'hashpan') . " HTTP/1.1\r\n"
        . "Host: localhost\r\n$AUTH\r\nConnection: close\r\n\r\n",
        shutdown => 1, timeout => 3));
}
for my $i (1 .. 60) {
    # random credentials
    my $cred = random_bytes(1 + int rand 300, qr/[\r\n]/);
    my $value = rand() < 0.5 ? "Bearer $cred" : "Bearer 7001.$cred";
    $record->("random credentials $i", raw_request("GET $PATH?card=$CARD"
        . " HTTP/1.1\r\nHost: localhost\r\nAuthorization: $value\r\n"
        . "Connection: close\r\n\r\n", shutdown => 1, timeout => 3));
}
is_deeply(\@bad_status, [], '420 random requests: never a 5xx');
ok(!$silent, 'every random request got an answer or a close')
    or diag("$silent left hanging");
cmp_ok($statuses{400} // 0, '>', 100, 'many are refused with 400: '
    . join(', ', map { "$_ x $statuses{$_}" } sort keys %statuses));

normal_request_ok('after random bytes');

# ---------------------------------------------------------------- the log

my $log = error_log_since($log_start);
check_no_alerts($log, '070-hostile');
unlike($log, qr/signal/, 'no signal in the error log (no worker crashed)');
# nginx itself logs the request line of what it refuses before the module
# runs, at [info]; the module and every line above [info] must not
my @leaks = grep { /\Q$CARD\E|7171/ && (/ uco: / || !/\[(?:info|debug)\]/) }
    split /\n/, $log;
is_deeply(\@leaks, [], 'no card identifier in the module\'s log lines or'
    . ' above [info]');
nginx_stop();
