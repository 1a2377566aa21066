"""Every renderer is linear in its input and shows hostile labels harmlessly.

Huge cells of ``<``, ``&`` or ``_`` (characters every markup escapes) in a variant label or a
column name: each format renders in time that grows with the cell at most linearly (compared
within one run, so a slow machine slows both sizes alike) and shows the label shortened; the JSON
keeps it whole. Terminal escape sequences, bidi overrides, spreadsheet formulas, Slack mentions and
``<script>`` from a label reach no output.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.platypus import Paragraph

from bot.render.card import render_card
from bot.render.cli_format import card_json
from bot.render.details import render_details
from experimentos.analysis.assemble import analyze
from experimentos.cli.commands import main
from experimentos.formatting import LABEL_CHARS, TEXT_CHARS, display_label, display_text
from experimentos.model import Analysis, Options
from experimentos.report import text as text_report
from experimentos.report.document import Table, walk
from experimentos.report.memo import memo_document, render_html, render_markdown
from experimentos.report.memo_evidence import signed_number as _signed_number
from experimentos.report.pdf import _CELL_PAD, MARGIN, _styles, _table, render_pdf
from experimentos.report.pdf_fonts import load_fonts

Renderer = Callable[[Analysis], str | bytes]
RENDERERS: dict[str, Renderer] = {
    "text": text_report.render,
    "md": render_markdown,
    "html": render_html,
    "json": lambda a: json.dumps(a.to_dict(), ensure_ascii=False),
    "blocks": card_json,
    "pdf": lambda a: render_pdf(a, with_chart=False),
}
SMALL, LARGE = 4_000, 40_000
"""Ten times the cell: a linear renderer takes at most ten times as long (with the label shortened
for display, about as long); the quadratic HTML memo took 30 to 100 times as long."""


def hostile_csv(cell: str, place: str) -> bytes:
    if place == "label":
        return (
            "variant,users,conversions,guardrail_errors\n"
            f"control,20000,2000,200\n{cell},20000,2200,210\n"
        ).encode()
    return (
        f"variant,users,conversions,guardrail_{cell}\n"
        "control,20000,2000,200\ntreatment,20000,2200,210\n"
    ).encode()


def fastest(render: Callable[[], object], repeat: int = 3) -> float:
    """The least of a few timings: the render's own cost, with less of the machine's noise."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        render()
        best = min(best, time.perf_counter() - start)
    return best


def as_text(output: str | bytes) -> str:
    return output.decode("latin-1") if isinstance(output, bytes) else output


# --------------------------------------------------------------------------- linear time


@pytest.mark.parametrize("place", ["label", "column"])
@pytest.mark.parametrize("char", ["<", "&", "_"])
def test_every_renderer_is_linear_in_a_huge_cell(char: str, place: str) -> None:
    small = analyze(hostile_csv(char * SMALL, place), file_name="small.csv")
    large = analyze(hostile_csv(char * LARGE, place), file_name="large.csv")
    for name, render in RENDERERS.items():
        small_s = fastest(lambda r=render: r(small))  # type: ignore[misc]
        large_s = fastest(lambda r=render: r(large))  # type: ignore[misc]
        # Ten times the input may cost ten times as long (linear); the quadratic HTML memo took
        # 30 to 100 times as long. A floor of 20 ms keeps timer noise on a tiny render (text,
        # json) from deciding the ratio.
        assert large_s < 10 * max(small_s, 0.02), (name, small_s, large_s)


def test_a_megabyte_label_renders_shortened_and_json_keeps_it() -> None:
    label = "<&_" * 350_000
    analysis = analyze(hostile_csv(label, "label"), file_name="huge.csv")
    assert label in analysis.experiment.arms
    for name, render in RENDERERS.items():
        output = as_text(render(analysis))
        if name == "json":
            assert label in json.loads(output)["experiment"]["arms"]
        else:
            assert len(output) < 300_000, name
            assert "<&_" * (TEXT_CHARS // 3 + 1) not in output, name


def test_a_ten_thousand_character_label_fits_the_pdf() -> None:
    """It raised LayoutError: one table cell taller than a page."""
    analysis = analyze(hostile_csv("x" * 10_000, "label"), file_name="long.csv")
    assert render_pdf(analysis, with_chart=False).startswith(b"%PDF-")


def test_no_word_is_wider_than_its_table_cell() -> None:
    analysis = analyze(hostile_csv("W" * 5_000, "label"), file_name="wide.csv")
    fonts = load_fonts()
    styles = _styles(fonts)
    tables = [b for _, b in walk(memo_document(analysis)) if isinstance(b, Table)]
    assert tables
    for block in tables:
        table = _table(block, styles, fonts)
        available = 595.27 - 2 * MARGIN
        table.wrap(available, 10_000)
        assert sum(table._colWidths) <= available + 0.01
        for row in table._cellvalues:
            for value, width in zip(row, table._colWidths, strict=True):
                [cell] = value if isinstance(value, list | tuple) else [value]
                assert isinstance(cell, Paragraph)
                cell.wrap(width - 2 * _CELL_PAD, 10_000)  # inside the padding, as Table does
                lines = cell.blPara.lines
                overflow = [
                    getattr(line, "extraSpace", line[0] if isinstance(line, tuple) else 0)
                    for line in lines
                ]
                # Text may reach into the cell's padding by a rounding, never past its border.
                assert min(overflow, default=0) > -_CELL_PAD, (block.header, overflow)


# --------------------------------------------------------------------------- hostile labels

ESCAPES = ("\x1b[2J\x1b[31m", "\x9b31m", "\x07", "\u202e", "\u2066", "\u2069", "\u200f")
HOSTILE_ARM = "evil\x1b[2J\x1b[31mred\x9b31m\x07\u202eolleh\u2066x\u2069\u200f"


def hostile_analysis(arm: str, *, name: str = "Exp", column: str = "guardrail_errors") -> Analysis:
    content = (
        f'variant,users,conversions,{column}\ncontrol,20000,2000,200\n"{arm}",20000,2200,210\n'
    ).encode()
    return analyze(content, file_name="hostile.csv", options=Options(name=name))


def all_outputs(analysis: Analysis) -> dict[str, str]:
    outputs = {n: as_text(r(analysis)) for n, r in RENDERERS.items() if n not in ("json", "pdf")}
    outputs["details"] = json.dumps(
        [b.to_dict() for b in render_details(analysis)], ensure_ascii=False
    )
    reader = PdfReader(io.BytesIO(render_pdf(analysis, with_chart=False)))
    outputs["pdf"] = "\n".join(page.extract_text() for page in reader.pages)
    return outputs


def test_no_escape_sequence_or_bidi_control_reaches_any_output() -> None:
    analysis = hostile_analysis(HOSTILE_ARM, name="Exp\x1b]0;pwned\x07\u202e")
    for name, output in all_outputs(analysis).items():
        for sequence in ESCAPES:
            assert sequence not in output, (name, sequence)
        assert not re.search("[\x00-\x08\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", output), (
            name
        )
    assert "evil[2j[31mred31molleh" in text_report.render(analysis)  # labels are case-folded
    assert HOSTILE_ARM.casefold() in analysis.to_dict()["experiment"]["arms"]  # kept whole


@pytest.mark.parametrize(
    "formula",
    [
        '=HYPERLINK("http://x.example","y")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_a_formula_label_never_starts_a_table_cell(formula: str) -> None:
    csv_cell = formula.replace('"', '""')
    analysis = hostile_analysis(csv_cell)
    shown = display_label(analysis.experiment.arms[1])
    assert shown.startswith("'")
    tables = [b for _, b in walk(memo_document(analysis)) if isinstance(b, Table)]
    cells = [cell.strip() for b in tables for row in (b.header, *b.rows) for cell in row]
    assert any(shown.strip() in cell for cell in cells)
    for cell in cells:
        assert cell[:1] not in ("=", "@"), cell  # our own numbers may start with + or -
        if shown.strip().lstrip("'") in cell:
            assert cell.startswith("'"), cell
    markdown_cells = [
        cell.strip()
        for line in render_markdown(analysis).splitlines()
        if line.startswith("|")
        for cell in re.split(r"(?<!\\)\|", line)[1:-1]
    ]
    assert not [c for c in markdown_cells if c[:1] in ("=", "@")]
    details = render_details(analysis)
    table = next(b.to_dict() for b in details if b.to_dict()["type"] == "table")
    arms = [row[0]["text"] for row in table["rows"][1:]]
    assert arms[-1].startswith("'")


def test_block_kit_never_carries_a_mention_from_a_label() -> None:
    analysis = hostile_analysis(
        "<!channel> <@U123ABC> <!here>",
        name="<!everyone> launch <#C0SECRET>",
        column="guardrail_<!subteam^S1>",
    )
    messages = [render_card(analysis, key="k"), render_details(analysis)]
    dumped = json.dumps([[b.to_dict() for b in m] for m in messages], ensure_ascii=False)
    dumped += card_json(analysis)
    for mention in (
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123ABC>",
        "<#C0SECRET>",
        "<!subteam",
    ):
        assert mention not in dumped and mention.casefold() not in dumped, mention
    header = render_card(analysis, key="k")[0].to_dict()["text"]["text"]
    assert "‹!everyone>" in header  # shown, but not as a mention


def test_html_never_carries_a_script_tag() -> None:
    analysis = hostile_analysis(
        "<script>alert(1)</script>",
        name="<SCRIPT src=//x.example></SCRIPT>",
        column="guardrail_<img src=x onerror=alert(1)>",
    )
    page = render_html(analysis, audit=["<script>steal()</script>"])
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_display_label_is_bounded_and_clean() -> None:
    assert display_label("=1+1") == "'=1+1"
    assert display_label(" \t-5") == "'  -5"
    assert display_label("a\x1b[0mb\u202ec") == "a[0mbc"
    assert display_label("x" * 10**6) == "x" * (LABEL_CHARS - 1) + "…"
    assert display_text("line\nbreak") == "line break"
    assert display_label("control") == "control"


def test_markdown_never_carries_a_mention_or_a_tag() -> None:
    analysis = hostile_analysis(
        "<@U123ABC>", name="<!here> <#C0SECRET>", column="guardrail_<script>x</script>"
    )
    markdown = render_markdown(analysis, audit=["<!channel> launched"])
    # An unescaped < before @, !, # or a tag name; \< is Markdown for a literal <.
    assert not re.search(r"(?<!\\)<(?:[@!#]|script)", markdown, re.IGNORECASE)
    assert "\\<@u123abc>" in markdown  # shown, escaped (labels are case-folded)


def test_json_keeps_labels_whole_and_writes_terminal_controls_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    label = "a\u202eb\x9bc\u2066d\x7f"
    path = tmp_path / "bidi.csv"
    path.write_text(
        f"variant,users,conversions\ncontrol,20000,2000\n{label},20000,2200\n", encoding="utf-8"
    )
    assert main(["analyze", str(path), "--format", "json"]) == 0
    output = capsys.readouterr().out
    assert not re.search("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]", output)
    assert label.casefold() in json.loads(output)["experiment"]["arms"]


def test_p_value_cells_never_start_with_an_equals_sign() -> None:
    rows = [
        "variant,users,conversions,segment",
        "control,10000,1000,web",
        "control,10000,1010,app",
        "treatment,10000,1100,web",
        "treatment,10500,1090,app",
    ]
    analysis = analyze("\n".join(rows).encode(), file_name="segments.csv")
    assert analysis.segments
    cells = [
        cell.strip()
        for _, b in walk(memo_document(analysis))
        if isinstance(b, Table)
        for row in (b.header, *b.rows)
        for cell in row
    ]
    assert cells and not [c for c in cells if c.startswith("=")]


def test_a_missing_number_is_not_signed() -> None:
    assert _signed_number(float("nan")) == "n/a"
    assert _signed_number(float("inf")) == "n/a"
    assert _signed_number(1.5) == "+1.5" and _signed_number(-1.5) == "-1.5"
