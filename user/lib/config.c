// SPDX-License-Identifier: MIT
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"

struct ini_ctx {
    struct mtp_options *o;
    char *err;
    size_t errlen;
    int failed;
    int failed_line; /* line of the first handler error */
    /* the reader's cursor: inih asks for one line at a time */
    const char *next;
    int lineno;
    int too_long;      /* the line that did not fit inih's buffer, or 0 */
    size_t long_chars; /* its length */
    int line_max;      /* the characters a line may have besides its newline */
};

/* A line inih would skip whole: blank, or a comment (';' or '#' first). */
static bool skippable(const char *line, size_t len)
{
    size_t i = 0;

    while (i < len && strchr(" \t\r\v\f", line[i]))
        i++;
    return i == len || line[i] == '\n' || line[i] == ';' || line[i] == '#';
}

/* Feeds inih from a string one whole line per call, counting lines, so a
 * value's error can name its own line even when inih reports an earlier
 * one.  inih's buffer holds size - 1 characters: a longer line would come
 * back cut, its rest read as the next line.  A longer comment is handed
 * over as the blank line it amounts to; anything else ends the text here,
 * for the caller to refuse by its number. */
static char *read_ini_line(char *buf, int size, void *stream)
{
    struct ini_ctx *ctx = stream;
    const char *line = ctx->next, *nl;
    size_t len;

    if (!line || !*line || size < 2)
        return NULL;
    nl = strchr(line, '\n');
    len = nl ? (size_t)(nl - line) + 1 : strlen(line);
    ctx->next += len;
    ctx->lineno++;
    ctx->line_max = size - 2;
    if (len <= (size_t)size - 1) {
        memcpy(buf, line, len);
        buf[len] = '\0';
    } else if (skippable(line, len)) {
        snprintf(buf, (size_t)size, "\n");
    } else {
        ctx->too_long = ctx->lineno;
        ctx->long_chars = len - (nl != NULL);
        return NULL;
    }
    return buf;
}

static int apply_ini_line(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *ctx = user;

    if (ctx->failed)
        return 0;
    if (section[0] && strcmp(section, "mtp") != 0) {
        snprintf(ctx->err, ctx->errlen,
                 "unknown section [%s]: settings go in [mtp] or before any "
                 "section",
                 section);
        ctx->failed = 1;
        ctx->failed_line = ctx->lineno;
        return 0;
    }
    if (mtp_options_set(ctx->o, MTP_FROM_FILE, name, value, ctx->err, ctx->errlen) < 0) {
        ctx->failed = 1;
        ctx->failed_line = ctx->lineno;
        return 0;
    }
    return 1;
}

int mtp_options_load_ini(struct mtp_options *o, const char *text, const char *filename, char *err,
                         size_t errlen)
{
    struct ini_ctx ctx = {.o = o, .err = err, .errlen = errlen};
    char inner[256] = "";
    int line;

    ctx.err = inner;
    ctx.errlen = sizeof(inner);
    ctx.next = text;
    line = ini_parse_stream(read_ini_line, &ctx, apply_ini_line, &ctx);
    if (line == 0 && !ctx.too_long)
        return 0;
    /* inih reports the first bad line, syntax or handler; a syntax error
     * before the handler's is the one to name.  Both come before a line
     * too long, where the reading stopped. */
    if (line > 0 && (!ctx.failed || line < ctx.failed_line))
        snprintf(err, errlen, "%s:%d: not a 'key = value' line", filename, line);
    else if (ctx.failed)
        snprintf(err, errlen, "%s:%d: %s", filename, ctx.failed_line, inner);
    else if (line < 0)
        snprintf(err, errlen, "%s: cannot parse (%d)", filename, line);
    else
        snprintf(err, errlen,
                 "%s:%d: line of %zu characters: settings lines are read up to %d (a comment may "
                 "be longer on a line of its own)",
                 filename, ctx.too_long, ctx.long_chars, ctx.line_max);
    return -EINVAL;
}

int mtp_config_check_text(const char *text, size_t len, const char *filename, char *err,
                          size_t errlen)
{
    const char *nul = memchr(text, '\0', len);
    int line = 1;

    if (!nul)
        return 0;
    for (const char *p = text; p < nul; p++)
        line += *p == '\n';
    mtp_set_err(err, errlen, "%s:%d: holds a NUL byte: not a text file", filename, line);
    return -EINVAL;
}

int mtp_config_check_owner(const char *path, const struct mtp_config_stat *st, unsigned euid,
                           char *err, size_t errlen)
{
    char owner[96];
    unsigned mode = st->mode & 07777;

    if (st->owner)
        snprintf(owner, sizeof(owner), "%s (uid %u)", st->owner, st->uid);
    else
        snprintf(owner, sizeof(owner), "uid %u", st->uid);
    if (st->uid != 0 && st->uid != euid) {
        mtp_set_err(err, errlen,
                    "config file %s is owned by %s, mode %04o: another user could change what "
                    "mtp-trace runs with; fix it with 'chown root %s'",
                    path, owner, mode, path);
        return -EPERM;
    }
    if (mode & 0002) {
        mtp_set_err(err, errlen,
                    "config file %s is writable by every user (owner %s, mode %04o): fix it with "
                    "'chmod o-w %s'",
                    path, owner, mode, path);
        return -EPERM;
    }
    if ((mode & 0020) && st->gid != 0) {
        mtp_set_err(err, errlen,
                    "config file %s is writable by group %u (owner %s, mode %04o): fix it with "
                    "'chmod g-w %s'",
                    path, st->gid, owner, mode, path);
        return -EPERM;
    }
    return 0;
}
