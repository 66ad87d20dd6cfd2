"""The policy's coverage and its art. 13 check for shop backends and admins:
`GET /api/v1/policies/{shop}/coverage`, the answer to an upload through the API, and
`python -m backend policy add`."""

from __future__ import annotations

import json

import pytest

from backend.api.openapi import openapi_document
from backend.cli import main as backend_main
from backend.database import Database
from tests.backend.api_support import Api
from tests.backend.test_policies_api import (
    POLICIES,
    SQLITE_ONLY,
    api,
    folders,
    policy_api,
    upload,
)
from tests.backend.test_policies_records import cli_env
from tests.indexer.policy_samples import POLICY_V2, SHOP, PolicyFolders

__all__ = ["api", "cli_env", "folders"]  # fixtures
COVERAGE = f"{POLICIES}/{SHOP}/coverage"


@SQLITE_ONLY
async def test_a_shop_reads_what_its_policy_covers(api: Api, folders: PolicyFolders) -> None:
    status, body, response = await api.call("GET", COVERAGE)
    assert status == 200, body
    assert response.content_type == "application/json"
    assert body["shop"] == SHOP and body["index_version"] == 1
    covered = {item["practice"]: item["sections"] for item in body["covered"]}
    assert "How long we keep your data" in covered["retention"]
    assert "complaints" in body["not_covered"]
    assert set(covered).isdisjoint(body["not_covered"])
    missing = {item["disclosure"]: item for item in body["missing_disclosures"]}
    assert missing["complaints"]["article"] == "13(2)(d)"
    assert missing["complaints"]["practices"] == ["complaints"]
    assert missing["transfers"]["where_applicable"] is True
    assert "retention" not in missing
    # What customers will ask that the policy speaks around but never says.
    left_out = {item["detail"]: item["about"] for item in body["details_left_out"]}
    assert left_out["breach_notice"] == "whether you tell customers about a breach of their data"


@SQLITE_ONLY
async def test_another_or_an_unknown_shop_is_not_found_and_a_key_is_needed(
    api: Api, db: Database, folders: PolicyFolders
) -> None:
    # The other shop's key: this shop's coverage does not exist for it.
    status, body, response = await api.call("GET", COVERAGE, key=api.other_key)
    assert status == 404 and response.content_type == "application/problem+json", body
    for shop in ("nope", "other-shop"):
        status, body, _ = await api.call("GET", f"{POLICIES}/{shop}/coverage")
        assert status == 404 and body["title"] == "Not found", body
    status, body, _ = await api.call("GET", COVERAGE, key="not-a-key")
    assert status == 401, body
    # A server that publishes no policies has none to tell about.
    async with policy_api(db, None) as bare:
        status, body, _ = await bare.call("GET", COVERAGE)
        assert status == 404, body


@SQLITE_ONLY
async def test_an_upload_through_the_api_answers_with_the_check(
    api: Api, folders: PolicyFolders
) -> None:
    status, body = await upload(api, POLICY_V2.encode(), "?language=en&filename=v2.md")
    assert status == 201, body
    coverage = body["coverage"]
    assert isinstance(coverage, dict) and coverage["index_version"] == body["index_version"]
    assert "marketing" in {item["practice"] for item in coverage["covered"]}
    assert "complaints" in {item["disclosure"] for item in coverage["missing_disclosures"]}
    # The same answer afterwards, from the serving index; and in the list of changes.
    status, now, _ = await api.call("GET", COVERAGE)
    assert status == 200 and now == coverage
    status, page, _ = await api.call("GET", POLICIES)
    assert status == 200 and page["items"][0]["coverage"] == coverage


def test_the_openapi_document_describes_the_coverage() -> None:
    document = openapi_document()
    operation = document["paths"]["/api/v1/policies/{shop_id}/coverage"]["get"]
    assert operation["operationId"] == "getPolicyCoverage"
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/PolicyCoverageView"}
    assert {"401", "404"} <= set(operation["responses"])
    schema = document["components"]["schemas"]["PolicyCoverageView"]
    assert set(schema["required"]) == {
        "shop",
        "index_version",
        "covered",
        "not_covered",
        "missing_disclosures",
    }
    change = document["components"]["schemas"]["PolicyChangeView"]
    assert "coverage" in change["properties"]


def test_the_cli_prints_the_check_after_an_upload(
    cli_env: PolicyFolders, capsys: pytest.CaptureFixture[str]
) -> None:
    upload_file = cli_env.knowledge.parent / "v2.md"
    upload_file.write_text(POLICY_V2, encoding="utf-8")
    add = ["policy", "add", "--shop", SHOP, "--language", "en", str(upload_file)]
    assert backend_main(add) == 0
    out = capsys.readouterr().out
    assert "Disclosure check (GDPR art. 13):" in out
    assert "Missing: the right to lodge a complaint with a supervisory authority" in out
    assert backend_main(["policy", "rollback", "--shop", SHOP, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["coverage"]["shop"] == SHOP and report["coverage"]["missing_disclosures"]
