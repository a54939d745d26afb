/* SPDX-License-Identifier: MIT */
/*
 * A traced process's pin directory, PIN_ROOT/PID/: claimed with an owner
 * record (user/lib/pinowner.h) under a lock on PIN_ROOT, so that the next
 * run tells a live tracer (refused, named) from a dead one (its pins
 * removed), and released, pins and record, when tracing ends.  PIN_ROOT and
 * the directory are root's, 0700, never symlinks.
 */
#ifndef MTP_PINS_H
#define MTP_PINS_H

#include <limits.h>
#include <stdbool.h>

#include <bpf/libbpf.h>

struct mtp_pins {
    char root[PATH_MAX];
    char dir[PATH_MAX + 16];
    char pages[PATH_MAX + 32];
    char stats[PATH_MAX + 32];
    int pid;
    int dirfd;   /* the directory, open while claimed (pins go through it), or -1 */
    bool pinned; /* the maps are in it: there is something to keep */
};

/* An unclaimed set: release does nothing. */
void mtp_pins__init(struct mtp_pins *p);

/* Makes root/pid/ for this mtp-trace, after removing a dead run's pins
 * there.  0, or -1 after saying why not and the fix. */
int mtp_pins__claim(struct mtp_pins *p, const char *root, int pid);

/* The maps pinned, under their own names: the page temperature table, the
 * counters, and the per-type sums, names and tiers. */
#define MTP_PINNED_MAPS "pages", "stats", "types", "type_names", "type_tiers"

/* Pins obj's MTP_PINNED_MAPS in the claimed directory.  0, or -1 after
 * saying why. */
int mtp_pins__pin(struct mtp_pins *p, struct bpf_object *obj);

/* Unpins and removes the directory, or with keep (once the maps are
 * pinned) leaves the maps, marked as kept on purpose: the next run refuses
 * them rather than remove them. */
void mtp_pins__release(struct mtp_pins *p, bool keep);

#endif
