"""The `python -m indexer` commands, run as a user runs them: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.settings import PROJECT_ROOT
from tests.indexer.conftest import write_shop
from tests.support.broken_knowledge import broken_knowledge


def run(*args: str, index: Path, knowledge: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "indexer", "--index", str(index)]
    if knowledge is not None:
        command += ["--knowledge", str(knowledge)]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


def test_build_search_stats_in_json(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    write_shop(knowledge)
    built = run("build", "--json", index=tmp_path / "index", knowledge=knowledge)
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["version"] == 1 and report["passages"] == 3 and report["embedded"] > 0

    found = run(
        "search",
        "how long do you keep my orders?",
        "--shop",
        "tiny",
        "--json",
        index=tmp_path / "index",
    )
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["hits"][0]["section"] == "How long we keep your data"
    assert 0.0 <= result["confidence"] <= 1.0 and result["language"] == "en"

    human = run(
        "search", "how long do you keep my orders?", "--shop", "tiny", index=tmp_path / "index"
    )
    assert "How long we keep your data" in human.stdout

    stats = json.loads(run("stats", "--json", index=tmp_path / "index").stdout)
    assert stats["version"] == 1 and stats["shops"]["tiny"]["passages"] == 3
    assert stats["shops"]["tiny"]["examples"] == 0


def test_bad_input_exits_non_zero_and_names_the_file(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    write_shop(knowledge)
    assert run("build", index=tmp_path / "index", knowledge=knowledge).returncode == 0
    current = (tmp_path / "index" / "CURRENT").read_text()
    write_shop(knowledge, "broken", b"\x00\x01\x02binary" * 50)
    failed = run("build", index=tmp_path / "index", knowledge=knowledge)
    assert failed.returncode == 1
    assert "broken/policy.txt" in failed.stderr and "binary" in failed.stderr
    assert (tmp_path / "index" / "CURRENT").read_text() == current


def test_unknown_shop_and_missing_index(tmp_path: Path) -> None:
    missing = run("search", "cookies?", "--shop", "tiny", index=tmp_path / "none")
    assert missing.returncode == 1 and "python -m indexer build" in missing.stderr
    knowledge = tmp_path / "knowledge"
    write_shop(knowledge)
    run("build", index=tmp_path / "index", knowledge=knowledge)
    unknown = run("search", "cookies?", "--shop", "nope", index=tmp_path / "index")
    assert unknown.returncode == 2 and "unknown shop 'nope'" in unknown.stderr


def test_eval_rejects_a_broken_question_file(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    write_shop(knowledge)
    run("build", index=tmp_path / "index", knowledge=knowledge)
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "1", "shop": "tiny"}\n')
    result = run("eval", str(bad), index=tmp_path / "index")
    assert result.returncode == 1 and "q.jsonl: line 1" in result.stderr


@pytest.mark.parametrize("command", ["build", "search", "eval", "calibrate", "stats", "bench"])
def test_every_command_has_help(command: str, tmp_path: Path) -> None:
    result = run(command, "--help", index=tmp_path)
    assert result.returncode == 0 and "--json" in result.stdout


def test_a_shop_toml_that_is_not_toml_stops_the_build_with_one_line(tmp_path: Path) -> None:
    shop_toml = broken_knowledge(tmp_path)
    done = run("build", index=tmp_path / "index", knowledge=shop_toml.parent.parent)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: {shop_toml}: not valid TOML: Invalid value (at line 3, column 8)"
    ]
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_coverage_eval_on_unseen_policies_and_a_broken_file(tmp_path: Path) -> None:
    policies = tmp_path / "policies.jsonl"
    rows = [
        {
            "policy": "p",
            "lang": "en",
            "text": "We use cookies to keep you logged in.",
            "topics": ["cookies"],
        },
        {
            "policy": "p",
            "lang": "en",
            "text": "Write to privacy@p.example with any question about your personal data.",
            "topics": ["contact"],
        },
    ]
    policies.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = run("coverage-eval", "--policies", str(policies), "--json", index=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"p", "micro", "paragraphs"} and report["paragraphs"]["n"] == 2
    assert "cookies" not in report["p"]["missed"]

    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({**rows[0], "topics": ["weather"]}) + "\n")
    result = run("coverage-eval", "--policies", str(broken), index=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {broken}:1: unknown practice weather"
