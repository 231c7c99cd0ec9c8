#!/usr/bin/perl
#
# Make corrupt uco snapshots from a good one, each broken in one way.
#
#   make-bad.pl [--generation N] [--normalize] GOOD.ucs OUTDIR [KIND...]
#
# Writes OUTDIR/<kind>.ucs for every KIND (default: all).  --generation
# sets the header's generation in every output; --normalize also fixes
# build_time and watermark, so that the same good input always gives the
# same bytes (t/data/bad/ is made that way by t/050-bad-snapshot.t).
# Files whose header field is broken get a re-computed, valid checksum:
# the check under test, not the checksum, must refuse them.  A file is
# only rewritten when its bytes change.

use strict;
use warnings;

use Digest::SHA qw(sha256);
use Getopt::Long qw(GetOptions);

my $HEADER_SIZE = 88 + 11 * 32;
my $FIXED_TIME = 1767225600;    # 2026-01-01T00:00:00Z

# kind => [description, sub (bytes) -> bytes]; "good" (the input with
# its new header, resealed) is made only when asked for by name
my %GOOD = (good => ['valid: the input, resealed', sub { $_[0] }]);
my %KINDS = (
    'truncated' => ['the second half of the file is missing',
        sub { substr $_[0], 0, int(length($_[0]) / 2) }],
    'truncated-header' => ['shorter than the header (60 bytes)',
        sub { substr $_[0], 0, 60 }],
    'checksum' => ['one byte of the first record flipped; checksum'
        . ' not updated', \&flip_record_byte],
    'magic' => ['magic "UCOSNAQ\0"; valid checksum',
        sub { reseal(put($_[0], 0, "UCOSNAQ\0")) }],
    'version' => ['format version 99 (a future one); valid checksum',
        sub { reseal(put($_[0], 8, pack 'V', 99)) }],
    'byte-order' => ['byte-order mark 0x04030201; valid checksum',
        sub { reseal(put($_[0], 16, pack 'V', 0x04030201)) }],
    'section-past-end' => ['a section starts at the end of the file'
        . ' (offset = file_size); valid checksum',
        sub { move_section($_[0], sub { length $_[0] }) }],
    'section-overflow' => ['a section offset near 2^64, so offset + size'
        . ' wraps; valid checksum',
        sub { move_section($_[0], sub { ~0 - 15 }) }],
);


sub put {
    my ($data, $offset, $bytes) = @_;
    substr($data, $offset, length $bytes) = $bytes;
    return $data;
}


sub reseal {
    my ($data) = @_;
    substr($data, 56, 32) = "\0" x 32;
    substr($data, 56, 32) = sha256($data);
    return $data;
}


# (index, id, record_size, offset, size, count) of the used sections
sub sections {
    my ($data) = @_;
    my $n = unpack 'V', substr($data, 20, 4);
    $n = 8 if $n > 8;
    return map {
        [$_, unpack 'V V Q< Q< Q<', substr($data, 88 + 32 * $_, 32)]
    } 0 .. $n - 1;
}


# the last section that holds data
sub last_section {
    my ($data) = @_;
    my @s = sort { $a->[3] <=> $b->[3] } grep { $_->[4] > 0 }
        sections($data);
    die "no section with data\n" unless @s;
    return $s[-1];
}


sub move_section {
    my ($data, $where) = @_;
    my $s = last_section($data);
    return reseal(put($data, 88 + 32 * $s->[0] + 8,
        pack 'Q<', $where->($data)));
}


sub flip_record_byte {
    my ($data) = @_;
    my @s = sort { $a->[3] <=> $b->[3] } grep { $_->[4] > 0 }
        sections($data);
    die "no section with data\n" unless @s;
    my $at = $s[0][3];
    substr($data, $at, 1) = chr(ord(substr $data, $at, 1) ^ 0x01);
    return $data;
}


sub read_bytes {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!\n";
    local $/;
    return scalar <$fh>;
}


sub write_if_changed {
    my ($path, $data) = @_;
    return if -e $path && read_bytes($path) eq $data;
    open my $fh, '>:raw', "$path.tmp" or die "$path.tmp: $!\n";
    print {$fh} $data or die "$path.tmp: $!\n";
    close $fh or die "$path.tmp: $!\n";
    chmod 0644, "$path.tmp";
    rename "$path.tmp", $path or die "$path: $!\n";
}


sub readme {
    my $text = "Corrupt uco snapshots, each broken in one way; every one"
        . " must be refused\n(policy-loader --inspect exits 1; the"
        . " module logs [error] and keeps the\nprevious generation)."
        . "  Made by t/data/make-bad.pl from the snapshot of\n"
        . "t/050-bad-snapshot.t (generation 2, normalized header)."
        . "  Do not edit.\n\n";
    $text .= sprintf "%-22s %s\n", "$_.ucs", $KINDS{$_}[0]
        for sort keys %KINDS;
    return $text;
}


sub main {
    my ($generation, $normalize);
    GetOptions('generation=i' => \$generation, 'normalize' => \$normalize)
        && @ARGV >= 2
        or die "usage: $0 [--generation N] [--normalize] GOOD OUTDIR"
        . " [KIND...]\n";
    my ($good, $outdir, @kinds) = @ARGV;
    @kinds = sort keys %KINDS unless @kinds;

    my $data = read_bytes($good);
    die "$good: not a uco snapshot\n"
        unless length $data >= $HEADER_SIZE
        && substr($data, 0, 8) eq "UCOSNAP\0";
    $data = put($data, 32, pack 'Q<', $generation) if defined $generation;
    $data = put($data, 40, pack 'Q<Q<', $FIXED_TIME, 0) if $normalize;
    $data = reseal($data);

    -d $outdir or mkdir $outdir or die "$outdir: $!\n";
    for my $kind (@kinds) {
        my $k = $KINDS{$kind} // $GOOD{$kind}
            or die "unknown kind $kind\n";
        write_if_changed("$outdir/$kind.ucs", $k->[1]->($data));
    }
    write_if_changed("$outdir/README", readme()) if $normalize;
    return 0;
}


exit main();
