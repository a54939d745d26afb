// SPDX-License-Identifier: MIT
#include "settings.h"

#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "setting_decode.h"

void mtp_settings__init(struct mtp_settings *s, const struct mtp_options *limits,
                        struct mtp_tiering *tiering)
{
    memset(s, 0, sizeof(*s));
    s->limits = limits;
    s->tiering = tiering;
    s->wanted = *limits;
}

static int setting_changed(struct mtp_settings *s, const char *text)
{
    size_t name_len = strcspn(text, "=");
    unsigned i;

    for (i = 0; i < s->n_seen; i++) {
        if (!strncmp(s->seen[i], text, name_len) && s->seen[i][name_len] == '=')
            break;
    }
    if (i < s->n_seen && !strcmp(s->seen[i], text))
        return 0;
    if (i == s->n_seen) {
        if (s->n_seen == sizeof(s->seen) / sizeof(s->seen[0]))
            return 1; /* more knobs than we remember: apply, just not cheaply */
        s->n_seen++;
    }
    snprintf(s->seen[i], sizeof(s->seen[i]), "%s", text);
    return 1;
}

/* One "name=value" from the program's mtp.configure(), vetted by the same
 * parser as the command line, then clamped to the command line's limits
 * (mtp_setting_decode). */
int mtp_settings__on_record(void *ctx, void *data, size_t size)
{
    struct mtp_settings *s = ctx;
    struct mtp_policy *policy = s->tiering->policy;
    const struct mtp_setting *setting = data;
    char text[MTP_SETTING_MAX], copy[MTP_SETTING_MAX], msg[4 * MTP_SETTING_MAX + 1];
    struct mtp_options wanted, effective;
    const char *name, *value;

    if (size < sizeof(*setting))
        return 0;
    memcpy(text, setting->text, sizeof(text));
    text[sizeof(text) - 1] = '\0';
    if (!setting_changed(s, text))
        return 0;
    switch (mtp_setting_decode(text, s->limits, &s->wanted, copy, &name, &value, &wanted,
                               &effective, msg, sizeof(msg))) {
    case MTP_SETTING_UNPRINTABLE:
        mtp_say("ignoring a setting from the program that is not printable ASCII: '%s'", msg);
        return 0;
    case MTP_SETTING_MALFORMED:
        mtp_say("ignoring malformed setting from the program: '%s'", msg);
        return 0;
    case MTP_SETTING_NO_RESET:
        mtp_say("ignoring the program's reset of '%s': not a setting it can make", name);
        return 0;
    case MTP_SETTING_REFUSED:
        mtp_say("ignoring the program's setting %s=%s: %s", name, value, msg);
        return 0;
    case MTP_SETTING_OK:
        break;
    }
    /* The watermark the policy runs with is the resolved one, not auto's
     * placeholder in the operator's options. */
    effective.policy.watermark_bytes = s->tiering->watermark_bytes;
    if (policy && mtp_policy_reconfigure(policy, &effective.policy, msg, sizeof(msg)) < 0) {
        mtp_say("ignoring the program's setting %s=%s: %s", name, value, msg);
        return 0;
    }
    /* Only a setting that took effect becomes the base for the next. */
    s->wanted = wanted;
    mtp_say("the program asked for %s=%s; now in force: max-rate %.1f MiB/s, lazy "
            "%u, hot-threshold %llu%s%s",
            name, *value ? value : "(the command line's)", effective.max_rate_mbps,
            effective.policy.lazy_initial, (unsigned long long)effective.policy.hot_threshold,
            effective.policy.eager ? ", eager" : "", policy ? "" : " (noted; not tiering)");
    return 0;
}
