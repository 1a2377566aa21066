"""Always-valid inference in Slack, over real HTTP: a thread whose charter plans no looks is
analysed with asymptotic confidence sequences from its first look (card, verdict, memo); a charter
with planned looks keeps group-sequential boundaries; a ``method:`` line overrides.

The intervals are checked against gbstats' ``SequentialTwoSidedTTest`` (an implementation that is
not ours) and statsmodels' Wald interval, on the counts of each file.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from gbstats.frequentist.tests import SequentialConfig, SequentialTwoSidedTTest
from gbstats.models.statistics import ProportionStatistic
from harness import CHANNEL, RunningBot, cards_in, form_values, header_of, texts_of
from slack_standin import SlackStandIn
from statsmodels.stats import proportion as sm_proportion

from bot.render.charter_modal import CALLBACK_CHARTER
from bot.render.format import ci_pp
from experimentos.model_json import analysis_from_dict
from experimentos.report.charts.look_trend import LookPoint, looks_figure
from experimentos.report.memo import render_markdown

LOOK_1 = b"variant,users,conversions\ncontrol,4000,400\ntreatment,4000,428\n"
# Fixed-horizon Wald p ≈ 0.01 (a Launch if tested once), always-valid p ≈ 0.18: Hold.
LOOK_2 = b"variant,users,conversions\ncontrol,9000,900\ntreatment,9000,1010\n"
SAFE_LINE = "*Always-valid inference:* peeking is safe — look as often as you like"


def counts(content: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    """((control users, conversions), (treatment users, conversions)) of a two-arm file."""
    rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(content.decode()))}
    return tuple(  # type: ignore[return-value]
        (int(rows[arm]["users"]), int(rows[arm]["conversions"])) for arm in ("control", "treatment")
    )


def gbstats_sequential(content: bytes, tuning: int = 5000) -> Any:
    (n_c, x_c), (n_t, x_t) = counts(content)
    config = SequentialConfig(difference_type="absolute", sequential_tuning_parameter=tuning)
    return SequentialTwoSidedTTest(
        ProportionStatistic(n=n_c, sum=x_c), ProportionStatistic(n=n_t, sum=x_t), config
    )


def wald(content: bytes) -> tuple[tuple[float, float], float]:
    """statsmodels' unpooled Wald interval and p for treatment − control."""
    (n_c, x_c), (n_t, x_t) = counts(content)
    low, high = sm_proportion.confint_proportions_2indep(
        x_t, n_t, x_c, n_c, method="wald", compare="diff"
    )
    p = sm_proportion.test_proportions_2indep(
        x_t, n_t, x_c, n_c, method="wald", compare="diff"
    ).pvalue
    return (float(low), float(high)), float(p)


async def stored_looks(bot: RunningBot, standin: SlackStandIn, ts: str) -> list[Any]:
    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, ts)
    assert experiment is not None
    return await store.analyses_for(standin.team_id, experiment.id)


def memo_of(record: Any) -> str:
    """The memo of a stored look, rendered as the Memo button renders it: from the stored result."""
    return render_markdown(analysis_from_dict(record.result))


async def new_charter(bot: RunningBot, standin: SlackStandIn, **fields: Any) -> str:
    """Submit ``/experiment new`` and return the ts of the charter message (its thread)."""
    values = {"name": "Checkout v2", "primary": "conversions", "split": "50/50", **fields}
    status, _ = await bot.view_submission(
        CALLBACK_CHARTER,
        form_values(**{k: v for k, v in values.items() if v is not None}),
        private_metadata=json.dumps({"c": CHANNEL}),
    )
    assert status == 200
    [charter] = await standin.wait_for(lambda: standin.messages)
    return str(charter.ts)


async def test_a_thread_without_a_look_plan_is_always_valid_from_its_first_look(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = await bot.upload([standin.add_file("week1.csv", LOOK_1)], text="name: Checkout v2")
    await cards_in(bot, ts)
    await bot.upload([standin.add_file("week2.csv", LOOK_2)], thread_ts=ts)
    cards = await cards_in(bot, ts, count=2)
    looks = await stored_looks(bot, standin, ts)
    assert [r.look for r in looks] == [1, 2]

    for content, card, record in zip((LOOK_1, LOOK_2), cards, looks, strict=True):
        theirs = gbstats_sequential(content)
        rendered = texts_of(card)
        assert f"95% CI {ci_pp(tuple(theirs.confidence_interval))}" in rendered
        assert SAFE_LINE in rendered
        assert "Peeking" not in rendered
        assert "always-valid confidence sequence" in rendered  # the card's methods line
        comparison = record.result["primary"][0]["comparison"]
        assert comparison["abs_ci"] == pytest.approx(theirs.confidence_interval, abs=1e-9)
        assert comparison["p_value"] == pytest.approx(theirs.p_value, abs=1e-9)
        assert "Waudby-Smith" in memo_of(record)
        assert "unpooled (Wald) z-test" not in memo_of(record)

    # The verdict follows the always-valid p: look 2 would be a Launch tested once.
    _ci, fixed_p = wald(LOOK_2)
    assert fixed_p < 0.05 < gbstats_sequential(LOOK_2).p_value
    assert "Hold" in header_of(cards[1])
    assert "Since look 1:" in texts_of(cards[1]) and "verdict still Hold" in texts_of(cards[1])


async def test_the_charters_target_sample_size_tunes_the_sequence(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    charter_ts = await new_charter(bot, standin, target="30000")
    await bot.upload([standin.add_file("week1.csv", LOOK_2)], thread_ts=charter_ts)
    [card] = await cards_in(bot, charter_ts)
    rendered = texts_of(card)
    tuned = gbstats_sequential(LOOK_2, tuning=30_000)
    assert f"95% CI {ci_pp(tuple(tuned.confidence_interval))}" in rendered
    assert ci_pp(tuple(tuned.confidence_interval)) != ci_pp(
        tuple(gbstats_sequential(LOOK_2).confidence_interval)
    )
    assert "tuned for 30,000 users" in rendered and SAFE_LINE in rendered


async def test_a_charter_with_planned_looks_keeps_group_sequential_boundaries(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    charter_ts = await new_charter(bot, standin, looks="3", target="30000")
    await bot.upload([standin.add_file("week1.csv", LOOK_1)], thread_ts=charter_ts)
    [card] = await cards_in(bot, charter_ts)
    rendered = texts_of(card)
    assert "`EXP-1` · Look 1 of 3" in rendered
    assert "Look 1 of 3 (obf, information" in rendered  # the boundary line
    assert f"95% CI {ci_pp(wald(LOOK_1)[0])}" in rendered
    assert SAFE_LINE not in rendered and "always-valid" not in rendered

    # method: always-valid in the message overrides the charter's plan.
    await bot.upload(
        [standin.add_file("week2.csv", LOOK_2)], thread_ts=charter_ts, text="method: always-valid"
    )
    second = (await cards_in(bot, charter_ts, count=2))[1]
    tuned = gbstats_sequential(LOOK_2, tuning=30_000)
    assert f"95% CI {ci_pp(tuple(tuned.confidence_interval))}" in texts_of(second)
    assert SAFE_LINE in texts_of(second)
    assert "Look 2 of 3 (obf" not in texts_of(second)


async def test_method_fixed_gives_the_fixed_test_and_the_peeking_warning(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = await bot.upload([standin.add_file("week1.csv", LOOK_1)], text="method: fixed")
    [first] = await cards_in(bot, ts)
    assert f"95% CI {ci_pp(wald(LOOK_1)[0])}" in texts_of(first)
    assert SAFE_LINE not in texts_of(first) and "Peeking" not in texts_of(first)

    await bot.upload([standin.add_file("week2.csv", LOOK_2)], thread_ts=ts, text="method: fixed")
    second = (await cards_in(bot, ts, count=2))[1]
    rendered = texts_of(second)
    assert f"95% CI {ci_pp(wald(LOOK_2)[0])}" in rendered
    assert "Launch" in header_of(second)  # p ≈ 0.01 from the fixed-horizon test
    assert "Peeking: this is look 2" in rendered and SAFE_LINE not in rendered
    [_, record] = await stored_looks(bot, standin, ts)
    assert "unpooled (Wald) z-test" in memo_of(record)
    assert "Waudby-Smith" not in memo_of(record)


async def test_group_sequential_without_a_look_plan_is_explained(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = await bot.upload([standin.add_file("week1.csv", LOOK_1)], text="method: group-sequential")
    await standin.wait_for(lambda: any("look plan" in m.text for m in standin.thread(CHANNEL, ts)))
    await bot.idle()
    [answer] = [m for m in standin.thread(CHANNEL, ts) if "look plan" in m.text]
    assert "plan the looks in the charter" in answer.text
    assert not standin.cards(CHANNEL, ts)


def test_the_looks_chart_says_always_valid_intervals_are_safe_to_peek_at() -> None:
    points = [LookPoint(1, 0.9, 0.007, (-0.014, 0.028)), LookPoint(2, 2.5, 0.012, (-0.002, 0.027))]
    safe = looks_figure(points, of_looks=None, always_valid=True).axes[0].get_title(loc="left")
    fixed = looks_figure(points, of_looks=None).axes[0].get_title(loc="left")
    assert "always-valid" in safe and "peeking is safe" in safe
    assert "inflate false positives" in fixed


async def test_a_charter_that_chooses_the_fixed_horizon_is_tested_once_and_warns_at_peeks(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    charter_ts = await new_charter(bot, standin, method="fixed")
    assert "Fixed horizon (one analysis)" in texts_of(standin.messages[0])
    await bot.upload([standin.add_file("week1.csv", LOOK_1)], thread_ts=charter_ts)
    await cards_in(bot, charter_ts)
    await bot.upload([standin.add_file("week2.csv", LOOK_2)], thread_ts=charter_ts)
    cards = await cards_in(bot, charter_ts, count=2)
    (low, high), p = wald(LOOK_2)
    rendered = texts_of(cards[1])
    assert f"95% CI {ci_pp((low, high))}" in rendered  # statsmodels' Wald interval, not a sequence
    assert SAFE_LINE not in rendered and "Peeking" in rendered
    [_, second] = await stored_looks(bot, standin, charter_ts)
    assert second.result["primary"][0]["comparison"]["p_value"] == pytest.approx(p, abs=1e-12)


async def test_group_sequential_in_the_charter_needs_planned_looks(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    values = {"name": "Checkout v2", "split": "50/50", "method": "group-sequential"}
    status, body = await bot.view_submission(
        CALLBACK_CHARTER, form_values(**values), private_metadata=json.dumps({"c": CHANNEL})
    )
    assert status == 200 and body["response_action"] == "errors"
    assert "needs planned looks" in body["errors"]["method"]
    assert not standin.messages
