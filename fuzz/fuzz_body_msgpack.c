/*
 * Copyright (c) 2026, the uco authors.  BSD-2-Clause, see LICENSE.
 *
 * libFuzzer target: msgpack request bodies (one check or a batch), through
 * the parser the module runs (uco_body.c).
 */

#include "fuzz_body.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_body(UCO_BODY_MSGPACK, data, size);

    return 0;
}
