from __future__ import annotations

from pathlib import Path

import pytest

from indexer.errors import PolicyError
from indexer.shops import load_shop, load_shops, shop_aliases
from tests.indexer.conftest import KNOWLEDGE, write_shop


def test_demo_knowledge_has_five_valid_shops() -> None:
    shops = load_shops(KNOWLEDGE)
    assert [shop.id for shop in shops] == [
        "autoparts-ua",
        "kinaexpert",
        "kivismart",
        "klingit",
        "webstore",
    ]
    klingit = next(shop for shop in shops if shop.id == "klingit")
    assert klingit.languages == ["sv", "en"]
    assert klingit.contact_email
    assert all(shop.documents[0].version for shop in shops)


def test_seed_file_stems_are_aliases() -> None:
    aliases = shop_aliases(load_shops(KNOWLEDGE))
    assert aliases["001_12eaf6e1a40f27b1"] == "kivismart"
    assert aliases["003_d6e06f8160934709"] == "klingit"
    assert aliases["webstore"] == "webstore"


def test_policy_text_is_kept_byte_for_byte() -> None:
    seed = KNOWLEDGE.parent.parent / "shared" / "corpus" / "001_12eaf6e1a40f27b1.txt"
    if not seed.exists():
        pytest.skip("shared/corpus is not beside the checkout")
    assert (KNOWLEDGE / "kivismart" / "privacy-policy.txt").read_bytes() == seed.read_bytes()


def test_missing_field_names_file_and_field(tmp_path: Path) -> None:
    folder = write_shop(tmp_path)
    toml = (
        (folder / "shop.toml").read_text().replace('contact_email = "privacy@tiny.example"\n', "")
    )
    (folder / "shop.toml").write_text(toml)
    with pytest.raises(PolicyError) as error:
        load_shop(folder)
    assert error.value.path.endswith("tiny/shop.toml")
    assert "contact_email" in error.value.reason and "required" in error.value.reason.lower()


def test_bad_language_code_names_the_document_field(tmp_path: Path) -> None:
    folder = write_shop(tmp_path)
    toml = (
        (folder / "shop.toml").read_text().replace('languages = ["en"]', 'languages = ["English"]')
    )
    (folder / "shop.toml").write_text(toml)
    with pytest.raises(PolicyError, match=r"documents\.0\.languages"):
        load_shop(folder)


def test_shop_folder_without_policy_is_an_error(tmp_path: Path) -> None:
    folder = write_shop(tmp_path)
    (folder / "policy.txt").unlink()
    with pytest.raises(PolicyError, match=r"listed in .* but missing"):
        load_shop(folder)


def test_shop_with_no_documents_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "empty-shop"
    folder.mkdir()
    (folder / "shop.toml").write_text(
        'id = "empty-shop"\nname = "E"\ncontact_email = "a@b.example"\ndefault_language = "en"\n'
        "documents = []\n"
    )
    with pytest.raises(PolicyError, match="documents"):
        load_shop(folder)


def test_folder_without_shop_toml(tmp_path: Path) -> None:
    (tmp_path / "lost").mkdir()
    with pytest.raises(PolicyError, match=r"lost/shop\.toml: missing"):
        load_shops(tmp_path)


def test_id_must_match_folder(tmp_path: Path) -> None:
    folder = write_shop(tmp_path, shop_id="tiny")
    folder.rename(tmp_path / "other")
    with pytest.raises(PolicyError, match="must equal the folder name"):
        load_shop(tmp_path / "other")


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    folder = write_shop(tmp_path, extra_toml='colour = "blue"')
    with pytest.raises(PolicyError, match="colour"):
        load_shop(folder)


def test_invalid_toml(tmp_path: Path) -> None:
    folder = write_shop(tmp_path)
    (folder / "shop.toml").write_text("id = \n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_shop(folder)


def test_duplicate_alias_is_refused(tmp_path: Path) -> None:
    write_shop(tmp_path, "one", extra_toml='aliases = ["x1"]')
    write_shop(tmp_path, "two", extra_toml='aliases = ["x1"]')
    with pytest.raises(PolicyError, match="already used by one"):
        load_shops(tmp_path)
