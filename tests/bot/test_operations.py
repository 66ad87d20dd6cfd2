"""The bot's web server beside the webhook: /healthz, /readyz, /metrics; and its log
lines: one JSON object each, under the update's id, without what the customer wrote."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import aiohttp

from backend.observability.logs import configure_logging
from tests.bot.conftest import webhook_assistant


def _sample(metrics: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


async def test_health_readiness_and_metrics_of_the_webhook_server(
    tmp_path: Path, corpus_index: Path
) -> None:
    async with (
        webhook_assistant(tmp_path, corpus_index) as (assistant, url),
        aiohttp.ClientSession() as client,
    ):
        base = url.removesuffix("/telegram/webhook")
        async with client.get(base + "/healthz") as health:
            assert health.status == 200
        async with client.get(base + "/readyz") as ready:
            assert ready.status == 200
            assert (await ready.json())["checks"] == {"database": "ok", "index": "ok"}
        async with client.get(base + "/metrics") as response:
            before = await response.text()
        fake = assistant.fake
        await fake.wait_for("setWebhook")
        await fake.deliver_webhook(fake.message_update("/start webstore", user_id=801))
        await fake.deliver_webhook(
            fake.message_update("How long do you keep my order history?", user_id=801)
        )
        await fake.wait_for("sendMessage", count=2)
        async with client.get(base + "/metrics") as response:
            after = await response.text()
    messages = 'privacy_assistant_updates_total{type="message"}'
    assert _sample(after, messages) - _sample(before, messages) == 2
    for histogram in ("answer_seconds_count", "answer_confidence_count"):
        name = "privacy_assistant_" + histogram
        assert _sample(after, name) - _sample(before, name) == 1
    manifest = assistant.services.engine.retriever.manifest
    assert _sample(after, "privacy_assistant_index_version") == manifest.version
    passages = 'privacy_assistant_index_passages{shop="webstore"}'
    assert _sample(after, passages) == manifest.shops["webstore"] > 0
    assert "privacy_assistant_outbox_backlog" in after


async def test_log_lines_carry_the_update_id_and_never_the_customers_words(
    tmp_path: Path, corpus_index: Path
) -> None:
    secret_words = "My neighbour Jana Nováková at jana.novakova@example.cz wants to know"
    out = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream=out)
    try:
        async with webhook_assistant(tmp_path, corpus_index) as (assistant, _):
            fake = assistant.fake
            await fake.wait_for("setWebhook")
            update = fake.message_update(secret_words + " what you store?", user_id=802)
            await fake.deliver_webhook(update)
            await fake.wait_for("sendMessage")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    handled = [line for line in lines if line.get("request_id") == f"update-{update['update_id']}"]
    assert handled, "no log line of the update carries its id"
    text = out.getvalue()
    assert "jana.novakova@example.cz" not in text
    assert "Jana Nov" not in text and "neighbour" not in text
