// SPDX-License-Identifier: MIT
#include "settings.h"

#include <stdio.h>
#include <string.h>

#include "diag.h"
#include "strbuf.h"

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

/* The program's request name=value on top of its earlier ones, into wanted;
 * "name=" hands the knob back to the command line's value.  0, or -1 after
 * saying why it is ignored. */
static int request(const struct mtp_settings *s, const char *name, const char *value,
                   struct mtp_options *wanted)
{
    char err[256];

    *wanted = s->wanted;
    if (!*value) {
        if (mtp_options_reset_app(wanted, s->limits, name) < 0) {
            mtp_say("ignoring the program's reset of '%s': not a setting it "
                    "can make",
                    name);
            return -1;
        }
    } else if (mtp_options_set(wanted, MTP_FROM_APP, name, value, err, sizeof(err)) < 0) {
        mtp_say("ignoring the program's setting %s=%s: %s", name, value, err);
        return -1;
    }
    return 0;
}

/* One "name=value" from the program's mtp.configure(), vetted by the same
 * parser as the command line, then clamped to the command line's limits. */
int mtp_settings__on_record(void *ctx, void *data, size_t size)
{
    struct mtp_settings *s = ctx;
    struct mtp_policy *policy = s->tiering->policy;
    const struct mtp_setting *setting = data;
    char text[MTP_SETTING_MAX], err[256], *eq;
    struct mtp_options wanted, effective;
    const char *name, *value;

    if (size < sizeof(*setting))
        return 0;
    memcpy(text, setting->text, sizeof(text));
    text[sizeof(text) - 1] = '\0';
    if (!setting_changed(s, text))
        return 0;
    /* The program's text reaches root's terminal: no setting needs more
     * than printable ASCII, and anything else is shown escaped. */
    if (!mtp_printable_ascii(text)) {
        char shown[4 * MTP_SETTING_MAX + 1];
        struct mtp_strbuf b = {shown, sizeof(shown), 0};

        mtp_strbuf_untrusted(&b, text);
        mtp_say("ignoring a setting from the program that is not printable ASCII: '%s'", shown);
        return 0;
    }
    eq = strchr(text, '=');
    if (!eq) {
        mtp_say("ignoring malformed setting from the program: '%s'", text);
        return 0;
    }
    *eq = '\0';
    name = text;
    value = eq + 1;
    if (request(s, name, value, &wanted) < 0)
        return 0;
    mtp_options_clamp_app(s->limits, &wanted, &effective);
    /* The watermark the policy runs with is the resolved one, not auto's
     * placeholder in the operator's options. */
    effective.policy.watermark_bytes = s->tiering->watermark_bytes;
    if (policy && mtp_policy_reconfigure(policy, &effective.policy, err, sizeof(err)) < 0) {
        mtp_say("ignoring the program's setting %s=%s: %s", name, value, err);
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
