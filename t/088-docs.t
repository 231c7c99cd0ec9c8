# docs/directives.md documents every directive and variable the module
# registers, each directive in nginx.org's form (Syntax, Default,
# Context), and names none that does not exist.

use strict;
use warnings;
use Test::More;
use FindBin;

my $root = "$FindBin::Bin/..";
my $doc = do { local (@ARGV, $/) = ("$root/docs/directives.md"); <> };

my $src = join '', map { local (@ARGV, $/) = ($_); <> }
    glob "$root/ngx_uco_module/ngx_http_uco_*.c";

# ngx_command_t entries: the name, then NGX_..._CONF context flags
my @directives = $src =~ /\{\s*ngx_string\("(uco_\w+)"\),\s*NGX_[A-Z_]*CONF/g;
my @variables = $src =~ /\{\s*ngx_string\("(uco_\w+)"\),\s*NULL,/g;
cmp_ok(scalar @directives, '>=', 10, "directives in the code: @directives");
cmp_ok(scalar @variables, '>=', 3, "variables in the code: @variables");

my %sections = map { ($_->[0] => $_->[1]) }
    map { [/^(\w+)\n(.*)/s] } grep { /^\w+\n/ } split /^### /m, $doc;

for my $d (@directives) {
    my $text = $sections{$d};
    ok(defined $text, "$d has a section") or next;
    like($text, qr/^\s+Syntax:\s+$d\b.*;$/m, "$d: Syntax");
    like($text, qr/^\s+Default:\s+\S/m, "$d: Default");
    like($text, qr/^\s+Context:\s+(?:http|server|location)/m, "$d: Context");
}
my %known = map { ($_ => 1) } @directives;
for my $name (grep { /^uco_/ } keys %sections) {
    ok($known{$name}, "the documented $name exists in the code");
}
for my $v (@variables) {
    like($doc, qr/^\| `\$$v` \|/m, "\$$v is in the variables table");
}

done_testing();
