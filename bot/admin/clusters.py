"""Questions grouped by what they ask, so that an admin sees each gap of the policy once,
with how often it was asked.

Greedy and small on purpose: the same words (whatever the case and punctuation) count as
one question; the distinct ones, most frequent first, each join the group whose first
question is the most similar, if similar enough, or start a group. Hundreds of questions
take one embedding batch and a few thousand dot products.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.embedding import Vectors
from indexer.tokens import fold

Embed = Callable[[Sequence[str]], Vectors]
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class QuestionGroup:
    example: str  # the most frequent wording
    count: int  # questions in the group
    wordings: int  # distinct wordings


def group_questions(
    questions: Sequence[str], embed: Embed, threshold: float
) -> list[QuestionGroup]:
    """Groups of similar questions, largest first (ties: in order of first appearance)."""
    counts: dict[str, int] = {}
    example: dict[str, str] = {}
    for question in questions:
        key = " ".join(_WORD.findall(fold(question)))
        if not key:
            continue
        counts[key] = counts.get(key, 0) + 1
        example.setdefault(key, question.strip())
    keys = sorted(counts, key=lambda key: -counts[key])
    if not keys:
        return []
    vectors = embed([example[key] for key in keys])
    leaders: list[int] = []  # the row of each group's first question
    members: list[list[int]] = []
    for row in range(len(keys)):
        if leaders:
            similarity = vectors[leaders] @ vectors[row]
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                members[best].append(row)
                continue
        leaders.append(row)
        members.append([row])
    groups = [
        QuestionGroup(
            example=example[keys[rows[0]]],
            count=sum(counts[keys[row]] for row in rows),
            wordings=len(rows),
        )
        for rows in members
    ]
    return sorted(groups, key=lambda group: -group.count)
