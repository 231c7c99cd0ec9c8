# Partner authentication and authorisation: API keys with two valid keys
# for rotation; signed requests (UCO-HMAC-SHA256: a good signature, a
# wrong one, a tampered query, stale and future timestamps, a replayed
# nonce, the time window, the second key, a signed kind=pan); each
# partner only by its own method; scopes (discount, benefit, identify);
# contract dates; and a replay cache that is full fails closed.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;
use Digest::SHA qw(sha256 sha256_hex hmac_sha256_hex);

data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, status, valid_until) VALUES
    (11, 1, 'bank', 'active', '2099-12-31'),
    (12, 1, 'bank', 'blocked', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('social', '5001', 11), ('social', '5002', 12);

INSERT INTO uco.partner (id, auth, secret_sha256, secret2_sha256, scopes,
                         contract_from, contract_to) VALUES
    (5001, 'api_key', uco.secret_hash('key-5001-new'),
     uco.secret_hash('key-5001-old'), '{discount}', NULL, NULL),
    (5002, 'signed', uco.secret_hash('sign-5002-a'),
     uco.secret_hash('sign-5002-b'), '{discount}', NULL, NULL),
    (5003, 'api_key', uco.secret_hash('key-5003'), NULL,
     '{identify}', NULL, NULL),
    (5004, 'api_key', uco.secret_hash('key-5004'), NULL,
     '{benefit,identify}', NULL, NULL),
    (5005, 'api_key', uco.secret_hash('key-5005'), NULL, '{discount}',
     '2001-01-01', '2001-12-31'),
    (5006, 'api_key', uco.secret_hash('key-5006'), NULL, '{discount}',
     '2099-01-01', NULL),
    (5007, 'api_key', uco.secret_hash('key-5007'), NULL, '{discount}',
     '2001-01-01', '2099-12-31');
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    SELECT id * 10, id, 'percent', 10 FROM uco.partner;
SQL

# an Authorization header for a signed request
sub main::signed {
    my (%o) = @_;
    my $partner = $o{partner} // 5002;
    my $ts = $o{ts} // time;
    my $nonce = $o{nonce} // sprintf('n%015d%06d', int(rand(1e15)), $$);
    my $q = join '&', sort grep { length } split /&/, $o{query} // '';
    my $sts = join "\n", 'UCO-HMAC-SHA256', $partner, $ts, $nonce,
        $o{method} // 'GET', $o{path} // '/v1/eligibility',
        sha256_hex($q), sha256_hex('');
    my $sig = hmac_sha256_hex($sts, sha256($o{secret} // 'sign-5002-a'));
    return "Authorization: UCO-HMAC-SHA256 partner=$partner, ts=$ts, "
        . "nonce=$nonce, sig=$sig";
}

my $Q = 'card=5001&kind=social';

run_tests();

# A small replay cache fills with live nonces and then refuses signed
# requests (503 replay_cache_full) rather than forget a nonce.
psql(q{UPDATE uco.partner SET status = 'active' WHERE id = 5002});
loader_once();
my $mark = error_log_mark();
nginx_start(http_config => 'uco_replay_cache 32k;');
my ($taken, $full) = (0, undef);
for (1 .. 3000) {
    my ($name, $value) = main::signed(query => $Q) =~ /^([^:]+):\s*(.*)$/;
    my $r = http_get("/v1/eligibility?$Q", $name => $value);
    if ($r->{status} == 200) {
        $taken++;
        next;
    }
    $full = $r;
    last;
}
nginx_stop();
cmp_ok($taken, '>', 50, "a 32k replay cache took $taken nonces");
is($full && $full->{status}, 503, 'then signed requests are refused');
like($full && $full->{body}, qr/^\{"error":"replay_cache_full"/,
     'with replay_cache_full');
like(error_log_since($mark), qr/uco_replay_cache is full/,
     'and a warning is logged');
check_no_alerts(error_log_since($mark), 'replay cache full');

__DATA__

=== TEST 1: API key: the new and the old key both work during a rotation
--- request eval
["GET /v1/eligibility?card=5001&kind=social",
 "GET /v1/eligibility?card=5001&kind=social",
 "GET /v1/eligibility?card=5001&kind=social"]
--- more_headers eval
["Authorization: Bearer 5001.key-5001-new",
 "Authorization: Bearer 5001.key-5001-old",
 "Authorization: Bearer 5001.key-5001-other"]
--- error_code eval
[200, 200, 401]
--- no_error_log
key-5001

=== TEST 2: API key: the old key stops working once it is removed
--- sql
UPDATE uco.partner SET secret2_sha256 = NULL WHERE id = 5001;
--- request eval
["GET /v1/eligibility?card=5001&kind=social",
 "GET /v1/eligibility?card=5001&kind=social"]
--- more_headers eval
["Authorization: Bearer 5001.key-5001-new",
 "Authorization: Bearer 5001.key-5001-old"]
--- error_code eval
[200, 401]

=== TEST 3: a signing partner cannot use its secret as an API key
--- request
GET /v1/eligibility?card=5001&kind=social
--- more_headers
Authorization: Bearer 5002.sign-5002-a
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 4: an API-key partner cannot sign
--- request
GET /v1/eligibility?card=5001&kind=social
--- more_headers eval
main::signed(partner => 5001, secret => 'key-5001-new',
             query => 'card=5001&kind=social')
--- error_code: 401
--- error_log
partner 5001 does not sign requests

=== TEST 5: signed: a good signature, with either key
--- request eval
["GET /v1/eligibility?card=5001&kind=social",
 "GET /v1/eligibility?card=5001&kind=social"]
--- more_headers eval
[main::signed(query => 'card=5001&kind=social'),
 main::signed(query => 'card=5001&kind=social', secret => 'sign-5002-b')]
--- error_code: 200
--- response_json
{"decision":"eligible","programme":{"id":50020,"type":"percent","value":10}}

=== TEST 6: signed: the query is signed sorted, sent in any order
--- request
GET /v1/eligibility?kind=social&amount=100&card=5001
--- more_headers eval
main::signed(query => 'amount=100&card=5001&kind=social')
--- error_code: 200
--- response_json
{"decision":"eligible"}

=== TEST 7: signed: a wrong signature
--- request
GET /v1/eligibility?card=5001&kind=social
--- more_headers eval
main::signed(query => 'card=5001&kind=social', secret => 'sign-5002-x')
--- error_code: 401
--- response_body_like
^\{"error":"unauthorized","message":"the request signature does not match"\}$
--- error_log
wrong signature for partner 5002
--- no_error_log
sign-5002

=== TEST 8: signed: a tampered query, path or method
--- request eval
["GET /v1/eligibility?card=5002&kind=social",
 "GET /v1/eligibility?card=5001&kind=social",
 "HEAD /v1/eligibility?card=5001&kind=social"]
--- more_headers eval
[main::signed(query => 'card=5001&kind=social'),
 main::signed(query => 'card=5001&kind=social', path => '/v1/other'),
 main::signed(query => 'card=5001&kind=social')]
--- error_code: 401

=== TEST 9: signed: a stale and a future timestamp
--- request eval
["GET /v1/eligibility?card=5001&kind=social",
 "GET /v1/eligibility?card=5001&kind=social"]
--- more_headers eval
[main::signed(query => 'card=5001&kind=social', ts => time - 1000),
 main::signed(query => 'card=5001&kind=social', ts => time + 1000)]
--- error_code: 401
--- response_body_like
"message":"the request timestamp is outside the allowed window; check the clock"
--- error_log
outside the time window

=== TEST 10: signed: uco_signed_window narrows the window
--- http_config
uco_signed_window 10s;
--- request eval
["GET /v1/eligibility?card=5001&kind=social",
 "GET /v1/eligibility?card=5001&kind=social"]
--- more_headers eval
[main::signed(query => 'card=5001&kind=social', ts => time - 60),
 main::signed(query => 'card=5001&kind=social', ts => time - 2)]
--- error_code eval
[401, 200]

=== TEST 11: signed: a replayed nonce, across workers
--- request eval
[("GET /v1/eligibility?card=5001&kind=social") x 6]
--- more_headers eval
my $h = main::signed(query => 'card=5001&kind=social',
                     nonce => 'replayed-nonce-0001');
[($h) x 6]
--- error_code eval
[200, 401, 401, 401, 401, 401]
--- response_json eval
['{"decision":"eligible"}',
 ('{"error":"unauthorized","message":"the nonce was used before"}') x 5]
--- error_log
replayed nonce from partner 5002

=== TEST 12: signed: the same nonce from another partner is another nonce
--- request eval
["GET /v1/eligibility?card=5001&kind=social"]
--- more_headers eval
[main::signed(query => 'card=5001&kind=social', nonce => 'shared-nonce-00001')]
--- error_code: 200

=== TEST 13: signed: malformed headers
--- request eval
[("GET /v1/eligibility?card=5001&kind=social") x 6]
--- more_headers eval
my $h = main::signed(query => 'card=5001&kind=social');
(my $dup = $h) =~ s/, sig=/, ts=1, sig=/;
(my $short = $h) =~ s/nonce=\S+,/nonce=short,/;
(my $lower = $h) =~ s/UCO-HMAC-SHA256/uco-hmac-sha256/;
(my $nosig = $h) =~ s/, sig=\w+//;
(my $extra = $h) =~ s/, sig=/, x=1, sig=/;
(my $zero = $h) =~ s/ts=/ts=0/;
[$dup, $short, $lower, $nosig, $extra, $zero]
--- error_code: 401
--- response_json
{"error":"unauthorized"}

=== TEST 14: signed: a PAN query is verified before the PAN is wiped
--- http_config eval
"uco_hashpan_key 1 " . main::data_dir() . "/keys/hashpan-1.key;"
--- request
GET /v1/eligibility?card=2200000000000004&kind=pan
--- more_headers eval
main::signed(query => 'card=2200000000000004&kind=pan')
--- error_code: 200
--- response_json
{"decision":"card_unknown"}

=== TEST 15: scopes: identify only: the card's validity, no programme
--- more_headers
Authorization: Bearer 5003.key-5003
--- request eval
["GET /v1/eligibility?card=5001&kind=social&scope=identify",
 "GET /v1/eligibility?card=5002&kind=social&scope=identify",
 "GET /v1/eligibility?card=5009&kind=social&scope=identify",
 "GET /v1/eligibility?card=5001&kind=social",
 "GET /v1/eligibility?card=5001&kind=social&scope=benefit"]
--- error_code eval
[200, 200, 200, 403, 403]
--- response_json eval
['{"decision":"valid"}', '{"decision":"card_blocked"}',
 '{"decision":"card_unknown"}',
 '{"error":"scope_not_allowed"}', '{"error":"scope_not_allowed"}']
--- response_body_unlike eval
[qr/programme/, qr/programme/, qr/programme/, qr/^$/, qr/^$/]

=== TEST 16: scopes: benefit
--- more_headers
Authorization: Bearer 5004.key-5004
--- request eval
["GET /v1/eligibility?card=5001&kind=social&scope=benefit",
 "GET /v1/eligibility?card=5001&kind=social&scope=discount",
 "GET /v1/eligibility?card=5001&kind=social&scope=other",
 "GET /v1/eligibility?card=5001&kind=social&scope=benefit&scope=identify"]
--- error_code eval
[200, 403, 400, 400]
--- response_json eval
['{"decision":"eligible","programme":{"id":50040,"type":"percent","value":10}}',
 '{"error":"scope_not_allowed"}', '{"error":"invalid_scope"}',
 '{"error":"duplicate_parameter"}']

=== TEST 17: contract dates: ended, not yet begun, running
--- request eval
[("GET /v1/eligibility?card=5001&kind=social") x 3]
--- more_headers eval
["Authorization: Bearer 5005.key-5005",
 "Authorization: Bearer 5006.key-5006",
 "Authorization: Bearer 5007.key-5007"]
--- error_code eval
[403, 403, 200]
--- response_json eval
['{"error":"contract_inactive"}', '{"error":"contract_inactive"}',
 '{"decision":"eligible"}']

=== TEST 18: a suspended partner is refused even with a good signature
--- sql
UPDATE uco.partner SET status = 'suspended' WHERE id = 5002;
--- request
GET /v1/eligibility?card=5001&kind=social
--- more_headers eval
main::signed(query => 'card=5001&kind=social')
--- error_code: 403
--- response_json
{"error":"partner_suspended"}

=== TEST 19: signed: a POST body is covered by the signature
--- sql
UPDATE uco.partner SET status = 'active' WHERE id = 5002;
--- request eval
["POST /v1/eligibility\n{\"card\":\"5001\",\"kind\":\"social\"}",
 "POST /v1/eligibility\n{\"card\":\"5002\",\"kind\":\"social\"}"]
--- more_headers eval
my $sign = sub {
    my ($body) = @_;
    my $h = main::signed(method => 'POST');
    # the body hash of signed() is that of ''; sign this body instead
    my ($ts, $nonce) = $h =~ /ts=(\d+), nonce=(\S+),/;
    my $sts = CORE::join "\n", 'UCO-HMAC-SHA256', 5002, $ts, $nonce, 'POST',
        '/v1/eligibility', Digest::SHA::sha256_hex(''),
        Digest::SHA::sha256_hex($body);
    my $sig = Digest::SHA::hmac_sha256_hex($sts,
        Digest::SHA::sha256('sign-5002-a'));
    return "Content-Type: application/json\n"
        . "Authorization: UCO-HMAC-SHA256 partner=5002, ts=$ts, "
        . "nonce=$nonce, sig=$sig";
};
[$sign->('{"card":"5001","kind":"social"}'),
 $sign->('{"card":"5001","kind":"social"}')]
--- error_code eval
[200, 401]
