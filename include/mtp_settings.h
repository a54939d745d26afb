/* SPDX-License-Identifier: MIT */
/*
 * The settings a program may ask for through mtp.configure(), declared once.
 * X(option, keyword): the loader's option name (user/lib/options.c, where
 * these rows, and only these, carry MTP_OPT_APP) and the keyword the program
 * passes.  The extension's list of known names and its messages are made
 * from this list, and tests/unit/test_options.c checks the option table
 * against it.
 */
#ifndef MTP_SETTINGS_H
#define MTP_SETTINGS_H

#define MTP_APP_SETTINGS(X)                                                                        \
    X("fast-budget", "fast_budget")                                                                \
    X("max-rate", "max_rate")                                                                      \
    X("lazy", "lazy")                                                                              \
    X("hot-threshold", "hot_threshold")                                                            \
    X("eager", "eager")

/* The keywords, space-separated, as one string literal: " fast_budget max_rate ...". */
#define MTP__APP_KEYWORD(option, keyword) " " keyword
#define MTP_APP_SETTING_KEYWORDS          MTP_APP_SETTINGS(MTP__APP_KEYWORD)

#endif /* MTP_SETTINGS_H */
