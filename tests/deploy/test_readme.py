"""The README's commands run as written on a fresh machine: its first block sets up and
runs the assistant and the tests; every other command runs from the `.venv` they make."""

from __future__ import annotations

import importlib.util
import re

from indexer.settings import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
# What compose runs inside the app's image, and a child process the indexer starts itself:
# commands of the image or of the code, not the reader's.
NOT_THE_READERS = re.compile(r"`compose\.yaml` runs .*?\n\n|`python -m indexer\.pdf_text`", re.S)


def test_the_readme_starts_with_the_two_commands_that_work_on_a_fresh_machine() -> None:
    first_block = README.split("```", 2)[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:]]
    assert [command for command in commands if command] == ["./scripts/run", "./scripts/test"]


def test_every_python_command_runs_from_the_venv() -> None:
    readers = NOT_THE_READERS.sub("", README)
    bare = re.findall(r"(?<![\w/.])python3? -m [\w.]+", readers)
    assert bare == [], "write them as .venv/bin/python -m ..."
    modules = set(re.findall(r"\.venv/bin/python -m ([\w.]+)", README))
    assert {"bot", "backend", "indexer"} <= modules
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    assert missing == []


def test_the_local_cluster_is_shown_with_what_it_needs() -> None:
    [command] = re.findall(r"^scripts/run-local-cluster .*?[^\\]$", README, re.M | re.S)
    assert "--database-url postgresql" in command and "--set BOT_TOKEN=" in command
