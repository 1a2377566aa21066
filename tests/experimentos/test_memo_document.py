"""One document model for the memo: built once from the result tree, written as Markdown, HTML and
PDF by functions of the document alone (the PDF never reads HTML back)."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest
from pypdf import PdfReader

import experimentos.report
from experimentos.analysis.assemble import analyze
from experimentos.model import Analysis
from experimentos.report import markup
from experimentos.report.document import (
    Document,
    Highlight,
    ItemList,
    Paragraph,
    Run,
    Section,
    Table,
    bold,
    plain,
    text_list,
    walk,
)
from experimentos.report.markup import html_page, markdown
from experimentos.report.memo import memo_document, render_html, render_markdown
from experimentos.report.pdf import document_pdf, render_pdf
from tests.conftest import EXAMPLES

REPORT = Path(experimentos.report.__file__).parent
STEMS = sorted(p.stem for p in EXAMPLES.glob("*.csv"))

HAND_MADE = Document(
    title="Plan <b>& co",
    sections=(
        Section(
            "Why *this*",
            (
                Highlight((bold("GO"), plain(" — <i>now</i>")), tone="launch"),
                ItemList(((plain("first"),), (plain("second"),)), numbered=True),
            ),
            (Section("Table", (Table(("a|b", "c"), (("1", "=2"),)), Paragraph((plain("end"),)))),),
            key="evidence",
        ),
    ),
    subject="Verdict: Go",
    footer="footer line",
)


def example(stem: str) -> Analysis:
    path = EXAMPLES / f"{stem}.csv"
    return analyze(path.read_bytes(), file_name=path.name)


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_no_report_module_imports_an_html_parser() -> None:
    for path in REPORT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = {node.module or "", *(alias.name for alias in node.names)}
            elif isinstance(node, ast.Import):
                names = {alias.name for alias in node.names}
            else:
                continue
            assert not names & {"html.parser", "HTMLParser"}, path
        assert "parse_memo_html" not in path.read_text(encoding="utf-8"), path


def test_the_pdf_is_written_without_any_html(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_html(*args: object, **kwargs: object) -> str:
        raise AssertionError("the PDF asked for HTML")

    monkeypatch.setattr(markup, "html_body", no_html)
    monkeypatch.setattr(markup, "html_page", no_html)
    assert "LAUNCH" in pdf_text(render_pdf(example("launch"), with_chart=False))


def test_a_hand_made_document_is_written_by_all_three_writers() -> None:
    text = " ".join(pdf_text(document_pdf(HAND_MADE)).split())
    order = ["Plan <b>& co", "Why *this*", "GO — <i>now</i>", "1. first", "2. second", "Table"]
    positions = [text.find(words) for words in order]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), text
    assert "a|b" in text and "=2" in text and text.find("=2") < text.find("end")
    assert "footer line" in text
    reader = PdfReader(io.BytesIO(document_pdf(HAND_MADE)))
    assert reader.metadata is not None
    assert (reader.metadata.title, reader.metadata.subject) == ("Plan <b>& co", "Verdict: Go")

    assert markdown(HAND_MADE) == (
        "# Plan \\<b>& co\n\n## Why \\*this\\*\n\n**GO** — \\<i>now\\</i>\n\n1. first\n2. second\n\n"
        "### Table\n\n| a\\|b | c |\n|---|---|\n| 1 | =2 |\n\nend\n"
    )
    page = html_page(HAND_MADE)
    assert "<title>Plan &lt;b&gt;&amp; co</title>" in page
    assert (
        "<h1>Plan &lt;b&gt;&amp; co</h1>\n<h2>Why *this*</h2>\n"
        "<p><strong>GO</strong> — &lt;i&gt;now&lt;/i&gt;</p>\n"
        "<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n<h3>Table</h3>\n<table>\n"
        "<thead><tr><th>a|b</th><th>c</th></tr></thead>\n<tbody>\n"
        "<tr><td>1</td><td>=2</td></tr>\n</tbody></table>\n<p>end</p>"
    ) in page


@pytest.mark.parametrize("stem", STEMS)
def test_every_format_is_the_one_document_written(stem: str) -> None:
    analysis = example(stem)
    document = memo_document(analysis, audit=["Ada <launched>"])
    assert render_markdown(analysis, audit=["Ada <launched>"]) == markdown(document)
    assert render_html(analysis, audit=["Ada <launched>"]) == html_page(document)
    from_analysis = pdf_text(render_pdf(analysis, audit=["Ada <launched>"], with_chart=False))
    assert from_analysis == pdf_text(document_pdf(document))


@pytest.mark.parametrize("stem", STEMS)
def test_the_memo_document_has_its_sections_and_one_verdict(stem: str) -> None:
    analysis = example(stem)
    document = memo_document(analysis)
    assert [s.title for s in document.sections] == [
        "Summary",
        "Decision",
        "Evidence",
        "Risks & limitations",
        "Next actions",
        "Assumptions & thresholds",
    ]
    highlights = [n for _, n in walk(document) if isinstance(n, Highlight)]
    assert [h.tone for h in highlights] == [analysis.verdict.kind]
    assert [s.key for s in document.sections if s.key] == ["decision", "evidence"]
    lists = [n for _, n in walk(document) if isinstance(n, ItemList)]
    assert all(found.items for found in lists)  # a list is never empty


def test_empty_lists_give_no_block_and_runs_keep_their_text() -> None:
    assert text_list([]) == ()
    assert text_list(["a"]) == (ItemList(((Run("a"),),)),)
    both = Run("x*y", bold=True, italic=True)
    assert markdown(Document("t", (Section("s", (Paragraph((both,)),)),))).endswith("**_x\\*y_**\n")
