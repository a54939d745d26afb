/* SPDX-License-Identifier: MIT */
/*
 * The interval reports of every traced process as a Prometheus text file
 * (exposition format 0.0.4), for node_exporter's textfile collector
 * (--prom-file).  Metric names start with mtp_, every sample has a pid
 * label, counters end in _total, and each family is written once with its
 * HELP and TYPE, its samples together.  The mtp_type_ families have a
 * sample per Python type shown (the report's first types_len rows),
 * labelled type (its name, escaped and made valid UTF-8) and type_id, and
 * for bytes tier: fast and slow, or all when nothing tiers.  Pure
 * formatting: the loader writes the file (user/output.c).
 */
#ifndef MTP_PROM_H
#define MTP_PROM_H

#include <stddef.h>

#include "report.h"

/* Formats the n reports into buf, snprintf-style: returns the length the
 * whole text needs, NUL excluded, and writes what fits. */
int mtp_prom_format(char *buf, size_t len, const struct mtp_report *const *reports, size_t n);

#endif
