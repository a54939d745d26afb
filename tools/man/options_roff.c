// SPDX-License-Identifier: MIT
/*
 * Prints mtp-trace's options as mdoc, from the one option table that also
 * makes --help (user/lib/options.c), for man/mtp-trace.8.in's OPTIONS: the
 * man page cannot drift from the options.  Built and run by the Makefile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

/* Text as mdoc wants it: backslashes doubled, a leading '.' or '\'' kept
 * from being read as a request. */
static void text(const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", stdout);
        else
            putchar(*s);
    }
}

static int by_name(const void *a, const void *b)
{
    const struct mtp_option *x = *(const struct mtp_option *const *)a;
    const struct mtp_option *y = *(const struct mtp_option *const *)b;

    return strcmp(x->name, y->name);
}

int main(void)
{
    const struct mtp_option **rows = calloc(mtp_option_count, sizeof(*rows));

    if (!rows)
        return 1;
    for (int g = MTP_GROUP_TRACING; g <= MTP_GROUP_LAST; g++) {
        size_t n = 0;

        for (size_t i = 0; i < mtp_option_count; i++)
            if ((int)mtp_option_table[i].group == g)
                rows[n++] = &mtp_option_table[i];
        qsort(rows, n, sizeof(*rows), by_name); /* as --help lists them */
        {
            char title[64];

            snprintf(title, sizeof(title), "%s", mtp_option_group_title(g));
            title[strcspn(title, ":")] = '\0'; /* --help's "Tracing:" */
            printf(".Ss ");
            text(title);
            printf("\n.Bl -tag -width Ds\n");
        }
        for (size_t i = 0; i < n; i++) {
            const struct mtp_option *r = rows[i];

            printf(".It ");
            if (r->key)
                printf("Fl %c , ", r->key);
            printf("Fl \\-%s", r->name);
            if (r->arg)
                printf(" Ns = Ns Ar %s", r->arg);
            printf("\n");
            text(r->doc);
            printf("\n");
        }
        printf(".El\n");
    }
    free(rows);
    return 0;
}
