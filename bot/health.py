"""What the bot process reports about itself: readiness (database, Redis, the index it
serves) and the gauges its /metrics refreshes at each scrape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from backend.observability.health import ReadinessCheck, database_check, redis_check
from backend.observability.metrics import refresh_database_gauges, set_index_gauges
from bot.services import Services


def readiness_checks(services: Services, redis_url: str | None) -> dict[str, ReadinessCheck]:
    checks = {"database": database_check(services.database), "index": _index_check(services)}
    if redis_url:
        checks["redis"] = redis_check(redis_url)
    return checks


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
