"""What each of the shop's systems did with a deletion, as staff type it in the group: one
line per system, `system: erased`, `system: no_match`, `system: failed` or
`system: retained until YYYY-MM-DD because <legal basis>`.

A text with any line that does not parse is refused as a whole, every bad line named: half
a report recorded would look like a whole one.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from backend.privacy_requests.fulfilment import Outcome, SystemOutcome
from bot.request_cards.texts import shortened

_LINE: Final = re.compile(r"^(?P<system>[^:]*):(?P<said>.*)$")
_RETAINED: Final = re.compile(
    r"^retained\s+until\s+(?P<date>\S+)\s+because\s+(?P<basis>.+)$", re.IGNORECASE
)
_PLAIN: Final[dict[str, Outcome]] = {
    "erased": "erased",
    "no_match": "no_match",
    "no match": "no_match",
    "failed": "failed",
}


class OutcomeFormatError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_outcomes(text: str) -> list[SystemOutcome]:
    """The outcomes in `text`; OutcomeFormatError naming every line that is not one."""
    problems: list[str] = []
    outcomes: list[SystemOutcome] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _LINE.match(line)
        system = match["system"].strip() if match else ""
        if match is None or not system:
            problems.append(f"line {number}: not “system: outcome”")
            continue
        if system.lower() in seen:
            problems.append(f"line {number}: {shortened(system, 40)} is named twice")
            continue
        seen.add(system.lower())
        outcome = _outcome(system, match["said"].strip())
        if isinstance(outcome, str):
            problems.append(f"line {number}: {outcome}")
        else:
            outcomes.append(outcome)
    if not outcomes and not problems:
        problems.append("no outcome given")
    if problems:
        raise OutcomeFormatError(problems)
    return outcomes


def _outcome(system: str, said: str) -> SystemOutcome | str:
    """The outcome of one line, or what is wrong with it."""
    plain = _PLAIN.get(" ".join(said.lower().split()))
    if plain is not None:
        return SystemOutcome(system, plain)
    retained = _RETAINED.match(said)
    if retained is None:
        return (
            f"{shortened(system, 40)}: “{shortened(said, 60)}” is none of erased, no_match, "
            "failed, retained until YYYY-MM-DD because <legal basis>"
        )
    try:
        until = date.fromisoformat(retained["date"])
    except ValueError:
        when = shortened(retained["date"], 20)
        return f"{shortened(system, 40)}: “{when}” is not a date like 2030-12-31"
    return SystemOutcome(system, "retained", retained["basis"].strip(), until)
