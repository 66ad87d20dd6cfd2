"""A one-shop knowledge folder and the policy texts that the policy-update tests upload,
shared by the indexer, backend and bot tests of admin operations.

Building its index embeds a few dozen texts; `template_index` builds it once per session
and every test copies it (its embedding cache too), so an upload embeds only what is new.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from indexer.build import CACHE_FILE, build_index
from indexer.embedding import Embedder
from indexer.errors import PolicyError
from indexer.policy_update import add_policy
from indexer.settings import PROJECT_ROOT, IndexerSettings

SHOP = "demo-shop"

POLICY_V1 = """Privacy Policy

Who we are

Demo Shop s.r.o. runs the online store demo-shop.example and is the controller of the personal data you give us when you shop with us.

What data we collect

We collect your name, postal address, e-mail address and phone number when you place an order. We also keep the history of your orders and the payment method you used, but never your full card number.

How long we keep your data

We keep order records for six years because tax law requires it. Your customer account is deleted two years after your last login. Marketing preferences are kept until you withdraw your consent.

Cookies

We use cookies to keep you logged in and to remember the contents of your cart. Analytics cookies are only set when you agree to them in the cookie banner.

Your rights

You can ask for a copy of your personal data, for its correction or for its deletion by writing to privacy@demo-shop.example. We answer within one month.
"""

# Cookies reworded, "Who we are" gone, a section on newsletters added.
POLICY_V2 = """# Privacy Policy

## What data we collect

We collect your name, postal address, e-mail address and phone number when you place an order. We also keep the history of your orders and the payment method you used, but never your full card number.

## How long we keep your data

We keep order records for six years because tax law requires it. Your customer account is deleted two years after your last login. Marketing preferences are kept until you withdraw your consent.

## Cookies

We use only the cookies needed to keep you logged in and to remember your cart. We set no analytics or advertising cookies at all.

## Newsletter

If you subscribe to our newsletter we use your e-mail address to send it, at most once a week. Every newsletter has a link to unsubscribe, and you can also unsubscribe by writing to privacy@demo-shop.example.

## Your rights

You can ask for a copy of your personal data, for its correction or for its deletion by writing to privacy@demo-shop.example. We answer within one month.
"""

# POLICY_V1 in German, made before the original gained "Who we are" and "Cookies": a
# translation out of date (the policy-update tests also upload it as an original).
POLICY_DE = (
    "Datenschutzerklärung\n\nWelche Daten wir erheben\n\nWir erheben Ihren Namen, Ihre "
    "Anschrift, Ihre E-Mail-Adresse und Ihre Telefonnummer, wenn Sie bestellen. Die "
    "Bestellhistorie speichern wir ebenfalls.\n\nWie lange wir Daten speichern\n\n"
    "Bestelldaten bewahren wir sechs Jahre auf, weil das Steuerrecht es verlangt. Ihr "
    "Kundenkonto löschen wir zwei Jahre nach der letzten Anmeldung.\n\nIhre Rechte\n\n"
    "Sie können eine Kopie Ihrer personenbezogenen Daten, ihre Berichtigung oder ihre "
    "Löschung verlangen: schreiben Sie an privacy@demo-shop.example.\n"
)

NOT_A_POLICY = """Pancakes

Ingredients

Two eggs, one cup of flour, one cup of milk, a pinch of salt and a spoon of sugar. Butter for the pan, and jam or honey to serve.

Method

Whisk the eggs with the milk. Add the flour slowly and stir until the batter is smooth and has no lumps. Let the batter rest for ten minutes.

Cooking

Heat a pan with a little butter. Pour a ladle of batter, tilt the pan so that it spreads thinly, and cook each side for a minute until golden. Serve warm with jam or honey.
"""

SHOP_TOML = f"""# A shop for the admin-operation tests.
id = "{SHOP}"
name = "Demo Shop"
contact_email = "privacy@demo-shop.example"
default_language = "en"

[[documents]]
path = "privacy-policy.txt"
title = "Privacy Policy"
languages = ["en"]
version = "1"  # the first version
effective_date = 2025-01-01

[support]
# Telegram user ids
admins = [{{admins}}]
"""


@dataclass(frozen=True)
class PolicyFolders:
    knowledge: Path
    index: Path

    @property
    def settings(self) -> IndexerSettings:
        return IndexerSettings(knowledge_dir=self.knowledge, index_dir=self.index)

    @property
    def shop_folder(self) -> Path:
        return self.knowledge / SHOP


def write_knowledge(knowledge: Path, admins: tuple[int, ...] = ()) -> Path:
    folder = knowledge / SHOP
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.toml").write_text(
        SHOP_TOML.replace("{admins}", ", ".join(str(admin) for admin in admins)),
        encoding="utf-8",
    )
    (folder / "privacy-policy.txt").write_text(POLICY_V1, encoding="utf-8")
    return knowledge


def build_template(root: Path, embedder: Embedder, admins: tuple[int, ...] = ()) -> PolicyFolders:
    """The one-shop folders, built, with the texts the tests upload already in the
    embedding cache (an upload in a scratch copy, whose cache is kept)."""
    folders = PolicyFolders(write_knowledge(root / "knowledge", admins), root / "index")
    build_index(folders.settings, embedder)
    scratch = copy_folders(folders, root / "scratch")
    add_policy(scratch.settings, embedder, SHOP, "en", "v2.md", POLICY_V2.encode())
    with contextlib.suppress(PolicyError):
        add_policy(scratch.settings, embedder, SHOP, "en", "r.md", NOT_A_POLICY.encode())
    shutil.copyfile(scratch.index / CACHE_FILE, folders.index / CACHE_FILE)
    shutil.rmtree(scratch.knowledge.parent)
    return folders


ADMIN = 7001  # an admin by shop.toml
_TEMPLATES: dict[Path, PolicyFolders] = {}


def shared_template(root: Path, embedder: Embedder) -> PolicyFolders:
    """The template, built once per session (`root`: a session-wide temporary folder,
    the same in every caller) whichever test module asks first."""
    if root not in _TEMPLATES:
        _TEMPLATES[root] = build_template(root / "policy-template", embedder, admins=(ADMIN,))
    return _TEMPLATES[root]


def private_copy(
    factory: pytest.TempPathFactory, embedder: Embedder, target: Path
) -> PolicyFolders:
    """For a test's `folders` fixture: its own copy of the session's template."""
    return copy_folders(shared_template(factory.getbasetemp(), embedder), target)


def copy_folders(template: PolicyFolders, target: Path) -> PolicyFolders:
    """A private copy of the template's knowledge and index folders (the cache included)."""
    copied = PolicyFolders(target / "knowledge", target / "index")
    shutil.copytree(template.knowledge, copied.knowledge)
    shutil.copytree(template.index, copied.index)
    return copied


def tree_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its content, to prove a refusal changed nothing."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix != ".lock" and "cache" not in path.name
    }


def policy_command(
    folders: PolicyFolders,
    package: str,
    action: str,
    env: dict[str, str],
    upload: Path | None = None,
) -> subprocess.Popen[str]:
    """`python -m <package> policy <action> --shop demo-shop [...]` in a process of its own,
    on `folders`, with `env` (DATABASE_URL, REDIS_URL) and nothing else of this process's."""
    command = [sys.executable, "-m", package]
    if package == "indexer":
        command += ["--knowledge", str(folders.knowledge), "--index", str(folders.index)]
    command += ["policy", action, "--shop", SHOP]
    if upload is not None:
        command += ["--language", "en", str(upload)]
    environment = {
        key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_URL")
    }
    environment.update(
        {
            "PYTHONPATH": str(PROJECT_ROOT),
            "INDEXER_KNOWLEDGE_DIR": str(folders.knowledge),
            "INDEXER_INDEX_DIR": str(folders.index),
            "PSEUDONYM_KEY": "k" * 40,
            **env,
        }
    )
    return subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
