"""E-mail addresses a web page hid from scrapers: "[email protected]" in a policy's text.

Pages behind Cloudflare replace every address with that placeholder (the real one is put
back by a script), so a policy copied from the page as text names no address at all. The
passages keep the text as written; what the customer is shown puts the shop's own
contact address in its place (bot.answers), and an admin's upload is told about them
(indexer.policy_check).
"""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\[\s*email[\s\u00a0]+protected\s*\]", re.IGNORECASE)


def count_hidden_emails(text: str) -> int:
    return len(PLACEHOLDER.findall(text))


def show_contact_email(text: str, contact_email: str) -> str:
    """`text` with every placeholder replaced by `contact_email`."""
    return PLACEHOLDER.sub(lambda _: contact_email, text)
