"""Policy text -> passages that keep their section heading and stay within a size bound.

Plain-text policies have no markup, so headings are recognised by shape: a short line
without closing punctuation (or a short question) followed by body text. A lead-in that
ends with a colon stays with the list items that follow it; a long list is cut between
items and every piece repeats the lead-in, so no item loses its context.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

from indexer.sentences import split_sentences

_BULLET = re.compile(r"^(?:[•◦▪·‣\-–—*+]\s*|\(?[0-9ivx]{1,4}[.)]\s+|[a-z][.)]\s+)", re.IGNORECASE)
_SENTENCE_END = (".", ",", ";", "!", "…")
MAX_HEADING_CHARS = 90
MAX_HEADING_WORDS = 12
# A policy's foot line, "Last update: January 2024, Rev.: 1a": short, with a year, no full
# stop. It belongs to the whole document, not to the last section above it, where it made
# "Shipping Carrier" read as a passage about policy changes.
MAX_COLOPHON_CHARS = 80
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


@dataclass(frozen=True)
class Passage:
    shop_id: str
    document: str
    document_title: str
    version: str
    section: str
    text: str
    ordinal: int
    language: str = ""
    sentences: tuple[str, ...] = field(default=(), compare=False)
    # The practices of data/taxonomy.toml the passage covers, labelled at build time.
    topics: tuple[str, ...] = field(default=(), compare=False)
    # In a declared translation: the key of the original's passage this one translates
    # (alignment.py), "" when it has no counterpart or is not a translation.
    original: str = field(default="", compare=False)

    @property
    def embedding_text(self) -> str:
        """The section title belongs to the passage's meaning: embed and match it too."""
        if self.section and not self.text.startswith(self.section):
            return f"{self.section}\n{self.text}"
        return self.text

    @property
    def key(self) -> str:
        raw = "\x1f".join((self.shop_id, self.document, self.section, self.text))
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def with_language(self, language: str) -> Passage:
        return replace(self, language=language)

    def with_topics(self, topics: tuple[str, ...]) -> Passage:
        return replace(self, topics=topics)

    def translating(self, original: str) -> Passage:
        return replace(self, original=original)


@dataclass
class _Unit:
    kind: str  # "heading" | "item" | "text"
    text: str


def is_bullet(line: str) -> bool:
    """Whether a line is a list item (a bullet, a number or a letter in front)."""
    return bool(_BULLET.match(line))


def _looks_like_heading(line: str, following: str | None) -> bool:
    if following is None or (is_bullet(line) and not re.match(r"^\d{1,2}\.\s+\S", line)):
        return False
    words = line.split()
    if len(line) > MAX_HEADING_CHARS or len(words) > MAX_HEADING_WORDS or not words:
        return False
    if line[0].islower() or line.endswith(_SENTENCE_END) or following[0].islower():
        # A line followed by one starting in lower case is a hard-wrapped sentence.
        return False
    if line.endswith(":"):
        # "Contacting Us:" is a heading; "We use it to:" before a list is a lead-in.
        return len(words) <= 4 and not is_bullet(following)
    return True


def _units(text: str) -> list[_Unit]:
    lines = [line.strip() for line in text.split("\n")]
    units: list[_Unit] = []
    previous_blank = True
    for index, line in enumerate(lines):
        if not line:
            previous_blank = True
            continue
        following = next((rest for rest in lines[index + 1 :] if rest), None)
        if _looks_like_heading(line, following):
            units.append(_Unit("heading", line))
        elif is_bullet(line):
            units.append(_Unit("item", line))
        elif (
            units
            and not previous_blank
            and units[-1].kind != "heading"
            and not units[-1].text.endswith((*_SENTENCE_END, ":", "?"))
        ):
            # A hard-wrapped line continues the paragraph or item above it.
            units[-1].text += " " + line
        else:
            units.append(_Unit("text", line))
        previous_blank = False
    return units


def _blocks(units: list[_Unit]) -> list[tuple[str, str, list[str]]]:
    """Group units into (section, lead-in, parts): a paragraph, or a lead-in with its items."""
    blocks: list[tuple[str, str, list[str]]] = []
    section = ""
    for unit in units:
        if unit.kind == "heading":
            section = unit.text.rstrip(":").strip()
            continue
        last = blocks[-1] if blocks else None
        if unit.kind == "item" and last and last[0] == section and (last[1] or last[2] == []):
            last[2].append(unit.text)
        elif unit.kind == "item" and last and last[0] == section and last[2][-1].endswith(":"):
            lead = last[2].pop()
            if not last[2]:
                blocks.pop()
            blocks.append((section, lead, [unit.text]))
        elif unit.kind == "item":
            blocks.append((section, "", [unit.text]))
        else:
            blocks.append((section, "", [unit.text]))
    # Paragraph blocks carry their text in parts with an empty lead-in; a list keeps its lead.
    return blocks


def _pieces(text: str, max_chars: int, overlap: int) -> list[str]:
    """Cut an over-long paragraph at sentence ends, repeating `overlap` sentences."""
    sentences = split_sentences(text)
    pieces: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        if current and len(" ".join([*current, sentence])) > max_chars:
            pieces.append(" ".join(current))
            current = current[-overlap:] if overlap else []
            if len(" ".join([*current, sentence])) > max_chars:
                current = []
        current.append(sentence)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _is_colophon(units: list[_Unit]) -> bool:
    last = units[-1] if len(units) > 1 else None
    return bool(
        last is not None
        and last.kind == "text"
        and len(last.text) <= MAX_COLOPHON_CHARS
        and _YEAR.search(last.text)
        and not last.text.endswith(_SENTENCE_END)
    )


def split_passages(
    text: str,
    *,
    shop_id: str,
    document: str,
    document_title: str,
    version: str,
    max_chars: int = 700,
    overlap_sentences: int = 1,
) -> list[Passage]:
    chunks: list[tuple[str, str]] = []  # (section, text)
    units = _units(text)
    colophon = units.pop() if _is_colophon(units) else None
    for section, lead, parts in _blocks(units):
        if not lead:
            for part in parts:
                chunks.extend(
                    (section, piece) for piece in _pieces(part, max_chars, overlap_sentences)
                )
            continue
        group: list[str] = []
        for item in parts:
            if group and len("\n".join([lead, *group, item])) > max_chars:
                chunks.append((section, "\n".join([lead, *group])))
                group = []
            if len(lead) + len(item) + 1 > max_chars:
                # One item alone is too long: cut it at sentences, each piece under the lead.
                room = max(max_chars - len(lead) - 1, max_chars // 2)
                chunks.extend(
                    (section, f"{lead}\n{piece}")
                    for piece in _pieces(item, room, overlap_sentences)
                )
                continue
            group.append(item)
        if group:
            chunks.append((section, "\n".join([lead, *group])))
    if colophon is not None:
        chunks.append(("", colophon.text))

    # Short neighbours in one section read better (and embed better) as one passage.
    merged: list[tuple[str, str]] = []
    for section, body in chunks:
        if merged and merged[-1][0] == section and len(merged[-1][1]) + len(body) + 1 <= max_chars:
            merged[-1] = (section, merged[-1][1] + "\n" + body)
        else:
            merged.append((section, body))

    return [
        Passage(
            shop_id=shop_id,
            document=document,
            document_title=document_title,
            version=version,
            section=section or document_title,
            text=body,
            ordinal=ordinal,
            sentences=tuple(split_sentences(body)),
        )
        for ordinal, (section, body) in enumerate(merged)
    ]
