/* SPDX-License-Identifier: MIT */
/*
 * The live view's pure half (--top): what each line of the screen says,
 * given one process's report, the screen's size and the keys pressed so
 * far.  I/O-free, so that the layout at any size is unit-tested; user/top.c
 * puts the lines on the terminal with ncurses and reads the keys.
 *
 * The screen, top to bottom: a title (pid, its place among the traced
 * processes, time); the tiers, as bars (or one bar and a sentence when the
 * machine has one tier: nothing there is measured as fast or slow); the
 * moves per second, ping-pong rate and lazy N; the written-page scan's
 * state and measured cost; the coldest types (or the hottest, when the
 * table is sorted by coldness); the type table, sorted by the chosen key;
 * the latest note from stderr; the keys.
 */
#ifndef MTP_TOPVIEW_H
#define MTP_TOPVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

/* The type table's orders, each a key on screen. */
enum mtp_top_sort {
    MTP_TOP_BY_HEAT,     /* h: decayed heat, most first */
    MTP_TOP_BY_BYTES,    /* b: tracked bytes */
    MTP_TOP_BY_FAST,     /* f: bytes on the fast tier (tiering only) */
    MTP_TOP_BY_SLOW,     /* s: bytes on the slow tier (tiering only) */
    MTP_TOP_BY_OBSERVED, /* o: bytes observed per second */
    MTP_TOP_BY_COLDEST,  /* c: least heat per byte held, the largest first */
    MTP_TOP_SORTS,
};

/* Keys that are not characters, as user/top.c translates ncurses' codes. */
enum {
    MTP_TOP_KEY_NEXT = 0x110000, /* Tab, right, down */
    MTP_TOP_KEY_PREV,            /* Shift-Tab, left, up */
};

/* What a key asks of the caller. */
enum mtp_top_action {
    MTP_TOP_IGNORED, /* nothing */
    MTP_TOP_REDRAW,  /* the view changed: draw it */
    MTP_TOP_NEXT,    /* show the next process (mtp_topview_pick) */
    MTP_TOP_PREV,
    MTP_TOP_QUIT, /* stop tracing, as Ctrl-C does */
};

/* What the operator chose.  The view's (user/top.c's), one per screen. */
struct mtp_topview {
    enum mtp_top_sort sort;
    int pid; /* the process shown; 0 until the first is */
};

/* What the caller knows beyond the report. */
struct mtp_top_frame {
    unsigned index, count; /* the shown process's place among the traced (1-based), of count */
    const char *comm;      /* its command name, or NULL */
    const char *note;      /* the latest message on stderr, or NULL */
    const char *waiting;   /* with no report to show: what the view waits for */
    bool keys;             /* stdin is a terminal: keys work */
};

/* How user/top.c dresses each line. */
enum mtp_top_line {
    MTP_TOP_LINE_PLAIN,
    MTP_TOP_LINE_TITLE,
    MTP_TOP_LINE_BAR, /* a tier's bar: '#' hot, '-' cold, '|' the budget */
    MTP_TOP_LINE_HEADER,
    MTP_TOP_LINE_NOTE,
    MTP_TOP_LINE_KEYS,
};

/* The smallest screen the view fills; smaller ones get one line saying so. */
#define MTP_TOP_MIN_WIDTH  60
#define MTP_TOP_MIN_HEIGHT 12

/* A screen's text: height lines of exactly width characters (blank-padded)
 * at text + y * (width + 1), each NUL-terminated.  The caller's. */
struct mtp_top_screen {
    int width, height;
    char *text;
    enum mtp_top_line *kind; /* height of them */
};

/* Allocates a screen of width x height (at least 1 x 1).  0 or -ENOMEM. */
int mtp_top_screen_init(struct mtp_top_screen *s, int width, int height);
void mtp_top_screen_free(struct mtp_top_screen *s);

/* Line y of the screen. */
static inline const char *mtp_top_line_text(const struct mtp_top_screen *s, int y)
{
    return s->text + (size_t)y * (size_t)(s->width + 1);
}

/* Fills the screen from r (NULL: nothing to show yet, fr->waiting says why).
 * 0, or -ENOMEM (the sort's index). */
int mtp_topview_render(const struct mtp_topview *v, const struct mtp_top_frame *fr,
                       const struct mtp_report *r, struct mtp_top_screen *s);

/* Applies a key: a character (h b f s o c q) or MTP_TOP_KEY_*.  tiering:
 * whether f and s sort anything (without tiers every byte is on one node). */
enum mtp_top_action mtp_topview_key(struct mtp_topview *v, int key, bool tiering);

/* The pid to show among the n traced: step 0 keeps current if it is still
 * traced, else the first; +1/-1 the next or previous, wrapping.  0 when n is
 * 0. */
int mtp_topview_pick(const int *pids, size_t n, int current, int step);

/* Sorts n rows into order (pointers into rows) by the key, ties broken by
 * type id so that the order holds still between intervals.  span_s is not
 * needed: every row's rate shares it. */
void mtp_topview_sort(const struct mtp_type_row *rows, size_t n, enum mtp_top_sort by,
                      const struct mtp_type_row **order);

/* A count in at most 6 characters, decimal: "950", "67.1k", "12.3M". */
const char *mtp_top_count(uint64_t n, char out[8]);

/* A bar of width characters into out (width + 1 bytes): of scale, the first
 * `hot` as '#', up to `full` as '-', the rest blank; '|' where mark falls
 * (0: none).  Anything above zero shows at least one character. */
void mtp_top_bar(char *out, int width, uint64_t full, uint64_t hot, uint64_t scale, uint64_t mark);

#endif
