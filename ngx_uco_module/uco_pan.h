/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * Card numbers (PANs) sent as kind=pan: the length and Luhn check, and
 * the operator's keyed HashPAN, HMAC-SHA-256(key, PAN digits).  Plain C,
 * no nginx types: the module, the CLI and the fuzzer link this code.
 * Nothing here copies, keeps or prints a PAN.
 */

#ifndef UCO_PAN_H
#define UCO_PAN_H

#include <stddef.h>
#include <stdint.h>


#define UCO_PAN_MIN_DIGITS   12
#define UCO_PAN_MAX_DIGITS   19
#define UCO_PAN_HASH_LEN     32
/* a HashPAN key: 16 to 64 bytes, kept in a file as hexadecimal */
#define UCO_PAN_KEY_MIN      16
#define UCO_PAN_KEY_MAX      64


/* 1 when pan is 12..19 decimal digits with a valid Luhn check digit */
int uco_pan_valid(const char *pan, size_t len);
/* HMAC-SHA-256(key, pan); 0 on success, -1 on a library failure */
int uco_pan_hash(const uint8_t *key, size_t key_len, const char *pan,
    size_t len, uint8_t out[UCO_PAN_HASH_LEN]);
/*
 * A key file's text: 32 to 128 hexadecimal digits, then optional white
 * space.  0 with key and *key_len set, -1 if malformed.
 */
int uco_pan_key_parse(const char *text, size_t len,
    uint8_t key[UCO_PAN_KEY_MAX], size_t *key_len);

#endif /* UCO_PAN_H */
