// SPDX-License-Identifier: MIT
#include "interval.h"

/* Within this of a time counts as reaching it: poll(2)'s timeout is rounded
 * to a whole millisecond and may wake that much early. */
#define SLACK_S 1e-3

void mtp_clock_start(struct mtp_clock *c, double now, uint64_t interval_ns, uint64_t duration_ns)
{
    c->start = now;
    c->period = interval_ns / 1e9;
    c->next = now + c->period;
    c->deadline = duration_ns ? now + duration_ns / 1e9 : 0;
}

int mtp_clock_timeout_ms(const struct mtp_clock *c, double now)
{
    double wake = c->next;

    if (c->deadline && c->deadline < wake)
        wake = c->deadline;
    return wake > now ? (int)((wake - now) * 1000.0 + 0.5) : 0;
}

enum mtp_stop mtp_clock_wake(const struct mtp_clock *c, double now, bool signalled, bool exited,
                             bool *due)
{
    enum mtp_stop stop = MTP_STOP_NONE;

    if (signalled)
        stop = MTP_STOP_SIGNAL;
    else if (exited)
        stop = MTP_STOP_EXITED;
    else if (c->deadline && now >= c->deadline - SLACK_S)
        stop = MTP_STOP_DURATION;
    *due = stop != MTP_STOP_NONE || now >= c->next - SLACK_S;
    return stop;
}

void mtp_clock_advance(struct mtp_clock *c, double now)
{
    while (c->next <= now)
        c->next += c->period;
}

const char *mtp_stop_reason(enum mtp_stop stop)
{
    switch (stop) {
    case MTP_STOP_SIGNAL:
        return "signal";
    case MTP_STOP_EXITED:
        return "target exited";
    case MTP_STOP_DURATION:
        return "duration";
    case MTP_STOP_NONE:
        break;
    }
    return NULL;
}

uint64_t mtp_heat_now(uint64_t heat, uint32_t last_epoch, uint32_t epoch, uint32_t period)
{
    if (period < 1)
        period = 1;
    if (epoch > last_epoch && epoch - last_epoch > period + MTP_HOT_SLACK)
        return 0;
    return mtp_heat_decay(heat, last_epoch, epoch, period);
}

struct mtp_hot_page mtp_hot_page_at(uint64_t addr, const struct mtp_page *v, uint32_t epoch)
{
    return (struct mtp_hot_page){
        .addr = addr,
        .heat = mtp_heat_now(v->heat, v->last_epoch, epoch, v->period),
        .samples = v->samples,
        .active = v->active,
        .hint = v->hint_epoch + MTP_HINT_TTL_EPOCHS >= epoch ? v->hint : MTP_HINT_NONE,
        .type_id = v->type_id,
        .tier = v->tier,
    };
}

uint64_t mtp_hinted_heat(const struct mtp_hot_page *p)
{
    if (p->hint == MTP_HINT_HOT)
        return UINT64_MAX >> 2;
    if (p->hint == MTP_HINT_COLD)
        return 0;
    return p->heat;
}

uint64_t mtp_count_hot(const struct mtp_hot_page *pages, size_t n)
{
    uint64_t hot = 0;

    for (size_t i = 0; i < n; i++)
        hot += pages[i].heat > 0;
    return hot;
}

bool mtp_epoch_advances(const struct mtp_stats *now, const struct mtp_stats *prev)
{
    return now->events != prev->events || now->written_pages != prev->written_pages;
}

int64_t mtp_wp_notice(int64_t wp_state)
{
    return wp_state > 0 ? 1 : wp_state;
}

bool mtp_idle_note_due(double elapsed_s, const struct mtp_stats *totals)
{
    return elapsed_s >= MTP_IDLE_NOTE_S && totals->gc_dones == 0 && totals->events == 0;
}
