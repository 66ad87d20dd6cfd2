"""The verification e-mail in the customer's language (the languages the bot speaks).

Kept in the backend, which sends the mail; the bot's catalogs are the bot's. Minutes are
written as an abbreviation, so that no language needs plural forms here.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class CodeLetter(NamedTuple):
    subject: str
    body: str


DEFAULT_LANGUAGE: Final = "en"
CODE_LETTERS: Final[dict[str, CodeLetter]] = {
    "en": CodeLetter(
        "Your verification code: {code}",
        "Your code to confirm your privacy request to {shop} is {code}.\n\n"
        "It is valid for {minutes} min. Type it in the chat where you made the request.\n"
        "If you did not ask for it, ignore this message: nothing happens without it.\n",
    ),
    "cs": CodeLetter(
        "Váš ověřovací kód: {code}",
        "Váš kód k potvrzení žádosti o osobní údaje u {shop} je {code}.\n\n"
        "Platí {minutes} min. Napište ho do chatu, kde jste žádost podali.\n"
        "Pokud jste o něj nežádali, tuto zprávu ignorujte: bez kódu se nic nestane.\n",
    ),
    "uk": CodeLetter(
        "Ваш код підтвердження: {code}",
        "Ваш код для підтвердження запиту щодо персональних даних до {shop}: {code}.\n\n"
        "Він дійсний {minutes} хв. Введіть його в чаті, де ви створили запит.\n"
        "Якщо ви його не запитували, проігноруйте цей лист: без коду нічого не станеться.\n",
    ),
    "sv": CodeLetter(
        "Din verifieringskod: {code}",
        "Din kod för att bekräfta din begäran om personuppgifter hos {shop} är {code}.\n\n"
        "Den gäller i {minutes} min. Skriv in den i chatten där du gjorde begäran.\n"
        "Om du inte bad om den kan du bortse från meddelandet: inget händer utan koden.\n",
    ),
    "ru": CodeLetter(
        "Ваш код подтверждения: {code}",
        "Ваш код для подтверждения запроса о персональных данных в {shop}: {code}.\n\n"
        "Он действует {minutes} мин. Введите его в чате, где вы создали запрос.\n"
        "Если вы его не запрашивали, проигнорируйте это письмо: без кода ничего не произойдёт.\n",
    ),
    "de": CodeLetter(
        "Ihr Bestätigungscode: {code}",
        "Ihr Code zur Bestätigung Ihrer Datenschutzanfrage bei {shop} lautet {code}.\n\n"
        "Er ist {minutes} Min. gültig. Geben Sie ihn in dem Chat ein, in dem Sie die Anfrage\n"
        "gestellt haben. Haben Sie ihn nicht angefordert, ignorieren Sie diese Nachricht:\n"
        "ohne den Code geschieht nichts.\n",
    ),
    "pl": CodeLetter(
        "Twój kod weryfikacyjny: {code}",
        "Twój kod potwierdzający żądanie dotyczące danych osobowych w {shop} to {code}.\n\n"
        "Jest ważny przez {minutes} min. Wpisz go w czacie, w którym złożono żądanie.\n"
        "Jeśli nikt o niego nie prosił, zignoruj tę wiadomość: bez kodu nic się nie stanie.\n",
    ),
}


def code_letter(language: str | None, *, shop: str, code: str, minutes: int) -> CodeLetter:
    """The letter in `language` (or its base language, else English), filled in."""
    base = (language or DEFAULT_LANGUAGE).lower().replace("_", "-").split("-")[0]
    letter = CODE_LETTERS.get(base, CODE_LETTERS[DEFAULT_LANGUAGE])
    values = {"shop": shop, "code": code, "minutes": minutes}
    return CodeLetter(letter.subject.format(**values), letter.body.format(**values))
