/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * TAP output for the C unit tests: ok() per check, then "1..N" from
 * main() with the count in tests; exit non-zero when failed.
 */

#ifndef UCO_TAP_H
#define UCO_TAP_H

#include <stdio.h>


static int  tests;
static int  failed;


static void ok(int cond, const char *name);


static void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}

#endif /* UCO_TAP_H */
