"""Customer profiles survive a restart, and forgetting a customer forgets only them."""

from __future__ import annotations

import asyncio
from datetime import UTC

from backend.conversation_log import record_question, set_feedback, stored_about
from backend.customers import bind_shop, forget_customer, get_profile, set_language
from backend.database import Database
from backend.pseudonyms import pseudonym_for

KEY = b"k" * 32
ALICE = pseudonym_for(1001, KEY)
BOB = pseudonym_for(1002, KEY)


async def ask(db: Database, pseudonym: str, question: str = "Do you sell my data?") -> int:
    async with db.session() as session:
        return await record_question(
            session,
            pseudonym=pseudonym,
            shop_id="webstore",
            question=question,
            language="en",
            intent="question",
            passage_key="0123456789abcdef",
            section="Sharing",
            confidence=0.8,
            answered=True,
            index_version=3,
        )


async def test_binding_and_language_survive_a_restart(db: Database) -> None:
    async with db.session() as session:
        assert await get_profile(session, ALICE) is None
        bound = await bind_shop(session, ALICE, "webstore")
        assert (bound.shop_id, bound.language) == ("webstore", None)
    async with db.session() as session:
        chosen = await set_language(session, ALICE, "cs")
        assert (chosen.shop_id, chosen.language) == ("webstore", "cs")
        assert chosen.updated_at >= chosen.created_at

    restarted = Database(db.url)
    try:
        async with restarted.session() as session:
            profile = await get_profile(session, ALICE)
    finally:
        await restarted.dispose()
    assert profile is not None
    assert (profile.shop_id, profile.language) == ("webstore", "cs")
    assert profile.created_at.tzinfo == UTC


async def test_binding_again_moves_the_customer_to_the_new_shop(db: Database) -> None:
    async with db.session() as session:
        await bind_shop(session, ALICE, "webstore")
        await set_language(session, ALICE, "de")
    async with db.session() as session:
        moved = await bind_shop(session, ALICE, "klingit")
    assert (moved.shop_id, moved.language) == ("klingit", "de")


async def test_a_new_customer_seen_twice_at_once_gets_one_profile(db: Database) -> None:
    async def bind() -> None:
        async with db.session() as session:
            await bind_shop(session, ALICE, "webstore")

    async def choose() -> None:
        async with db.session() as session:
            await set_language(session, ALICE, "sv")

    await asyncio.gather(bind(), choose())
    async with db.session() as session:
        profile = await get_profile(session, ALICE)
    assert profile is not None and (profile.shop_id, profile.language) == ("webstore", "sv")


async def test_forget_removes_everything_of_that_customer_and_nothing_else(
    db: Database,
) -> None:
    async with db.session() as session:
        await bind_shop(session, ALICE, "webstore")
        await bind_shop(session, BOB, "webstore")
    alice_records = [await ask(db, ALICE) for _ in range(3)]
    bob_record = await ask(db, BOB)
    async with db.session() as session:
        assert await set_feedback(session, alice_records[0], ALICE, helpful=True)
        assert await set_feedback(session, bob_record, BOB, helpful=False)

    async with db.session() as session:
        report = await forget_customer(session, ALICE)
    assert (report.profile, report.conversation_records, report.feedback) == (True, 3, 1)

    async with db.session() as session:
        assert await get_profile(session, ALICE) is None
        alice = await stored_about(session, ALICE)
        assert (alice.conversation_records, alice.feedback_given, alice.shop_id) == (0, 0, None)
        assert await get_profile(session, BOB) is not None
        bob = await stored_about(session, BOB)
        assert (bob.conversation_records, bob.feedback_given, bob.shop_id) == (1, 1, "webstore")

    async with db.session() as session:
        again = await forget_customer(session, ALICE)
    assert (again.profile, again.conversation_records, again.feedback) == (False, 0, 0)


async def test_forget_also_removes_hand_offs_and_policy_subscriptions(db: Database) -> None:
    from sqlmodel import col, select

    from backend.models import Handoff, PolicySubscription

    me, other = pseudonym_for(31, KEY), pseudonym_for(32, KEY)
    async with db.session() as session:
        for pseudonym in (me, other):
            session.add(
                Handoff(shop_id="webstore", pseudonym=pseudonym, language="en", trigger="customer")
            )
            session.add(PolicySubscription(shop_id="webstore", pseudonym=pseudonym, chat_id=31))
    async with db.session() as session:
        report = await forget_customer(session, me)
    assert report.handoffs == 1 and report.subscriptions == 1
    async with db.session() as session:
        left = list(await session.exec(select(col(Handoff.pseudonym))))
        subscribed = list(await session.exec(select(col(PolicySubscription.pseudonym))))
    assert left == [other] and subscribed == [other]
