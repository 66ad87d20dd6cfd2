"""A policy file an admin sent to the bot: what its caption says it is (language, version,
the original it translates), its size checked from what Telegram says before a byte is
downloaded, then downloaded (getFile and the file URL), within the same limit."""

from __future__ import annotations

import io
import mimetypes
from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import Document

from indexer.errors import PolicyError
from indexer.policy_check import PolicyTooLargeError, check_name_and_size, readable_size

DOWNLOAD_TIMEOUT_SECONDS = 60
# The caption's words before the original a translation names: "… translation of cs".
TRANSLATION_WORDS = ("translation", "of")
# The caption's last word that makes a translation an original again: "… cs original".
ORIGINAL_WORD = "original"


@dataclass(frozen=True)
class UploadCaption:
    """What the caption after `/policy <shop>` says of the file."""

    language: str
    version: str | None = None
    translation_of: str | None = None  # the original: its file name or its language
    original: bool = False  # a translation until now, an original of its own from now on


def upload_caption(args: list[str]) -> UploadCaption | None:
    """`<language> [version] [translation of <original> | original]`; None when the words
    are not that."""
    translation_of = None
    original = False
    if len(args) >= 3 and tuple(word.lower() for word in args[-3:-1]) == TRANSLATION_WORDS:
        args, translation_of = args[:-3], args[-1]
    elif len(args) >= 2 and args[-1].lower() == ORIGINAL_WORD:
        args, original = args[:-1], True
    if not 1 <= len(args) <= 2:
        return None
    version = args[1] if len(args) > 1 else None
    return UploadCaption(args[0].lower(), version, translation_of, original)


def document_name(document: Document) -> str:
    """The file's name; from its media type when Telegram has none."""
    if document.file_name:
        return document.file_name
    suffix = mimetypes.guess_extension(document.mime_type or "") or ""
    return f"policy{suffix}"


async def download_policy(bot: Bot, document: Document, max_bytes: int) -> tuple[str, bytes]:
    """The file's name and content; PolicyError (of the kind that says why) when its name
    or size rule it out, before or after downloading."""
    name = document_name(document)
    check_name_and_size(name, document.file_size, max_bytes)
    file = await bot.get_file(document.file_id)
    check_name_and_size(name, file.file_size, max_bytes)
    if not file.file_path:
        raise PolicyError(name, "Telegram did not say where to download it; send it again")
    buffer = io.BytesIO()
    await bot.download_file(file.file_path, destination=buffer, timeout=DOWNLOAD_TIMEOUT_SECONDS)
    data = buffer.getvalue()
    if len(data) > max_bytes:
        raise PolicyTooLargeError(name, f"the file is over {readable_size(max_bytes)}")
    return name, data
