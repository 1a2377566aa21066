"""The Details message shows what the memo shows for user-level files: percentiles (p50/p90 with
Woodruff intervals) and the primary's lift by day of first exposure with its trend test."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import numpy as np
from slack_sdk.models.blocks import Block

from bot.render.details import render_details
from bot.render.format import pp
from experimentos.model import Options
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
