// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "strbuf.h"

static void appends_and_counts(void **state)
{
    char buf[32];
    struct mtp_strbuf b = {buf, sizeof(buf), 0};

    (void)state;
    mtp_strbuf_printf(&b, "%s-%d", "node", 3);
    mtp_strbuf_printf(&b, ",%u", 4u);
    assert_string_equal(buf, "node-3,4");
    assert_int_equal(mtp_strbuf_result(&b), 8);
}

/* Cut to fit, NUL-terminated, yet the count goes on: the caller learns the
 * size a complete output needs. */
static void cuts_but_keeps_counting(void **state)
{
    char buf[6];
    struct mtp_strbuf b = {buf, sizeof(buf), 0};
    struct mtp_strbuf none = {NULL, 0, 0};

    (void)state;
    mtp_strbuf_printf(&b, "abcd");
    mtp_strbuf_printf(&b, "efgh");
    mtp_strbuf_printf(&b, "ij");
    assert_string_equal(buf, "abcde");
    assert_int_equal(mtp_strbuf_result(&b), 10);
    mtp_strbuf_printf(&none, "%d", 12345);
    assert_int_equal(mtp_strbuf_result(&none), 5);
}

static void untrusted_text_is_shown_escaped(void **state)
{
    char out[64];
    struct mtp_strbuf b = {out, sizeof(out), 0};

    (void)state;
    mtp_strbuf_untrusted(&b, "a=1\n\x1b[2J\\\xc3\xa9");
    assert_string_equal(out, "a=1\\x0a\\x1b[2J\\x5c\\xc3\\xa9");
    assert_true(mtp_printable_ascii("lazy=3 ~"));
    assert_false(mtp_printable_ascii("lazy=3\n"));
    assert_false(mtp_printable_ascii("x\x7f"));
    assert_false(mtp_printable_ascii("\x9b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_and_counts),
        cmocka_unit_test(cuts_but_keeps_counting),
        cmocka_unit_test(untrusted_text_is_shown_escaped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
