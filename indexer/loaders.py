"""Policy documents (md, txt, html, pdf) -> normalized plain text.

Every loader yields paragraphs separated by blank lines and headings on their
own line, so that the passage splitter sees the same structure whatever the
format. Unusable input raises ``PolicyError`` naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from indexer.errors import PolicyError
from indexer.normalize import normalize_text
from indexer.pdf_text import PdfLimitError, PdfLockedError, PdfUnreadableError, pdf_pages

SUPPORTED_SUFFIXES = (".md", ".txt", ".html", ".htm", ".pdf")
DEFAULT_MAX_BYTES = 5 * 1024 * 1024

_MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class LoadedDocument:
    path: Path
    text: str  # normalized with normalize_text; paragraphs separated by blank lines
    sha256: str  # of the raw file bytes


def load_document(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedDocument:
    """Read and extract the policy document at ``path``."""
    _check_suffix(path)
    if not path.exists():
        raise PolicyError(path, "file not found")
    if not path.is_file():
        raise PolicyError(path, "not a regular file")
    try:
        # Checked before reading so that a huge file is never loaded into memory.
        _check_size(path, path.stat().st_size, max_bytes)
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    return _load(path, data, max_bytes)


def load_bytes(name: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedDocument:
    """Extract a document held in memory, such as an upload; ``name`` gives its type."""
    path = Path(name)
    _check_suffix(path)
    return _load(path, data, max_bytes)


def _load(path: Path, data: bytes, max_bytes: int) -> LoadedDocument:
    _check_size(path, len(data), max_bytes)
    if not data:
        raise PolicyError(path, "file is empty")
    text = normalize_text(_EXTRACTORS[path.suffix.lower()](path, data))
    if not text:
        raise PolicyError(path, "no text")
    return LoadedDocument(path=path, text=text, sha256=hashlib.sha256(data).hexdigest())


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() in SUPPORTED_SUFFIXES:
        return
    supported = ", ".join(SUPPORTED_SUFFIXES)
    found = f"'{path.suffix}'" if path.suffix else "none"
    raise PolicyError(path, f"unsupported file type ({found}); supported: {supported}")


def _check_size(path: Path, size: int, max_bytes: int) -> None:
    if size <= max_bytes:
        return
    # Rounded up, so a file just over the limit never reads "5.0 MB, over 5.0 MB".
    size_mb = math.ceil(size * 10 / _MEGABYTE) / 10
    raise PolicyError(
        path, f"file is too large: {size_mb:.1f} MB, the limit is {max_bytes / _MEGABYTE:.1f} MB"
    )


# --- text decoding -----------------------------------------------------------

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BINARY_CONTROL_SHARE = 0.05
# C0 controls and DEL, except tab, line feed, vertical tab, form feed and carriage
# return, which real text files contain.
_BINARY_CONTROLS = bytes([*range(0x01, 0x09), *range(0x0E, 0x20), 0x7F])


def _decode_text(path: Path, data: bytes) -> str:
    """Decode a text-format file, refusing binaries and unknown encodings.

    UTF-8 (with or without BOM) is the expected encoding; UTF-16 is accepted only
    with its BOM. Legacy single-byte encodings of the project's shops (cp1251
    for Ukrainian, latin-1 and cp1250 for Western and Central European text) are
    tried only when the bytes are not valid UTF-8, and only accepted when the
    result looks like real text (see ``_plausible_legacy``). Anything else is
    refused rather than indexed as mojibake.
    """
    if data.startswith(_UTF16_BOMS):
        text = _decode_utf16(path, data)
        _refuse_binary(path, text.encode("utf-8"))
        return text
    _refuse_binary(path, data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for encoding in _LEGACY_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _plausible_legacy(text, encoding):
            return text
    raise PolicyError(path, "cannot decode as UTF-8; save the file as UTF-8 and try again")


def _decode_utf16(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-16")
    except UnicodeDecodeError as exc:
        raise PolicyError(path, "cannot decode as UTF-16 despite its byte order mark") from exc


def _refuse_binary(path: Path, data: bytes) -> None:
    """Raise when the content holds a NUL or a large share of control characters."""
    if b"\x00" in data:
        raise PolicyError(path, "looks like a binary file, not text (contains NUL bytes)")
    controls = len(data) - len(data.translate(None, _BINARY_CONTROLS))
    if data and controls / len(data) > _BINARY_CONTROL_SHARE:
        raise PolicyError(path, "looks like a binary file, not text (many control characters)")


# cp1251 first: its words are all-Cyrillic, which Latin text never decodes to.
# latin-1 before cp1250: Czech and Polish text in cp1250 decodes under latin-1
# to C1 controls (š, ž) or superscripts (ą, ł), which the check below refuses,
# while Swedish or German latin-1 text would pass as cp1250 with wrong letters.
_LEGACY_ENCODINGS = ("cp1251", "latin-1", "cp1250")
# Characters that mis-decoding produces and real text rarely holds: C1 controls
# (cp1250's š, ž under latin-1), superscripts and fractions (cp1250's ą, ł under
# latin-1), unassigned and private-use code points.
_IMPLAUSIBLE_CATEGORIES = frozenset({"Cc", "Cn", "Co", "No"})
_MAX_NON_ASCII_LETTER_SHARE = 0.3
_MAX_MIXED_SCRIPT_WORD_SHARE = 0.1
_WORD = re.compile(r"[^\W\d_]+")


def _plausible_legacy(text: str, encoding: str) -> bool:
    non_ascii = [char for char in text if not char.isascii()]
    if any(unicodedata.category(char) in _IMPLAUSIBLE_CATEGORIES for char in non_ascii):
        return False
    if encoding == "cp1251":
        return _plausible_cyrillic(text)
    letters = [char for char in text if char.isalpha()]
    accented = sum(1 for char in letters if not char.isascii())
    # Latin-script languages use accents on a minority of letters; Cyrillic
    # bytes read as Latin come out as nothing but accented letters.
    return not letters or accented / len(letters) <= _MAX_NON_ASCII_LETTER_SHARE


def _plausible_cyrillic(text: str) -> bool:
    """Real Cyrillic text has Cyrillic words; Latin text read as cp1251 mixes scripts in a word."""
    cyrillic_words = mixed_words = 0
    for word in _WORD.findall(text):
        cyrillic = sum(1 for char in word if "\u0400" <= char <= "\u04ff")
        if cyrillic:
            cyrillic_words += 1
            mixed_words += cyrillic < len(word)
    return cyrillic_words > 0 and mixed_words / cyrillic_words <= _MAX_MIXED_SCRIPT_WORD_SHARE


# --- plain text and markdown ---------------------------------------------------


def _extract_txt(path: Path, data: bytes) -> str:
    return _decode_text(path, data)


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(?P<title>.*))?$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(?:=+|-+)[ \t]*$")
_THEMATIC_BREAK = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_BLOCKQUOTE = re.compile(r"^(?: {0,3}>[ \t]?)+")
_BULLET_ITEM = re.compile(r"^\s*[-*+][ \t]+(?P<rest>.*)$")
_ORDERED_ITEM = re.compile(r"^\s*(?P<number>\d{1,9})[.)][ \t]+(?P<rest>.*)$")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S+.*$")
_HARD_BREAK_BACKSLASH = re.compile(r"\\$")
_INLINE_MARKUP = re.compile(r"[!\[<`*_~\\]")

# Order matters: images before links, strong before emphasis. A marker after a
# backslash is an escaped literal and is left for normalize_text to unescape.
# A span's content may not hold its own delimiter: that keeps every rule linear,
# where ".+?" would rescan the rest of the line from each unmatched marker.
_LINK_TARGET = r"\((?:[^()\s]|\([^()\s]*\))*(?:[ \t]+\"[^\"]*\")?\)"
_INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"(?<!\\)!\[[^\[\]]*\](?:" + _LINK_TARGET + r"|\[[^\[\]]*\])", ""),
        (r"(?<!\\)\[([^\[\]]*)\](?:" + _LINK_TARGET + r"|\[[^\[\]]*\])", r"\1"),
        (r"<((?:https?://|mailto:)[^>\s]+|[^<>\s@]+@[^<>\s]+)>", r"\1"),
        (r"<br\s*/?>", "\n"),
        (r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>", ""),
        (r"(?<![\\`])(`{1,3})([^`]+)\1(?!`)", r"\2"),
        (r"(?<!\\)\*\*(?![\s*])((?:[^*]|\*(?!\*))+?)(?<![\s\\])\*\*", r"\1"),
        (r"(?<![\\\w])__(?![\s_])((?:[^_]|_(?!_))+?)(?<![\s\\])__(?!\w)", r"\1"),
        (r"(?<![\\*])\*(?![\s*])([^*]+?)(?<![\s\\])\*(?!\*)", r"\1"),
        (r"(?<![\\\w])_(?![\s_])([^_]+?)(?<![\s\\])_(?!\w)", r"\1"),
        (r"(?<!\\)~~(?![\s~])((?:[^~]|~(?!~))+?)(?<![\s\\])~~", r"\1"),
    )
)


def _extract_markdown(path: Path, data: bytes) -> str:
    text = _decode_text(path, data).replace("\r\n", "\n").replace("\r", "\n")
    text = _without_html_comments(_FRONT_MATTER.sub("", text, count=1))
    return "\n".join(_markdown_lines(text.split("\n")))


def _without_html_comments(text: str) -> str:
    # A scan rather than a regex: "<!--.*?-->" rescans to the end from every
    # unclosed opener. An unclosed comment is left as text.
    kept: list[str] = []
    position = 0
    while (start := text.find("<!--", position)) != -1:
        end = text.find("-->", start + 4)
        if end == -1:
            break
        kept.append(text[position:start])
        position = end + 3
    kept.append(text[position:])
    return "".join(kept)


def _markdown_lines(lines: list[str]) -> list[str]:
    """Turn markdown block syntax into plain lines, headings set apart by blank lines."""
    out: list[str] = []
    fence: str | None = None
    previous_is_text = False  # a setext underline only counts under a paragraph line
    for raw in lines:
        if fence is not None:
            fence = None if raw.strip().startswith(fence) else fence
            if fence is not None:
                out.append(raw)
            continue
        if opening := _FENCE.match(raw):
            fence = opening.group(1)
            previous_is_text = False
            continue
        line = _BLOCKQUOTE.sub("", raw)
        if previous_is_text and _SETEXT_UNDERLINE.match(line):
            out[-1:] = ["", out[-1], ""]
            previous_is_text = False
            continue
        converted, previous_is_text = _markdown_line(line)
        out.extend(converted)
    return out


def _markdown_line(line: str) -> tuple[list[str], bool]:
    """One markdown line as output lines, and whether it is plain paragraph text."""
    if _THEMATIC_BREAK.match(line):
        return [""], False
    if _REFERENCE_DEFINITION.match(line):
        return [], False
    if heading := _ATX_HEADING.match(line):
        return [
            "",
            _markdown_inline(_without_closing_hashes(heading.group("title") or "")),
            "",
        ], False
    if item := _BULLET_ITEM.match(line):
        return ["• " + _markdown_inline(item.group("rest"))], False
    if item := _ORDERED_ITEM.match(line):
        return [f"{item.group('number')}. " + _markdown_inline(item.group("rest"))], False
    return [_markdown_inline(line)], bool(line.strip())


def _without_closing_hashes(title: str) -> str:
    """Drop an ATX heading's optional closing sequence: "Title ##" -> "Title"."""
    title = title.rstrip()
    bare = title.rstrip("#")
    if bare != title and (not bare or bare[-1] in " \t"):
        return bare.rstrip()
    return title


def _markdown_inline(text: str) -> str:
    # Most policy lines hold no markup at all; skip the rules for them.
    if not _INLINE_MARKUP.search(text):
        return text
    text = _HARD_BREAK_BACKSLASH.sub("", text)
    for pattern, replacement in _INLINE_RULES:
        text = pattern.sub(replacement, text)
    return text


# --- html --------------------------------------------------------------------

# Elements that hold no reading text, and page interface around the policy.
_NON_TEXT_TAGS = frozenset({"head", "script", "style", "noscript", "template", "svg", "iframe"})
_INTERFACE_TAGS = frozenset({"nav", "aside", "form", "button", "object"})
_SKIPPED_TAGS = _NON_TEXT_TAGS | _INTERFACE_TAGS
# Page banners and footers are boilerplate, but a header or footer inside an
# article, main or section is that content's own title or date line.
_PAGE_CHROME_TAGS = frozenset({"header", "footer"})
_SECTIONING_TAGS = frozenset({"article", "main", "section"})
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_PARAGRAPH_TAGS = (
    _HEADING_TAGS
    | _SECTIONING_TAGS
    | _PAGE_CHROME_TAGS
    | frozenset({"p", "blockquote", "ul", "ol", "dl", "table", "figure", "address", "hr"})
    | frozenset({"details", "fieldset"})
)
_LINE_TAGS = frozenset({"div", "li", "tr", "dt", "dd", "caption", "figcaption", "summary"})
_CELL_TAGS = frozenset({"td", "th"})
# HTML collapses only ASCII whitespace; a no-break space is left to normalize_text.
_HTML_WHITESPACE = re.compile(r"[ \t\n\r\f]+")

_HtmlStackItem = tuple[LexborNode, str] | int  # an int: the break owed when an element closes
_PARAGRAPH_BREAK = 2
_LINE_BREAK = 1


class _BlockText:
    """Text being assembled, with breaks between blocks merged rather than stacked.

    Closing one block and opening the next must give one break, not two; and
    whitespace between blocks must not turn a line break into a blank line.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pending = 0

    def add(self, text: str) -> None:
        if self._pending and not text.strip():
            return
        if self._pending and self._parts:
            self._parts.append("\n" * self._pending)
        self._pending = 0
        self._parts.append(text)

    def request_break(self, level: int) -> None:
        self._pending = max(self._pending, level)

    def add_line_break(self) -> None:
        # Unlike block edges, each <br> counts: <br><br> is meant as a blank line.
        self._pending = min(self._pending + 1, _PARAGRAPH_BREAK) if self._parts else 0

    def result(self) -> str:
        return "".join(self._parts)


def _extract_html(path: Path, data: bytes) -> str:
    tree = LexborHTMLParser(_decode_text(path, data))
    # main or article hold the policy itself; an empty one (say, a cookie
    # banner's main) must not hide the body's text.
    for root in (tree.css_first("main"), tree.css_first("article"), tree.body):
        if root is not None and (text := _html_text(root)).strip():
            return text
    return ""


def _html_text(root: LexborNode) -> str:
    """Flatten ``root`` to text with line and paragraph breaks at block elements.

    Iterative rather than recursive, as real pages can nest deeper than Python's
    recursion limit.
    """
    text = _BlockText()
    stack: list[_HtmlStackItem] = [(root, "")]
    while stack:
        item = stack.pop()
        if isinstance(item, int):
            text.request_break(item)
            continue
        node, marker = item
        if node.is_text_node:
            text.add(_HTML_WHITESPACE.sub(" ", node.text_content or ""))
        elif node.is_element_node and not _is_skipped(node):
            _open_html_element(text, node, marker)
            stack.append(_block_break(node.tag or ""))
            if node.tag == "pre":
                text.add(node.text(deep=True))
            else:
                stack.extend(reversed(_html_children(node)))
    return text.result()


def _open_html_element(text: _BlockText, node: LexborNode, marker: str) -> None:
    tag = node.tag or ""
    if tag == "br":
        text.add_line_break()
        return
    text.request_break(_block_break(tag))
    if marker:
        text.add(marker)
    elif tag in _CELL_TAGS and _has_previous_cell(node):
        text.add(" | ")


def _block_break(tag: str) -> int:
    if tag in _PARAGRAPH_TAGS:
        return _PARAGRAPH_BREAK
    return _LINE_BREAK if tag in _LINE_TAGS else 0


def _html_children(node: LexborNode) -> list[_HtmlStackItem]:
    """Children with their list markers: numbers under ``ol``, bullets elsewhere."""
    number = _ordered_list_start(node) if node.tag == "ol" else None
    children: list[_HtmlStackItem] = []
    for child in node.iter(include_text=True):
        marker = ""
        if child.tag == "li":
            marker = "• " if number is None else f"{number}. "
            number = None if number is None else number + 1
        children.append((child, marker))
    return children


def _ordered_list_start(node: LexborNode) -> int:
    start = node.attributes.get("start") or "1"
    return int(start) if start.strip().lstrip("-").isdigit() else 1


def _has_previous_cell(node: LexborNode) -> bool:
    sibling = node.prev
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.prev
    return sibling is not None and sibling.tag in _CELL_TAGS


def _is_skipped(node: LexborNode) -> bool:
    tag = node.tag or ""
    attributes = node.attributes
    if tag in _SKIPPED_TAGS or "hidden" in attributes:
        return True
    if (attributes.get("role") or "").strip().lower() == "navigation":
        return True
    if (attributes.get("aria-hidden") or "").strip().lower() == "true":
        return True
    return tag in _PAGE_CHROME_TAGS and not _inside_sectioning(node)


def _inside_sectioning(node: LexborNode) -> bool:
    ancestor = node.parent
    while ancestor is not None:
        if ancestor.tag in _SECTIONING_TAGS:
            return True
        ancestor = ancestor.parent
    return False


# --- pdf ---------------------------------------------------------------------

_SPLIT_WORD = re.compile(r"(?<=[^\W\d_])-\n(?=[^\W\d_])")
_SENTENCE_END = (".", "!", "?", ":", ";", "…")


def _extract_pdf(path: Path, data: bytes) -> str:
    pages = _pdf_pages(path, data)
    text = normalize_text("\n\n".join(pages))
    if not text:
        raise PolicyError(path, "no extractable text; scanned PDFs are not supported")
    return _join_wrapped_lines(_SPLIT_WORD.sub("", text))


def _pdf_pages(path: Path, data: bytes) -> list[str]:
    # Read in a child process with limits (indexer/pdf_text.py): a PDF bomb must not stall
    # the server or the index's lock.
    try:
        return pdf_pages(data)
    except PdfLockedError as exc:
        raise PolicyError(path, "the PDF is password-protected") from exc
    except PdfUnreadableError as exc:
        raise PolicyError(path, f"cannot open as PDF: {exc}") from exc
    except PdfLimitError as exc:
        raise PolicyError(path, f"refused: {exc}") from exc


def _join_wrapped_lines(text: str) -> str:
    """Undo the PDF's visual line wrapping inside paragraphs.

    A PDF only knows lines, not paragraphs. Pragmatic rule: a line that does not
    end with sentence punctuation, followed by a line starting in lowercase, is
    the same sentence wrapped, and is joined with a space. Lines starting in
    uppercase or a digit are kept apart, which may leave some wrapped lines
    unjoined but never glues a heading to its paragraph.
    """
    lines = text.split("\n")
    joined: list[str] = [lines[0]]
    for line in lines[1:]:
        previous = joined[-1]
        if previous and line[:1].islower() and not previous.endswith(_SENTENCE_END):
            joined[-1] = f"{previous} {line}"
        else:
            joined.append(line)
    return "\n".join(joined)


_EXTRACTORS: dict[str, Callable[[Path, bytes], str]] = {
    ".txt": _extract_txt,
    ".md": _extract_markdown,
    ".html": _extract_html,
    ".htm": _extract_html,
    ".pdf": _extract_pdf,
}
