"""How often the language of a message is detected as the one it was written in:
`python -m indexer language-eval FILE...` over eval files whose lines have `lang` and, for
chat messages, `style` (direct, indirect, typo, translit, slang...).

Reported per style: the share of messages detected as their language, and how many
messages of another language were taken for Russian or Ukrainian (what a transliteration
detector must not do).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from indexer.ascii_language import CYRILLIC_LANGUAGES
from indexer.language import detect_language


def _messages(paths: Iterable[Path]) -> Iterable[dict[str, Any]]:
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


def evaluate_languages(paths: Iterable[Path]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    right: Counter[str] = Counter()
    taken_for_cyrillic: Counter[str] = Counter()
    for message in _messages(paths):
        text = message.get("question") or message.get("text") or ""
        style = str(message.get("style") or "question")
        found = detect_language(text)
        total[style] += 1
        right[style] += found == message["lang"]
        if message["lang"] not in CYRILLIC_LANGUAGES and found in CYRILLIC_LANGUAGES:
            taken_for_cyrillic[style] += 1
    return {
        style: {
            "detected": round(right[style] / total[style], 3),
            "n": total[style],
            "taken_for_ru_or_uk": taken_for_cyrillic[style],
        }
        for style in sorted(total)
    }


def describe_languages(report: dict[str, Any]) -> str:
    return "\n".join(
        f"  {style:13s} detected {row['detected']:.3f} (n={row['n']}), "
        f"another language taken for ru/uk: {row['taken_for_ru_or_uk']}"
        for style, row in report.items()
    )
