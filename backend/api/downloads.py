"""The one-time download of an access export, opened from the link in the customer's chat.

Opening the link shows a page with one button; only pressing it (a POST) uses the link up.
Mail scanners and link previews fetch links with GET, and must not spend the customer's
only download. A JSON export is then shown as a readable page (every field, nested as it
came) that carries the JSON itself as a download, all in the one response the link allows;
any other type is sent as an attachment, never rendered on this origin.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from aiohttp import web

from backend.api.context import context
from backend.models import AccessExport, utc_now
from backend.privacy_requests.exports import ExportUnavailableError, redeem, usable

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem;"
    "vertical-align:top;text-align:left}th{background:#f4f4f4;width:14rem}"
)


async def export_landing(request: web.Request) -> web.Response:
    ctx = context(request)
    async with ctx.database.session() as session:
        valid = await usable(session, request.match_info["token"], now=utc_now())
    if not valid:
        return _gone()
    return _page(
        200,
        "Your personal data",
        "<p>The shop has prepared the copy of your personal data. The link works once: "
        "open it when you are ready to save it.</p>"
        '<form method="post"><button type="submit">Open my data</button></form>',
    )


def _gone() -> web.Response:
    return _page(
        410,
        "Link no longer valid",
        "<p>This download link has been used already or has expired. Write to the shop's "
        "assistant in your chat if you need your data again.</p>",
    )


async def download_export(request: web.Request) -> web.Response:
    ctx = context(request)
    try:
        async with ctx.database.session() as session:
            export = await redeem(session, request.match_info["token"], now=utc_now())
            # Rendered before the transaction ends: if the page cannot be made, the link is
            # not spent (the redemption rolls back) and the customer can try again.
            return _response(export)
    except ExportUnavailableError:
        return _gone()


def _response(export: AccessExport) -> web.Response:
    if export.content_type == "application/json":
        return _json_page(export)
    return web.Response(
        body=export.data,
        content_type=export.content_type,
        headers={
            **PAGE_HEADERS,
            "Content-Disposition": f'attachment; filename="{export.filename}"',
        },
    )


def _json_page(export: AccessExport) -> web.Response:
    try:
        data = json.loads(export.data)
    except ValueError:
        data = export.data.decode("utf-8", errors="replace")
    encoded = base64.b64encode(export.data).decode("ascii")
    body = (
        "<p>This is the copy of your personal data the shop holds. This page opens only "
        "once: save it, or download the data as a file.</p>"
        f'<p><a download="{html.escape(export.filename)}" '
        f'href="data:application/json;base64,{encoded}">Download as JSON</a></p>'
        f"{_render(data)}"
    )
    return _page(200, "Your personal data", body)


def _render(value: Any) -> str:
    if isinstance(value, dict):
        rows = "".join(
            f"<tr><th>{html.escape(str(key))}</th><td>{_render(item)}</td></tr>"
            for key, item in value.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        if not value:
            return "<em>none</em>"
        return "<ol>" + "".join(f"<li>{_render(item)}</li>" for item in value) + "</ol>"
    if value is None:
        return "<em>none</em>"
    return html.escape(str(value))


def _page(status: int, title: str, body: str) -> web.Response:
    document = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(
        status=status, text=document, content_type="text/html", headers=PAGE_HEADERS
    )
