"""The bot's webhook against generated updates (issue 12): Telegram's shape with wrong types,
missing fields, odd text and deep nesting. Every one is answered 200 (handled, or dropped
as a poison update and logged) or 400 (not an update at all), never a server error, and
the bot keeps answering real customers afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.bot.conftest import webhook_assistant

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
USER = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(1, 2**40), JSON), "is_bot": st.booleans(), "first_name": JSON}
)
CHAT = st.fixed_dictionaries(
    {
        "id": st.one_of(st.integers(-(2**40), 2**40), JSON),
        "type": st.one_of(st.sampled_from(["private", "group", "supergroup", "channel"]), JSON),
    }
)
MESSAGE = st.fixed_dictionaries(
    {
        "message_id": st.one_of(st.integers(1, 2**31), JSON),
        "date": st.one_of(st.integers(0, 2**31), JSON),
        "chat": st.one_of(CHAT, JSON),
    },
    optional={
        "from": st.one_of(USER, JSON),
        "text": st.one_of(st.text(max_size=300), JSON),
        "entities": JSON,
        "reply_to_message": JSON,
        "document": JSON,
    },
)
CALLBACK = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=10), JSON), "from": st.one_of(USER, JSON)},
    optional={"data": st.one_of(st.text(max_size=70), JSON), "message": st.one_of(MESSAGE, JSON)},
)
UPDATE = st.fixed_dictionaries(
    {"update_id": st.one_of(st.integers(1, 2**31), SCALARS)},
    optional={
        "message": st.one_of(MESSAGE, JSON),
        "edited_message": st.one_of(MESSAGE, JSON),
        "callback_query": st.one_of(CALLBACK, JSON),
        "my_chat_member": JSON,
    },
)


def generated_updates(count: int) -> list[dict[str, Any]]:
    """`count` updates drawn by Hypothesis, the same ones on every run."""
    drawn: list[dict[str, Any]] = []

    @given(UPDATE)
    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def collect(update: dict[str, Any]) -> None:
        drawn.append(update)

    collect()
    return drawn


async def test_generated_updates_never_get_a_server_error(
    tmp_path: Path, corpus_index: Path
) -> None:
    updates = generated_updates(150)
    # Deep nesting as well: far beyond what any real update has.
    updates.append({"update_id": 99, "message": json.loads("[" * 800 + "]" * 800)})
    async with (
        webhook_assistant(tmp_path, corpus_index) as (assistant, url),
        aiohttp.ClientSession() as client,
    ):
        headers = {
            "X-Telegram-Bot-Api-Secret-Token": assistant.services.settings.secret_token(),
            "Content-Type": "application/json",
        }
        statuses = []
        for update in updates:
            async with client.post(url, data=json.dumps(update), headers=headers) as response:
                statuses.append(response.status)
        assert set(statuses) <= {200, 400}, sorted(set(statuses))
        assert assistant.services  # the process serves on
        status = await assistant.fake.deliver_webhook(
            assistant.fake.message_update("/start webstore", user_id=777_001)
        )
        assert status == 200
        replies = await assistant.fake.wait_for(
            "sendMessage", predicate=lambda call: call.params["chat_id"] == 777_001
        )
        assert "Online Store" in replies[-1].params["text"]
