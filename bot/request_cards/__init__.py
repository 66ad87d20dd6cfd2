"""Privacy requests worked from a shop's support group, for shops with no backend of their
own: each verified request arrives there as a card with buttons (start, extend, complete,
deny), is edited in place as it moves on, and a daily digest lists what is due soon or
overdue. Every step calls the same backend functions as the REST API, as the "operator".

The texts here are for the shop's staff and in English; the customer hears of each step
through the notices (`bot.notices`), in their own language.
"""
