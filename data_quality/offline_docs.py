"""Data Docs pages that open offline: no script, style sheet or image from the web.

Great Expectations writes its pages with Bootstrap, jQuery, bootstrap-table, Vega and Font
Awesome from public CDNs, and a logo from its own server whose URL carries the data context's
id. Offline, or where those hosts are blocked, the index is blank: its tables are drawn by
bootstrap-table from rows held in an inline script. So each built page is rewritten: every tag
that loads something from the web is dropped, links out lose their address, and each such
table is written out as a plain HTML table from the rows of its script. The validation and
suite pages are HTML already and stay readable, unstyled.
"""

from __future__ import annotations

import ast
import re
from html import escape
from pathlib import Path

EXTERNAL_URL = re.compile(r"https?://", re.IGNORECASE)
"""Anything that would reach the web; an offline page holds none."""

_LOADS = (
    re.compile(r'<script\b[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*', re.IGNORECASE),
    re.compile(r'<link\b[^>]*\bhref="https?://[^"]*"[^>]*>\s*', re.IGNORECASE),
    re.compile(r'<img\b[^>]*\bsrc="https?://[^"]*"[^>]*>', re.IGNORECASE),
)
_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)]*\)", re.IGNORECASE)
_LINK_OUT = re.compile(r'\s+href="https?://[^"]*"', re.IGNORECASE)
_SCRIPTED_TABLE = re.compile(
    r"\$\('#(?P<id>[\w-]+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*"
    r"columns:\s*(?P<columns>\[.*?\]),\s*data:\s*(?P<data>\[.*?\]),\s*toolbar:",
    re.DOTALL,
)
STATUS_TEXT = "_validation_success_text"
"""The words of a row's status, which the page otherwise shows only as a web-font icon."""
ROW_LINK = "_table_row_link_path"
"""The page a row opens (by a script click handler in the original)."""


def _table(table_id: str, columns: list[dict], rows: list[dict]) -> str:
    fields = [(c["field"], c["title"]) for c in columns]
    linked = any(ROW_LINK in row for row in rows)
    head = "".join(f"<th>{escape(title)}</th>" for _, title in fields)
    body = []
    for row in rows:
        # Cells are GX's own HTML snippets (names already escaped, links relative).
        cells = [
            escape(row[STATUS_TEXT])
            if field == "validation_success" and STATUS_TEXT in row
            else str(row.get(field, ""))
            for field, _ in fields
        ]
        if linked:
            link = row.get(ROW_LINK)
            cells.append(f'<a href="{escape(link)}">open</a>' if link else "")
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    page = "<th>page</th>" if linked else ""
    return (
        f'<table id="{table_id}" class="table-sm" border="1">'
        f"<thead><tr>{head}{page}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def offline_page(html: str, name: str = "page") -> str:
    """``html`` without anything it would load from the web, its script-drawn tables written
    out as HTML. Raises ValueError naming ``name`` when a table's rows cannot be read."""
    for match in _SCRIPTED_TABLE.finditer(html):
        table_id = match["id"]
        try:
            columns = ast.literal_eval(match["columns"])
            rows = ast.literal_eval(match["data"])
        except (SyntaxError, ValueError) as exc:
            raise ValueError(f"{name}: rows of table {table_id} unreadable: {exc}") from None
        empty = re.search(rf'<table\s+id="{re.escape(table_id)}"[^>]*>\s*</table>', html)
        if empty:
            html = html[: empty.start()] + _table(table_id, columns, rows) + html[empty.end() :]
    for tag in _LOADS:
        html = tag.sub("", html)
    html = _CSS_URL.sub("none", html)
    return _LINK_OUT.sub("", html)


def make_offline(pages: list[Path]) -> None:
    """Rewrite each of ``pages`` (built Data Docs pages) so that it opens offline; a page
    rewritten before is left as it is."""
    for page in pages:
        html = page.read_text(encoding="utf-8")
        rewritten = offline_page(html, str(page))
        if rewritten != html:
            page.write_text(rewritten, encoding="utf-8")
