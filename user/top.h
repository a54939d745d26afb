/* SPDX-License-Identifier: MIT */
/*
 * --top: the live view, like top(1), drawn with ncurses each interval from
 * the sessions' reports (what each line says is user/lib/topview.c's).
 *
 * While the view is up the terminal is its alone: stdout and stderr are
 * taken into memory files, the latest line of stderr is shown at the foot
 * of the screen, and when the view closes everything taken is written to
 * the real stdout and stderr -- the final reports among it, so they print
 * after the screen is gone, as without --top.  The loop (user/loop.c) owns
 * the view: it opens it before the first interval, passes the keys and the
 * fleet, and closes it before returning.
 */
#ifndef MTP_TOP_H
#define MTP_TOP_H

#include <stdbool.h>

#include "options.h"
#include "topview.h"

struct mtp_fleet;
struct mtp_top;

/* Whether --top can draw: asked for, without --json (refused earlier), on
 * a stdout that is a terminal with a terminfo entry.  When --top is asked
 * for and cannot, says once on stderr that plain lines follow. */
bool mtp_top__wanted(const struct mtp_options *opts);

/* Takes the terminal, stdout and stderr.  NULL after saying why not. */
struct mtp_top *mtp_top__open(void);

/* The fd the loop polls for keys (stdin), or -1 when stdin is not a
 * terminal. */
int mtp_top__fd(const struct mtp_top *t);

/* Draws the shown process's latest report (or what the view waits for). */
void mtp_top__draw(struct mtp_top *t, const struct mtp_fleet *f);

/* Reads every key pressed and every resize since the last call, never
 * waiting, and redraws if they changed anything.  Called at every wake-up
 * of the loop: a resize (SIGWINCH) interrupts poll without making stdin
 * readable.  MTP_TOP_QUIT when q was pressed, else MTP_TOP_IGNORED. */
enum mtp_top_action mtp_top__key(struct mtp_top *t, const struct mtp_fleet *f);

/* Gives the terminal back, then writes what was taken from stdout and
 * stderr to them.  NULL is a no-op. */
void mtp_top__close(struct mtp_top *t);

#endif
