/* SPDX-License-Identifier: MIT */
/*
 * One traced process, from attach to detach: its BPF object, pinned maps,
 * settings ring buffer, tiering state and the report built from them.  main
 * owns the session (one per traced process); each member below is the
 * session's and lives as long as it does, except opts.
 *
 * The life cycle follows libbpf-tools: open, configure, load, attach, run
 * (user/loop.c), destroy.  Each step returns 0, or -1 after it has told the
 * user what went wrong; destroy undoes whatever was done.  A session stays
 * where it was opened: its settings point at its tiering state.
 */
#ifndef MTP_SESSION_H
#define MTP_SESSION_H

#include <limits.h>

#include <bpf/libbpf.h>

#include "mtp_trace.skel.h"
#include "options.h"
#include "output.h"
#include "page_dump.h"
#include "pins.h"
#include "pytypes.h"
#include "report.h"
#include "settings.h"
#include "target.h"
#include "tiering.h"

struct mtp_session {
    const struct mtp_options *opts; /* the operator's: main's, read-only, outlives the session */
    struct mtp_target target;
    struct mtp_trace_bpf *skel;
    struct mtp_pins pins; /* where its maps are pinned for bpftool and other readers */
    struct mtp_tiering tiering;
    struct mtp_settings settings;    /* the program's mtp.configure(), for tiering */
    struct ring_buffer *settings_rb; /* delivers them to settings */
    struct mtp_page_dump dump;       /* the page map, read each interval */
    struct mtp_report report;        /* the latest interval's; its prev is the one before */
    struct mtp_hot_page *top;        /* room for the final report's --top-pages pages */
    struct mtp_types types;          /* per Python type: what BPF summed, where pages are */
    struct mtp_type_row *type_rows;  /* room for every type's row, the report's */
    struct mtp_notices notices;
    double started_s; /* when tracing it began (mtp_now_s): its reports' time 0 */
};

/* Inspects the target pid, checks the kernel, claims its pin directory
 * (user/pins.h), decides on tiering (and says what it decided if first:
 * every session decides the same) and opens the BPF object. */
int mtp_session__open(struct mtp_session *s, const struct mtp_options *opts, pid_t pid, bool first);

/* Sizes the BPF maps from the options; --max-pages auto from the target's
 * resident set (page_map.h), or at the most if it is young: attached as it
 * starts. */
int mtp_session__configure(struct mtp_session *s, bool young);

/* Loads the BPF programs and sets their clock. */
int mtp_session__load(struct mtp_session *s);

/* Attaches to the target's USDT probes, pins the maps in the claimed
 * directory, opens the settings ring buffer and starts watching for the
 * target's exit. */
int mtp_session__attach(struct mtp_session *s);

/* Reads the stats map into s->report.totals; 0 or -errno. */
int mtp_session__read_stats(struct mtp_session *s);

/* Reads the per-type sums, and the names of types met since the last read,
 * into s->types; 0 or -errno. */
int mtp_session__read_types(struct mtp_session *s);

/* Counts the interval's pages and moves by type (s->types), publishes the
 * counts in the "type_tiers" map and fills the report's rows.  0 or -errno;
 * -ENOMEM is the only error. */
int mtp_session__count_types(struct mtp_session *s);

void mtp_session__destroy(struct mtp_session *s);

#endif
