from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from indexer.settings import IndexerSettings
from tests.conftest import KNOWLEDGE

TINY_POLICY = """Privacy Policy

Cookies

We use cookies to keep you logged in and to remember your cart.

How long we keep your data

We keep order records for six years because tax law requires it. Marketing preferences are kept until you withdraw consent.

Your rights

You can ask for a copy of your data or for its deletion by writing to privacy@tiny.example.
"""


def write_shop(
    knowledge: Path,
    shop_id: str = "tiny",
    policy: str | bytes = TINY_POLICY,
    file_name: str = "policy.txt",
    extra_toml: str = "",
) -> Path:
    folder = knowledge / shop_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.toml").write_text(
        f'id = "{shop_id}"\nname = "Tiny"\ncontact_email = "privacy@tiny.example"\n'
        f'default_language = "en"\n{extra_toml}\n'
        f'[[documents]]\npath = "{file_name}"\ntitle = "Privacy Policy"\n'
        f'languages = ["en"]\nversion = "1"\n',
        encoding="utf-8",
    )
    target = folder / file_name
    if isinstance(policy, bytes):
        target.write_bytes(policy)
    else:
        target.write_text(policy, encoding="utf-8")
    return folder


@pytest.fixture
def tiny_settings(tmp_path: Path) -> IndexerSettings:
    knowledge = tmp_path / "knowledge"
    write_shop(knowledge)
    return IndexerSettings(knowledge_dir=knowledge, index_dir=tmp_path / "index")


@pytest.fixture
def demo_knowledge(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target
