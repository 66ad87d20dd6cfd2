"""The web door: the assistant on the shop's website (a chat page and an embeddable widget).

The same dispatcher, routers, middlewares and answer engine as in Telegram; only the
transport differs. `session` speaks the Bot API methods the bot uses and turns them into
socket frames (`frames`), kept per conversation in a `transcript` that every replica
shares through Redis; `server` serves the page, the widget, the static files and the
socket. The frames and pages are described in PROTOCOL.md beside this file.
"""
