"""A PDF is read in a child process with limits (issue 12, defect 4): a bomb is refused with
a clear message in bounded time, an ordinary PDF still reads, and the server's own threads
are never the ones doing the work."""

from __future__ import annotations

import io
import threading
import zlib

import pytest
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, StreamObject

from indexer.errors import PolicyError
from indexer.loaders import load_bytes
from indexer.pdf_text import PdfLimitError, PdfLimits, pdf_pages


def _pdf(pages: int, operations: int, text: bytes = b"a") -> bytes:
    """`pages` pages sharing one content stream of `operations` text-showing operators:
    a few kilobytes that expand to megabytes of work."""
    writer = PdfWriter()
    content = b"BT /F1 12 Tf 0 0 Td " + (b"(" + text + b") Tj ") * operations + b"ET"
    stream = StreamObject()
    stream._data = zlib.compress(content, 9)
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    contents = writer._add_object(stream)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    resources = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    for _ in range(pages):
        page = writer.add_blank_page(200, 200)
        page[NameObject("/Contents")] = contents
        page[NameObject("/Resources")] = resources
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_bomb_is_refused_for_its_processor_time() -> None:
    bomb = _pdf(pages=50, operations=200_000)
    assert len(bomb) < 20_000
    with pytest.raises(PdfLimitError, match="processor time"):
        pdf_pages(bomb, PdfLimits(cpu_seconds=1, wall_seconds=30))


def test_too_much_text_is_refused() -> None:
    wordy = _pdf(pages=3, operations=2_000, text=b"privacy ")
    with pytest.raises(PdfLimitError, match="characters of text"):
        pdf_pages(wordy, PdfLimits(output_chars=1_000))


def test_an_ordinary_pdf_reads_and_the_work_is_not_in_this_process() -> None:
    threads_before = threading.active_count()
    pages = pdf_pages(_pdf(pages=2, operations=3, text=b"We keep data for 5 years. "))
    assert len(pages) == 2 and "We keep data for 5 years." in pages[0]
    assert threading.active_count() == threads_before


def test_the_loader_refuses_a_bomb_with_a_message_for_the_admin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INDEXER_PDF_CPU_SECONDS", "1")
    with pytest.raises(PolicyError, match="refused: reading it takes more than 1 s"):
        load_bytes("policy.pdf", _pdf(pages=50, operations=200_000))
    with pytest.raises(PolicyError, match="cannot open as PDF"):
        load_bytes("policy.pdf", b"%PDF-1.7 this is not really a pdf")
