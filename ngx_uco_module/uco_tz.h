/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * TZif files (RFC 8536): the zone name, the file's layout and its
 * transitions.  Plain C like uco_snap.[ch], no I/O and no allocation,
 * so that the fuzzer drives exactly the code the module runs at
 * configuration time.
 */

#ifndef UCO_TZ_H
#define UCO_TZ_H

#include <stddef.h>
#include <stdint.h>


#define UCO_TZ_HEADER     44
#define UCO_TZ_MAX_NAME   64


/* the data block a reader uses: the 64-bit one when the file has it */
typedef struct {
    const uint8_t  *trans;
    const uint8_t  *idx;
    const uint8_t  *types;
    uint32_t        timecnt;
    uint32_t        typecnt;
    unsigned        tsize;
} uco_tz_file_t;


/* a zone name under the zoneinfo directory: 0 if safe, -1 if not */
int uco_tz_name_valid(const char *name, size_t len);
/* headers and sizes checked: 0, or -1 if not a TZif file */
int uco_tz_open(uco_tz_file_t *f, const uint8_t *p, size_t len);
/* entries uco_tz_read() fills: one before the first transition, + 1 each */
size_t uco_tz_count(const uco_tz_file_t *f);
/*
 * at[] (at[0] = INT64_MIN, then ascending) and the UTC offset from each;
 * 0, or -1 on a bad type index, unsorted times or an offset beyond a day
 */
int uco_tz_read(const uco_tz_file_t *f, int64_t *at, int32_t *offset);
/* the last i < n with at[i] <= t; at[0] must be INT64_MIN */
size_t uco_tz_find(const int64_t *at, size_t n, int64_t t);

#endif /* UCO_TZ_H */
