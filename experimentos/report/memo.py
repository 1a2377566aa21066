"""The one-page decision memo (SPEC §2.11): one list of blocks, written as Markdown or as HTML.

The memo is built once as headings, paragraphs, list items and tables of literal text
(:class:`experimentos.report.memo_blocks.Block`); :func:`render_markdown`, :func:`render_html` and the PDF
(:mod:`experimentos.report.pdf`) each write those blocks in their own markup, escaping every character
as they go, so the formats say the same words and the time to write them is linear in the memo.

Every string that came from the CSV or the user (names, labels, columns, findings that quote
them) is shown through :func:`experimentos.formatting.display_label` or
:func:`~experimentos.formatting.display_text`: no control or bidi characters, a bounded length,
and no leading formula character. The JSON result keeps the full text.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence

from experimentos.analysis.health import SRM_CAUSES, SRM_CAUSES_SOURCE, srm_fired
from experimentos.formatting import (
    display_label,
    display_text,
    interval,
    number,
    pct,
    pp,
    pvalue,
    rate,
)
from experimentos.model import Analysis, GuardrailResult, MetricResult
from experimentos.report.memo_blocks import Block, Run, Runs
from experimentos.stats.always_valid import METHOD as ALWAYS_VALID
from experimentos.stats.novelty import MIN_USERS as NOVELTY_MIN_USERS

_MD_SPECIAL = re.compile(r"[\\`*_|~#]|<(?=[A-Za-z/!?@#])|\](?=[(\[:])")
"""What could format in Markdown: emphasis, code, tables, headings, the ``<`` of a tag, an
autolink or a Slack mention (``<!here>``, ``<@U1>``), and the ``]`` of a link (``p < 0.05`` and
``[1, 2]`` stay as they are)."""
_VERDICT_MARK = {"launch": "🟢", "hold": "🟡", "rollback": "🔴"}
_STATUS_MARK = {"ok": "✅ ok", "worsened": "⚠️ worsened", "severe": "⛔ severe"}

label = display_label
"""A label from the CSV or the user, for display."""
text = display_text
"""A sentence that may quote labels (a finding, a reason, an action), for display."""


_MD_LINE_START = re.compile(r"^(\s*(?:\d+)?)([-+=.)>])")


def escape_markdown(value: str) -> str:
    """Literal text → Markdown that shows it: each character that could format is escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(value))


def _escape_line_start(value: str) -> str:
    """A line's text that would otherwise open a list, a rule or a heading underline."""
    return _MD_LINE_START.sub(r"\1\\\2", value, count=1)


# --------------------------------------------------------------------------- the three outputs


def render_markdown(analysis: Analysis, *, audit: Iterable[str] = ()) -> str:
    """The memo as Markdown. ``audit`` lines (recorded decisions) end it when given."""
    return _markdown(memo_blocks(analysis, audit=audit))


def render_html(
    analysis: Analysis, *, audit: Iterable[str] = (), chart_data_uri: str | None = None
) -> str:
    """A standalone HTML page of the memo; the optional chart is embedded inline."""
    body = _html(memo_blocks(analysis, audit=audit))
    if chart_data_uri:
        body += (
            '\n<figure><img alt="Forest plot of every metric" '
            f'src="{html.escape(chart_data_uri)}"></figure>'
        )
    title = html.escape(f"Decision memo: {label(analysis.experiment.name)}")
    return _HTML_PAGE.format(title=title, body=body)


def memo_blocks(analysis: Analysis, *, audit: Iterable[str] = ()) -> list[Block]:
    """The memo's blocks in order: what every format writes."""
    a = analysis
    blocks = [_heading("h1", f"Decision memo: {label(a.experiment.name)}")]
    blocks += _summary(a)
    blocks += _decision(a)
    blocks += _risk_aware_rule(a)
    blocks += _evidence(a)
    blocks += _srm_causes(a)
    blocks += _lift_by_day(a)
    blocks += _risks(a)
    blocks += [_heading("h2", "Next actions")]
    blocks += [
        _item(_plain(text(x)), bullet=f"{i}.") for i, x in enumerate(a.verdict.next_actions, 1)
    ]
    blocks += _assumptions(a)
    lines = tuple(audit)
    if lines:
        blocks += [_heading("h2", "Decision audit trail"), *[_item(_plain(text(x))) for x in lines]]
    return blocks


def _risk_aware_rule(a: Analysis) -> list[Block]:
    """When the risk-aware rule decided: the rule in one paragraph and its success metrics."""
    if a.verdict.decision_rule != "risk-aware":
        return []
    alpha, family = a.thresholds.alpha, max(len(a.success), 1)
    return [
        _heading("h3", "Decision rule: risk-aware (Schultzberg, Ankargren & Frånberg 2024)"),
        _paragraph(
            _plain(
                "Ship when at least one success metric improves significantly, at "
                f"α = {alpha / family:.4g} (Bonferroni over {family} success comparisons: "
                "metrics × treatment arms), and every guardrail is non-inferior to its margin "
                f"(one-sided at α = {alpha:g}, no correction: all must pass). A significant "
                f"deterioration (one-sided at α = {alpha:g}) of a success metric rolls back, of "
                "a guardrail holds; anything else holds."
            )
        ),
        *([_metric_table(a.success)] if a.success else []),
    ]


def _srm_causes(a: Analysis) -> list[Block]:
    """When the sample ratio check fired: the known causes by stage, to check in order."""
    if not srm_fired(a.health):
        return []
    return [
        _heading("h3", "Sample ratio mismatch: known causes to check"),
        *[_item(_bold(stage), _plain(f": {cause}")) for stage, cause in SRM_CAUSES],
        _paragraph(_italic(f"After {SRM_CAUSES_SOURCE}.")),
    ]


def _lift_by_day(a: Analysis) -> list[Block]:
    """With a date column: the primary's lift among the users first exposed each day, and the
    trend's slope (weighted least squares on day index, weights 1/SE²)."""
    n = a.novelty
    if n is None:
        return []
    rows = [
        (
            d.day,
            str(d.index),
            f"{rate(d.control_converted / d.control_users)} (n={d.control_users:,})",
            f"{rate(d.treatment_converted / d.treatment_users)} (n={d.treatment_users:,})",
            pp(d.lift),
            f"{d.se * 100:.2f} pp",
        )
        for d in n.days
    ]
    header = ("first exposed", "day", label(n.control), label(n.treatment), "Δ", "SE")
    if math.isfinite(n.slope):  # a slope needs two days
        trend = (
            f"Trend of the lift ({label(n.treatment)} vs {label(n.control)}, users by the day of "
            f"their first row in {label(n.column)}): {pp(n.slope)}/day "
            f"(SE {n.slope_se * 100:.2f} pp), {pvalue(n.p_value)}; weighted least squares of "
            "daily lift on day index, weights 1/SE²."
        )
    else:
        trend = (
            f"Fewer than two days with at least {NOVELTY_MIN_USERS} users in each arm: "
            "no trend is tested."
        )
    if n.skipped:
        left = ", ".join(n.skipped[:10]) + (" …" if len(n.skipped) > 10 else "")
        trend += (
            f" {len(n.skipped)} day(s) left out (fewer than {NOVELTY_MIN_USERS} users in an arm, "
            f"or an arm at 0% or 100%): {left}."
        )
    table = [_table(header, rows)] if rows else []
    return [_heading("h3", "Lift by exposure day"), *table, _paragraph(_plain(trend))]


# --------------------------------------------------------------------------- block helpers


def _plain(value: str) -> Run:
    return ("", value)


def _bold(value: str) -> Run:
    return ("b", value)


def _italic(value: str) -> Run:
    return ("i", value)


def _heading(kind: str, value: str) -> Block:
    return Block(kind, (((_plain(value),),),))


def _paragraph(*runs: Run) -> Block:
    return Block("p", ((tuple(runs),),))


def _item(*runs: Run, bullet: str = "•") -> Block:
    return Block("li", ((tuple(runs),),), bullet=bullet)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Block:
    head = tuple((_plain(cell),) for cell in header)
    body = [tuple((_plain(cell),) for cell in row) for row in rows]
    return Block("table", (head, *body), header=True)


# --------------------------------------------------------------------------- sections


def _summary(a: Analysis) -> list[Block]:
    e = a.experiment
    arms = (
        ", ".join(label(x) + (" (control)" if x == e.control else "") for x in e.arms)
        or "none read"
    )
    look = f" · look {e.look} of {e.of_looks}" if e.look else ""
    layout = "aggregated (one row per variant)" if e.input_format == "aggregated" else "user-level"
    return [
        _heading("h2", "Summary"),
        _item(_bold("Experiment:"), _plain(f" {label(e.name)}{look}")),
        _item(_bold("Variants:"), _plain(f" {arms}")),
        _item(_bold("Primary metric:"), _plain(f" {label(e.primary_metric)}")),
        _item(
            _bold("Data:"),
            _plain(
                f" {label(e.file_name)} · {e.rows:,} rows · {layout} · sha256 {e.checksum[:12]}"
            ),
        ),
    ]


def _decision(a: Analysis) -> list[Block]:
    v = a.verdict
    blocks = [
        _heading("h2", "Decision"),
        _paragraph(
            _bold(f"{_VERDICT_MARK[v.kind]} {v.label.upper()}"), _plain(f" — {text(v.reason)}")
        ),
    ]
    if v.kind == "hold" or len(v.reasons) > 1:
        blocks.append(_paragraph(_plain("Why:" if v.kind != "hold" else "Why Hold:")))
        blocks += [_item(_plain(text(r))) for r in v.reasons]
    blocks.append(_paragraph(_italic(f"Decision rule {v.rule} of SPEC §2.9.")))
    return blocks


def _evidence(a: Analysis) -> list[Block]:
    h = a.health
    srm = f" · SRM chi-square {h.srm.chi2:.2f}, {pvalue(h.srm.p_value)}" if h.srm else ""
    blocks = [
        _heading("h2", "Evidence"),
        _heading("h3", "Data health"),
        _paragraph(_bold(h.status.capitalize()), *([_plain(srm)] if srm else [])),
        *[_item(_plain(f"{f.severity}: {text(f.message)}")) for f in h.findings],
    ]
    if a.primary:
        blocks += [_heading("h3", "Primary metric"), _metric_table(a.primary)]
        notes = dict.fromkeys(n for m in a.primary for n in m.notes)
        blocks += [_item(_plain(text(n))) for n in notes]
    if a.overall:
        blocks.append(
            _paragraph(
                _plain(
                    f"Overall chi-square test across all arms: χ² = {a.overall.chi2:.2f}, "
                    f"df = {a.overall.dof}, {pvalue(a.overall.p_value)}."
                )
            )
        )
    if a.guardrails:
        blocks += [_heading("h3", "Guardrails"), _guardrail_table(a.guardrails)]
    if a.segments:
        blocks += [_heading("h3", "Segments"), *_segment_blocks(a)]
    if a.secondary:
        blocks += [
            _heading("h3", "Other metrics (reported, not part of the verdict)"),
            _metric_table(a.secondary),
            *[_item(_plain(f"{label(m.name)}: {text(n)}")) for m in a.secondary for n in m.notes],
        ]
    if a.percentiles:
        blocks += [
            _heading("h3", "Percentiles (reported, not part of the verdict)"),
            _metric_table(a.percentiles),
            *[_item(_plain(text(n))) for m in a.percentiles for n in m.notes],
            _paragraph(
                _plain(
                    "Median and p90 per arm (linear interpolation); the difference's CI by "
                    "Woodruff's order-statistic method: each arm's standard error from the values "
                    "at the binomial ranks n·q ∓ z·√(n·q(1−q))."
                )
            ),
        ]
    if a.bayes:
        blocks += [
            _heading("h3", "Bayesian view (explanatory; never changes the verdict)"),
            _table(
                ("arm", "chance to beat control", "P(best)", "expected loss"),
                [
                    (
                        label(b.arm),
                        pct(b.chance_to_beat_control, signed=False),
                        pct(b.prob_best, signed=False),
                        pp(b.expected_loss, digits=3),
                    )
                    for b in a.bayes.arms
                ],
            ),
            _paragraph(
                _plain(f"Priors {text(a.bayes.prior)}; computed by {text(a.bayes.method)}.")
            ),
        ]
    return blocks


def _metric_table(metrics: Iterable[MetricResult]) -> Block:
    rows = []
    for m in metrics:
        c = m.comparison
        fmt = rate if m.kind == "proportion" else number
        delta = pp if m.kind == "proportion" else _signed_number
        p_text = pvalue(m.p_value_adjusted) + (" (adj.)" if m.p_value_adjusted != c.p_value else "")
        rows.append(
            (
                label(m.name) + (" (ratio)" if m.kind == "ratio" else ""),
                f"{label(m.arm)} vs {label(m.control.arm)}",
                f"{fmt(m.control.value)} (n={m.control.n:,})",
                f"{fmt(m.treatment.value)} (n={m.treatment.n:,})",
                f"{delta(c.abs_lift)} {interval(*c.abs_ci, fmt=delta)}",
                f"{pct(c.rel_lift)} {interval(*c.rel_ci, fmt=pct)}",
                p_text,
                c.method,
            )
        )
    header = ("metric", "arm", "control", "treatment", "Δ (95% CI)", "relative (95% CI)", "p")
    return _table((*header, "method"), rows)


def _segment_blocks(a: Analysis) -> list[Block]:
    rows = []
    for r in a.segments:
        m, c = r.metric, r.metric.comparison
        srm = _bare_p(r.srm_p_value) if r.srm_p_value is not None else "n/a"
        rows.append(
            (
                label(r.segment),
                label(m.arm),
                f"{rate(m.control.value)} (n={m.control.n:,})",
                f"{rate(m.treatment.value)} (n={m.treatment.n:,})",
                f"{pp(c.abs_lift)} {interval(*c.abs_ci)}",
                pvalue(c.p_value),
                srm,
            )
        )
    header = ("segment", "arm", "control", "treatment", "Δ (95% CI)", "p", "SRM p")
    blocks = [_table(header, rows)]
    for h in a.heterogeneity:
        runs = [
            _plain(
                f"Heterogeneity across segments for {label(h.arm)}: Cochran's Q = {h.q:.2f}, "
                f"df = {h.dof}, {pvalue(h.p_value)}, I² = {h.i_squared:.0%}."
            )
        ]
        if h.simpsons_paradox:
            runs += [
                _plain(" "),
                _bold("Simpson's paradox"),
                _plain(": the pooled lift has the opposite sign."),
            ]
        blocks.append(_item(*runs))
    return blocks


def _bare_p(value: float) -> str:
    """A p-value cell under a "p" heading: ``0.834``, ``< 0.0001`` (never ``= 0.834``, which a
    spreadsheet would read as a formula)."""
    return pvalue(value).removeprefix("p = ").removeprefix("p ")


def _signed_number(value: float) -> str:
    """``+1.5`` or ``-1.5``; ``n/a`` (never ``+n/a``) when there is no number."""
    text = number(value)
    return text if value < 0 or text == "n/a" else "+" + text


def _guardrail_table(guardrails: Iterable[GuardrailResult]) -> Block:
    rows = []
    for g in guardrails:
        m, c = g.metric, g.metric.comparison
        rows.append(
            (
                label(m.name),
                label(m.arm),
                rate(m.control.value),
                rate(m.treatment.value),
                f"{pp(c.abs_lift)} {interval(*c.abs_ci)}",
                pvalue(c.p_value),
                "it drops" if g.higher_is_better else "it rises",
                f"{_STATUS_MARK[g.status]}{_margin_text(g)}",
            )
        )
    header = ("guardrail", "arm", "control", "treatment", "Δ (95% CI)", "p", "harm if", "status")
    return _table(header, rows)


def _margin_text(g: GuardrailResult) -> str:
    if g.margin_rel is None:
        return ""
    verdict = "within margin" if g.within_margin else "breaches margin"
    p_text = pvalue(g.margin_p_value) if g.margin_p_value is not None else "p = n/a"
    return f" · {verdict} ({g.margin_rel:.1%} relative, one-sided {p_text})"


def _risks(a: Analysis) -> list[Block]:
    risks = []
    if a.experiment.input_format == "aggregated":
        risks.append(
            "Aggregated input: users cannot be checked for duplicates or for appearing "
            "in several arms."
        )
    if any(g.multi_count for g in a.guardrails):
        risks.append(
            "Some guardrails count several events per user: their rates are events "
            "per user, tested as Poisson rates; read with care."
        )
    if any(f.code == "small_arm" for f in a.health.findings):
        risks.append(
            f"Small samples: some arms have fewer than {a.thresholds.min_users_per_arm} users."
        )
    if any(m.comparison.method.startswith("fisher") for m in a.primary):
        risks.append("Few conversions: Fisher's exact test was used; power is low.")
    risks += [text(w) for w in a.warnings]
    if _always_valid(a):
        risks.append(
            "Always-valid analysis: the primary's interval and p hold at every look, so "
            "looking often and stopping early keep the false-positive rate at α; the price is "
            "a wider interval than a fixed-horizon test's at the same sample size."
        )
    elif a.sequential is None and a.experiment.look is None and not a.warnings:
        risks.append(
            "Fixed-horizon analysis: valid once, at the planned sample size. Looking "
            "repeatedly and stopping at the first significant result inflates false "
            "positives (peeking)."
        )
    return [_heading("h2", "Risks & limitations"), *[_item(_plain(r)) for r in risks]]


def _assumptions(a: Analysis) -> list[Block]:
    t = a.thresholds
    methods = sorted(
        {m.comparison.method for m in (*a.primary, *a.secondary)}
        | {g.metric.comparison.method for g in a.guardrails}
    )
    lines = [
        f"Significance level α = {t.alpha} (two-sided); 95% confidence intervals.",
        _primary_method(a),
        f"Several treatments: {t.correction} correction of p-values; overall chi-square test.",
        f"SRM: chi-square goodness of fit; Warning below p = {t.srm_warning_p}, Blocked below "
        f"p = {t.srm_blocked_p}.",
        f"Guardrails: worsened when Δ is in the harmful direction and above "
        f"{t.guardrail_worsened_pp} pp or significant; severe above {t.guardrail_severe_pp} pp.",
        f"Minimum users per arm: {t.min_users_per_arm}.",
        "Continuous metrics: Welch's t-test from sufficient statistics.",
        *_ratio_assumption(a),
        "Bayesian view: Beta(1,1) priors, exact numerical integration; explanatory only.",
        f"Methods used here: {', '.join(methods) or 'none (data blocked)'}.",
    ]
    if a.sequential:
        s = a.sequential
        lines.append(
            f"Sequential: look {s.look} of {s.of_looks}, information fraction "
            f"{s.information_fraction:.2f}, Lan–DeMets {s.spending} spending, boundary "
            f"|z| ≥ {s.boundary_z:.3f}; crossed: {'yes' if s.crossed else 'no'}."
        )
    return [_heading("h2", "Assumptions & thresholds"), *[_item(_plain(x)) for x in lines]]


def _always_valid(a: Analysis) -> bool:
    return bool(a.primary) and all(m.comparison.method == ALWAYS_VALID for m in a.primary)


def _primary_method(a: Analysis) -> str:
    if _always_valid(a):
        return (
            "Primary metric: always-valid inference — an asymptotic confidence sequence "
            "(Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas 2023, “Time-uniform central limit "
            "theory and asymptotic confidence sequences”; as GrowthBook's sequential test) "
            "around the difference in rates, its tuning parameter set from the planned sample "
            "size (5,000 users when none is planned), and the always-valid p-value, below α "
            "exactly when the sequence excludes 0. Both hold at every look, however often one "
            "looks. Relative lift interval by the delta method, widened by the same factor."
        )
    return (
        "Primary metric: unpooled (Wald) z-test with the CI from the same standard error; "
        "Fisher's exact test with the Newcombe interval when an expected cell count is below "
        f"{a.thresholds.fisher_min_expected:g}. Relative lift CI by the delta method."
    )


def _ratio_assumption(a: Analysis) -> list[str]:
    if not any(m.kind == "ratio" for m in a.secondary):
        return []
    return [
        "Ratio metrics (Σ numerator / Σ denominator per arm, the user the unit): variance by "
        "the delta method (Deng et al. 2018), z-test with the CI from the same standard error; "
        "relative lift CI by the delta method. Reported only, never part of the verdict."
    ]


# --------------------------------------------------------------------------- Markdown


_MD_STYLE = {"": ("", ""), "b": ("**", "**"), "i": ("_", "_"), "bi": ("**_", "_**")}
_MD_HEADING = {"h1": "# ", "h2": "## ", "h3": "### "}


def _md_runs(runs: Runs) -> str:
    out = []
    for style, value in runs:
        if not value:
            continue
        opening, closing = _MD_STYLE.get(style, ("", ""))
        if opening:  # emphasis must hug its words: spaces go outside the markers
            inner = value.strip()
            lead, trail = value[: len(value) - len(value.lstrip())], value[len(value.rstrip()) :]
            out.append(
                f"{lead}{opening}{escape_markdown(inner)}{closing}{trail}" if inner else value
            )
        else:
            out.append(escape_markdown(value))
    return "".join(out)


def _markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for index, block in enumerate(blocks):
        if block.kind == "table":
            header, *rows = block.rows
            lines.append("| " + " | ".join(_md_runs(c) for c in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(_md_runs(c) for c in row) + " |" for row in rows]
        elif block.kind == "li":
            marker = "- " if block.bullet in (None, "•") else f"{block.bullet} "
            lines.append(marker + _escape_line_start(_md_runs(block.rows[0][0])))
        else:
            heading = _MD_HEADING.get(block.kind, "")
            lines.append(heading + _escape_line_start(_md_runs(block.rows[0][0])))
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        if not (block.kind == "li" and following is not None and following.kind == "li"):
            lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML


_HTML_STYLE = {"": ("", ""), "b": ("<strong>", "</strong>"), "i": ("<em>", "</em>")}
_HTML_STYLE["bi"] = ("<strong><em>", "</em></strong>")


def _html_runs(runs: Runs) -> str:
    out = []
    for style, value in runs:
        opening, closing = _HTML_STYLE.get(style, ("", ""))
        out.append(opening + html.escape(value, quote=True) + closing)
    return "".join(out)


def _html(blocks: list[Block]) -> str:
    out: list[str] = []
    open_list: str | None = None
    for block in blocks:
        wanted = None
        if block.kind == "li":
            wanted = "ul" if block.bullet in (None, "•") else "ol"
        if open_list != wanted:
            if open_list:
                out.append(f"</{open_list}>")
            if wanted:
                out.append(f"<{wanted}>")
            open_list = wanted
        if block.kind == "table":
            header, *rows = block.rows
            out.append("<table>")
            out.append(
                "<thead><tr>"
                + "".join(f"<th>{_html_runs(c)}</th>" for c in header)
                + "</tr></thead>"
            )
            out.append("<tbody>")
            out += [
                "<tr>" + "".join(f"<td>{_html_runs(c)}</td>" for c in row) + "</tr>" for row in rows
            ]
            out.append("</tbody></table>")
        elif block.kind == "li":
            out.append(f"<li>{_html_runs(block.rows[0][0])}</li>")
        else:
            out.append(f"<{block.kind}>{_html_runs(block.rows[0][0])}</{block.kind}>")
    if open_list:
        out.append(f"</{open_list}>")
    return "\n".join(out)


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
