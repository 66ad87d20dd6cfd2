"""An access request's export as staff send it: a document replying to the card. Its type
and size are checked before anything is downloaded, and the download stops as soon as it
grows past the limit (Telegram's own figure could be missing)."""

from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Final

from aiogram import Bot
from aiogram.types import Document

from backend.privacy_requests.exports import EXPORT_TYPES

_BY_EXTENSION: Final = {extension: content_type for content_type, extension in EXPORT_TYPES.items()}
ALLOWED: Final = ", ".join(extension.lstrip(".").upper() for extension in EXPORT_TYPES.values())


class TooLargeError(Exception):
    pass


def export_type(document: Document) -> str | None:
    """The export type of `document`: its MIME type when allowed, else the one its file
    name's extension stands for (clients send "application/octet-stream" for many files);
    None for anything else."""
    if document.mime_type in EXPORT_TYPES:
        return document.mime_type
    if document.mime_type not in (None, "", "application/octet-stream"):
        return None
    suffix = PurePosixPath(document.file_name or "").suffix.lower()
    return _BY_EXTENSION.get(suffix)


class _Capped(io.BytesIO):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def write(self, data: bytes | bytearray | memoryview, /) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self._limit:
            raise TooLargeError
        return super().write(data)


async def download_export(bot: Bot, document: Document, max_bytes: int) -> bytes:
    """The document's bytes (through getFile); TooLargeError past `max_bytes`."""
    if document.file_size is not None and document.file_size > max_bytes:
        raise TooLargeError
    buffer = _Capped(max_bytes)
    await bot.download(document, destination=buffer)
    return buffer.getvalue()
