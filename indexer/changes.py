"""What changed between two versions of one policy document, section by section.

An admin who uploads a new policy wants to see at a glance whether the upload did what
they meant: which sections are new, which are gone, which say something else now. The
customers who asked to be told get the same summary. Sections are matched by title, with
their numbering ignored ("3. Cookies" and "4. Cookies" are one section moved), and a
section whose title changed but whose text did not counts as reworded under both names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from indexer.passages import Passage

# "3.", "3.1", "(iv)", "b)" before a title: numbering, which moves when a section is added.
_NUMBERING = re.compile(
    r"^(?:§\s*)?\(?(?:\d{1,3}(?:\.\d{1,3})*[.)]?|(?:[ivxlc]{1,6}|[a-z])[.)])\s+", re.I
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PolicyDiff:
    """Section titles added, removed and reworded, in document order."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    reworded: tuple[str, ...] = ()
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.reworded)

    def summary(self) -> dict[str, Any]:
        """The JSON kept with the change (PolicyChange.summary) and sent over the API."""
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "reworded": list(self.reworded),
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "reworded": len(self.reworded),
                "unchanged": self.unchanged,
            },
        }

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> PolicyDiff:
        counts = summary.get("counts") or {}
        return cls(
            added=tuple(str(title) for title in summary.get("added") or ()),
            removed=tuple(str(title) for title in summary.get("removed") or ()),
            reworded=tuple(str(title) for title in summary.get("reworded") or ()),
            unchanged=int(counts.get("unchanged", 0)),
        )


def _title_key(title: str) -> str:
    bare = _NUMBERING.sub("", title.strip()).rstrip(":").strip()
    return _SPACE.sub(" ", bare or title).casefold()


def _wording(sentences: Iterable[str]) -> str:
    # Passages of one section overlap by a sentence: each sentence counts once.
    return " ".join(_SPACE.sub(" ", sentence).strip() for sentence in dict.fromkeys(sentences))


def sections(passages: Sequence[Passage]) -> list[tuple[str, str]]:
    """(title, wording) of each section of one document, in document order."""
    ordered = sorted(passages, key=lambda passage: passage.ordinal)
    found: list[tuple[str, list[str]]] = []
    for passage in ordered:
        sentences = passage.sentences or (passage.text,)
        if found and found[-1][0] == passage.section:
            found[-1][1].extend(sentences)
        else:
            found.append((passage.section, list(sentences)))
    return [(title, _wording(texts)) for title, texts in found]


def _keyed(found: list[tuple[str, str]]) -> dict[tuple[str, int], tuple[str, str]]:
    """Sections by (title key, occurrence): two sections may share a title."""
    seen: dict[str, int] = {}
    keyed: dict[tuple[str, int], tuple[str, str]] = {}
    for title, wording in found:
        key = _title_key(title)
        seen[key] = seen.get(key, 0) + 1
        keyed[(key, seen[key])] = (title, wording)
    return keyed


def diff_passages(before: Sequence[Passage], after: Sequence[Passage]) -> PolicyDiff:
    """Compare the passages of the previous and the new version of one document."""
    old = _keyed(sections(before))
    new = _keyed(sections(after))
    added = [key for key in new if key not in old]
    removed = [key for key in old if key not in new]
    reworded = [new[key][0] for key in new if key in old and new[key][1] != old[key][1]]
    unchanged = sum(1 for key in new if key in old and new[key][1] == old[key][1])
    # A title changed over the same text: one reworded section, not one gone and one new.
    removed_by_wording = {old[key][1]: key for key in removed}
    for key in list(added):
        previous = removed_by_wording.pop(new[key][1], None)
        if previous is not None:
            added.remove(key)
            removed.remove(previous)
            reworded.append(f"{old[previous][0]} → {new[key][0]}")
    return PolicyDiff(
        added=tuple(new[key][0] for key in added),
        removed=tuple(old[key][0] for key in removed),
        reworded=tuple(reworded),
        unchanged=unchanged,
    )


def describe(diff: PolicyDiff, limit: int = 12) -> list[str]:
    """The change in a few English lines, for admins and the CLI."""
    if not diff.changed:
        return ["No section changed (the text is the same, section by section)."]
    lines = []
    for label, titles in (
        ("added", diff.added),
        ("removed", diff.removed),
        ("reworded", diff.reworded),
    ):
        if titles:
            shown = "; ".join(titles[:limit])
            more = f" (and {len(titles) - limit} more)" if len(titles) > limit else ""
            lines.append(f"{len(titles)} {label}: {shown}{more}")
    lines.append(f"{diff.unchanged} unchanged")
    return lines
