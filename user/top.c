// SPDX-License-Identifier: MIT
#include "top.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <term.h>
#include <unistd.h>

#include "diag.h"
#include "fleet.h"

/* The view, the loop's (user/loop.c) from open to close. */
struct mtp_top {
    SCREEN *screen;
    FILE *tty;      /* the terminal, a copy of the stdout mtp-trace was given: ncurses' */
    int saved[2];   /* the real stdout and stderr, put back at close */
    int taken[2];   /* the memory files standing in for them meanwhile */
    off_t err_seen; /* how much of the taken stderr the note has read */
    char note[256]; /* its latest line, shown at the foot */
    bool keys;      /* stdin is a terminal */
    bool colour;
    struct mtp_topview view;
    struct mtp_top_screen scr;
};

enum { PAIR_HOT = 1, PAIR_COLD, PAIR_MARK, PAIR_NOTE, PAIR_KEYS };

bool mtp_top__wanted(const struct mtp_options *opts)
{
    int err = 0;

    if (!opts->top)
        return false;
    if (!isatty(STDOUT_FILENO)) {
        mtp_say("--top: stdout is not a terminal: plain lines instead of the live view");
        return false;
    }
    if (setupterm(NULL, STDOUT_FILENO, &err) != OK) {
        mtp_say("--top: terminfo knows no terminal '%s' (set TERM, e.g. TERM=xterm): plain "
                "lines instead of the live view",
                getenv("TERM") ? getenv("TERM") : "");
        return false;
    }
    del_curterm(cur_term); /* newterm sets up its own */
    return true;
}

/* A descriptor above stdin, stdout and stderr (which may be closed: CI has
 * no stdin), close-on-exec. */
static int above_stdio(int fd)
{
    int moved;

    if (fd < 0 || fd > STDERR_FILENO)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    close(fd);
    return moved;
}

/* Puts a memory file in place of fd (stdout or stderr), keeping the real
 * one.  0 or -errno. */
static int take(struct mtp_top *t, int fd)
{
    int i = fd - STDOUT_FILENO;

    t->taken[i] = above_stdio(
        memfd_create(fd == STDOUT_FILENO ? "mtp-top-stdout" : "mtp-top-stderr", MFD_CLOEXEC));
    t->saved[i] = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (t->taken[i] < 0 || t->saved[i] < 0 || dup2(t->taken[i], fd) < 0)
        return -errno;
    return 0;
}

/* Writes what fd (a taken memory file) holds to out. */
static void replay(int fd, int out)
{
    char buf[65536];
    off_t at = 0;
    ssize_t n;

    while ((n = pread(fd, buf, sizeof(buf), at)) > 0) {
        for (ssize_t done = 0, w; done < n; done += w) {
            w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) {
                w = 0;
                continue;
            }
            if (w <= 0)
                return; /* the real stdout is gone: nothing to do about it */
        }
        at += n;
    }
}

static void colours(struct mtp_top *t)
{
    t->colour = has_colors() && start_color() == OK;
    if (!t->colour)
        return;
    use_default_colors();
    init_pair(PAIR_HOT, COLOR_RED, -1);
    init_pair(PAIR_COLD, COLOR_BLUE, -1);
    init_pair(PAIR_MARK, COLOR_YELLOW, -1);
    init_pair(PAIR_NOTE, COLOR_YELLOW, -1);
    init_pair(PAIR_KEYS, COLOR_CYAN, -1);
}

struct mtp_top *mtp_top__open(void)
{
    struct mtp_top *t = calloc(1, sizeof(*t));
    int fd, err;

    if (!t) {
        mtp_error("--top: out of memory");
        return NULL;
    }
    t->saved[0] = t->saved[1] = t->taken[0] = t->taken[1] = -1;
    fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    t->tty = fd >= 0 ? fdopen(fd, "w") : NULL;
    t->screen = t->tty ? newterm(NULL, t->tty, stdin) : NULL;
    if (!t->screen) {
        mtp_warn("--top: cannot start the live view (%s): plain lines instead", strerror(errno));
        if (t->tty)
            fclose(t->tty);
        else if (fd >= 0)
            close(fd);
        free(t);
        return NULL;
    }
    t->keys = isatty(STDIN_FILENO);
    cbreak(); /* keys one at a time; Ctrl-C still raises SIGINT, which stops */
    noecho();
    nodelay(stdscr, TRUE); /* the loop polls: reading keys never waits */
    keypad(stdscr, TRUE);
    curs_set(0);
    colours(t);
    fflush(stdout);
    fflush(stderr);
    err = take(t, STDOUT_FILENO);
    if (!err)
        err = take(t, STDERR_FILENO);
    if (err) {
        mtp_top__close(t);
        mtp_warn("--top: cannot take stdout and stderr (%s): plain lines instead", strerror(-err));
        return NULL;
    }
    return t;
}

int mtp_top__fd(const struct mtp_top *t)
{
    return t->keys ? STDIN_FILENO : -1;
}

/* The latest line said on stderr since the last look, for the foot. */
static void read_note(struct mtp_top *t)
{
    char buf[4096], *end, *start;
    struct stat st;
    ssize_t n;

    if (fstat(t->taken[1], &st) < 0 || st.st_size <= t->err_seen)
        return;
    if (st.st_size - t->err_seen > (off_t)sizeof(buf) - 1)
        t->err_seen = st.st_size - (off_t)sizeof(buf) + 1;
    n = pread(t->taken[1], buf, sizeof(buf) - 1, t->err_seen);
    if (n <= 0)
        return;
    t->err_seen += n;
    buf[n] = '\0';
    for (end = buf + n; end > buf && end[-1] == '\n'; end--)
        *(end - 1) = '\0';
    if (end == buf)
        return;
    start = strrchr(buf, '\n');
    snprintf(t->note, sizeof(t->note), "%.*s", (int)sizeof(t->note) - 1, start ? start + 1 : buf);
}

/* The session shown (the view's pid, or the first), and its place. */
static const struct mtp_session *shown(struct mtp_top *t, const struct mtp_fleet *f,
                                       unsigned *index)
{
    int pids[MTP_PIDS_MAX];

    for (unsigned i = 0; i < f->len; i++)
        pids[i] = f->s[i]->target.pid;
    t->view.pid = mtp_topview_pick(pids, f->len, t->view.pid, 0);
    for (unsigned i = 0; i < f->len; i++) {
        if (pids[i] == t->view.pid) {
            *index = i + 1;
            return f->s[i];
        }
    }
    *index = 0;
    return NULL;
}

/* One line, dressed by its kind; a bar's cells each in their colour. */
static void draw_line(const struct mtp_top *t, int y, const char *text, enum mtp_top_line kind,
                      int width)
{
    static const attr_t plain[] = {
        [MTP_TOP_LINE_PLAIN] = A_NORMAL, [MTP_TOP_LINE_TITLE] = A_REVERSE,
        [MTP_TOP_LINE_BAR] = A_NORMAL,   [MTP_TOP_LINE_HEADER] = A_BOLD | A_UNDERLINE,
        [MTP_TOP_LINE_NOTE] = A_NORMAL,  [MTP_TOP_LINE_KEYS] = A_BOLD,
    };
    attr_t a = plain[kind];

    if (t->colour && kind == MTP_TOP_LINE_NOTE)
        a |= COLOR_PAIR(PAIR_NOTE);
    if (t->colour && kind == MTP_TOP_LINE_KEYS)
        a |= COLOR_PAIR(PAIR_KEYS);
    if (kind != MTP_TOP_LINE_BAR || !t->colour) {
        attrset(a);
        mvaddnstr(y, 0, text, width);
        attrset(A_NORMAL);
        return;
    }
    const char *open = strchr(text, '['), *close = open ? strchr(open, ']') : NULL;

    for (int x = 0; x < width && text[x]; x++) {
        const char *c = text + x;
        bool in_bar = open && close && c > open && c < close;
        int pair = !in_bar     ? 0
                   : *c == '#' ? PAIR_HOT
                   : *c == '-' ? PAIR_COLD
                   : *c == '|' ? PAIR_MARK
                               : 0;

        mvaddch(y, x, (chtype)(unsigned char)*c | (pair ? COLOR_PAIR(pair) | A_BOLD : A_NORMAL));
    }
}

void mtp_top__draw(struct mtp_top *t, const struct mtp_fleet *f)
{
    struct mtp_top_frame fr = {.count = f->len, .keys = t->keys};
    const struct mtp_session *s = shown(t, f, &fr.index);
    const struct mtp_report *r = s && s->report.interval ? &s->report : NULL;
    int h, w;

    read_note(t);
    fr.note = t->note[0] ? t->note : NULL;
    fr.comm = s ? s->target.comm : NULL;
    fr.waiting = s ? "waiting for the first interval" : "no process traced now: waiting for one";
    getmaxyx(stdscr, h, w);
    if (w != t->scr.width || h != t->scr.height || !t->scr.text) {
        mtp_top_screen_free(&t->scr);
        if (mtp_top_screen_init(&t->scr, w, h) < 0)
            return; /* the next interval tries again */
    }
    if (mtp_topview_render(&t->view, &fr, r, &t->scr) < 0)
        return;
    erase();
    for (int y = 0; y < t->scr.height; y++)
        /* the bottom-right cell is left alone: writing it would scroll */
        draw_line(t, y, mtp_top_line_text(&t->scr, y), t->scr.kind[y],
                  y == t->scr.height - 1 ? t->scr.width - 1 : t->scr.width);
    refresh();
}

/* ncurses' key codes, as the view knows them. */
static int view_key(int ch)
{
    switch (ch) {
    case '\t':
    case KEY_RIGHT:
    case KEY_DOWN:
        return MTP_TOP_KEY_NEXT;
    case KEY_BTAB:
    case KEY_LEFT:
    case KEY_UP:
        return MTP_TOP_KEY_PREV;
    }
    return ch;
}

enum mtp_top_action mtp_top__key(struct mtp_top *t, const struct mtp_fleet *f)
{
    bool redraw = false;
    int ch;

    while ((ch = getch()) != ERR) {
        unsigned index;
        const struct mtp_session *s = shown(t, f, &index);
        int pids[MTP_PIDS_MAX];

        if (ch == KEY_RESIZE) { /* ncurses has resized its screens already */
            redraw = true;
            continue;
        }
        switch (mtp_topview_key(&t->view, view_key(ch), s && s->report.tiering)) {
        case MTP_TOP_QUIT:
            return MTP_TOP_QUIT;
        case MTP_TOP_NEXT:
        case MTP_TOP_PREV:
            for (unsigned i = 0; i < f->len; i++)
                pids[i] = f->s[i]->target.pid;
            t->view.pid = mtp_topview_pick(pids, f->len, t->view.pid,
                                           view_key(ch) == MTP_TOP_KEY_NEXT ? 1 : -1);
            redraw = true;
            break;
        case MTP_TOP_REDRAW:
            redraw = true;
            break;
        case MTP_TOP_IGNORED:
            break;
        }
    }
    if (redraw)
        mtp_top__draw(t, f);
    return MTP_TOP_IGNORED;
}

void mtp_top__close(struct mtp_top *t)
{
    if (!t)
        return;
    endwin();
    delscreen(t->screen);
    fclose(t->tty);
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        if (t->saved[i] >= 0) {
            dup2(t->saved[i], STDOUT_FILENO + i);
            close(t->saved[i]);
        }
    }
    /* The notes first, then the final reports: as a plain run ends. */
    for (int i = 1; i >= 0; i--) {
        if (t->taken[i] >= 0) {
            replay(t->taken[i], STDOUT_FILENO + i);
            close(t->taken[i]);
        }
    }
    mtp_top_screen_free(&t->scr);
    free(t);
}
