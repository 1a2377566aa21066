"""The decision memo as a PDF (SPEC §2.11), drawn with reportlab from the memo's document.

The memo's document (:func:`experimentos.report.memo.memo_document`: sections of paragraphs,
lists and tables, the words the Markdown and HTML memos write) is the single source of its words,
so the PDF has exactly the sections of the other memos. Text is literal until
:func:`experimentos.report.pdf_fonts.markup_text` escapes it for reportlab's paragraph markup; the only
tags reportlab sees are the ones written in this module. Labels arrive shortened for display, and
a word wider than its table cell is broken inside the cell, so no cell outgrows a page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus import Table as _Table
from reportlab.platypus import TableStyle as _TableStyle

from experimentos.model import Analysis
from experimentos.report.document import (
    Block,
    Document,
    Highlight,
    Inline,
    ItemList,
    Run,
    Section,
    Table,
    walk,
)
from experimentos.report.memo import memo_document
from experimentos.report.memo_evidence import LIFT_BY_DAY_KEY
from experimentos.report.pdf_fonts import Fonts, load_fonts, markup_text, plain_text

MARGIN = 18 * mm
_CELL_PAD = 3
_VERDICT_TINT = {"launch": "#E3F4EE", "hold": "#FDF3DC", "rollback": "#FBE6DA"}


def render_pdf(
    analysis: Analysis,
    *,
    audit: Iterable[str] = (),
    chart_png: bytes | None = None,
    with_chart: bool = True,
) -> bytes:
    """The memo as PDF bytes: A4, tables, and the forest plot under *Evidence*.

    ``chart_png`` is drawn when given; otherwise, with ``with_chart``, the forest plot is
    rendered here when matplotlib is installed (and skipped when it is not, or when the data is
    blocked and there is nothing to plot).
    """
    if chart_png is None and with_chart and analysis.primary:
        chart_png = _forest_png(analysis)
    charts = {"evidence": chart_png} if chart_png else {}
    if with_chart and analysis.novelty is not None and analysis.novelty.days:
        from experimentos.report.charts import lift_by_day_png

        charts[LIFT_BY_DAY_KEY] = lift_by_day_png(analysis.novelty)
    return document_pdf(memo_document(analysis, audit=audit), charts=charts)


def document_pdf(
    document: Document,
    *,
    chart_png: bytes | None = None,
    charts: Mapping[str, bytes] | None = None,
) -> bytes:
    """A document as PDF bytes: A4, its title as the first heading, each of ``charts`` (PNG by
    section key) under its section's heading — ``chart_png`` under ``"evidence"`` — and its
    footer on every page."""
    charts = {**({"evidence": chart_png} if chart_png else {}), **(charts or {})}
    fonts = load_fonts()
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=plain_text(document.title, fonts),
        author="ExperimentOS",
        subject=document.subject,
        creator="ExperimentOS",
    )
    footer = plain_text(document.footer, fonts)
    story = _story(document, fonts, charts)
    template.build(story, onFirstPage=_footer(footer), onLaterPages=_footer(footer))
    return buffer.getvalue()


def _styles(fonts: Fonts) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=fonts.regular, fontSize=9.5, leading=13, spaceAfter=4)
    return {
        "body": base,
        "h1": ParagraphStyle(
            "h1", base, fontName=fonts.bold, fontSize=17, leading=21, spaceAfter=8, keepWithNext=1
        ),
        "h2": ParagraphStyle(
            "h2",
            base,
            fontName=fonts.bold,
            fontSize=13,
            leading=16,
            spaceBefore=10,
            spaceAfter=5,
            keepWithNext=1,  # a heading never ends a page alone
            textColor=colors.HexColor("#1F3A5F"),
        ),
        "h3": ParagraphStyle(
            "h3",
            base,
            fontName=fonts.bold,
            fontSize=10.5,
            leading=14,
            spaceBefore=6,
            spaceAfter=3,
            keepWithNext=1,
        ),
        "li": ParagraphStyle(
            "li", base, leftIndent=14, bulletIndent=3, spaceAfter=2, bulletFontName=fonts.regular
        ),
        "cell": ParagraphStyle(
            "cell", base, fontSize=7.5, leading=9.5, spaceAfter=0, splitLongWords=1
        ),
        "head": ParagraphStyle(
            "head",
            base,
            fontName=fonts.bold,
            fontSize=7.5,
            leading=9.5,
            spaceAfter=0,
            splitLongWords=1,
        ),
        "verdict": ParagraphStyle(
            "verdict", base, fontSize=12, leading=16, borderPadding=6, spaceBefore=4, spaceAfter=10
        ),
        "caption": ParagraphStyle(
            "caption", base, fontSize=8, leading=10, textColor=colors.HexColor("#555555")
        ),
    }


def _story(document: Document, fonts: Fonts, charts: Mapping[str, bytes]) -> list[Flowable]:
    styles = _styles(fonts)
    story: list[Flowable] = [Paragraph(_inline((Run(document.title),), fonts), styles["h1"])]
    for level, node in walk(document):
        story += _flowables(node, level, styles, fonts)
        if isinstance(node, Section) and charts.get(node.key):
            story += _chart(charts[node.key], styles)
    return story


def _flowables(
    node: Section | Block, level: int, styles: dict[str, ParagraphStyle], fonts: Fonts
) -> list[Flowable]:
    if isinstance(node, Section):
        return [Paragraph(_inline((Run(node.title),), fonts), styles[f"h{min(level, 3)}"])]
    if isinstance(node, Table):
        return [_table(node, styles, fonts), Spacer(1, 6)]
    if isinstance(node, ItemList):
        return [
            Paragraph(_inline(item, fonts), styles["li"], bulletText=bullet)
            for bullet, item in node.bullets()
        ]
    if isinstance(node, Highlight):
        tint = colors.HexColor(_VERDICT_TINT.get(node.tone, "#FFFFFF"))
        style = ParagraphStyle("verdict", styles["verdict"], backColor=tint)
        return [Paragraph(_inline(node.runs, fonts), style)]
    return [Paragraph(_inline(node.runs, fonts), styles["body"])]


def _inline(runs: Inline, fonts: Fonts) -> str:
    """Runs of literal text → markup; only the tags written here reach reportlab."""
    out = []
    for run in runs:
        value = markup_text(_unbreakable(run.text), fonts)
        if run.italic:
            value = f"<i>{value}</i>"
        if run.bold:
            value = f"<b>{value}</b>"
        out.append(value)
    return "".join(out)


def _table(table: Table, styles: dict[str, ParagraphStyle], fonts: Fonts) -> _Table:
    count = max(len(row) for row in (table.header, *table.rows))
    rows = [
        tuple(_unbreakable(cell) for cell in (*row, *[""] * (count - len(row))))
        for row in (table.header, *table.rows)
    ]
    texts = [[plain_text(cell, fonts) for cell in row] for row in rows]
    widths = _column_widths(texts, fonts, styles["cell"].fontSize)
    cells = [
        [Paragraph(markup_text(cell, fonts), styles["head" if i == 0 else "cell"]) for cell in row]
        for i, row in enumerate(rows)
    ]
    grid = _Table(cells, colWidths=widths, repeatRows=1, hAlign="LEFT")
    commands = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#BBBBBB")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PAD),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#F0F0F0")),
    ]
    grid.setStyle(_TableStyle(commands))
    return grid


_VALUE_SPACE = re.compile(r"(?<=\d) (?=pp\b)|(?<=\bp) (?=[=<])|(?<=\bp [=<]) (?=[\d.])")
"""The spaces inside one value ("+0.40 pp", "p = 0.0011", "p < 0.0001"), made non-breaking so a
value never splits across lines."""


def _unbreakable(cell: str) -> str:
    """``cell`` with the spaces inside each value non-breaking (U+00A0)."""
    return _VALUE_SPACE.sub("\u00a0", cell)


def _column_widths(texts: list[list[str]], fonts: Fonts, size: float) -> list[float]:
    """Each column at least as wide as its longest word (the header row in bold), the rest shared
    by need."""
    total = A4[0] - 2 * MARGIN

    def width(text: str, row: int) -> float:
        font = fonts.bold if row == 0 else fonts.regular
        return pdfmetrics.stringWidth(text, font, size) + 2 * _CELL_PAD + 1

    columns = list(zip(*texts, strict=True))
    least = [
        min(
            max(width(w, i) for i, cell in enumerate(col) for w in cell.split(" ") or [""]),
            total / 3,
        )
        for col in columns
    ]
    want = [
        max(min(max(width(cell, i) for i, cell in enumerate(col)), total / 2), low)
        for col, low in zip(columns, least, strict=True)
    ]
    spare = total - sum(least)
    if spare <= 0:
        return [total * low / sum(least) for low in least]
    extra = [w - low for w, low in zip(want, least, strict=True)]
    if sum(extra) <= spare:
        return [w + (spare - sum(extra)) * w / sum(want) for w in want]
    return [low + spare * e / sum(extra) for low, e in zip(least, extra, strict=True)]


def _chart(png: bytes, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    pixels_w, pixels_h = ImageReader(io.BytesIO(png)).getSize()
    width = A4[0] - 2 * MARGIN
    height = width * pixels_h / pixels_w
    caption = (
        "Figure: relative lift of every metric versus control with its 95% confidence "
        "interval; dashed and solid lines on guardrail rows mark the worsened and severe "
        "thresholds."
    )
    return [
        Image(io.BytesIO(png), width=width, height=height),
        Paragraph(caption, styles["caption"]),
        Spacer(1, 4),
    ]


def _forest_png(analysis: Analysis) -> bytes | None:
    try:
        from experimentos.report.charts import forest_png
    except ImportError:  # matplotlib is optional for the memo
        return None
    return forest_png(analysis)


def _footer(text: str):  # type: ignore[no-untyped-def]
    def draw(canvas, document) -> None:  # type: ignore[no-untyped-def]
        canvas.saveState()
        canvas.setFont(load_fonts().regular, 7.5)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(MARGIN, 10 * mm, text[:110])
        canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"page {document.page}")
        canvas.restoreState()

    return draw
