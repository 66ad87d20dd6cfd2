"""The text of a PDF, read in a child process with limits on CPU time, memory and output.

A PDF is a program as much as a document: an 18 KB file whose content stream inflates to
5 MB took 22 s to read, and 2,000 pages sharing that stream would take hours, while the
reading held the index's lock and a thread of the server. Here the reading runs in a
process of its own (`python -m indexer.pdf_text`, the file on its standard input, a fresh
interpreter: no copy of the server's threads or locks, and not multiprocessing's spawn,
which would import the server's main module again), which sets RLIMIT_CPU and RLIMIT_AS
on itself; the server waits for it with a deadline. A file that hits a limit is refused
with a message that says which, and nothing else is held up.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The child runs `-m indexer.pdf_text` from the project, wherever the caller's cwd is (not
# indexer.settings.PROJECT_ROOT: the child imports this module, and stays light).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PdfLimits:
    cpu_seconds: int = 20
    memory_bytes: int = 1024 * 1024 * 1024
    # More text than any privacy policy has (a long one is about 100,000 characters).
    output_chars: int = 2_000_000
    # Start-up (a fresh interpreter importing pypdf) plus the CPU allowance.
    wall_seconds: float = 60.0


def configured_limits() -> PdfLimits:
    """The limits INDEXER_PDF_CPU_SECONDS and INDEXER_PDF_MEMORY_MB set."""
    from indexer.settings import IndexerSettings

    settings = IndexerSettings()
    return PdfLimits(
        cpu_seconds=settings.pdf_cpu_seconds,
        memory_bytes=settings.pdf_memory_mb * 1024 * 1024,
        wall_seconds=10.0 + 2 * settings.pdf_cpu_seconds,
    )


class PdfLimitError(Exception):
    """Reading the PDF hit a limit; the message says which, for the person who sent it."""


class PdfUnreadableError(Exception):
    """pypdf could not read the file (damaged, not a PDF); the message is pypdf's."""


class PdfLockedError(Exception):
    """The PDF is password-protected."""


def _read(data: bytes, limits: PdfLimits) -> tuple[str, Any]:
    import io

    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            return "locked", None
        pages: list[str] = []
        total = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            total += len(text)
            if total > limits.output_chars:
                return "too_much_text", None
            pages.append(text)
        return "ok", pages
    except MemoryError:
        return "memory", None
    # pypdf raises many exception types on damaged files, not only PdfReadError; any of
    # them means the same thing to the person who supplied the file.
    except Exception as exc:
        return "unreadable", str(exc)[:300]


def _limit_self(limits: PdfLimits) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))


def pdf_pages(data: bytes, limits: PdfLimits | None = None) -> list[str]:
    """The text of each page; PdfLimitError, PdfLockedError or PdfUnreadableError."""
    limits = limits or configured_limits()
    command = [
        sys.executable,
        "-m",
        "indexer.pdf_text",
        str(limits.cpu_seconds),
        str(limits.memory_bytes),
        str(limits.output_chars),
    ]
    try:
        finished = subprocess.run(
            command,
            input=data,
            capture_output=True,
            timeout=limits.wall_seconds,
            check=False,
            cwd=PROJECT_ROOT,
        )
    except subprocess.TimeoutExpired as exc:  # run() has killed the child
        raise PdfLimitError(
            f"reading it takes longer than {limits.wall_seconds:.0f} s; "
            "send a simpler PDF or the text itself"
        ) from exc
    try:
        outcome, value = json.loads(finished.stdout)
    except ValueError:  # killed before it could answer: CPU time (SIGXCPU) or memory
        outcome, value = "killed", None
    if outcome == "ok":
        pages: list[str] = value
        return pages
    if outcome == "locked":
        raise PdfLockedError("the PDF is password-protected")
    if outcome == "unreadable":
        raise PdfUnreadableError(str(value))
    if outcome == "too_much_text":
        raise PdfLimitError(f"it holds more than {limits.output_chars:,} characters of text")
    if outcome == "memory":
        raise PdfLimitError(f"reading it needs more than {limits.memory_bytes >> 20} MB")
    raise PdfLimitError(
        f"reading it takes more than {limits.cpu_seconds} s of processor time "
        "(a PDF whose content expands enormously); send a simpler PDF or the text itself"
    )


def main(argv: list[str]) -> None:
    """The child: limits on itself first, then the PDF from stdin, JSON to stdout."""
    cpu, memory, output = (int(value) for value in argv)
    limits = PdfLimits(cpu_seconds=cpu, memory_bytes=memory, output_chars=output)
    _limit_self(limits)
    data = sys.stdin.buffer.read()
    sys.stdout.write(json.dumps(_read(data, limits)))


if __name__ == "__main__":
    main(sys.argv[1:])
