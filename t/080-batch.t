# POST bodies and msgpack: one check or a batch (an array) in JSON or
# msgpack, answers in the same order and with the same fields as GET,
# mixed results, per-check errors, uco_batch_max (413), malformed bodies
# (400), wrong content types (415), request-level errors before the body
# is parsed, bodies kept in a temporary file, and msgpack answers chosen
# by Accept.  msgpack is encoded and decoded by python3-msgpack, an
# implementation independent of the module's msgpack-c.  No card
# identifier may reach the error log.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use IO::Socket::INET;
use JSON::PP ();

data_sql(<<'SQL');
INSERT INTO uco.category (bit, code) VALUES (0, 'pensioner');
INSERT INTO uco.holder (id, categories) VALUES
    (1, uco.category_mask('pensioner')), (2, 0);
INSERT INTO uco.card (id, holder_id, kind, status, valid_until) VALUES
    (81, 1, 'bank', 'active',  '2099-12-31'),
    (82, 2, 'bank', 'active',  '2099-12-31'),
    (83, 1, 'bank', 'blocked', '2099-12-31'),
    (84, 1, 'bank', 'expired', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('hashpan', repeat('81', 32), 81),
    ('social',  '8282',           82),
    ('hashpan', repeat('83', 32), 83),
    ('social',  '8484',           84);
-- the HashPAN of PAN 2200000000000004 under t/data/keys/hashpan-1.key
INSERT INTO uco.card_identifier (kind, value, card_id, key_id) VALUES
    ('hashpan',
     '5db53f680c9a68b53c4e87c7c535c426e3171b735677771eb07aed41baacb76b',
     82, 1);
INSERT INTO uco.partner (id, status, secret_sha256) VALUES
    (8001, 'active',    uco.secret_hash('secret-8001')),
    (8002, 'active',    uco.secret_hash('secret-8002')),
    (8003, 'suspended', uco.secret_hash('secret-8003'));
INSERT INTO uco.partner_terminal (partner_id, terminal)
    VALUES (8002, 'POS-1');
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent,
                           required_categories) VALUES
    (801, 8001, 'percent', 10.5, uco.category_mask('pensioner')),
    (802, 8002, 'percent', 5, 0);
SQL

my $AUTH = 'Bearer 8001.secret-8001';
my @CARDS = ('81' x 32, '8282', '83' x 32, '8484', '99' x 32);
my $gen = ctl_generation();
my $JSON = JSON::PP->new->canonical;

my $log_mark = error_log_mark();
nginx_start(config => <<'CONF');
location = /v1/eligibility {
    uco_eligibility;
    uco_batch_max 5;
}
location = /v1/default {
    uco_eligibility;
}
location = /v1/small {
    uco_eligibility;
    client_body_buffer_size 1k;
    client_max_body_size 4k;
}
# the recipe of docs/directives.md: nginx's own 413 as uco's JSON error
location = /v1/small-json {
    uco_eligibility;
    client_max_body_size 4k;
    error_page 413 = @uco_body_too_large;
}
location @uco_body_too_large {
    default_type application/json;
    return 413 '{"error":"body_too_large","message":"the request body is larger than client_max_body_size"}';
}
CONF

# ---------------------------------------------------------------- helpers

my $n = 0;

# Debian's python3 (python3-msgpack), not another one first in PATH
my $PY = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

# run python3 with msgpack on a file; return its stdout
sub py {
    my ($code, $input) = @_;
    my $in = tmpdir() . '/py-in-' . $n++;
    write_file($in, $input);
    my ($rc, $out) = capture([$PY, '-c',
        "import sys, json, msgpack\n$code", $in]);
    die "python3: $out\n" if $rc;
    return $out;
}

# a Perl structure as msgpack bytes, by python3's encoder
sub mp_encode {
    my ($data) = @_;
    return py('sys.stdout.buffer.write(msgpack.packb('
        . 'json.load(open(sys.argv[1]))))', $JSON->encode($data));
}

# msgpack bytes decoded by python3 (strict: str, not bin; one object)
sub mp_decode {
    my ($bytes) = @_;
    my $out = eval {
        py('print(json.dumps(msgpack.unpackb(open(sys.argv[1], "rb")'
            . '.read(), raw=False)))', $bytes);
    };
    return $out ? json_decode($out) : undef;
}

sub post {
    my ($path, $type, $body, @more) = @_;
    my @h = (['Authorization', $AUTH]);
    push @h, ['Content-Type', $type] if defined $type;
    push @h, @more;
    return http_request('POST', $path, \@h, $body);
}

sub get {
    my ($query, @more) = @_;
    return http_request('GET', "/v1/eligibility?$query",
        [['Authorization', $AUTH], @more]);
}

# the GET query of a check given as a hash
sub query_of {
    my ($c) = @_;
    return join '&', map { "$_=$c->{$_}" } sort keys %$c;
}

sub is_error {
    my ($r, $status, $code, $name) = @_;
    is($r->{status}, $status, "$name: $status") or diag($r->{body});
    is($r->{headers}{'content-type'}, 'application/json',
        "$name: a JSON error");
    my $j = json_decode($r->{body}) // {};
    is($j->{error}, $code, "$name: $code") or diag($r->{body});
    like($j->{message} // '', qr/\S/, "$name: a message");
}

# ---------------------------------------------------------------- JSON

my @checks = (
    { card => $CARDS[0], amount => 10000 },
    { card => $CARDS[1], kind => 'social' },
    { card => $CARDS[2] },
    { card => $CARDS[3], kind => 'social', amount => 0 },
    { card => $CARDS[4] },
);

# what GET answers for each check, the reference for every batch below
my @want = map { get(query_of($_))->{body} } @checks;
is_deeply([map { (json_decode($_) // {})->{decision} } @want],
    [qw(eligible not_eligible card_blocked card_expired card_unknown)],
    'the GET answers of the checks are mixed');

my $r = post('/v1/eligibility', 'application/json', $JSON->encode(\@checks));
is($r->{status}, 200, 'a batch of 5: 200');
is($r->{headers}{'content-type'}, 'application/json', 'a batch: JSON');
is($r->{headers}{'cache-control'}, 'no-store', 'a batch: no-store');
is($r->{body}, '[' . join(',', @want) . ']',
    'a batch answers the GET answers, in the same order');

$r = post('/v1/eligibility', 'application/json',
    $JSON->encode([reverse @checks]));
is($r->{body}, '[' . join(',', reverse @want) . ']',
    'the reversed batch answers in reversed order');

for my $i (0 .. $#checks) {
    $r = post('/v1/eligibility', 'application/json',
        $JSON->encode($checks[$i]));
    is("$r->{status} $r->{body}", "200 $want[$i]",
        "one check as an object answers as GET ($i)");
}

$r = post('/v1/eligibility', 'application/json; charset=utf-8',
    '{"card":"8282","kind":"social"}');
is("$r->{status} $r->{body}", "200 $want[1]", 'a charset parameter');
$r = post('/v1/eligibility', 'Application/JSON', $JSON->encode([$checks[2]]));
is("$r->{status} $r->{body}", "200 [$want[2]]",
    'media types are case-insensitive');

# per-check errors: the batch still answers 200, each error in its place
my @mixed = (
    { card => $CARDS[0], amount => 10000 },
    { card => 'zz' },
    { card => '8282', kind => 'nfc' },
    { card => '8282', kind => 'social', amount => -5 },
    { kind => 'social' },
);
$r = post('/v1/eligibility', 'application/json', $JSON->encode(\@mixed));
is($r->{status}, 200, 'a batch with refused checks: 200');
my $j = json_decode($r->{body}) // [];
is_deeply([map { $_->{decision} // $_->{error} } @$j],
    [qw(eligible invalid_card invalid_kind invalid_amount missing_card)],
    'each refused check has its error in its place');
ok(!grep({ !defined $_->{decision} && !$_->{message} } @$j),
    'each error has a message');

my @typed = (
    '{"card":8282,"kind":"social"}',
    '{"card":"8282","kind":"social","amount":"100"}',
    '{"card":"8282","kind":"social","amount":1.5}',
    '{"card":"8282","kind":"social","amount":1000000000000}',
    '{"card":"8282","kind":"social","terminal":7}',
    '{"card":"8282","kind":["social"]}',
    '{"card":"8282","kind":"social","terminal":null,"amount":null,"x":[1]}',
    '"8282"',
    '[]',
);
$r = post('/v1/default', 'application/json', '[' . join(',', @typed) . ']');
$j = json_decode($r->{body}) // [];
is_deeply([map { $_->{decision} // $_->{error} } @$j],
    [qw(invalid_card invalid_amount invalid_amount invalid_amount
        invalid_terminal invalid_kind not_eligible invalid_check
        invalid_check)],
    'wrong types refuse the check; null and unknown fields are ignored');

$r = post('/v1/eligibility', 'application/json', '{"card":"zz"}');
is_error($r, 400, 'invalid_card', 'one refused check as an object');

# ---------------------------------------------------------------- limits

$r = post('/v1/eligibility', 'application/json',
    $JSON->encode([(@checks) x 2]));
is_error($r, 413, 'too_many_checks', '10 checks over uco_batch_max 5');

my @hundred = map { $checks[$_ % 5] } 0 .. 99;
$r = post('/v1/default', 'application/json', $JSON->encode(\@hundred));
$j = json_decode($r->{body}) // [];
is("$r->{status} " . scalar(@$j), '200 100', 'the default allows 100');
is($JSON->encode($j->[99]), $JSON->encode(json_decode($want[4])),
    'and the 100th answer is the 100th check\'s');
$r = post('/v1/default', 'application/json',
    $JSON->encode([@hundred, $checks[0]]));
is_error($r, 413, 'too_many_checks', '101 checks by default');

$r = post('/v1/eligibility', 'application/json', '[]');
is_error($r, 400, 'empty_batch', 'an empty batch');

# a body over client_body_buffer_size is read back from its file
my $padded = $JSON->encode(\@checks) . (' ' x 2000);
$r = post('/v1/small', 'application/json', $padded);
is("$r->{status} $r->{body}", '200 [' . join(',', @want) . ']',
    'a 2.5 kB body kept in a temporary file');
$r = post('/v1/small', 'application/json', $padded . (' ' x 2000));
is($r->{status}, 413, 'over client_max_body_size: nginx\'s 413');
$r = post('/v1/small-json', 'application/json', $padded . (' ' x 2000));
is_error($r, 413, 'body_too_large',
    'with the error_page recipe, that 413 is a JSON error');

# chunked, in three pieces (http_request would add a Content-Length)
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
    PeerPort => server_port(), Proto => 'tcp', Timeout => 5)
    or die "connect: $!\n";
print $sock "POST /v1/eligibility HTTP/1.1\r\nHost: localhost\r\n"
    . "Authorization: $AUTH\r\nContent-Type: application/json\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    . "5\r\n[{\"ca\r\n10\r\nrd\":\"8282\",\"kind\r\n"
    . "c\r\n\":\"social\"}]\r\n0\r\n\r\n";
my $raw = do { local $/; <$sock> } // '';
close $sock;
like($raw, qr/\A HTTP\/1\.1\ 200\ .*\r\n\r\n\Q[$want[1]]\E\z/xs,
    'a chunked body');

# ---------------------------------------------------------------- malformed

for my $bad ('', '[', '{"card":}', 'nul', '"card"', '123', 'true',
             '[] []', '[{"card":"8282"}] x', "{\"card\":\"82\\u000082\"}",
             '{"card":"8282","card":"8282"}', "\xff\xfe[]",
             ('[' x 5000) . (']' x 5000))
{
    (my $show = substr($bad, 0, 24)) =~ s/[^ -~]/?/g;
    $r = post('/v1/eligibility', 'application/json', $bad);
    is_error($r, 400, 'malformed_body', "malformed JSON '$show'");
}

# ---------------------------------------------------------------- types

for my $type (undef, 'text/plain', 'application/jsonx',
              'application/x-www-form-urlencoded', 'json')
{
    $r = post('/v1/eligibility', $type, $JSON->encode(\@checks));
    is_error($r, 415, 'unsupported_media_type',
        'Content-Type ' . ($type // 'absent'));
}

# ---------------------------------------------------------------- request

$r = http_request('POST', '/v1/eligibility',
    [['Content-Type', 'application/json']], $JSON->encode(\@checks));
is_error($r, 401, 'unauthorized', 'a batch without credentials');
is($r->{headers}{'www-authenticate'}, 'Bearer realm="uco"',
    'with WWW-Authenticate');
$r = http_request('POST', '/v1/eligibility',
    [['Authorization', 'Bearer 8003.secret-8003'],
     ['Content-Type', 'application/json']], '[{"card":"8282"}]');
is_error($r, 403, 'partner_suspended', 'a suspended partner\'s batch');
$r = http_request('POST', '/v1/eligibility',
    [['Content-Type', 'application/json']], '[');
is_error($r, 401, 'unauthorized',
    'credentials are checked before the body is parsed');

$r = http_request('POST', '/v1/eligibility',
    [['Authorization', 'Bearer 8002.secret-8002'],
     ['Content-Type', 'application/json']],
    '[{"card":"8282","kind":"social","terminal":"POS-1"},'
    . '{"card":"8282","kind":"social"},'
    . '{"card":"8282","kind":"social","terminal":"POS-2"}]');
$j = json_decode($r->{body}) // [];
is_deeply([map { $_->{decision} // $_->{error} } @$j],
    [qw(eligible terminal_not_allowed terminal_not_allowed)],
    'the terminal allow-list applies to each check');

# ---------------------------------------------------------------- msgpack

my $want_all = json_decode('[' . join(',', @want) . ']');

$r = post('/v1/eligibility', 'application/msgpack', mp_encode(\@checks),
    ['Accept', 'application/msgpack']);
is($r->{status}, 200, 'a msgpack batch: 200');
is($r->{headers}{'content-type'}, 'application/msgpack',
    'answered in msgpack');
is_deeply(mp_decode($r->{body}), $want_all,
    'python3 decodes the same answers as JSON, in order');
like($r->{body}, qr/\xa8decision/, 'keys are msgpack str');

$r = post('/v1/eligibility', 'application/msgpack', mp_encode(\@checks));
is($r->{body}, '[' . join(',', @want) . ']',
    'a msgpack batch without Accept answers JSON');
$r = post('/v1/eligibility', 'application/json', $JSON->encode(\@checks),
    ['Accept', 'application/msgpack']);
is_deeply(mp_decode($r->{body}), $want_all,
    'a JSON batch with Accept msgpack answers msgpack');
$r = post('/v1/eligibility', 'application/x-msgpack',
    mp_encode($checks[0]), ['Accept', 'application/msgpack']);
is_deeply(mp_decode($r->{body}), $want_all->[0],
    'one check as a msgpack map answers one map');

my $pct = mp_decode($r->{body})->{programme}{value};
is($pct, 10.5, 'a percentage of 10.5 is a float in msgpack');

for my $i (0 .. $#checks) {
    $r = get(query_of($checks[$i]), ['Accept', 'application/msgpack']);
    is_deeply(mp_decode($r->{body}), $want_all->[$i],
        "GET with Accept msgpack answers the JSON fields ($i)");
}

for my $accept ('application/json, application/msgpack;q=0.5',
                '*/*', 'text/html', 'application/msgpack;q=0',
                'application/msgpack;q=0.2, application/*;q=0.8')
{
    $r = get(query_of($checks[0]), ['Accept', $accept]);
    is("$r->{headers}{'content-type'} $r->{body}",
        "application/json $want[0]", "Accept: $accept answers JSON");
}

for my $accept ('application/json;q=0.9, application/msgpack',
                'application/msgpack, */*', 'application/vnd.msgpack',
                'text/html, application/msgpack;q=0.1')
{
    $r = get(query_of($checks[0]), ['Accept', $accept]);
    is($r->{headers}{'content-type'}, 'application/msgpack',
        "Accept: $accept answers msgpack");
}

$r = http_request('GET', '/v1/eligibility?card=8282&kind=social',
    [['Accept', 'application/msgpack']]);
is($r->{status}, 401, 'an error with Accept msgpack');
is_deeply(mp_decode($r->{body}),
    { error => 'unauthorized',
      message => 'missing or invalid partner credentials' },
    'is a msgpack map of error and message');

$r = post('/v1/eligibility', 'application/msgpack',
    mp_encode([(@checks) x 2]), ['Accept', 'application/msgpack']);
is($r->{status}, 413, 'too many msgpack checks: 413');
is((mp_decode($r->{body}) // {})->{error}, 'too_many_checks',
    'with a msgpack error');

# the fields of msgpack checks are typed as in JSON
my @mp_typed = (
    [{ card => 8282, kind => 'social' }, 'invalid_card'],
    [{ card => '8282', kind => 'social', amount => '100' }, 'invalid_amount'],
    [{ card => '8282', kind => 'social', amount => -1 }, 'invalid_amount'],
    [{ card => '8282', kind => 'social', amount => 150000 }, 'not_eligible'],
);
$r = post('/v1/eligibility', 'application/msgpack',
    mp_encode([map { $_->[0] } @mp_typed]));
$j = json_decode($r->{body}) // [];
is_deeply([map { $_->{decision} // $_->{error} } @$j],
    [map { $_->[1] } @mp_typed], 'msgpack fields are typed');

# hand-made msgpack: duplicate keys, binary strings, a non-string key
my $dup = "\x91\x82\xa4card\xa48282\xa4card\xa48282";
$r = post('/v1/eligibility', 'application/msgpack', $dup);
is((json_decode($r->{body}) // [{}])->[0]{error}, 'duplicate_parameter',
    'a msgpack check with a duplicate key');
my $bin = "\x91\x82\xa4card\xc4\x048282\xa4kind\xa6social";
$r = post('/v1/eligibility', 'application/msgpack', $bin);
is((json_decode($r->{body}) // [{}])->[0]{error}, 'invalid_card',
    'a card as msgpack bin is refused');
my $intkey = "\x91\x83\x01\xa1x\xa4card\xa48282\xa4kind\xa6social";
$r = post('/v1/eligibility', 'application/msgpack', $intkey);
is((json_decode($r->{body}) // [{}])->[0]{decision}, 'not_eligible',
    'a non-string key is ignored');

for my $bad (['empty', ''], ['cut array', "\x92\x81"],
             ['cut string', "\x91\x81\xa4card\xa8828"],
             ['a huge array in 5 bytes', "\xdd\xff\xff\xff\xff"],
             ['a huge map in 5 bytes', "\x91\xdf\x7f\xff\xff\xff"],
             ['a huge string in 6 bytes', "\x91\x81\xa4card\xdb\xff\xff\xff"],
             ['deep nesting', ("\x91" x 100) . "\x90"],
             ['the never-used byte', "\x91\xc1"],
             ['trailing bytes', mp_encode([$checks[1]]) . "\x90"],
             ['a string', "\xa48282"], ['an integer', "\x05"],
             ['nil', "\xc0"])
{
    $r = post('/v1/eligibility', 'application/msgpack', $bad->[1]);
    is_error($r, 400, 'malformed_body', "malformed msgpack: $bad->[0]");
}

$r = post('/v1/eligibility', 'application/msgpack', "\x90");
is_error($r, 400, 'empty_batch', 'an empty msgpack array');

# ---------------------------------------------------------------- logs

my $log = error_log_since($log_mark);
like($log, qr/uco: bad body from partner 8001: malformed_body/,
    'a malformed body is logged at info, with the partner');
my @leaks = grep { index($log, $_) >= 0 } @CARDS, '8282';
ok(!@leaks, 'no card identifier in the error log') or diag("@leaks");
check_no_alerts($log, 'batch requests');
unlike($log, qr/exited on signal|exited with code [1-9]|runtime error/,
    'no worker died, no sanitizer report in the error log');

# ---------------------------------------------------------------- journal

# with the journal on, each decided check of a batch is its own decision
my $jdir = tmpdir() . '/journal';
my $PAN = '2200000000000004';
mkdir $jdir;
my $jmark = error_log_mark();
nginx_start(http_config => "uco_journal $jdir;\n"
    . 'uco_hashpan_key 1 ' . data_dir() . "/keys/hashpan-1.key;\n");
$r = post('/v1/eligibility', 'application/json',
    $JSON->encode([@checks[0, 1], { card => 'zz' }, $checks[2]]));
$j = json_decode($r->{body}) // [];
my @ids = map { $_->{decision_id} } @$j;
ok(defined $ids[0] && defined $ids[1] && defined $ids[3]
    && !defined $ids[2], 'each decided check has a decision_id, an '
    . 'error has none') or diag($r->{body});
ok(($ids[0] // 0) < ($ids[1] // 0) && ($ids[1] // 0) < ($ids[3] // 0),
    'in the order of the checks');
$r = post('/v1/eligibility', 'application/json', $JSON->encode([@checks]),
    ['Accept', 'application/msgpack']);
my $text = py('print(json.dumps(msgpack.unpackb(open(sys.argv[1], "rb")'
    . '.read(), raw=False)))', $r->{body});
my @str_ids = $text =~ /"decision_id": "\d{1,19}"/g;
is(scalar(@str_ids), 5,
    'msgpack answers carry decision_id as a str of digits, as JSON does');

# a PAN in a body is keyed like a PAN in a query, and written nowhere
for my $type ('application/json', 'application/msgpack') {
    my @pan = ({ card => $PAN, kind => 'pan' },
               { card => '2200000000000005', kind => 'pan' });
    $r = post('/v1/eligibility', $type, $type =~ /json/
        ? $JSON->encode(\@pan) : mp_encode(\@pan));
    $j = json_decode($r->{body}) // [];
    is(join(' ', map { $_->{decision} // $_->{error} } @$j),
        'not_eligible invalid_card', "kind=pan in a $type batch");
}
nginx_stop();
check_no_alerts(error_log_since($jmark), 'batch requests with a journal');
my @files = grep { -f } split /\n/, `find ${\ servroot()} -type f`;
my @with_pan = grep { index(read_file($_), $PAN) >= 0 } @files;
ok(!@with_pan, 'no file nginx wrote holds the PAN') or diag("@with_pan");

# ---------------------------------------------------------------- config

for my $bad ('0', '-1', '10001', 'many') {
    my ($rc, $out) = nginx_config_test(config =>
        "location = /v1/eligibility { uco_eligibility; "
        . "uco_batch_max $bad; }\n");
    ok($rc != 0, "uco_batch_max $bad is refused")
        and like($out, qr/uco_batch_max|invalid|must be/,
                 "uco_batch_max $bad: a message");
}
my ($rc, $out) = nginx_config_test(http_config => "uco_batch_max 10000;\n");
is($rc, 0, 'uco_batch_max 10000 at http level') or diag($out);

nginx_stop();

done_testing();
