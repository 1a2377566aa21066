"""The PDF memo: opens, has the memo's sections and chart, prints CSV strings literally."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader
from scipy import stats
from statsmodels.stats import proportion as sm_proportion

from experimentos.analysis.assemble import analyze
from experimentos.model import Analysis, Options
from experimentos.report.document import ItemList, Run, Section, Table, run_text, walk
from experimentos.report.memo import memo_document, render_markdown
from experimentos.report.pdf import render_pdf
from tests.conftest import EXAMPLES

SECTIONS = [
    "Summary",
    "Decision",
    "Evidence",
    "Risks & limitations",
    "Next actions",
    "Assumptions & thresholds",
]
HOSTILE_CSV = (
    "variant,users,conversions,guardrail_<b>x</b>\n"
    "control,20000,2000,200\n"
    "<!channel> & $x$ 🚀,20000,2200,230\n"
).encode()


def example(stem: str, **options: object) -> Analysis:
    path = EXAMPLES / f"{stem}.csv"
    return analyze(path.read_bytes(), file_name=path.name, options=Options(**options))  # type: ignore[arg-type]


def counts(stem: str) -> dict[str, dict[str, int]]:
    """The example's raw counts per arm, read with the csv module."""
    with (EXAMPLES / f"{stem}.csv").open() as file:
        return {r.pop("variant"): {k: int(v) for k, v in r.items()} for r in csv.DictReader(file)}


def read(pdf: bytes) -> tuple[PdfReader, str]:
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, " ".join(text.split())


def images(reader: PdfReader) -> int:
    return sum(len(page.images) for page in reader.pages)


@pytest.mark.parametrize("name", sorted(p.stem for p in EXAMPLES.glob("*.csv")))
def test_every_example_gives_a_pdf_with_the_memo_sections(name: str) -> None:
    analysis = example(name)
    reader, text = read(render_pdf(analysis, with_chart=False))
    position = text.find("Summary")
    for title in SECTIONS:  # each section title, in the memo's order
        position = text.find(title, position)
        assert position >= 0, (title, text[:300])
    assert analysis.verdict.label.upper() in text
    assert reader.metadata is not None
    assert reader.metadata.title == f"Decision memo: {analysis.experiment.name}"


def test_chart_is_embedded_under_evidence() -> None:
    reader, text = read(render_pdf(example("three_arms")))
    assert images(reader) == 1
    assert "Figure: relative lift of every metric" in text
    assert text.find("Evidence") < text.find("Figure:") < text.find("Data health")


def test_given_chart_is_used_and_chart_can_be_left_out() -> None:
    from experimentos.report.charts import power_curve_png
    from experimentos.stats.power import plan_sample_size

    png = power_curve_png(plan_sample_size(baseline=0.1, mde=0.01))
    reader, _ = read(render_pdf(example("launch"), chart_png=png))
    (image,) = reader.pages[0].images
    assert image.image is not None and image.image.size == (900, 500)
    reader, _ = read(render_pdf(example("launch"), with_chart=False))
    assert images(reader) == 0


def test_blocked_memo_has_no_chart_and_says_what_to_fix() -> None:
    reader, text = read(render_pdf(example("blocked")))
    assert images(reader) == 0
    assert "HOLD" in text and "Blocked" in text
    assert "conversions is 'abc', not a number" in text


def test_tables_carry_the_numbers_of_the_memo() -> None:
    _, text = read(render_pdf(example("guardrail_severe"), with_chart=False))
    arms = counts("guardrail_severe")  # the guardrail's Wald interval, by statsmodels
    x_t, n_t = arms["treatment"]["guardrail_error"], arms["treatment"]["users"]
    x_c, n_c = arms["control"]["guardrail_error"], arms["control"]["users"]
    low, high = sm_proportion.confint_proportions_2indep(
        x_t, n_t, x_c, n_c, method="wald", compare="diff"
    )
    figures = [f"{v * 100:+.2f} pp" for v in (x_t / n_t - x_c / n_c, low, high)]
    assert "{} [{}, {}]".format(*figures) in text  # +0.50 pp [+0.28 pp, +0.72 pp]
    assert "⛔" not in text and "✖ severe" in text  # emoji → a symbol the font has
    assert "● ROLLBACK" in text


def test_hostile_names_print_literally() -> None:
    analysis = analyze(
        HOSTILE_CSV,
        file_name="<i>evil</i> & co.csv",
        options=Options(name="<b>Bold</b> <!channel> & <font size=40>x</font>"),
    )
    pdf = render_pdf(analysis, audit=["<para>alice</para> launched & <br/> broke"])
    reader, text = read(pdf)
    assert "Decision memo: <b>Bold</b> <!channel> & <font size=40>x</font>" in text
    assert "<!channel> & $x$ □ lifts conversions" in text  # 🚀 has no glyph: a box
    assert "guardrail_<b>x</b>" in text
    assert "<i>evil</i> & co.csv" in text
    assert "<para>alice</para> launched & <br/> broke" in text
    assert "&amp;" not in text and "&lt;" not in text
    assert reader.metadata is not None
    assert reader.metadata.title.startswith("Decision memo: <b>Bold</b> <!channel> &")


def test_unicode_of_the_memo_survives() -> None:
    analysis = example("launch", look=2, of_looks=5)
    _, text = read(render_pdf(analysis, with_chart=False))
    assert "|z| ≥" in text
    assert "Δ" in text and "χ²" not in text  # two arms: no omnibus test
    assert "α = 0.05" in text
    _, text = read(render_pdf(example("three_arms"), with_chart=False))
    table = [
        [a["conversions"], a["users"] - a["conversions"]] for a in counts("three_arms").values()
    ]
    chi2 = stats.chi2_contingency(table, correction=False).statistic  # the omnibus test, scipy
    assert f"χ² = {chi2:.2f}" in text  # 21.06


def test_control_characters_and_long_names_do_not_break_the_pdf() -> None:
    name = "a\x00b\x1bc\u200d\ufe0f" + "x" * 300
    _, text = read(render_pdf(example("launch", name=name), with_chart=False))
    assert "abc" + "x" * 20 in text


def test_audit_trail_ends_the_memo() -> None:
    _, text = read(render_pdf(example("launch"), audit=["Ada launched on 2024-05-01"]))
    assert text.rfind("Decision audit trail") > text.find("Assumptions & thresholds")
    assert "Ada launched on 2024-05-01" in text


# --------------------------------------------------------------------------- same content


@pytest.mark.parametrize("name", ["launch", "three_arms", "blocked", "continuous"])
def test_document_has_the_sections_and_rows_of_the_markdown_memo(name: str) -> None:
    analysis = example(name)
    markdown = render_markdown(analysis)
    document = memo_document(analysis)
    nodes = [node for _, node in walk(document)]
    headings = [document.title] + [n.title for n in nodes if isinstance(n, Section)]
    expected = [
        re.sub(r"\\(.)", r"\1", line.lstrip("#").strip())
        for line in markdown.splitlines()
        if line.startswith("#")
    ]
    assert headings == expected
    table_rows = sum(1 + len(n.rows) for n in nodes if isinstance(n, Table))
    markdown_rows = sum(
        1 for line in markdown.splitlines() if line.startswith("|") and "---" not in line
    )
    assert table_rows == markdown_rows
    items = sum(len(n.items) for n in nodes if isinstance(n, ItemList))
    assert items == sum(1 for line in markdown.splitlines() if re.match(r"(- |\d+\. )", line))


def test_document_keeps_text_literal_and_styles_as_runs() -> None:
    analysis = analyze(HOSTILE_CSV, file_name="x.csv")
    lists = [n for _, n in walk(memo_document(analysis)) if isinstance(n, ItemList)]
    entries = [item for found in lists for item in found.items]
    variants = next(e for e in entries if run_text(e).startswith("Variants"))
    assert variants == (
        Run("Variants:", bold=True),
        Run(" control (control), <!channel> & $x$ 🚀"),
    )
    numbered = next(found for found in lists if found.numbered)
    assert [bullet for bullet, _ in numbered.bullets()][:2] == ["1.", "2."]


# --------------------------------------------------------------------------- command line


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experimentos.cli.commands", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_writes_a_pdf(tmp_path: Path) -> None:
    out = tmp_path / "memo.pdf"
    result = run("analyze", str(EXAMPLES / "launch.csv"), "--format", "pdf", "--out", str(out))
    assert result.returncode == 0, result.stderr
    reader, text = read(out.read_bytes())
    assert "LAUNCH" in text and images(reader) == 1
    assert result.stdout == ""


def test_cli_pdf_needs_out() -> None:
    result = run("analyze", str(EXAMPLES / "launch.csv"), "--format", "pdf")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "experimentos: --format pdf writes a binary file: add --out PATH.pdf."
    )
    assert "Traceback" not in result.stderr


def test_text_is_escaped_and_missing_glyphs_replaced() -> None:
    from experimentos.report.pdf_fonts import Fonts, markup_text, plain_text

    ascii_only = Fonts("f", "f-b", frozenset(range(32, 127)))
    assert markup_text('<b>&"x"', ascii_only) == "&lt;b&gt;&amp;&quot;x&quot;"
    assert markup_text("p ≥ 1\x00\u200d", ascii_only) == "p ? 1"
    assert markup_text("🟢", ascii_only) == "?"  # no ● in the font either: no markup
    assert plain_text("a\tb\nc<", ascii_only) == "a b c<"


@pytest.mark.parametrize("stem", ["launch", "guardrail_worsened", "three_arms"])
def test_table_values_never_split_across_lines(stem: str) -> None:
    """ "+0.40 pp" and "p = 0.0011" stay whole in a narrow column: no line of the PDF starts with
    a unit or an operator, nor ends with a number's dangling "p" or sign."""
    reader, _ = read(render_pdf(example(stem)))
    lines = [line.strip() for page in reader.pages for line in page.extract_text().splitlines()]
    assert any(re.search(r"\+\d\.\d\d pp", line) for line in lines)
    assert not [line for line in lines if re.match(r"^(pp\b|[=<] )", line)]
    assert not [line for line in lines if re.search(r".\bp$|\bp [=<]$", line)]  # "p": a header


def test_headings_keep_with_the_next_block() -> None:
    from experimentos.report.pdf import _styles
    from experimentos.report.pdf_fonts import load_fonts

    styles = _styles(load_fonts())
    assert all(styles[h].keepWithNext for h in ("h1", "h2", "h3"))
