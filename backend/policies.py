"""Policy changes as the system of record keeps them: a new version of a shop's policy
published (from Telegram, the REST API or the CLI) or rolled back, with what changed
and who did it, and the signal that makes every app process serve it.

The index work itself is the indexer's (`indexer.policy_update`); it runs in a worker
thread, since checking and embedding a policy takes seconds of CPU.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.database import Database
from backend.index_signal import SignalSettings, send_index_signal
from backend.models import PolicyChange
from indexer.embedding import Embedder, embedder_for
from indexer.example_update import (
    ExampleAdded,
    ExampleRemoved,
    add_example,
    read_shop_examples,
    remove_example,
)
from indexer.examples import ExampleRecord
from indexer.policy_update import PolicyUpdate, add_policy, rollback_policy
from indexer.settings import IndexerSettings

ACTOR_MAX_CHARS = 64

# Publishing a policy is slow (a PDF read, the whole index rebuilt): it gets threads of its
# own, so that uploads never take the default executor's, which the event loop uses for
# short work such as DNS look-ups (six slow uploads once made a webhook-endpoint call wait
# 22 s for its address check).
POLICY_JOBS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="policy-jobs")


@dataclass
class PolicyDesk:
    """What publishing a policy needs: the knowledge and index folders, the embedding
    model (the serving one when given; else loaded on the first upload, so a process that
    never receives one never loads it) and where to signal the other processes."""

    settings: IndexerSettings
    embedder: Embedder | None = None
    redis_url: str | None = field(default_factory=lambda: SignalSettings().redis_url)
    _loading: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def model(self) -> Embedder:
        with self._loading:
            if self.embedder is None:
                self.embedder = embedder_for(self.settings)
            return self.embedder


async def record_change(session: AsyncSession, update: PolicyUpdate, actor: str) -> PolicyChange:
    change = PolicyChange(
        shop_id=update.shop_id,
        action=update.action,
        document=update.document or None,
        language=update.language,
        index_version=update.index_version,
        previous_index_version=update.previous_index_version,
        summary=update.summary(),
        actor=actor[:ACTOR_MAX_CHARS],
    )
    session.add(change)
    await session.flush()
    return change


async def _recorded(
    database: Database, desk: PolicyDesk, update: PolicyUpdate, actor: str
) -> PolicyChange:
    async with database.session() as session:
        change = await record_change(session, update, actor)
    await send_index_signal(database, update.index_version, desk.redis_url)
    return change


async def publish_policy(
    database: Database,
    desk: PolicyDesk,
    *,
    shop_id: str,
    language: str,
    filename: str,
    data: bytes,
    actor: str,
    version: str | None = None,
    effective_date: date | None = None,
    translation_of: str | None = None,
    original: bool = False,
) -> tuple[PolicyUpdate, PolicyChange]:
    """Publish a new version of the shop's document in `language` (a translation of the
    original `translation_of` names, by path or language; with `original`, an original of
    its own again) and record it; the indexer's errors (PolicyError and its kinds,
    ShopNotFoundError) pass through."""
    update = await asyncio.get_running_loop().run_in_executor(
        POLICY_JOBS,
        lambda: add_policy(
            desk.settings,
            desk.model(),
            shop_id,
            language,
            filename,
            data,
            version=version,
            effective_date=effective_date,
            translation_of=translation_of,
            original=original,
        ),
    )
    return update, await _recorded(database, desk, update, actor)


async def roll_back_policy(
    database: Database, desk: PolicyDesk, *, shop_id: str, actor: str
) -> tuple[PolicyUpdate, PolicyChange]:
    """Undo the shop's latest upload and record it (NothingToRollBackError if none)."""
    update = await asyncio.get_running_loop().run_in_executor(
        POLICY_JOBS, lambda: rollback_policy(desk.settings, desk.model(), shop_id)
    )
    return update, await _recorded(database, desk, update, actor)


async def teach_example(
    database: Database, desk: PolicyDesk, *, shop_id: str, question: str, answer: str
) -> ExampleAdded:
    """Add an example question to the shop (indexer/example_update.py) and tell the other
    processes of the new index; the indexer's errors pass through."""
    added = await asyncio.get_running_loop().run_in_executor(
        POLICY_JOBS,
        lambda: add_example(desk.settings, desk.model(), shop_id, question, answer),
    )
    await send_index_signal(database, added.index_version, desk.redis_url)
    return added


async def forget_example(
    database: Database, desk: PolicyDesk, *, shop_id: str, key: str
) -> ExampleRemoved:
    """Take the shop's example `key` (example_update.example_key) out, index, and tell the
    other processes of the new index; the indexer's errors pass through."""
    removed = await asyncio.get_running_loop().run_in_executor(
        POLICY_JOBS,
        lambda: remove_example(desk.settings, desk.model(), shop_id, key),
    )
    await send_index_signal(database, removed.index_version, desk.redis_url)
    return removed


async def taught_examples(desk: PolicyDesk, shop_id: str) -> list[ExampleRecord]:
    """The shop's example questions in their file's order (read beside the policy jobs,
    not behind a rebuild)."""
    return await asyncio.to_thread(read_shop_examples, desk.settings, shop_id)


async def recent_changes(
    session: AsyncSession, shop_id: str, limit: int = 10
) -> list[PolicyChange]:
    rows = await session.exec(
        select(PolicyChange)
        .where(col(PolicyChange.shop_id) == shop_id)
        .order_by(col(PolicyChange.created_at).desc(), col(PolicyChange.id).desc())
        .limit(limit)
    )
    return list(rows)
