"""The one-page decision memo (SPEC §2.11): Markdown, and HTML exported from it.

Every string that came from the CSV or the user (names, labels, columns, findings that quote
them) passes through one escaping function, so it can neither format the memo nor inject HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable

import markdown as markdown_lib

from experimentos.formatting import interval, number, pct, pp, pvalue, rate
from experimentos.model import Analysis, GuardrailResult, MetricResult

Escape = Callable[[str], str]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_VERDICT_MARK = {"launch": "🟢", "hold": "🟡", "rollback": "🔴"}
_STATUS_MARK = {"ok": "✅ ok", "worsened": "⚠️ worsened", "severe": "⛔ severe"}


def escape_markdown(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def escape_html_markdown(text: str) -> str:
    return escape_markdown(html.escape(str(text), quote=True))


def render_markdown(analysis: Analysis, *, audit: Iterable[str] = ()) -> str:
    """The memo as Markdown. ``audit`` lines (recorded decisions) end it when given."""
    return "\n".join(_sections(analysis, escape_markdown, audit=tuple(audit))) + "\n"


def render_html(
    analysis: Analysis, *, audit: Iterable[str] = (), chart_data_uri: str | None = None
) -> str:
    """A standalone HTML page of the memo; the optional chart is embedded inline."""
    body = markdown_lib.markdown(
        "\n".join(_sections(analysis, escape_html_markdown, audit=tuple(audit))),
        extensions=["tables", "sane_lists"],
        output_format="html",
    )
    if chart_data_uri:
        body += f'\n<figure><img alt="Forest plot of every metric" src="{html.escape(chart_data_uri)}"></figure>'
    title = html.escape(f"Decision memo: {analysis.experiment.name}")
    return _HTML_PAGE.format(title=title, body=body)


def _sections(a: Analysis, esc: Escape, *, audit: tuple[str, ...]) -> list[str]:
    lines = [f"# Decision memo: {esc(a.experiment.name)}", ""]
    lines += _summary(a, esc)
    lines += _decision(a, esc)
    lines += _evidence(a, esc)
    lines += _risks(a, esc)
    lines += [
        "## Next actions",
        "",
        *[f"{i}. {esc(x)}" for i, x in enumerate(a.verdict.next_actions, 1)],
        "",
    ]
    lines += _assumptions(a)
    if audit:
        lines += ["## Decision audit trail", "", *[f"- {esc(x)}" for x in audit], ""]
    return lines


def _summary(a: Analysis, esc: Escape) -> list[str]:
    e = a.experiment
    arms = (
        ", ".join(esc(x) + (" (control)" if x == e.control else "") for x in e.arms) or "none read"
    )
    look = f" · look {e.look} of {e.of_looks}" if e.look else ""
    layout = "aggregated (one row per variant)" if e.input_format == "aggregated" else "user-level"
    return [
        "## Summary",
        "",
        f"- **Experiment:** {esc(e.name)}{look}",
        f"- **Variants:** {arms}",
        f"- **Primary metric:** {esc(e.primary_metric)}",
        f"- **Data:** {esc(e.file_name)} · {e.rows:,} rows · {layout} · sha256 {e.checksum[:12]}",
        "",
    ]


def _decision(a: Analysis, esc: Escape) -> list[str]:
    v = a.verdict
    lines = [
        "## Decision",
        "",
        f"**{_VERDICT_MARK[v.kind]} {v.label.upper()}** — {esc(v.reason)}",
        "",
    ]
    if v.kind == "hold" or len(v.reasons) > 1:
        lines += ["Why:" if v.kind != "hold" else "Why Hold:", ""]
        lines += [f"- {esc(r)}" for r in v.reasons] + [""]
    lines.append(f"_Decision rule {v.rule} of SPEC §2.9._")
    return [*lines, ""]


def _evidence(a: Analysis, esc: Escape) -> list[str]:
    lines = ["## Evidence", "", "### Data health", ""]
    h = a.health
    srm = f" · SRM chi-square {h.srm.chi2:.2f}, {pvalue(h.srm.p_value)}" if h.srm else ""
    lines += [f"**{h.status.capitalize()}**{srm}", ""]
    lines += [f"- {f.severity}: {esc(f.message)}" for f in h.findings]
    lines.append("")
    if a.primary:
        lines += ["### Primary metric", "", *_metric_table(a.primary, esc), ""]
        notes = dict.fromkeys(n for m in a.primary for n in m.notes)
        lines += [f"- {esc(n)}" for n in notes] + [""]
    if a.overall:
        lines += [
            f"Overall chi-square test across all arms: χ² = {a.overall.chi2:.2f}, "
            f"df = {a.overall.dof}, {pvalue(a.overall.p_value)}.",
            "",
        ]
    if a.guardrails:
        lines += ["### Guardrails", "", *_guardrail_table(a.guardrails, esc), ""]
    if a.segments:
        lines += ["### Segments", "", *_segment_table(a, esc), ""]
    if a.secondary:
        lines += [
            "### Other metrics (reported, not part of the verdict)",
            "",
            *_metric_table(a.secondary, esc),
            "",
            *[f"- {esc(m.name)}: {esc(n)}" for m in a.secondary for n in m.notes],
            "",
        ]
    if a.bayes:
        lines += [
            "### Bayesian view (explanatory; never changes the verdict)",
            "",
            "| arm | chance to beat control | P(best) | expected loss |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {esc(b.arm)} | {pct(b.chance_to_beat_control, signed=False)} | "
            f"{pct(b.prob_best, signed=False)} | {pp(b.expected_loss, digits=3)} |"
            for b in a.bayes.arms
        ]
        lines += ["", f"Priors {a.bayes.prior}; computed by {a.bayes.method}.", ""]
    return lines


def _metric_table(metrics: Iterable[MetricResult], esc: Escape) -> list[str]:
    rows = [
        "| metric | arm | control | treatment | Δ (95% CI) | relative (95% CI) | p | method |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in metrics:
        c = m.comparison
        fmt = rate if m.kind == "proportion" else number
        delta = pp if m.kind == "proportion" else _signed_number
        p_text = pvalue(m.p_value_adjusted) + (" (adj.)" if m.p_value_adjusted != c.p_value else "")
        name = esc(m.name) + (" (ratio)" if m.kind == "ratio" else "")
        rows.append(
            f"| {name} | {esc(m.arm)} vs {esc(m.control.arm)} | {fmt(m.control.value)} "
            f"(n={m.control.n:,}) | {fmt(m.treatment.value)} (n={m.treatment.n:,}) | "
            f"{delta(c.abs_lift)} {interval(*c.abs_ci, fmt=delta)} | {pct(c.rel_lift)} "
            f"{interval(*c.rel_ci, fmt=pct)} | {p_text} | {c.method} |"
        )
    return rows


def _segment_table(a: Analysis, esc: Escape) -> list[str]:
    rows = [
        "| segment | arm | control | treatment | Δ (95% CI) | p | SRM p |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in a.segments:
        m, c = r.metric, r.metric.comparison
        srm = pvalue(r.srm_p_value).removeprefix("p ") if r.srm_p_value is not None else "n/a"
        rows.append(
            f"| {esc(r.segment)} | {esc(m.arm)} | {rate(m.control.value)} (n={m.control.n:,}) | "
            f"{rate(m.treatment.value)} (n={m.treatment.n:,}) | {pp(c.abs_lift)} "
            f"{interval(*c.abs_ci)} | {pvalue(c.p_value)} | {srm} |"
        )
    rows.append("")
    for h in a.heterogeneity:
        rows.append(
            f"- Heterogeneity across segments for {esc(h.arm)}: Cochran's Q = {h.q:.2f}, "
            f"df = {h.dof}, {pvalue(h.p_value)}, I² = {h.i_squared:.0%}."
            + (
                " **Simpson's paradox**: the pooled lift has the opposite sign."
                if h.simpsons_paradox
                else ""
            )
        )
    return rows


def _signed_number(value: float) -> str:
    return number(value) if value < 0 else "+" + number(value)


def _guardrail_table(guardrails: Iterable[GuardrailResult], esc: Escape) -> list[str]:
    rows = [
        "| guardrail | arm | control | treatment | Δ (95% CI) | p | harm if | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in guardrails:
        m, c = g.metric, g.metric.comparison
        harm = "it drops" if g.higher_is_better else "it rises"
        rows.append(
            f"| {esc(m.name)} | {esc(m.arm)} | {rate(m.control.value)} | {rate(m.treatment.value)} | "
            f"{pp(c.abs_lift)} {interval(*c.abs_ci)} | {pvalue(c.p_value)} | {harm} | "
            f"{_STATUS_MARK[g.status]}{_margin_text(g)} |"
        )
    return rows


def _margin_text(g: GuardrailResult) -> str:
    if g.margin_rel is None:
        return ""
    verdict = "within margin" if g.within_margin else "breaches margin"
    p_text = pvalue(g.margin_p_value) if g.margin_p_value is not None else "p = n/a"
    return f" · {verdict} ({g.margin_rel:.1%} relative, one-sided {p_text})"


def _risks(a: Analysis, esc: Escape) -> list[str]:
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
    risks += list(a.warnings)
    if a.sequential is None and a.experiment.look is None and not a.warnings:
        risks.append(
            "Fixed-horizon analysis: valid once, at the planned sample size. Looking "
            "repeatedly and stopping at the first significant result inflates false "
            "positives (peeking)."
        )
    return ["## Risks & limitations", "", *[f"- {esc(r)}" for r in risks], ""]


def _assumptions(a: Analysis) -> list[str]:
    t = a.thresholds
    methods = sorted(
        {m.comparison.method for m in (*a.primary, *a.secondary)}
        | {g.metric.comparison.method for g in a.guardrails}
    )
    lines = [
        "## Assumptions & thresholds",
        "",
        f"- Significance level α = {t.alpha} (two-sided); 95% confidence intervals.",
        f"- Primary metric: unpooled (Wald) z-test with the CI from the same standard error; "
        f"Fisher's exact test with the Newcombe interval when an expected cell count is below "
        f"{t.fisher_min_expected:g}. Relative lift CI by the delta method.",
        f"- Several treatments: {t.correction} correction of p-values; overall chi-square test.",
        f"- SRM: chi-square goodness of fit; Warning below p = {t.srm_warning_p}, Blocked below "
        f"p = {t.srm_blocked_p}.",
        f"- Guardrails: worsened when Δ is in the harmful direction and above "
        f"{t.guardrail_worsened_pp} pp or significant; severe above {t.guardrail_severe_pp} pp.",
        f"- Minimum users per arm: {t.min_users_per_arm}.",
        "- Continuous metrics: Welch's t-test from sufficient statistics.",
        *_ratio_assumption(a),
        "- Bayesian view: Beta(1,1) priors, exact numerical integration; explanatory only.",
        f"- Methods used here: {', '.join(methods) or 'none (data blocked)'}.",
    ]
    if a.sequential:
        s = a.sequential
        lines.append(
            f"- Sequential: look {s.look} of {s.of_looks}, information fraction "
            f"{s.information_fraction:.2f}, Lan–DeMets {s.spending} spending, boundary "
            f"|z| ≥ {s.boundary_z:.3f}; crossed: {'yes' if s.crossed else 'no'}."
        )
    return [*lines, ""]


def _ratio_assumption(a: Analysis) -> list[str]:
    if not any(m.kind == "ratio" for m in a.secondary):
        return []
    return [
        "- Ratio metrics (Σ numerator / Σ denominator per arm, the user the unit): variance by "
        "the delta method (Deng et al. 2018), z-test with the CI from the same standard error; "
        "relative lift CI by the delta method. Reported only, never part of the verdict."
    ]


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
