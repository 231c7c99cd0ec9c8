/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * uco-token: the operator's side of kind=token and kind=pan.
 *
 *   uco-token mint --key PRIVATE.pem --key-id N --card ID [--ttl SECONDS]
 *                  [--now UNIXTIME]
 *       prints a QR token for card ID, signed with the Ed25519 private
 *       key, expiring ttl seconds (default 60, at most 86400) from now
 *   uco-token hashpan --key KEYFILE
 *       reads PANs from standard input, one a line, and prints each
 *       one's HashPAN (64 lowercase hex digits) as nginx computes it
 *
 * PANs are read from standard input, never from the command line, so
 * that they stay out of shell history and the process list.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "uco_pan.h"
#include "uco_token.h"


#define UT_MAX_TTL  86400


static int ut_mint(int argc, char **argv);
static int ut_hashpan(int argc, char **argv);
static int ut_number(const char *s, unsigned long long max,
    unsigned long long *v);
static const char *ut_option(int argc, char **argv, const char *name);
static int ut_usage(void);


static int
ut_usage(void)
{
    fprintf(stderr,
            "usage: uco-token mint --key PRIVATE.pem --key-id N --card ID "
            "[--ttl SECONDS] [--now UNIXTIME]\n"
            "       uco-token hashpan --key KEYFILE < pans\n");
    return 2;
}


static const char *
ut_option(int argc, char **argv, const char *name)
{
    int  i;

    for (i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }

    return NULL;
}


static int
ut_number(const char *s, unsigned long long max, unsigned long long *v)
{
    char  *end;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }

    errno = 0;
    *v = strtoull(s, &end, 10);

    if (errno != 0 || *end != '\0' || *v > max) {
        return -1;
    }

    return 0;
}


static int
ut_mint(int argc, char **argv)
{
    int                  rc;
    FILE                *f;
    char                 out[UCO_TOKEN_LEN + 1];
    EVP_PKEY            *pkey;
    const char          *path;
    unsigned long long   id, card, ttl, now;

    path = ut_option(argc, argv, "--key");
    ttl = 60;
    now = (unsigned long long) time(NULL);

    if (path == NULL || argc % 2 != 0
        || ut_number(ut_option(argc, argv, "--key-id"), 255, &id) != 0
        || id == 0
        || ut_number(ut_option(argc, argv, "--card"), LLONG_MAX, &card)
           != 0
        || card == 0
        || (ut_option(argc, argv, "--ttl") != NULL
            && ut_number(ut_option(argc, argv, "--ttl"), UT_MAX_TTL, &ttl)
               != 0)
        || (ut_option(argc, argv, "--now") != NULL
            && ut_number(ut_option(argc, argv, "--now"), UINT32_MAX, &now)
               != 0))
    {
        fprintf(stderr, "uco-token: --key, --key-id 1..255 and --card > 0 "
                "are required; --ttl is 0..%d seconds\n", UT_MAX_TTL);
        return ut_usage();
    }

    if (now + ttl > UINT32_MAX) {
        fprintf(stderr, "uco-token: the expiry does not fit 32 bits\n");
        return 1;
    }

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "uco-token: %s: %s\n", path, strerror(errno));
        return 1;
    }

    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);

    if (pkey == NULL || EVP_PKEY_id(pkey) != EVP_PKEY_ED25519) {
        fprintf(stderr, "uco-token: %s: not an Ed25519 private key in PEM\n",
                path);
        EVP_PKEY_free(pkey);
        return 1;
    }

    rc = uco_token_mint(pkey, (uint8_t) id, card, (uint32_t) (now + ttl),
                        out);
    EVP_PKEY_free(pkey);

    if (rc != UCO_TOKEN_OK) {
        fprintf(stderr, "uco-token: signing failed\n");
        return 1;
    }

    printf("%s\n", out);

    return 0;
}


static int
ut_hashpan(int argc, char **argv)
{
    int          rc;
    FILE        *f;
    char         line[128], text[1024];
    size_t       len, klen, i, n;
    uint8_t      key[UCO_PAN_KEY_MAX], hash[UCO_PAN_HASH_LEN];
    unsigned     lineno;
    const char  *path;

    path = ut_option(argc, argv, "--key");

    if (path == NULL || argc != 4) {
        return ut_usage();
    }

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "uco-token: %s: %s\n", path, strerror(errno));
        return 1;
    }

    n = fread(text, 1, sizeof(text), f);
    fclose(f);

    rc = uco_pan_key_parse(text, n, key, &klen);
    memset(text, 0, sizeof(text));

    if (rc != 0) {
        fprintf(stderr, "uco-token: %s: a HashPAN key file holds 32 to 128 "
                "hexadecimal digits\n", path);
        return 1;
    }

    rc = 0;
    lineno = 0;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        lineno++;
        len = strcspn(line, "\r\n");

        if (!uco_pan_valid(line, len)) {
            /* the line is a PAN, or nearly one: never echo it */
            fprintf(stderr, "uco-token: line %u: not 12 to 19 digits with "
                    "a valid check digit\n", lineno);
            rc = 1;
            continue;
        }

        if (uco_pan_hash(key, klen, line, len, hash) != 0) {
            fprintf(stderr, "uco-token: HMAC failed\n");
            rc = 1;
            break;
        }

        for (i = 0; i < UCO_PAN_HASH_LEN; i++) {
            printf("%02x", hash[i]);
        }

        printf("\n");
    }

    memset(line, 0, sizeof(line));
    memset(key, 0, sizeof(key));

    return rc;
}


int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "mint") == 0) {
        return ut_mint(argc, argv);
    }

    if (argc >= 2 && strcmp(argv[1], "hashpan") == 0) {
        return ut_hashpan(argc, argv);
    }

    return ut_usage();
}
