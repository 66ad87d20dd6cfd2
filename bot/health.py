"""What the bot process reports about itself: readiness (database, Redis, the index it
serves) and the gauges its /metrics refreshes at each scrape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from backend.observability.health import ReadinessCheck, service_checks
from backend.observability.metrics import refresh_database_gauges, set_index_gauges
from bot.services import Services


def readiness_checks(services: Services, redis_url: str | None) -> dict[str, ReadinessCheck]:
    """The shared services, and the index this process serves."""
    return {**service_checks(services.database, redis_url), "index": _index_check(services)}


def _index_check(services: Services) -> ReadinessCheck:
    async def loaded() -> None:
        manifest = services.engine.retriever.manifest  # raises while none is loaded
        if manifest.passage_count <= 0:
            raise RuntimeError("the index holds no passages")

    return loaded


def metrics_refresher(services: Services) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        set_index_gauges(services.engine.retriever.manifest)
        await refresh_database_gauges(services.database)

    return refresh
