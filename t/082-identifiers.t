# Every identifier kind: hashpan, pan (Luhn, keyed HashPAN under two
# keys during a rotation), token (Ed25519 QR tokens: valid, expired,
# within the clock skew, tampered, unknown key id, rotated key, unknown
# card), social, barcode and uid, each with its malformed forms; and,
# after the blocks, that no PAN appears in any log or file nginx, the
# loader or PostgreSQL wrote.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

my @PANS = qw(2200000000000004 2204123456789015 220212345678901239);

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, status, valid_until) VALUES
    (11, 1, 'bank', 'active', '2099-12-31'),
    (12, 1, 'bank', 'active', '2099-12-31'),
    (13, 1, 'bank', 'blocked', '2099-12-31'),
    (14, 1, 'non_financial', 'active', '2099-12-31');
-- HashPANs of the PANs above: t/data/keys/hashpan-1.key is the current
-- key, hashpan-2.key the one being retired (PAN 2 has only that row)
INSERT INTO uco.card_identifier (kind, value, card_id, key_id) VALUES
    ('hashpan',
     '5db53f680c9a68b53c4e87c7c535c426e3171b735677771eb07aed41baacb76b',
     11, 1),
    ('hashpan',
     'd9d740f023e46749514cf971938512c594c732beb8c92c4e06537be9d4dc1b67',
     11, 2),
    ('hashpan',
     '073280d3e5126b76ea880a8e841353f3f58a1a001e68aa485307e5dbb71685cf',
     12, 2),
    ('hashpan',
     '9846afd86c8fee8fceaf002b8d056dbd5d9026704c88b6e74ff6b705f6901e6b',
     13, 1);
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('social', '4600000000001', 11),
    ('barcode', '4600000000001', 12),
    ('barcode', '0012', 14),
    ('uid', 'a1b2c3d4', 14),
    ('uid', '04a1b2c3d4e5f6', 12),
    ('uid', '0102030405060708090a', 11);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (4001, uco.secret_hash('secret-4001'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (401, 4001, 'percent', 10);
SQL

my $KEYS = data_dir() . '/keys';
my $CLI = $ENV{UCO_TEST_TOKEN_CLI} // repo_root() . '/build/uco-token';

# a token from the uco-token CLI: (card, key id, key file, ttl, now)
sub main::token {
    my ($card, $id, $key, $ttl, $now) = @_;
    my ($rc, $out) = capture([$CLI, 'mint', '--key', "$KEYS/$key.key",
        '--key-id', $id, '--card', $card, '--ttl', $ttl // 3600,
        defined $now ? ('--now', $now) : ()]);
    die "uco-token mint: $out" if $rc;
    chomp $out;
    return $out;
}

# one character of the signature changed
sub main::tampered {
    my ($t) = @_;
    substr($t, 60, 1) = substr($t, 60, 1) eq 'A' ? 'B' : 'A';
    return $t;
}

block_defaults(
    more_headers => 'Authorization: Bearer 4001.secret-4001',
    http_config => <<"CONF");
uco_hashpan_key 1 $KEYS/hashpan-1.key;
uco_hashpan_key 2 $KEYS/hashpan-2.key;
uco_token_key 1 $KEYS/token-1.pub;
uco_token_key 2 $KEYS/token-2.pub;
log_format leak '\$request|\$args|\$request_uri|\$arg_card';
access_log \$TEST_NGINX_SERVROOT/logs/leak.log leak;
CONF

run_tests();

# After every block: no PAN in any file under the test's directory
# (nginx's error and access logs with $request_uri and $args, the
# loader's log, PostgreSQL's data and log files, the snapshots).
my @hits;
my $tmp = tmpdir();
for my $pan (@PANS) {
    my ($rc, $out) = capture(['grep', '-r', '-l', '-a', '-F', $pan, $tmp]);
    push @hits, "$pan in $out" if $rc == 0;
}
ok(!@hits, 'no PAN in any file the test wrote') or diag(@hits);
my $leak = eval { read_file(servroot() . '/logs/leak.log') } // '';
like($leak, qr/card=\*{16}&kind=pan/,
     'the access log shows the PAN overwritten');

__DATA__

=== TEST 1: pan: the current key's HashPAN
--- request
GET /v1/eligibility?kind=pan&card=2200000000000004
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":401,"type":"percent","value":10}}

=== TEST 2: pan: a card with only the retiring key's HashPAN
--- request
GET /v1/eligibility?card=2204123456789015&kind=pan&amount=1000
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":401,"type":"percent","value":10,"discount":100}}

=== TEST 3: pan: the retiring key removed from nginx.conf
--- http_config eval
"uco_hashpan_key 1 " . main::data_dir() . "/keys/hashpan-1.key;"
--- request eval
["GET /v1/eligibility?card=2204123456789015&kind=pan",
 "GET /v1/eligibility?card=2200000000000004&kind=pan"]
--- error_code: 200
--- response_json eval
['{"decision":"card_unknown"}', '{"decision":"eligible"}']

=== TEST 4: pan: 18 digits, a blocked card
--- request
GET /v1/eligibility?card=220212345678901239&kind=pan
--- error_code: 200
--- response_json
{"decision":"card_blocked"}

=== TEST 5: pan: a wrong check digit, too short, too long, not digits
--- request eval
["GET /v1/eligibility?card=2200000000000005&kind=pan",
 "GET /v1/eligibility?card=22000000004&kind=pan",
 "GET /v1/eligibility?card=22000000000000000004&kind=pan",
 "GET /v1/eligibility?card=2200-0000-0000-0004&kind=pan",
 "GET /v1/eligibility?card=2200%200000000000004&kind=pan",
 "GET /v1/eligibility?card=&kind=pan"]
--- error_code: 400
--- response_json eval
[('{"error":"invalid_card"}') x 5, '{"error":"missing_card"}']
--- no_error_log
2200000000000005
22000000004

=== TEST 6: pan: a valid PAN of no card
--- request
GET /v1/eligibility?card=4111111111111111&kind=pan
--- error_code: 200
--- response_json
{"decision":"card_unknown"}
--- no_error_log
4111111111111111

=== TEST 7: pan: refused when nginx.conf names no HashPAN key
--- http_config
--- request
GET /v1/eligibility?card=2200000000000004&kind=pan
--- error_code: 400
--- response_body_like
^\{"error":"unsupported_kind","message":"[^"]+"\}$

=== TEST 8: pan: a malformed key file stops nginx
--- http_config eval
"uco_hashpan_key 1 " . main::data_dir() . "/keys/token-1.pub;"
--- must_die
--- error_log
HashPAN key 1: the file must hold 32 to 128 hexadecimal digits

=== TEST 9: pan: a duplicate key id stops nginx
--- http_config eval
"uco_hashpan_key 1 " . main::data_dir() . "/keys/hashpan-1.key;\n"
. "uco_hashpan_key 1 " . main::data_dir() . "/keys/hashpan-2.key;"
--- must_die
--- error_log
duplicate key id 1

=== TEST 10: token: valid, for each configured key
--- request eval
["GET /v1/eligibility?kind=token&card=" . main::token(11, 1, 'token-1'),
 "GET /v1/eligibility?kind=token&card=" . main::token(13, 2, 'token-2'),
 "GET /v1/eligibility?kind=token&card=" . main::token(14, 1, 'token-1')]
--- error_code: 200
--- response_json eval
['{"decision":"eligible","programme":{"id":401,"type":"percent","value":10}}',
 '{"decision":"card_blocked"}', '{"decision":"eligible"}']

=== TEST 11: token: a card not in the snapshot
--- request eval
"GET /v1/eligibility?kind=token&card=" . main::token(999, 1, 'token-1')
--- error_code: 200
--- response_json
{"decision":"card_unknown"}

=== TEST 12: token: expired long ago
--- request eval
"GET /v1/eligibility?kind=token&card="
. main::token(11, 1, 'token-1', 60, time - 1000)
--- error_code: 401
--- response_body_like
^\{"error":"token_expired","message":"[^"]+"\}$
--- error_log
token_expired

=== TEST 13: token: expired 10 s ago, within the default 30 s skew
--- request eval
"GET /v1/eligibility?kind=token&card="
. main::token(11, 1, 'token-1', 50, time - 60)
--- error_code: 200
--- response_json
{"decision":"eligible"}

=== TEST 14: token: expired 10 s ago, with uco_token_skew 0
--- http_config eval
"uco_token_key 1 " . main::data_dir() . "/keys/token-1.pub;\n"
. "uco_token_skew 0;"
--- request eval
"GET /v1/eligibility?kind=token&card="
. main::token(11, 1, 'token-1', 50, time - 60)
--- error_code: 401
--- response_json
{"error":"token_expired"}

=== TEST 15: token: tampered signature
--- request eval
"GET /v1/eligibility?kind=token&card="
. main::tampered(main::token(11, 1, 'token-1'))
--- error_code: 401
--- response_json
{"error":"token_invalid"}

=== TEST 16: token: an unknown key id
--- request eval
"GET /v1/eligibility?kind=token&card=" . main::token(11, 9, 'token-1')
--- error_code: 401
--- response_json
{"error":"token_invalid"}
--- error_log
token_invalid (token key id 9)

=== TEST 17: token: signed with the other key than its key id names
--- request eval
"GET /v1/eligibility?kind=token&card=" . main::token(11, 2, 'token-1')
--- error_code: 401
--- response_json
{"error":"token_invalid"}

=== TEST 18: token: a rotated-out key no longer verifies
--- http_config eval
"uco_token_key 2 " . main::data_dir() . "/keys/token-2.pub;"
--- request eval
["GET /v1/eligibility?kind=token&card=" . main::token(11, 1, 'token-1'),
 "GET /v1/eligibility?kind=token&card=" . main::token(11, 2, 'token-2')]
--- error_code eval
[401, 200]

=== TEST 19: token: malformed
--- request eval
["GET /v1/eligibility?kind=token&card=" . substr(main::token(11, 1, 'token-1'), 1),
 "GET /v1/eligibility?kind=token&card=" . main::token(11, 1, 'token-1') . "A",
 "GET /v1/eligibility?kind=token&card=" . ('A' x 104),
 "GET /v1/eligibility?kind=token&card=" . ('%2B' x 35)]
--- error_code: 400
--- response_json
{"error":"invalid_card"}

=== TEST 20: token: refused when nginx.conf names no token key
--- http_config
--- request eval
"GET /v1/eligibility?kind=token&card=" . main::token(11, 1, 'token-1')
--- error_code: 400
--- response_json
{"error":"unsupported_kind"}

=== TEST 21: token: a private key or another key type as public key
--- http_config eval
"uco_token_key 1 " . main::data_dir() . "/keys/token-1.key;"
--- must_die
--- error_log
token key 1: the file must hold an Ed25519 public key in PEM

=== TEST 22: barcode and social name different cards
--- request eval
["GET /v1/eligibility?kind=barcode&card=4600000000001",
 "GET /v1/eligibility?kind=social&card=4600000000001",
 "GET /v1/eligibility?kind=barcode&card=0012",
 "GET /v1/eligibility?kind=barcode&card=12"]
--- error_code: 200
--- response_json eval
['{"decision":"eligible"}', '{"decision":"eligible"}',
 '{"decision":"eligible"}', '{"decision":"card_unknown"}']

=== TEST 23: barcode: malformed
--- request eval
["GET /v1/eligibility?kind=barcode&card=46000A",
 "GET /v1/eligibility?kind=barcode&card=" . ('1' x 29)]
--- error_code: 400
--- response_body_like
^\{"error":"invalid_card","message":"a barcode is 1 to 28 digits"\}$

=== TEST 24: uid: 4, 7 and 10 bytes, either case
--- request eval
["GET /v1/eligibility?kind=uid&card=a1b2c3d4",
 "GET /v1/eligibility?kind=uid&card=A1B2C3D4",
 "GET /v1/eligibility?kind=uid&card=04A1b2C3d4E5f6",
 "GET /v1/eligibility?kind=uid&card=0102030405060708090A",
 "GET /v1/eligibility?kind=uid&card=a1b2c3d5"]
--- error_code: 200
--- response_json eval
[('{"decision":"eligible"}') x 4, '{"decision":"card_unknown"}']

=== TEST 25: uid: malformed
--- request eval
["GET /v1/eligibility?kind=uid&card=a1b2c3",
 "GET /v1/eligibility?kind=uid&card=a1b2c3d4e5",
 "GET /v1/eligibility?kind=uid&card=a1:b2:c3:d4",
 "GET /v1/eligibility?kind=uid&card=g1b2c3d4"]
--- error_code: 400
--- response_json
{"error":"invalid_card"}

=== TEST 26: an unknown kind lists the kinds
--- request
GET /v1/eligibility?kind=PAN&card=2200000000000004
--- error_code: 400
--- response_body_like
^\{"error":"invalid_kind","message":"kind must be one of: hashpan, pan, token, social, barcode, uid"\}$

=== TEST 27: credentials come before the card: no PAN work unauthenticated
--- more_headers
Authorization: Bearer 4001.wrong
--- request
GET /v1/eligibility?kind=pan&card=2200000000000004
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 28: a PAN sent as another kind is answered, but wiped as well
--- request eval
["GET /v1/eligibility?kind=hashpan&card=2200000000000004",
 "GET /v1/eligibility?kind=social&card=2204123456789015"]
--- error_code eval
[400, 200]
