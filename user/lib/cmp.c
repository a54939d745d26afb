// SPDX-License-Identifier: MIT
#include "cmp.h"

#include <stdint.h>

int mtp_cmp_u64(const void *a, const void *b)
{
    return MTP_CMP(*(const uint64_t *)a, *(const uint64_t *)b);
}

int mtp_cmp_uint(const void *a, const void *b)
{
    return MTP_CMP(*(const unsigned *)a, *(const unsigned *)b);
}
