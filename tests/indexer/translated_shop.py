"""A shop whose policy is written in Czech, with an English translation and a Ukrainian one
that lacks a section (out of date): for the translation tests of the indexer and the bot."""

from __future__ import annotations

from pathlib import Path

SHOP = "prelozeno"

ORIGINAL_CS = """Zásady ochrany osobních údajů

Kdo jsme

Provozovatelem obchodu prelozeno.example je Přeloženo s.r.o., IČO 12345678, se sídlem Dlouhá 5, Praha. Jsme správcem vašich osobních údajů.

Jaké údaje shromažďujeme

Při objednávce shromažďujeme vaše jméno, doručovací adresu, e-mail a telefonní číslo. Číslo platební karty neukládáme.

Jak dlouho údaje uchováváme

Údaje o objednávkách uchováváme 10 let, protože to vyžaduje daňový zákon. Zákaznický účet smažeme 3 roky po vašem posledním přihlášení.

Obchodní sdělení

Newsletter vám posíláme jen s vaším souhlasem. Odhlásit se můžete kdykoli odkazem v každém e-mailu.

Cookies

Používáme nezbytné cookies pro košík a přihlášení. Analytické cookies ukládáme jen s vaším souhlasem po dobu 13 měsíců.

Vaše práva

Máte právo na přístup ke svým údajům, jejich opravu a výmaz. Napište nám na soukromi@prelozeno.example, odpovíme do 30 dnů.
"""

TRANSLATION_EN = """Privacy Policy

Who we are

The shop prelozeno.example is run by Přeloženo s.r.o., company ID 12345678, registered at Dlouhá 5, Prague. We are the controller of your personal data.

What data we collect

When you order, we collect your name, delivery address, e-mail and phone number. We do not store your payment card number.

How long we keep data

We keep order records for 10 years because tax law requires it. We delete a customer account 3 years after your last login.

Marketing messages

We send you the newsletter only with your consent. You can unsubscribe at any time with the link in every e-mail.

Cookies

We use necessary cookies for the cart and for logging in. Analytics cookies are stored only with your consent, for 13 months.

Your rights

You have the right to access your data, to have it corrected and erased. Write to soukromi@prelozeno.example, we answer within 30 days.
"""

# No "Cookies" section: this translation was made before the original gained it.
TRANSLATION_UK = """Політика конфіденційності

Хто ми

Магазин prelozeno.example належить компанії Přeloženo s.r.o., ідентифікаційний номер 12345678, адреса Dlouhá 5, Прага. Ми є контролером ваших персональних даних.

Які дані ми збираємо

Під час замовлення ми збираємо ваше ім'я, адресу доставки, e-mail і номер телефону. Номер платіжної картки ми не зберігаємо.

Як довго ми зберігаємо дані

Дані про замовлення ми зберігаємо 10 років, бо цього вимагає податковий закон. Обліковий запис клієнта ми видаляємо через 3 роки після вашого останнього входу.

Рекламні повідомлення

Розсилку ми надсилаємо лише з вашої згоди. Відписатися можна будь-коли за посиланням у кожному листі.

Ваші права

Ви маєте право на доступ до своїх даних, їх виправлення та видалення. Напишіть нам на soukromi@prelozeno.example, ми відповімо протягом 30 днів.
"""

SHOP_TOML = f"""id = "{SHOP}"
name = "Přeloženo"
contact_email = "soukromi@prelozeno.example"
default_language = "cs"

[[documents]]
path = "zasady.txt"
title = "Zásady ochrany osobních údajů"
languages = ["cs"]
version = "2026-03"

[[documents]]
path = "policy-en.txt"
title = "Privacy Policy"
languages = ["en"]
version = "2026-03"
translation_of = "zasady.txt"

[[documents]]
path = "policy-uk.txt"
title = "Політика конфіденційності"
languages = ["uk"]
version = "2025-11"
translation_of = "zasady.txt"
"""


def write_translated_shop(knowledge: Path) -> Path:
    folder = knowledge / SHOP
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.toml").write_text(SHOP_TOML, encoding="utf-8")
    (folder / "zasady.txt").write_text(ORIGINAL_CS, encoding="utf-8")
    (folder / "policy-en.txt").write_text(TRANSLATION_EN, encoding="utf-8")
    (folder / "policy-uk.txt").write_text(TRANSLATION_UK, encoding="utf-8")
    return folder
