/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * PostgreSQL's text output format, parsed without libpq.
 */

#ifndef PL_PG_TEXT_H
#define PL_PG_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "pl_log.h"


#define PL_PG_MAX_FIELDS    16


/*
 * One text-format COPY row of len bytes (a trailing newline allowed),
 * split into exactly nfields fields unescaped in place; a NULL field
 * (\N) is a NULL pointer.  row[len] must be writable: it becomes the
 * last field's terminator (libpq's PQgetCopyData() buffers end with
 * a NUL there).  PL_OK, or PL_ERR on another field count.
 */
int pl_pg_split(char *row, int len, char **f, int nfields);

int pl_pg_u64(const char *s, uint64_t *v);
int pl_pg_int(const char *s, int64_t min, int64_t max, int64_t *v);
int pl_pg_bytea(const char *s, uint8_t *out, size_t len);

#endif /* PL_PG_TEXT_H */
