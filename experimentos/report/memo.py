"""The one-page decision memo (SPEC §2.11): one document built from the result tree.

:func:`memo_document` builds the memo once as sections of headings, paragraphs, lists and tables
of literal text (:mod:`experimentos.report.document`); :func:`render_markdown`,
:func:`render_html` (:mod:`experimentos.report.markup`) and the PDF (:mod:`experimentos.report.pdf`)
each write that document in their own markup, escaping every character as they go, so the
formats say the same words and the time to write them is linear in the memo.

Every string that came from the CSV or the user (names, labels, columns, findings that quote
them) is shown through :func:`experimentos.formatting.display_label` or
:func:`~experimentos.formatting.display_text`: no control or bidi characters, a bounded length,
and no leading formula character. The JSON result keeps the full text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from experimentos.analysis.decision_rules import rule_in_words
from experimentos.formatting import display_label as label
from experimentos.formatting import display_text as text
from experimentos.formatting import small_p
from experimentos.model import Analysis, GuardrailResult
from experimentos.report.document import (
    Block,
    Document,
    Highlight,
    Paragraph,
    Section,
    bold,
    italic,
    item_list,
    plain,
    text_list,
)
from experimentos.report.markup import html_page, markdown
from experimentos.report.memo_evidence import evidence, metric_table
from experimentos.stats.always_valid import METHOD as ALWAYS_VALID

__all__ = ["memo_document", "render_html", "render_markdown"]

_VERDICT_MARK = {"launch": "🟢", "hold": "🟡", "rollback": "🔴"}


def render_markdown(analysis: Analysis, *, audit: Iterable[str] = ()) -> str:
    """The memo as Markdown. ``audit`` lines (recorded decisions) end it when given."""
    return markdown(memo_document(analysis, audit=audit))


def render_html(
    analysis: Analysis,
    *,
    audit: Iterable[str] = (),
    chart_data_uri: str | None = None,
    figures: Sequence[tuple[str, str]] = (),
) -> str:
    """A standalone HTML page of the memo; the optional chart is embedded inline."""
    return html_page(
        memo_document(analysis, audit=audit), chart_data_uri=chart_data_uri, figures=figures
    )


def memo_document(analysis: Analysis, *, audit: Iterable[str] = ()) -> Document:
    """The memo as one document: what every format writes. ``audit`` lines end it when given."""
    a, e = analysis, analysis.experiment
    actions = [text(x) for x in a.verdict.next_actions]
    sections = [
        _summary(a),
        _decision(a),
        evidence(a),
        Section("Risks & limitations", text_list(_risks(a))),
        Section("Next actions", text_list(actions, numbered=True)),
        Section("Assumptions & thresholds", text_list(_assumptions(a))),
    ]
    lines = [text(x) for x in audit]
    if lines:
        sections.append(Section("Decision audit trail", text_list(lines)))
    return Document(
        title=f"Decision memo: {label(e.name)}",
        sections=tuple(sections),
        subject=f"Verdict: {a.verdict.label}",
        footer=(
            f"ExperimentOS decision memo · {label(e.name, limit=60)} · sha256 {e.checksum[:12]}"
        ),
    )


def _summary(a: Analysis) -> Section:
    e = a.experiment
    arms = (
        ", ".join(label(x) + (" (control)" if x == e.control else "") for x in e.arms)
        or "none read"
    )
    look = f" · look {e.look} of {e.of_looks}" if e.look else ""
    layout = "aggregated (one row per variant)" if e.input_format == "aggregated" else "user-level"
    data = f" {label(e.file_name)} · {e.rows:,} rows · {layout} · sha256 {e.checksum[:12]}"
    entries = [
        (bold("Experiment:"), plain(f" {label(e.name)}{look}")),
        (bold("Variants:"), plain(f" {arms}")),
        (bold("Primary metric:"), plain(f" {label(e.primary_metric)}")),
        (bold("Data:"), plain(data)),
    ]
    return Section("Summary", item_list(entries))


def _decision(a: Analysis) -> Section:
    v = a.verdict
    verdict = (bold(f"{_VERDICT_MARK[v.kind]} {v.label.upper()}"), plain(f" — {text(v.reason)}"))
    blocks: list[Block] = [Highlight(verdict, tone=v.kind)]
    if v.kind == "hold" or len(v.reasons) > 1:
        blocks.append(Paragraph((plain("Why:" if v.kind != "hold" else "Why Hold:"),)))
        blocks += text_list(text(r) for r in v.reasons)
    blocks.append(Paragraph((italic(rule_in_words(v, guardrails=len(_guardrails_of(a)))),)))
    return Section("Decision", tuple(blocks), _risk_aware_rule(a), key="decision")


def _guardrails_of(a: Analysis) -> tuple[GuardrailResult, ...]:
    """The guardrails checked for the verdict's treatment (every arm's when it names none)."""
    return a.guardrails_for(a.verdict.arm) if a.verdict.arm else a.guardrails


def _risk_aware_rule(a: Analysis) -> tuple[Section, ...]:
    """When the risk-aware rule decided: the rule in one paragraph and its success metrics."""
    if a.verdict.decision_rule != "risk-aware":
        return ()
    alpha, family = a.thresholds.alpha, max(len(a.success), 1)
    rule = (
        "Ship when at least one success metric improves significantly, at "
        f"α = {alpha / family:.4g} (Bonferroni over {family} success comparisons: "
        "metrics × treatment arms), and every guardrail is non-inferior to its margin "
        f"(one-sided at α = {alpha:g}, no correction: all must pass). A significant "
        f"deterioration (one-sided at α = {alpha:g}) of a success metric rolls back, of "
        "a guardrail holds; anything else holds."
    )
    blocks = (Paragraph((plain(rule),)), *([metric_table(a.success)] if a.success else []))
    title = "Decision rule: risk-aware (Schultzberg, Ankargren & Frånberg 2024)"
    return (Section(title, blocks),)


def _risks(a: Analysis) -> list[str]:
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
    if any(m.comparison.method == "score" for m in a.primary):
        risks.append(
            "Few conversions (or non-conversions) in an arm: the primary uses the score test; "
            "power is low, read the interval rather than the verdict alone."
        )
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
    return risks


def _assumptions(a: Analysis) -> list[str]:
    t = a.thresholds
    methods = sorted(
        {m.comparison.method for m in (*a.primary, *a.secondary)}
        | {g.metric.comparison.method for g in a.guardrails}
    )
    lines = [
        f"Significance level α = {t.alpha} (two-sided); 95% confidence intervals.",
        _primary_method(a),
        f"Several treatments: {t.correction} correction of p-values"
        + ("; overall chi-square test." if _rate_primary(a) else "."),
        f"SRM: chi-square goodness of fit; Warning below p = {small_p(t.srm_warning_p)}, Blocked "
        f"below p = {small_p(t.srm_blocked_p)}.",
        f"Guardrails: worsened when Δ is in the harmful direction and above "
        f"{t.guardrail_worsened_pp} pp or significant; severe above {t.guardrail_severe_pp} pp.",
        f"Minimum users per arm: {t.min_users_per_arm}.",
        "Continuous metrics: Welch's t-test from sufficient statistics.",
        *_ratio_assumption(a),
        *(
            ["Bayesian view: Beta(1,1) priors, exact numerical integration; explanatory only."]
            if _rate_primary(a)
            else []
        ),
        f"Methods used here: {', '.join(methods) or 'none (data blocked)'}.",
    ]
    if a.sequential:
        s = a.sequential
        lines.append(
            f"Sequential: look {s.look} of {s.of_looks}, information fraction "
            f"{s.information_fraction:.2f}, Lan–DeMets {s.spending} spending, boundary "
            f"|z| ≥ {s.boundary_z:.3f}; crossed: {'yes' if s.crossed else 'no'}."
        )
    return lines


def _always_valid(a: Analysis) -> bool:
    return bool(a.primary) and all(m.comparison.method == ALWAYS_VALID for m in a.primary)


def _rate_primary(a: Analysis) -> bool:
    """A 0/1 primary (or none, when the data is blocked): the default wording applies."""
    return not a.primary or a.primary[0].kind == "proportion"


def _primary_method(a: Analysis) -> str:
    if not _rate_primary(a):
        return _continuous_primary_method(a)
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
        "Primary metric: unpooled (Wald) z-test with the CI from the same standard error, "
        "relative lift CI by the delta method; when any arm has fewer than "
        f"{a.thresholds.score_min_events} conversions or non-conversions, where the Wald "
        "test's false-positive rate exceeds α, the Miettinen–Nurminen score test with the "
        "score intervals of the difference and of the relative lift (Miettinen & Nurminen "
        "1985), which exclude no change exactly when p < α."
    )


def _continuous_primary_method(a: Analysis) -> str:
    """The method line of a continuous or ratio primary: its lift is in the metric's units."""
    if a.primary[0].kind == "ratio":
        test = (
            "ratio of sums per arm (the user the unit), variance by the delta method (Deng et "
            "al. 2018), z-test with the CI from the same standard error"
        )
    else:
        test = (
            "difference in means by Welch's t-test from sufficient statistics (n, Σx, Σx²), "
            "Welch–Satterthwaite degrees of freedom; CUPED (Deng et al. 2013) when a pre_ "
            "column gives the pre-period value"
        )
    sequence = (
        "; an always-valid confidence sequence (Waudby-Smith et al. 2023) around it, valid at "
        "every look"
        if _always_valid(a)
        else ""
    )
    return (
        f"Primary metric ({a.primary[0].kind}, Δ in its own units): {test}{sequence}. Relative "
        "lift CI by the delta method."
    )


def _ratio_assumption(a: Analysis) -> list[str]:
    if not any(m.kind == "ratio" for m in a.secondary):
        return []
    return [
        "Ratio metrics (Σ numerator / Σ denominator per arm, the user the unit): variance by "
        "the delta method (Deng et al. 2018), z-test with the CI from the same standard error; "
        "relative lift CI by the delta method. Reported only, never part of the verdict."
    ]
