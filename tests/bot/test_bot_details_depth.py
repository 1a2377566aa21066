"""The Details message shows what the memo shows for user-level files: percentiles (p50/p90 with
Woodruff intervals) and the primary's lift by day of first exposure with its trend test."""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from pathlib import Path

import numpy as np
import statsmodels.api as sm
from harness import CHANNEL, RunningBot
from pypdf import PdfReader
from slack_sdk.models.blocks import Block
from slack_standin import SlackStandIn

from bot.render.card import ACTION_DETAILS
from bot.render.details import render_details
from bot.render.format import pp
from experimentos.cli import commands as cli
from experimentos.model import Options
from experimentos.report.charts.lift_by_day import lift_by_day_figure, trend_line
from experimentos.report.pdf import render_pdf
from experimentos.usecases import analyse_file


def _users(path: Path, *, days: int = 6, per_day: int = 400, seed: int = 7) -> Path:
    """One row per user: arm, conversion, revenue and the day of first exposure; the
    treatment's lift fades from +6 pp on day 1 by one point a day."""
    rng = random.Random(seed)
    lines = ["user_id,variant,converted,revenue,exposure_time"]
    user = 0
    for day in range(days):
        date = dt.date(2024, 5, 1) + dt.timedelta(days=day)
        for arm, rate in (("control", 0.10), ("treatment", 0.16 - 0.01 * day)):
            for _ in range(per_day):
                user += 1
                converted = int(rng.random() < rate)
                revenue = round(rng.lognormvariate(3, 1), 2) * converted
                lines.append(f"u{user},{arm},{converted},{revenue},{date}T10:00:00")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _text(blocks: list[Block]) -> str:
    return json.dumps([b.to_dict() for b in blocks], ensure_ascii=False)


def test_details_show_the_lift_by_exposure_day_and_its_trend(tmp_path: Path) -> None:
    analysis = analyse_file(_users(tmp_path / "users.csv"), options=Options())
    novelty = analysis.novelty
    assert novelty is not None and len(novelty.days) == 6
    text = _text(render_details(analysis))
    assert "Lift by exposure day" in text
    for day in novelty.days:  # each day's lift, recounted from the day's users
        assert f"{day.day}: {pp(day.lift)}" in text
        rates = day.treatment_converted / day.treatment_users - (
            day.control_converted / day.control_users
        )
        assert np.isclose(day.lift, rates)
    assert f"Trend: {pp(novelty.slope)} per day" in text
    assert novelty.slope < 0  # the fading lift is what the message reports


def test_details_show_percentiles_as_reported_only(tmp_path: Path) -> None:
    path = _users(tmp_path / "users.csv")
    analysis = analyse_file(path, options=Options())
    assert analysis.percentiles
    text = _text(render_details(analysis))
    assert "Percentiles" in text and "reported only" in text
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    for m in analysis.percentiles:  # the arms' values are numpy's quantiles of the raw revenue
        assert m.name in text
        q = 0.5 if "p50" in m.name else 0.9
        for arm in (m.control, m.treatment):
            values = [float(r[3]) for r in rows if r[1] == arm.arm]
            assert np.isclose(arm.value, np.quantile(values, q))


def test_details_without_dates_or_continuous_metrics_have_neither_section() -> None:
    csv = Path(__file__).resolve().parents[2] / "examples" / "launch.csv"
    text = _text(render_details(analyse_file(csv, options=Options())))
    assert "Lift by exposure day" not in text and "Percentiles" not in text


def test_the_charts_trend_line_is_statsmodels_weighted_least_squares(tmp_path: Path) -> None:
    novelty = analyse_file(_users(tmp_path / "users.csv"), options=Options()).novelty
    assert novelty is not None
    index = np.array([d.index for d in novelty.days], dtype=float)
    lifts = np.array([d.lift for d in novelty.days])
    weights = 1 / np.array([d.se for d in novelty.days]) ** 2
    fit = sm.WLS(lifts, sm.add_constant(index), weights=weights).fit()
    intercept, slope = trend_line(novelty)
    assert np.allclose([intercept, slope], fit.params, rtol=1e-9, atol=1e-12)
    figure = lift_by_day_figure(novelty)
    [trend] = [a for a in figure.axes[0].lines if a.get_gid() == "trend"]
    assert np.allclose(trend.get_ydata(), fit.predict(sm.add_constant([index[0], index[-1]])) * 100)


def test_the_pdf_memo_draws_the_lift_by_day_chart(tmp_path: Path) -> None:
    dated = analyse_file(_users(tmp_path / "users.csv"), options=Options())
    reader = PdfReader(io.BytesIO(render_pdf(dated)))
    assert sum(len(page.images) for page in reader.pages) == 2  # forest plot + lift by day
    csv = Path(__file__).resolve().parents[2] / "examples" / "launch.csv"
    plain = PdfReader(io.BytesIO(render_pdf(analyse_file(csv, options=Options()))))
    assert sum(len(page.images) for page in plain.pages) == 1


async def test_details_upload_the_lift_by_day_chart(
    bot: RunningBot, standin: SlackStandIn, tmp_path: Path
) -> None:
    content = _users(tmp_path / "users.csv").read_bytes()
    ts = await bot.upload([standin.add_file("users.csv", content)], text="name: Pricing page")
    [card] = await standin.wait_for(lambda: standin.cards(CHANNEL, ts))
    await bot.idle()
    value = next(b for b in card.blocks if b["type"] == "actions")["elements"][0]["value"]
    status, _ = await bot.action(ACTION_DETAILS, value, thread_ts=ts)
    assert status == 200
    uploads = await standin.wait_for(lambda: standin.uploads if len(standin.uploads) >= 2 else [])
    titles = [f["title"] for upload in uploads for f in upload["files"]]
    assert titles == ["Pricing page — forest plot", "Pricing page — lift by exposure day"]
    steps = standin.calls_to("files.getUploadURLExternal")
    assert "among users first exposed each day" in steps[1].args["alt_txt"]
    assert len(steps[1].args["alt_txt"]) <= 1000


def test_the_html_memo_embeds_the_lift_by_day_chart(tmp_path: Path) -> None:
    out = tmp_path / "memo.html"
    path = _users(tmp_path / "users.csv")
    assert cli.main(["analyze", str(path), "--format", "html", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("<img") == 2 and "among users first exposed each day" in page
