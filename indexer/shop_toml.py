"""Rewriting one `[[documents]]` entry of a shop.toml, leaving the rest as it was written.

Admins keep comments and their own layout in shop.toml; a policy upload must change the
one entry it replaces and nothing else. Python reads TOML but does not write it, so the
file is edited as text: it is cut at its table headers, the entry's block is replaced (or
added, or dropped), and the result is read back and checked before it replaces the file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from indexer.errors import PolicyError
from indexer.shops import SHOP_FILE, PolicyDocument, Shop, load_shop

# A table header on a line of its own: [name] or [[name]], with an optional comment.
_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TAIL = re.compile(r"^\s*(?:#.*)?$")  # blank or comment lines
# A document's `translation_of = "…"` line: the key, the string, and what follows it.
_TRANSLATION_OF = re.compile(
    r"^(?P<key>\s*translation_of\s*=\s*)(?P<value>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*')"
    r"(?P<rest>[^\n]*\n?)\Z"
)


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except that DEL must be escaped."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def document_block(document: PolicyDocument) -> list[str]:
    lines = [
        "[[documents]]\n",
        f"path = {toml_string(document.path)}\n",
        f"title = {toml_string(document.title)}\n",
        "languages = [" + ", ".join(toml_string(code) for code in document.languages) + "]\n",
        f"version = {toml_string(document.version)}\n",
    ]
    if document.effective_date is not None:
        lines.append(f"effective_date = {document.effective_date.isoformat()}\n")
    if document.translation_of is not None:
        lines.append(f"translation_of = {toml_string(document.translation_of)}\n")
    return lines


def _segments(lines: list[str]) -> list[tuple[str | None, int, int]]:
    """(table name or None for the top, first line, end line) of each part of the file."""
    starts: list[tuple[str | None, int]] = [(None, 0)]
    for number, line in enumerate(lines):
        match = _HEADER.match(line)
        if match:
            starts.append((match.group(1), number))
    bounds = [start for _, start in starts[1:]] + [len(lines)]
    return [(name, start, end) for (name, start), end in zip(starts, bounds, strict=True)]


def _body_end(lines: list[str], start: int, end: int) -> int:
    """Where a block's own lines end: comments and blank lines before the next header
    belong to that header."""
    while end > start + 1 and _TAIL.match(lines[end - 1]):
        end -= 1
    return end


def with_document(text: str, index: int | None, document: PolicyDocument | None) -> str:
    """shop.toml's `text` with documents[index] replaced by `document`; `index` None adds
    it after the last entry; `document` None drops the entry."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    blocks = [(start, end) for name, start, end in _segments(lines) if name == "documents"]
    new = document_block(document) if document is not None else []
    if index is None:
        if not blocks:
            return "".join([*lines, "\n", *new])
        start, end = blocks[-1]
        cut = _body_end(lines, start, end)
        return "".join([*lines[:cut], "\n", *new, *lines[cut:]])
    if not 0 <= index < len(blocks):
        raise IndexError(f"shop.toml has no documents entry {index}")
    start, end = blocks[index]
    cut = _body_end(lines, start, end)
    if document is None:
        # Dropped with the blank line that separated it from what came before.
        if start > 0 and not lines[start - 1].strip():
            start -= 1
        return "".join([*lines[:start], *lines[cut:]])
    return "".join([*lines[:start], *new, *lines[cut:]])


def with_translation_of(text: str, index: int, document: PolicyDocument) -> str:
    """shop.toml's `text` with documents[index] naming `document.translation_of` as its
    original: only that line is rewritten (the entry's comments stay); the whole entry is,
    when it has no such line of its own to rewrite."""
    assert document.translation_of is not None
    lines = text.splitlines(keepends=True)
    blocks = [(start, end) for name, start, end in _segments(lines) if name == "documents"]
    if 0 <= index < len(blocks):
        start, end = blocks[index]
        for number in range(start + 1, end):
            match = _TRANSLATION_OF.match(lines[number])
            if match:
                value = toml_string(document.translation_of)
                lines[number] = f"{match['key']}{value}{match['rest']}"
                return "".join(lines)
    return with_document(text, index, document)


def write_shop_file(folder: Path, text: str, expected: list[PolicyDocument]) -> Shop:
    """Replace the shop's shop.toml by `text` if it reads back valid with `expected` as its
    documents; otherwise the old file stays and PolicyError says why."""
    target = folder / SHOP_FILE
    previous = target.read_text(encoding="utf-8")
    draft = folder / f".{SHOP_FILE}.{os.getpid()}.tmp"
    draft.write_text(text, encoding="utf-8")
    try:
        draft.replace(target)
        shop = load_shop(folder)
        if list(shop.documents) != expected:
            raise PolicyError(target, "did not read back as written; left unchanged")
    except Exception:
        restore_shop_file(folder, previous)
        raise
    finally:
        draft.unlink(missing_ok=True)
    return shop


def restore_shop_file(folder: Path, text: str) -> None:
    """Put back a shop.toml as it was (written aside, then renamed over)."""
    draft = folder / f".{SHOP_FILE}.{os.getpid()}.restore"
    draft.write_text(text, encoding="utf-8")
    draft.replace(folder / SHOP_FILE)
