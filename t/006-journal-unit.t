#!/usr/bin/perl
# Unit tests of the journal ring and records (ngx_uco_module/uco_journal.c):
# the C program prints TAP itself.  UCO_TEST_JOURNAL_UNIT overrides the
# binary (make test-asan runs the sanitizer build).
use strict;
use warnings;
use FindBin;
my $bin = $ENV{UCO_TEST_JOURNAL_UNIT}
    // "$FindBin::Bin/../build/uco_journal_test";
die "build $bin first (make unit)\n" unless -x $bin;
exec $bin or die "exec $bin: $!\n";
