// SPDX-License-Identifier: MIT
#include "setting_decode.h"

#include <stdio.h>
#include <string.h>

#include "mtp_abi.h"
#include "strbuf.h"

enum mtp_setting_outcome mtp_setting_decode(const char *text, const struct mtp_options *limits,
                                            const struct mtp_options *base, char *text_copy,
                                            const char **name, const char **value,
                                            struct mtp_options *wanted,
                                            struct mtp_options *effective, char *msg, size_t msglen)
{
    char *eq;

    *name = *value = "";
    /* The program's text reaches root's terminal: no setting needs more
     * than printable ASCII, and anything else is shown escaped. */
    if (!mtp_printable_ascii(text)) {
        struct mtp_strbuf b = {msg, msglen, 0};

        mtp_strbuf_untrusted(&b, text);
        return MTP_SETTING_UNPRINTABLE;
    }
    snprintf(text_copy, MTP_SETTING_MAX, "%s", text);
    eq = strchr(text_copy, '=');
    if (!eq) {
        snprintf(msg, msglen, "%s", text_copy);
        return MTP_SETTING_MALFORMED;
    }
    *eq = '\0';
    *name = text_copy;
    *value = eq + 1;
    *wanted = *base;
    if (!**value) {
        if (mtp_options_reset_app(wanted, limits, *name) < 0)
            return MTP_SETTING_NO_RESET;
    } else if (mtp_options_set(wanted, MTP_FROM_APP, *name, *value, msg, msglen) < 0) {
        return MTP_SETTING_REFUSED;
    }
    mtp_options_clamp_app(limits, wanted, effective);
    return MTP_SETTING_OK;
}
