/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Checks sent in a request body (JSON or msgpack; one check as an
 * object, a batch as an array of objects), and the media types of
 * requests and answers.  Plain C like uco_query.[ch]: the fuzzers drive
 * exactly the code the module runs.  Nothing here logs; a client's bytes
 * are never copied into an error.
 */

#ifndef UCO_BODY_H
#define UCO_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "uco_query.h"


typedef enum {
    UCO_BODY_NONE = 0,          /* not a media type uco reads or writes */
    UCO_BODY_JSON,
    UCO_BODY_MSGPACK
} uco_body_type_e;

/* nesting deeper than this is refused before msgpack-c sees the body */
#define UCO_BODY_MAX_DEPTH   16
/* room for a 64-bit integer's decimal digits and sign */
#define UCO_BODY_AMOUNT_LEN  24


/* one check of a body: the fields as sent, then validated */
typedef struct {
    uco_query_t        q;
    uco_query_error_t  err;     /* status 0: q is valid */
    char               amount[UCO_BODY_AMOUNT_LEN];
} uco_body_check_t;

typedef struct {
    uco_body_check_t  *checks;
    size_t             n;
    int                batch;   /* an array was sent: answer an array */
    void              *doc;     /* the parsed document the fields point */
    uco_body_type_e    type;    /* into; freed by uco_body_free() */
} uco_body_t;


/*
 * Parse a body of the given type holding at most max checks.  0 with
 * *body filled (each check validated, its own error in checks[i].err),
 * or -1 with *err filled: 400 malformed_body or empty_batch, 413
 * too_many_checks, 500 out_of_memory.  Call uco_body_free() either way.
 */
int uco_body_parse(uco_body_type_e type, const char *p, size_t len,
    size_t max, uco_body_t *body, uco_query_error_t *err);
void uco_body_free(uco_body_t *body);
/* overwrite every check's card value where the document holds it */
void uco_body_wipe(uco_body_t *body);

/* a Content-Type value: UCO_BODY_JSON, UCO_BODY_MSGPACK or UCO_BODY_NONE */
uco_body_type_e uco_body_content_type(const char *v, size_t len);
/* an Accept value: 1 if the client prefers msgpack answers to JSON */
int uco_body_accept_msgpack(const char *v, size_t len);

#endif /* UCO_BODY_H */
