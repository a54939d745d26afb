// SPDX-License-Identifier: MIT
#include "numastat.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mtp_numastat_value(const char *text, const char *key, uint64_t *pages)
{
    size_t klen = strlen(key);

    for (const char *line = text, *next; line && *line; line = next ? next + 1 : NULL) {
        char *end;
        unsigned long long v;

        next = strchr(line, '\n');
        if (strncmp(line, key, klen) || line[klen] != ' ')
            continue;
        if (!isdigit((unsigned char)line[klen + 1]))
            return -EINVAL;
        errno = 0;
        v = strtoull(line + klen + 1, &end, 10);
        if (errno || (*end && *end != '\n'))
            return -EINVAL;
        *pages = v;
        return 0;
    }
    return -ENOENT;
}
