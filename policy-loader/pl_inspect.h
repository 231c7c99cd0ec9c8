/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * --inspect: validate a snapshot file and print what it holds.
 */

#ifndef PL_INSPECT_H
#define PL_INSPECT_H

#include <stdio.h>

#include "pl_log.h"


int pl_inspect(const char *path, FILE *out);

#endif /* PL_INSPECT_H */
