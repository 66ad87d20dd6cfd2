"""E-mail addresses a web page hid from scrapers: "[email protected]" in a policy's text.

Pages behind Cloudflare replace every address with that placeholder (the real one is put
back by a script), so a policy copied from the page as text names no address at all. The
passages keep the text as written; what the customer is shown puts the shop's own
contact address in its place (bot.answers), and an admin's upload is told about them
(indexer.policy_check).
"""

from __future__ import annotations

import re

from indexer.tokens import fold

PLACEHOLDER = re.compile(r"\[\s*email[\s\u00a0]+protected\s*\]", re.IGNORECASE)

# Whose address a placeholder stands for, from how its sentence speaks (folded words, the
# project's seven languages). The shop writes of itself in the first person plural; an
# address of a processor or partner comes with "their" ("Sopro ... deras dataskyddsombud
# kan mailas på: [email protected]").
_FIRST_PERSON_WORDS = {
    "en": "we us our ours",
    "sv": "vi oss vår vårt våra",
    "cs": "my nás nám naše náš našeho naši nami",
    "pl": "my nas nam nasz nasza nasze naszego naszych naszym",
    "de": "wir uns unser unsere unseren unserem unserer",
    "uk": "ми нас нам наш наша наше наші нашого нашій",
    "ru": "мы нас нам наш наша наше наши нашего нашей",
}
_THIRD_PARTY_WORDS = {
    "en": "their theirs",
    "sv": "deras",
    "cs": "jejich",
    "pl": "ich",
    "de": "deren dessen",
    "uk": "їх їхній їхня їхнє їхні",
    "ru": "их ихний",
}


def _folded(words: dict[str, str]) -> frozenset[str]:
    return frozenset(fold(word) for listed in words.values() for word in listed.split())


_FIRST_PERSON = _folded(_FIRST_PERSON_WORDS)
_THIRD_PARTY = _folded(_THIRD_PARTY_WORDS)
_WORD = re.compile(r"\w+")


def count_hidden_emails(text: str) -> int:
    return len(PLACEHOLDER.findall(text))


def stands_for_the_shop(sentence: str) -> bool:
    """Whether a hidden address in `sentence` is the shop's own: not when the sentence gives
    someone else's ("their DPO can be e-mailed at ...") without speaking of the shop."""
    words = set(_WORD.findall(fold(sentence)))
    return bool(words & _FIRST_PERSON) or not words & _THIRD_PARTY


def show_contact_email(text: str, contact_email: str, elsewhere: str) -> str:
    """`text` with every placeholder replaced by `contact_email` where it stands for the
    shop's address, and by `elsewhere` (a word that the address is not shown) where it is
    someone else's: the shop's address in a processor's place would send a customer's
    letter to the wrong company."""
    shown = contact_email if stands_for_the_shop(text) else elsewhere
    return PLACEHOLDER.sub(lambda _: shown, text)


def hides_others_address(text: str) -> bool:
    return count_hidden_emails(text) > 0 and not stands_for_the_shop(text)
