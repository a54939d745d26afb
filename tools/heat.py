"""Page heat as mtp-trace judges it, for the Python tools and tests.

Mirrors mtp_heat_decay() in include/mtp_abi.h and mtp_heat_now() in
user/lib/interval.c; unit tests (tests/unit/test_abi.c, test_interval.c) pin
the C side, and tests/integration/run.py checks this one against it through
the values mtp-trace prints.
"""

HOT_SLACK = 1  # MTP_HOT_SLACK


def decay(heat, last_epoch, epoch, period):
    """Heat stored as of last_epoch, seen at epoch: halved once per period,
    scaled down linearly in between."""
    period = max(1, period or 1)
    if epoch <= last_epoch:
        return heat
    halvings, rest = divmod(epoch - last_epoch, period)
    if halvings >= 64:
        return 0
    heat >>= halvings
    return heat - heat // (2 * period) * rest


def now(heat, last_epoch, epoch, period):
    """decay(), and zero once the page's last warming is more than one period
    plus HOT_SLACK epochs old (no longer hot)."""
    period = max(1, period or 1)
    if epoch - last_epoch > period + HOT_SLACK:
        return 0
    return decay(heat, last_epoch, epoch, period)


def of_dump(dump, epoch=None):
    """{page: heat decayed to epoch (default: the newest last_epoch)} for a
    `bpftool -j map dump` of the page map, without the hot window."""
    if epoch is None:
        epoch = max((e["value"]["last_epoch"] for e in dump), default=0)
    return {e["key"]: decay(e["value"]["heat"], e["value"]["last_epoch"], epoch,
                            e["value"].get("period", 1))
            for e in dump}
