"""The dispatcher's synchronous filters, run on the event loop instead of in a thread.

aiogram calls every filter that is not a coroutine function (a magic filter such as
`F.chat.type == ChatType.PRIVATE`, or a plain function) through `asyncio.to_thread`: one
thread hop per filter per handler tried, for a check that takes microseconds. Under load
each hop waits for the GIL behind the answer engine's threads; py-spy on
`benchmarks.bot_webhook` found 8 % of the event loop's time in those hops. Every filter of
this bot is a quick check of the update that never blocks, so they run inline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiogram import Router


def _inline(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    async def call(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    return call


def run_filters_inline(router: Router) -> int:
    """Make every synchronous filter of `router` and its sub-routers (the handlers' and the
    observers' own) a coroutine; how many were changed."""
    changed = 0
    for each in router.chain_tail:
        for observer in each.observers.values():
            holders = [observer._handler, *observer.handlers]
            for holder in holders:
                for event_filter in holder.filters or ():
                    if not event_filter.awaitable:
                        # The keyword arguments it takes were read from the callback
                        # itself (`params`), so it still gets just those.
                        event_filter.callback = _inline(event_filter.callback)
                        event_filter.awaitable = True
                        changed += 1
    return changed
