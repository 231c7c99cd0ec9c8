# The loader reads the cards in the order PostgreSQL gives them (no ORDER
# BY) and sorts them itself when they are not in id order, and finds the
# card of each identifier through an array by id where ids are dense, a
# search where they are not.  Both ways, and cards stored out of id order,
# give every identifier its own card.

use FindBin;
use lib "$FindBin::Bin/lib";
use Uco::Test;

# inserted from the highest id down: the heap holds them out of id order;
# 10^12 makes the ids far too sparse for the array
data_sql(<<'SQL');
INSERT INTO uco.holder (id) VALUES (1);
INSERT INTO uco.card (id, holder_id, kind, status, valid_until) VALUES
    (1000000000000, 1, 'bank', 'replaced', '2099-12-31'),
    (25, 1, 'bank', 'blocked', '2099-12-31'),
    (24, 1, 'bank', 'active', '2001-01-01'),
    (23, 1, 'non_financial', 'active', '2099-12-31');
INSERT INTO uco.card_identifier (kind, value, card_id) VALUES
    ('social', '6200000000001', 1000000000000),
    ('social', '6200000000025', 25),
    ('social', '6200000000024', 24),
    ('social', '6200000000023', 23);
INSERT INTO uco.partner (id, secret_sha256)
    VALUES (6201, uco.secret_hash('secret-6201'));
INSERT INTO uco.programme (id, partner_id, discount_type, discount_percent)
    VALUES (621, 6201, 'percent', 10);
SQL

sub decision {
    my ($social) = @_;
    my $r = http_get("/v1/eligibility?kind=social&card=$social",
        Authorization => 'Bearer 6201.secret-6201');
    my $j = json_decode($r->{body}) // {};
    return "$r->{status} " . ($j->{decision} // $j->{error} // '?');
}

my %want = (
    6200000000001 => '200 card_replaced',
    6200000000025 => '200 card_blocked',
    6200000000024 => '200 card_expired',
    6200000000023 => '200 eligible',
    6200000000099 => '200 card_unknown',
);

like(psql('SELECT string_agg(id::text, \' \') FROM uco.card'),
    qr/^1000000000000 25 24 23$/, 'the heap holds the cards out of id order');

my $g = loader_once();
nginx_start();
for my $s (sort keys %want) {
    is(decision($s), $want{$s}, "sparse ids: $s is $want{$s}");
}

# dense ids now, still out of order on the heap
psql('DELETE FROM uco.card WHERE id = 1000000000000');
$want{6200000000001} = '200 card_unknown';
my $g2 = loader_once();
isnt($g2, $g, "generation $g2 published");
ok(wait_until(sub { decision('6200000000001') eq '200 card_unknown' }, 10),
   'nginx serves it');
for my $s (sort keys %want) {
    is(decision($s), $want{$s}, "dense ids: $s is $want{$s}");
}

done_testing();
