# Mutual TLS: a client certificate that nginx verified names its partner
# by its SHA-256 fingerprint or by its subject; an unknown certificate,
# no certificate, and a certificate of a partner that authenticates
# otherwise are 401.  Certificates are made here with openssl; requests
# go through curl over TLS to 127.0.0.1.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

use File::Path qw(make_path remove_tree);

# beside the test's directory, which setup() empties
my $dir = tmpdir() . '-pki';

sub ossl {
    my ($rc, $out) = capture(['openssl', @_]);
    die "openssl @_: $out" if $rc;
    return $out;
}

# a CA, a server certificate and client certificates a, b, c, d
remove_tree($dir);
make_path($dir);
chmod 0755, $dir;
ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
     '-nodes', '-keyout', "$dir/ca.key", '-out', "$dir/ca.crt",
     '-subj', '/CN=uco-test-ca', '-days', '2');
for my $n (qw(server a b c d)) {
    ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
         '-nodes', '-keyout', "$dir/$n.key", '-out', "$dir/$n.csr",
         '-subj', $n eq 'server' ? '/CN=localhost' : "/CN=pos-$n");
    ossl('x509', '-req', '-in', "$dir/$n.csr", '-CA', "$dir/ca.crt",
         '-CAkey', "$dir/ca.key", '-CAcreateserial', '-out', "$dir/$n.crt",
         '-days', '2');
}
chmod 0644, glob("$dir/*");
my (undef, $fp) = capture(['sh', '-c',
    "openssl x509 -in $dir/a.crt -outform DER | sha256sum"]);
$fp =~ s/\s.*//s;
my (undef, $fpd) = capture(['sh', '-c',
    "openssl x509 -in $dir/d.crt -outform DER | sha256sum"]);
$fpd =~ s/\s.*//s;

data_sql(<<"SQL");
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, valid_until)
    VALUES (11, 1, 'bank', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id)
    VALUES ('social', '6001', 11);
INSERT INTO uco.partner (id, auth, secret_sha256) VALUES
    (6001, 'mtls', NULL),
    (6002, 'mtls', NULL),
    (6003, 'api_key', uco.secret_hash('key-6003'));
INSERT INTO uco.partner_certificate (partner_id, fingerprint_sha256, subject)
    VALUES (6001, decode('$fp', 'hex'), NULL),
           (6002, NULL, 'CN=pos-b'),
           (6003, decode('$fpd', 'hex'), NULL);
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    SELECT id * 10, id, 'percent', 5 FROM uco.partner;
SQL

setup();
my $tls_port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Listen => 1, ReuseAddr => 1) or die;
    my $p = $s->sockport;
    close $s;
    $p;
};

nginx_start(http_config => <<"CONF");
server {
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $dir/server.crt;
    ssl_certificate_key $dir/server.key;
    ssl_client_certificate $dir/ca.crt;
    ssl_verify_client optional;
    location = /v1/eligibility {
        uco_eligibility;
    }
}
CONF

# (status, body) of a request over TLS with client certificate $n
sub get {
    my ($n, @headers) = @_;
    my ($rc, $out) = capture(['curl', '-s', '--cacert', "$dir/ca.crt",
        (defined $n ? ('--cert', "$dir/$n.crt", '--key', "$dir/$n.key")
                    : ()),
        (map { ('-H', $_) } @headers),
        '-w', '\n%{http_code}',
        "https://localhost:$tls_port/v1/eligibility?card=6001&kind=social",
        '--resolve', "localhost:$tls_port:127.0.0.1"]);
    my ($body, $status) = $out =~ /^(.*)\n(\d+)$/s;
    return ($status // 0, $body // $out);
}

my ($s, $b) = get('a');
is($s, 200, 'certificate a (registered by fingerprint) is partner 6001');
like($b, qr/"programme":\{"id":60010,/, '... and gets its programme');

($s, $b) = get('b');
is($s, 200, 'certificate b (registered by subject) is partner 6002');
like($b, qr/"programme":\{"id":60020,/, '... and gets its programme');

($s, $b) = get('c');
is($s, 401, 'certificate c, verified but registered nowhere: 401');
like($b, qr/"error":"unauthorized"/, '... unauthorized');

($s, $b) = get(undef);
is($s, 401, 'no client certificate: 401');

($s, $b) = get('d');
is($s, 401, 'the certificate of an API-key partner does not authenticate');

($s, $b) = get('d', 'Authorization: Bearer 6003.key-6003');
is($s, 200, 'that partner with its API key over the same TLS: 200');
like($b, qr/"id":60030/, '... as itself');

my $log = error_log_since(0);
like($log, qr/the client certificate names no mTLS partner/,
     'an unknown certificate is logged at info');
unlike($log, qr/pos-[abcd]/, 'no certificate subject in the log');
nginx_stop();
check_no_alerts($log, '084-mtls');
remove_tree($dir);
