"""ExperimentOS: A/B-test results in, a Launch / Hold / Rollback decision out.

The public API::

    from experimentos import analyze, Options, plan_sample_size, render_markdown

    analysis = analyze(csv_bytes, file_name="checkout.csv", options=Options(control="a"))
    analysis.verdict.kind        # "launch" | "hold" | "rollback"
    render_markdown(analysis)    # the decision memo
"""

from experimentos.analysis.assemble import analyze, analyze_data
from experimentos.errors import ExperimentError, OptionError, UnreadableFileError
from experimentos.model import Analysis, GuardrailSpec, Options, Thresholds, Verdict
from experimentos.options import parse_message_options
from experimentos.report.memo import render_html, render_markdown
from experimentos.stats.power import SampleSizePlan, plan_sample_size

__all__ = [
    "Analysis",
    "ExperimentError",
    "GuardrailSpec",
    "OptionError",
    "Options",
    "SampleSizePlan",
    "Thresholds",
    "UnreadableFileError",
    "Verdict",
    "analyze",
    "analyze_data",
    "parse_message_options",
    "plan_sample_size",
    "render_html",
    "render_markdown",
]
