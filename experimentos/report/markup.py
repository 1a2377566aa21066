"""A :class:`~experimentos.report.document.Document` written as Markdown or as an HTML page.

Both writers escape every character of the document's literal text for their markup as they go
(time linear in the document) and add only the markup written here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from experimentos.report.document import (
    Document,
    Highlight,
    Inline,
    ItemList,
    Paragraph,
    Run,
    Section,
    Table,
    walk,
)

_MD_SPECIAL = re.compile(r"[\\`*_|~#]|<(?=[A-Za-z/!?@#])|\](?=[(\[:])")
"""What could format in Markdown: emphasis, code, tables, headings, the ``<`` of a tag, an
autolink or a Slack mention (``<!here>``, ``<@U1>``), and the ``]`` of a link (``p < 0.05`` and
``[1, 2]`` stay as they are)."""
_MD_LINE_START = re.compile(r"^(\s*(?:\d+)?)([-+=.)>])")


def escape_markdown(value: str) -> str:
    """Literal text → Markdown that shows it: each character that could format is escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(value))


def _escape_line_start(value: str) -> str:
    """A line's text that would otherwise open a list, a rule or a heading underline."""
    return _MD_LINE_START.sub(r"\1\\\2", value, count=1)


# --------------------------------------------------------------------------- Markdown


def _md_markers(run: Run) -> tuple[str, str]:
    if run.bold and run.italic:
        return "**_", "_**"
    if run.bold:
        return "**", "**"
    return ("_", "_") if run.italic else ("", "")


def _md_runs(runs: Inline) -> str:
    out = []
    for run in runs:
        value = run.text
        if not value:
            continue
        opening, closing = _md_markers(run)
        if opening:  # emphasis must hug its words: spaces go outside the markers
            inner = value.strip()
            lead, trail = value[: len(value) - len(value.lstrip())], value[len(value.rstrip()) :]
            out.append(
                f"{lead}{opening}{escape_markdown(inner)}{closing}{trail}" if inner else value
            )
        else:
            out.append(escape_markdown(value))
    return "".join(out)


def _md_line(value: str) -> str:
    return _escape_line_start(escape_markdown(value))


def _md_table(table: Table) -> str:
    lines = ["| " + " | ".join(escape_markdown(c) for c in table.header) + " |"]
    lines.append("|" + "---|" * len(table.header))
    lines += ["| " + " | ".join(escape_markdown(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def markdown(document: Document) -> str:
    """The document as Markdown: one chunk per heading or block, a blank line between them."""
    chunks = ["# " + _md_line(document.title)]
    for level, node in walk(document):
        if isinstance(node, Section):
            chunks.append("#" * level + " " + _md_line(node.title))
        elif isinstance(node, Table):
            chunks.append(_md_table(node))
        elif isinstance(node, ItemList):
            markers = [("- " if b == "•" else f"{b} ", item) for b, item in node.bullets()]
            chunks.append("\n".join(m + _escape_line_start(_md_runs(item)) for m, item in markers))
        else:
            chunks.append(_escape_line_start(_md_runs(node.runs)))
    return "\n\n".join(chunks) + "\n"


# --------------------------------------------------------------------------- HTML


def _html_runs(runs: Inline) -> str:
    out = []
    for run in runs:
        value = html.escape(run.text, quote=True)
        if run.italic:
            value = f"<em>{value}</em>"
        if run.bold:
            value = f"<strong>{value}</strong>"
        out.append(value)
    return "".join(out)


def _html_table(table: Table) -> list[str]:
    cells = "".join(f"<th>{html.escape(c, quote=True)}</th>" for c in table.header)
    out = ["<table>", f"<thead><tr>{cells}</tr></thead>", "<tbody>"]
    for row in table.rows:
        out.append(
            "<tr>" + "".join(f"<td>{html.escape(c, quote=True)}</td>" for c in row) + "</tr>"
        )
    out.append("</tbody></table>")
    return out


def html_body(document: Document) -> str:
    """The document as the HTML of a page's body, one element a line."""
    out = [f"<h1>{html.escape(document.title, quote=True)}</h1>"]
    for level, node in walk(document):
        if isinstance(node, Section):
            out.append(f"<h{level}>{html.escape(node.title, quote=True)}</h{level}>")
        elif isinstance(node, Table):
            out += _html_table(node)
        elif isinstance(node, ItemList):
            tag = "ol" if node.numbered else "ul"
            out += [f"<{tag}>", *[f"<li>{_html_runs(i)}</li>" for i in node.items], f"</{tag}>"]
        elif isinstance(node, Paragraph | Highlight):
            out.append(f"<p>{_html_runs(node.runs)}</p>")
    return "\n".join(out)


def html_page(
    document: Document,
    *,
    chart_data_uri: str | None = None,
    figures: Sequence[tuple[str, str]] = (),
) -> str:
    """A standalone HTML page of the document; the optional forest plot and ``figures`` (alt
    text, data URI) are embedded inline at its end."""
    body = html_body(document)
    shown = [("Forest plot of every metric", chart_data_uri)] if chart_data_uri else []
    for alt, uri in (*shown, *figures):
        body += f'\n<figure><img alt="{html.escape(alt)}" src="{html.escape(uri)}"></figure>'
    return _HTML_PAGE.format(title=html.escape(document.title), body=body)


_HTML_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: .5rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; }}
</style></head>
<body>
{body}
</body></html>
"""
