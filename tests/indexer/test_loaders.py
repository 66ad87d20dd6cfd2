"""Loaders turn each supported format into the same plain, normalized text, or say why not."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from indexer.errors import PolicyError
from indexer.loaders import (
    DEFAULT_MAX_BYTES,
    SUPPORTED_SUFFIXES,
    LoadedDocument,
    load_bytes,
    load_document,
)

CORPUS = Path("/work/shared/corpus")
CZECH_POLICY = CORPUS / "001_12eaf6e1a40f27b1.txt"

HTML_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <title>Shop title in head</title>
  <style>.banner { color: red; } /* style text */</style>
  <script>window.trackingSnippet = "script text";</script>
</head>
<body>
  <header class="site"><a href="/">Site banner</a>
    <nav><ul><li><a href="/">Home nav</a></li><li><a href="/cart">Cart nav</a></li></ul></nav>
  </header>
  <div role="navigation">Breadcrumb trail</div>
  <main>
    <article>
      <header><h1>Privacy &amp; Cookie Policy</h1><p>Last update: January 2024</p></header>
      <h2>What we collect</h2>
      <p>We collect your <b>name</b>, <a href="/contact">e-mail address</a> and
         <span class="x">phone number</span> when you order.</p>
      <div>First block</div><div>Second block</div>
      <ul>
        <li>Orders and <em>deliveries</em></li>
        <li>Newsletter</li>
      </ul>
      <h3>Retention</h3>
      <p>We keep invoices for 5&nbsp;years.<br>Then we delete them.</p>
      <span aria-hidden="true">Decorative icon text</span>
      <noscript>Enable JavaScript text</noscript>
      <button>Accept all cookies</button>
      <form><label>Subscribe form text</label><input name="email"></form>
    </article>
  </main>
  <aside>Aside related links</aside>
  <footer>Footer copyright text</footer>
  <script>console.log("trailing script text")</script>
</body>
</html>
"""

MARKDOWN_POLICY = """---
title: Privacy policy
lang: en
---
<!-- internal note: review before publishing -->
# Privacy **Policy** #

We process data of [our customers](https://shop.example/customers_(all)) as described
here. ![Shop logo](logo.png) Contact `privacy@shop.example` with *any* __question__.
Names like snake_case_field and sums like 5 * 3 stay as they are.

Data we collect
---------------

- Name and address
* E-mail **address**
+ Phone number
1. first step
2) second step

## Your rights

Escaped \\*stars\\* stay literal.
"""


def make_pdf(pages: list[list[str]]) -> bytes:
    """A minimal valid PDF: one Helvetica text line per string, one page per list."""

    def literal(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    page_ids = [4 + 2 * index for index in range(len(pages))]
    kids = " ".join(f"{page_id} 0 R" for page_id in page_ids)
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for page_id, lines in zip(page_ids, pages, strict=True):
        shown = " T* ".join(f"({literal(line)}) Tj" for line in lines)
        stream = f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode("latin-1")
        bodies.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>".encode()
        )
        bodies.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    pdf = bytearray(b"%PDF-1.4\n")
    offsets: list[int] = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_offset = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(bodies) + 1)
    pdf += b"startxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(pdf)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_policy_error(error: PolicyError, path: Path | str, *fragments: str) -> None:
    assert error.path == str(path)
    assert str(error).startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in error.reason


# --- plain text -----------------------------------------------------------------


def test_loads_a_text_file_with_its_hash(tmp_path: Path) -> None:
    data = "Title\r\n\r\nWe keep\u00a0data  for 5 years.\r\n\r\n\r\n\r\nContact us.\r\n".encode()
    path = write(tmp_path, "policy.txt", data)

    document = load_document(path)

    assert document == LoadedDocument(
        path=path,
        text="Title\n\nWe keep data for 5 years.\n\nContact us.",
        sha256=hashlib.sha256(data).hexdigest(),
    )


def test_load_bytes_matches_load_document(tmp_path: Path) -> None:
    data = MARKDOWN_POLICY.encode()
    from_disk = load_document(write(tmp_path, "policy.md", data))

    uploaded = load_bytes("policy.md", data)

    assert uploaded.text == from_disk.text
    assert uploaded.sha256 == from_disk.sha256
    assert uploaded.path == Path("policy.md")


def test_suffix_is_case_insensitive() -> None:
    assert load_bytes("POLICY.TXT", b"Hello").text == "Hello"


CZECH = "Zásady ochrany osobních údajů, která naše služba zpracovává."
UKRAINIAN = "Політика конфіденційності інтернет-магазину автозапчастин"
SWEDISH = "Vi sparar dina uppgifter i högst två år på vår server."
GERMAN = "Wir speichern Ihre Daten für die Dauer der Geschäftsbeziehung, ´bis zu 5 Jahren´."


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("\ufeffZásady ochrany \\„údajů\\“".encode(), "Zásady ochrany „údajů“"),
        ("\ufeffZásady ochrany údajů".encode("utf-16-le"), "Zásady ochrany údajů"),
        ("\ufeffЗахист даних".encode("utf-16-be"), "Захист даних"),
        (CZECH.encode("cp1250"), CZECH),
        (UKRAINIAN.encode("cp1251"), UKRAINIAN),
        (SWEDISH.encode("latin-1"), SWEDISH),
        (GERMAN.encode("latin-1"), GERMAN),
    ],
    ids=["utf-8-bom", "utf-16-le", "utf-16-be", "cp1250", "cp1251", "latin-1-sv", "latin-1-de"],
)
def test_decodes_bom_and_plausible_legacy_encodings(data: bytes, expected: str) -> None:
    assert load_bytes("policy.txt", data).text == expected


# --- html -----------------------------------------------------------------------


def test_html_keeps_the_policy_and_drops_page_chrome() -> None:
    text = load_bytes("policy.html", HTML_PAGE.encode()).text

    for boilerplate in (
        "Shop title in head",
        "style text",
        "script text",
        "Site banner",
        "Home nav",
        "Cart nav",
        "Breadcrumb trail",
        "Decorative icon text",
        "Enable JavaScript text",
        "Accept all cookies",
        "Subscribe form text",
        "Aside related links",
        "Footer copyright text",
        "trailing script text",
    ):
        assert boilerplate not in text
    assert text == (
        "Privacy & Cookie Policy\n\n"
        "Last update: January 2024\n\n"
        "What we collect\n\n"
        "We collect your name, e-mail address and phone number when you order.\n\n"
        "First block\n"
        "Second block\n\n"
        "• Orders and deliveries\n"
        "• Newsletter\n\n"
        "Retention\n\n"
        "We keep invoices for 5 years.\n"
        "Then we delete them."
    )


def test_html_without_main_uses_the_body_and_never_glues_blocks() -> None:
    page = (
        "<html><body><nav>Menu</nav><h2>Cookies</h2><div>one</div><div>two</div>"
        "<table><tr><th>Name</th><th>Purpose</th></tr><tr><td>sid</td><td>session</td></tr></table>"
        "<ol><li>first</li><li>second</li></ol><p>a<br><br>b</p><footer>Foot</footer></body></html>"
    )
    text = load_bytes("page.htm", page.encode()).text

    assert text == (
        "Cookies\n\none\ntwo\n\nName | Purpose\nsid | session\n\n1. first\n2. second\n\na\n\nb"
    )


def test_html_with_an_empty_main_falls_back_to_the_body() -> None:
    page = "<body><main><nav>Menu</nav></main><p>Policy text</p></body>"
    assert load_bytes("page.html", page.encode()).text == "Policy text"


# --- markdown -------------------------------------------------------------------


def test_markdown_becomes_plain_text_with_headings_on_their_own_lines() -> None:
    text = load_bytes("policy.md", MARKDOWN_POLICY.encode()).text

    assert text == (
        "Privacy Policy\n\n"
        "We process data of our customers as described\n"
        "here. Contact privacy@shop.example with any question.\n"
        "Names like snake_case_field and sums like 5 * 3 stay as they are.\n\n"
        "Data we collect\n\n"
        "• Name and address\n"
        "• E-mail address\n"
        "• Phone number\n"
        "1. first step\n"
        "2. second step\n\n"
        "Your rights\n\n"
        "Escaped *stars* stay literal."
    )


def test_markdown_markers_without_a_partner_stay_and_stay_fast() -> None:
    # Each rule once rescanned the line from every unmatched marker: quadratic.
    line = "*a _b [c ~~e **f <g " * 20_000
    assert load_bytes("stars.md", line.encode()).text == line.strip()


# --- pdf ------------------------------------------------------------------------


def test_the_hand_written_pdf_is_valid() -> None:
    reader = PdfReader(io.BytesIO(make_pdf([["Line one", "Line two"]])), strict=True)
    assert reader.pages[0].extract_text() == "Line one\nLine two"


def test_pdf_text_of_two_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "policy.pdf", make_pdf([["Privacy Policy", "We protect your data."]]))
    assert load_document(path).text == "Privacy Policy\nWe protect your data."


def test_pdf_pages_dehyphenation_and_wrapped_lines() -> None:
    pdf = make_pdf(
        [
            [
                "Privacy Policy",
                "We store data for the protec-",
                "tion of your orders, and",
                "deliveries (see below).",
                "Data is kept for 5 years.",
                "Well-known e-",
                "mail providers",
            ],
            ["Contact", "Write to us at 2024-", "01 dates."],
        ]
    )
    assert load_bytes("policy.pdf", pdf).text == (
        "Privacy Policy\n"
        "We store data for the protection of your orders, and deliveries (see below).\n"
        "Data is kept for 5 years.\n"
        "Well-known email providers\n\n"
        "Contact\n"
        "Write to us at 2024-\n"
        "01 dates."
    )


# --- errors ---------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.txt"
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    assert_policy_error(caught.value, path, "not found")


def test_directory_is_not_a_document(tmp_path: Path) -> None:
    path = tmp_path / "folder.md"
    path.mkdir()
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    assert_policy_error(caught.value, path, "not a regular file")


@pytest.mark.parametrize("name", ["policy.docx", "policy", "archive.tar.gz"])
def test_unknown_extension_lists_the_supported_ones(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, b"text")
    with pytest.raises(PolicyError) as on_disk:
        load_document(path)
    with pytest.raises(PolicyError) as uploaded:
        load_bytes(name, b"text")

    assert_policy_error(on_disk.value, path, "unsupported file type", *SUPPORTED_SUFFIXES)
    assert_policy_error(uploaded.value, name, "unsupported file type", *SUPPORTED_SUFFIXES)


@pytest.mark.parametrize("suffix", SUPPORTED_SUFFIXES)
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path, f"empty{suffix}", b"")
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    assert_policy_error(caught.value, path, "empty")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("blank.txt", b" \n\t\r\n \xc2\xa0 \xe2\x80\x8b\n"),
        ("bom-only.txt", b"\xef\xbb\xbf"),
        ("chrome.html", b"<html><body><nav>Menu</nav><script>x()</script></body></html>"),
        ("front-matter.md", b"---\ntitle: Draft\n---\n<!-- nothing yet -->\n"),
    ],
)
def test_no_text_after_extraction(name: str, data: bytes) -> None:
    with pytest.raises(PolicyError) as caught:
        load_bytes(name, data)
    assert_policy_error(caught.value, name, "no text")


def test_too_large_in_memory() -> None:
    data = b"a" * (3 * 1024 * 1024 // 2)
    with pytest.raises(PolicyError) as caught:
        load_bytes("big.txt", data, max_bytes=1024 * 1024)
    assert_policy_error(caught.value, "big.txt", "too large", "1.5 MB", "1.0 MB")


def test_too_large_on_disk_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    with path.open("wb") as sparse:
        sparse.truncate(DEFAULT_MAX_BYTES + 1)
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    # Rounded up: a file just over the limit must not read as equal to it.
    assert_policy_error(caught.value, path, "too large", "5.1 MB", "5.0 MB")


def test_exactly_at_the_limit_is_accepted() -> None:
    assert load_bytes("limit.txt", b"abcd", max_bytes=4).text == "abcd"


@pytest.mark.parametrize("suffix", [".txt", ".md", ".html", ".htm"])
def test_binary_with_nul_bytes(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path, f"image{suffix}", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    assert_policy_error(caught.value, path, "binary", "NUL")


def test_binary_with_many_control_characters() -> None:
    data = bytes(range(1, 32)) * 8 + b"some text"
    with pytest.raises(PolicyError) as caught:
        load_bytes("dump.md", data)
    assert_policy_error(caught.value, "dump.md", "binary", "control characters")


def test_utf16_text_holding_nuls_is_binary() -> None:
    data = "\ufefftext\x00\x00more".encode("utf-16-le")
    with pytest.raises(PolicyError) as caught:
        load_bytes("odd.txt", data)
    assert_policy_error(caught.value, "odd.txt", "binary")


def test_undecodable_text() -> None:
    # Invalid UTF-8; undefined in cp1250 and cp1251; C1 controls under latin-1.
    data = b"Privacy policy \x81\x98\x90\x8d text"
    with pytest.raises(PolicyError) as caught:
        load_bytes("policy.txt", data)
    assert_policy_error(caught.value, "policy.txt", "cannot decode as UTF-8")


def test_implausible_legacy_text_is_not_guessed() -> None:
    # Defined in every legacy code page, yet gibberish in each: Latin and Cyrillic
    # inside one word under cp1251, mostly accented letters under the other two.
    data = b"ab\xe0\xe1\xe2\xe3 cd\xe4\xe5\xe6\xe7"
    with pytest.raises(PolicyError) as caught:
        load_bytes("policy.txt", data)
    assert_policy_error(caught.value, "policy.txt", "cannot decode as UTF-8")


def test_unreadable_pdf(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.pdf", b"%PDF-1.4\nthis is not really a PDF\n")
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    assert_policy_error(caught.value, path, "cannot open as PDF")


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    path = write(tmp_path, "scan.pdf", make_pdf([[], []]))
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    assert_policy_error(caught.value, path, "no extractable text", "scanned PDFs")


def encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Locked text"]]))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_password_protected_pdf() -> None:
    with pytest.raises(PolicyError) as caught:
        load_bytes("locked.pdf", encrypted_pdf("secret"))
    assert_policy_error(caught.value, "locked.pdf", "password-protected")


def test_pdf_encrypted_without_a_user_password_opens() -> None:
    assert load_bytes("restricted.pdf", encrypted_pdf("")).text == "Locked text"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "locked.txt", b"secret")
    path.chmod(0)
    with pytest.raises(PolicyError) as caught:
        load_document(path)
    assert_policy_error(caught.value, path, "cannot read")


# --- the real corpus ------------------------------------------------------------


def test_every_corpus_policy_loads() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"{CORPUS} is not present")
    paths = sorted(CORPUS.glob("*.txt"))
    assert paths
    for path in paths:
        document = load_document(path)
        assert document.text.strip(), path
        assert "\\„" not in document.text
        assert "\u00a0" not in document.text


def test_czech_corpus_policy_has_its_escapes_repaired() -> None:
    if not CZECH_POLICY.is_file():
        pytest.skip(f"{CZECH_POLICY} is not present")
    assert "\\„" in CZECH_POLICY.read_text(encoding="utf-8")

    text = load_document(CZECH_POLICY).text

    assert "\\„" not in text
    assert "\\“" not in text
    assert "LLC „KIVI SMART PURCHASING“" in text
