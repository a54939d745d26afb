/* SPDX-License-Identifier: MIT */
/*
 * Who owns a pin directory (PIN_ROOT/PID/): the owner record an mtp-trace
 * leaves in it, a symlink named "owner" whose text names the mtp-trace's pid
 * and start time (bpffs holds no regular files), and what the next run does
 * with the directory it finds.  The start time tells a live owner from a
 * dead one whose pid was reused.  Pure: the caller reads the link and
 * /proc/PID/stat.
 */
#ifndef MTP_PINOWNER_H
#define MTP_PINOWNER_H

#include <stdbool.h>
#include <stddef.h>

/* The owner record's name in the pin directory. */
#define MTP_PIN_OWNER "owner"

struct mtp_pin_owner {
    int pid;                  /* the mtp-trace that pinned the maps */
    unsigned long long start; /* its start time, /proc/PID/stat's 22nd field */
    bool kept;                /* it exited and left them (--keep-pins) */
};

/* "mtp-trace pid=N start=T", then " kept" when kept.  snprintf's return. */
int mtp_pin_owner_format(const struct mtp_pin_owner *o, char *buf, size_t len);

/* The record back from its text.  0, or -1 for a text it did not write. */
int mtp_pin_owner_parse(const char *text, struct mtp_pin_owner *o);

/* A process's start time from its /proc/PID/stat text (the 22nd field,
 * counted after the command's last ')').  0, or -1 on bad text. */
int mtp_stat_starttime(const char *stat, unsigned long long *start);

enum mtp_pins_verdict {
    MTP_PINS_FREE,    /* no directory: make it */
    MTP_PINS_LIVE,    /* its owner runs: refuse, naming it */
    MTP_PINS_STALE,   /* its owner died without unpinning: remove the pins, go on */
    MTP_PINS_KEPT,    /* a run left them on purpose (--keep-pins): refuse */
    MTP_PINS_UNOWNED, /* no record (an older mtp-trace's, or not ours): refuse */
};

/*
 * What to do with the pin directory found: exists, its owner record (NULL
 * when it has none, or one this mtp-trace did not write), and the start
 * time of the process now running under the record's pid (0 when none).
 */
enum mtp_pins_verdict mtp_pins_judge(bool exists, const struct mtp_pin_owner *owner,
                                     unsigned long long start_now);

#endif
