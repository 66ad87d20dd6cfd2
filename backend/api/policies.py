"""The policy calls of the REST API: a shop's backend publishes a new version of the
shop's privacy policy (the file as the body), restores the previous one, and lists what
changed. The key decides the shop: a key never touches another shop's policy.

Publishing works on the knowledge and index folders of the process serving the API; one
started without them (ApiContext.policies is None) answers 404 to the two that change
something, as it has no policy of the shop to change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from aiohttp import web

from backend.api.context import body_of, context, shop_of
from backend.api.idempotency import json_response
from backend.api.problems import ProblemError
from backend.api.schemas import (
    ExampleAddedView,
    ExampleRemovedView,
    PolicyChangeList,
    PolicyChangeView,
    PolicyCoverageView,
    TaughtExampleList,
    TaughtExampleView,
    TeachExample,
)
from backend.policies import (
    PolicyDesk,
    forget_example,
    publish_policy,
    recent_changes,
    roll_back_policy,
    taught_examples,
    teach_example,
)
from indexer.coverage import ShopNotInIndexError, serving_coverage
from indexer.errors import IndexNotFoundError, PolicyError
from indexer.example_update import example_key
from indexer.language import SUPPORTED
from indexer.policy_check import PolicyTooLargeError, UnsupportedPolicyTypeError
from indexer.policy_update import (
    VERSION_FORM,
    NothingToRollBackError,
    PolicyUnchangedError,
    ShopNotFoundError,
    TranslationOfError,
    load_policy_shop,
)

ACTOR = "api"
# Media type -> the file suffixes it may carry.
POLICY_TYPES: Final = {
    "text/plain": (".txt", ".md"),
    "text/markdown": (".md",),
    "text/html": (".html", ".htm"),
    "application/pdf": (".pdf",),
}
FILENAME_FORM: Final = r"^[^/\\]{1,200}\.(md|txt|html|htm|pdf)$"
LANGUAGES: Final = SUPPORTED


def _desk(request: web.Request) -> PolicyDesk:
    desk = context(request).policies
    if desk is None:
        raise ProblemError(
            404, "Not found", "this server does not publish policies (no knowledge folder)"
        )
    return desk


def _filename(request: web.Request, content_type: str) -> str:
    suffixes = POLICY_TYPES[content_type]
    name = request.query.get("filename") or f"policy{suffixes[0]}"
    if "/" in name or "\\" in name or len(name) > 204:
        raise ProblemError(400, "Bad filename", "a file name without a path, up to 200 characters")
    if Path(name).suffix.lower() not in suffixes:
        raise ProblemError(
            415,
            "File name and media type disagree",
            f"a {content_type} body is named {' or '.join(suffixes)}",
        )
    return name


def _language(request: web.Request, desk: PolicyDesk, shop_id: str) -> str:
    language = request.query.get("language")
    if language is None:
        return load_policy_shop(desk.settings, shop_id).default_language
    if language not in LANGUAGES:
        raise ProblemError(400, "Bad language", f"language is one of {', '.join(LANGUAGES)}")
    return language


async def _body(request: web.Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 as soon as it is over the limit."""
    too_large = ProblemError(
        413, "Policy too large", f"a policy file of at most {max_bytes} bytes is accepted"
    )
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data.extend(chunk)
        if len(data) > max_bytes:
            raise too_large
    return bytes(data)


def _problem(error: Exception) -> ProblemError:
    """The indexer's refusals as problem documents."""
    if isinstance(error, ShopNotFoundError):
        return ProblemError(404, "Not found", "this shop has no policy on this server")
    if isinstance(error, NothingToRollBackError):
        return ProblemError(409, "Nothing to roll back", "every upload was rolled back already")
    if isinstance(error, PolicyUnchangedError):
        return ProblemError(409, "Already published", error.reason)
    if isinstance(error, PolicyTooLargeError):
        return ProblemError(413, "Policy too large", error.reason)
    if isinstance(error, UnsupportedPolicyTypeError):
        return ProblemError(415, "Unsupported policy file", error.reason)
    if isinstance(error, TranslationOfError):
        return ProblemError(422, "Bad translation_of", error.reason)
    if isinstance(error, PolicyError):
        return ProblemError(422, "Policy refused", error.reason)
    raise error


async def upload_policy(request: web.Request) -> web.Response:
    """The new policy file as the body; the serving index changes only if it is accepted.
    `translation_of` makes it a translation of the original it names (file or language);
    `original=true` makes a translation an original of its own again."""
    ctx = context(request)
    shop_id = shop_of(request)
    desk = _desk(request)
    content_type = request.content_type
    if content_type not in POLICY_TYPES:
        raise ProblemError(
            415, "Unsupported media type", f"send the file as one of {', '.join(POLICY_TYPES)}"
        )
    filename = _filename(request, content_type)
    version = request.query.get("version")
    if version is not None and not VERSION_FORM.fullmatch(version):
        raise ProblemError(400, "Bad version", "1-40 letters, digits, spaces or . : / + -")
    original = request.query.get("original", "false")
    if original not in ("true", "false"):
        raise ProblemError(400, "Bad original", "original is true or false")
    translation_of = request.query.get("translation_of")
    if original == "true" and translation_of is not None:
        raise ProblemError(
            400, "Bad original", "a document is an original or a translation, not both"
        )
    try:
        language = _language(request, desk, shop_id)
        data = await _body(request, desk.settings.max_file_bytes)
        _, change = await publish_policy(
            ctx.database,
            desk,
            shop_id=shop_id,
            language=language,
            filename=filename,
            data=data,
            actor=ACTOR,
            version=version,
            translation_of=translation_of,
            original=original == "true",
        )
    except (PolicyError, ShopNotFoundError) as error:
        raise _problem(error) from error
    return json_response(201, PolicyChangeView.of(change).model_dump(mode="json"))


async def rollback_policy(request: web.Request) -> web.Response:
    """Restore the version before the latest upload (of any language)."""
    ctx = context(request)
    desk = _desk(request)
    try:
        _, change = await roll_back_policy(
            ctx.database, desk, shop_id=shop_of(request), actor=ACTOR
        )
    except (PolicyError, ShopNotFoundError, NothingToRollBackError) as error:
        raise _problem(error) from error
    return json_response(201, PolicyChangeView.of(change).model_dump(mode="json"))


async def add_policy_example(request: web.Request) -> web.Response:
    """An example question (indexer/examples.py): the question and the policy's words that
    answer it; 422 when the policy does not hold them, and nothing changes."""
    ctx = context(request)
    desk = _desk(request)
    body, _raw = await body_of(request, TeachExample)
    try:
        added = await teach_example(
            ctx.database,
            desk,
            shop_id=shop_of(request),
            question=body.question,
            answer=body.answer,
        )
    except (PolicyError, ShopNotFoundError) as error:
        raise _problem(error) from error
    view = ExampleAddedView(
        shop=added.shop_id,
        question=added.question,
        answer=added.answer,
        passages=added.passages,
        examples=added.examples,
        index_version=added.index_version,
    )
    return json_response(201, view.model_dump(mode="json"))


async def list_policy_examples(request: web.Request) -> web.Response:
    """The shop's example questions, each with the id that takes it out."""
    shop_id = shop_of(request)
    try:
        records = await taught_examples(_desk(request), shop_id)
    except (PolicyError, ShopNotFoundError) as error:
        raise _problem(error) from error
    items = [
        TaughtExampleView(id=example_key(record), question=record.question, answer=record.answer)
        for record in records
    ]
    return json_response(200, TaughtExampleList(shop=shop_id, items=items).model_dump())


async def remove_policy_example(request: web.Request) -> web.Response:
    """Take the example `example_id` out; 404 when the shop has no such example."""
    ctx = context(request)
    desk = _desk(request)
    key = request.match_info["example_id"]
    try:
        removed = await forget_example(ctx.database, desk, shop_id=shop_of(request), key=key)
    except ShopNotFoundError as error:
        raise _problem(error) from error
    except PolicyError as error:
        raise ProblemError(404, "Not found", error.reason) from error
    view = ExampleRemovedView(
        shop=removed.shop_id,
        question=removed.question,
        examples=removed.examples,
        index_version=removed.index_version,
    )
    return json_response(200, view.model_dump(mode="json"))


async def list_policy_changes(request: web.Request) -> web.Response:
    ctx = context(request)
    async with ctx.database.session() as session:
        changes = await recent_changes(session, shop_of(request), limit=50)
    page = PolicyChangeList(items=[PolicyChangeView.of(change) for change in changes])
    return json_response(200, page.model_dump(mode="json"))


async def read_policy_coverage(request: web.Request) -> web.Response:
    """What the shop's policy as served covers, and the art. 13 disclosures it lacks. The
    path names the shop; a key reads only its own (another shop's is not found)."""
    shop_id = request.match_info["shop_id"]
    unknown = ProblemError(404, "Not found", "this shop has no policy on this server")
    if shop_id != shop_of(request):
        raise unknown
    desk = _desk(request)
    try:
        coverage = await asyncio.to_thread(serving_coverage, desk.settings.index_dir, shop_id)
    except (IndexNotFoundError, ShopNotInIndexError) as error:
        raise unknown from error
    view = PolicyCoverageView.model_validate(coverage.summary())
    return json_response(200, view.model_dump(mode="json"))
