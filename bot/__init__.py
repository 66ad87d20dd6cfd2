"""The Telegram side (issue 3): routers, middlewares, answers, i18n, hand-off, admin."""
