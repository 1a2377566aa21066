"""Looks over real HTTP: a CSV in an experiment's thread is its next look, with what changed."""

from __future__ import annotations

import csv
import io
import re

from harness import CHANNEL, RunningBot, button_value, cards_in, header_of, texts_of
from slack_standin import SlackStandIn
from statsmodels.stats import proportion as sm_proportion

from bot.render.card import ACTION_DETAILS, ACTION_MEMO

LOOK_1 = b"variant,users,conversions,guardrail_error\ncontrol,4000,400,40\ntreatment,4000,428,41\n"
LOOK_2 = b"variant,users,conversions,guardrail_error\ncontrol,9000,900,90\ntreatment,9000,1010,92\n"
LOOK_3 = (
    b"variant,users,conversions,guardrail_error,guardrail_refund\n"
    b"control,14000,1400,140,70\ntreatment,14000,1590,141,71\n"
)


def lift_and_p(content: bytes) -> tuple[str, float]:
    """The primary's lift as the card rounds it, and statsmodels' unpooled Wald p (treatment is
    its sample 1), from the file's counts."""
    rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(content.decode()))}
    x_c, n_c = int(rows["control"]["conversions"]), int(rows["control"]["users"])
    x_t, n_t = int(rows["treatment"]["conversions"]), int(rows["treatment"]["users"])
    test = sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
    return f"{(x_t / n_t - x_c / n_c) * 100:+.2f} pp", test.pvalue


(LIFT_1, P_1), (LIFT_2, P_2) = lift_and_p(LOOK_1), lift_and_p(LOOK_2)  # +0.70 pp, +1.22 pp


async def test_a_csv_in_a_cards_thread_is_look_2_with_the_look_diff(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    # The fixed-horizon test, asked for (no charter plan gives always-valid inference).
    ts = await bot.upload(
        [standin.add_file("week1.csv", LOOK_1)], text="name: Checkout v2\nmethod: fixed"
    )
    [first] = await cards_in(bot, ts)
    assert "`EXP-1` · Look 1" in texts_of(first)
    assert "Since look" not in texts_of(first)

    await bot.upload([standin.add_file("week2.csv", LOOK_2)], thread_ts=ts, text="method: fixed")
    second = (await cards_in(bot, ts, count=2))[1]
    rendered = texts_of(second)
    assert "Checkout v2" in header_of(second)  # the experiment's name, not the file's
    assert "`EXP-1` · Look 2" in rendered
    assert f"Since look 1: lift {LIFT_1} → {LIFT_2}" in rendered
    assert P_1 > 0.05 and P_2 < 0.05  # hence Hold, then Launch (no guardrail moves)
    assert "verdict Hold → Launch" in rendered
    # No planned looks: the second look carries the peeking warning.
    assert "Peeking: this is look 2" in rendered

    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, ts)
    assert experiment is not None and experiment.look_count == 2
    assert experiment.status == "running"
    looks = await store.analyses_for(standin.team_id, experiment.id)
    assert [r.file_name for r in looks] == ["week1.csv", "week2.csv"]
    assert all(r.thread_ts == ts and r.message_ts for r in looks)


async def test_a_csv_outside_any_thread_starts_a_new_experiment(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    first = await bot.upload([standin.add_file("search-ranking.csv", LOOK_1)])
    [card_a] = await cards_in(bot, first)
    second = await bot.upload([standin.add_file("search-ranking.csv", LOOK_2)])
    [card_b] = await cards_in(bot, second)
    assert "`EXP-1` · Look 1" in texts_of(card_a)
    assert "`EXP-2` · Look 1" in texts_of(card_b)
    assert "search-ranking" in header_of(card_b)
    assert "Peeking" not in texts_of(card_b)


async def test_several_csvs_in_one_new_message_are_experiments_of_their_own(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = await bot.upload([standin.add_file("a.csv", LOOK_1), standin.add_file("b.csv", LOOK_2)])
    cards = await cards_in(bot, ts, count=2)
    refs = sorted(re.search(r"`(EXP-\d+)` · Look 1", texts_of(c)).group(1) for c in cards)  # type: ignore[union-attr]
    assert refs == ["EXP-1", "EXP-2"]
    store = bot.runtime.services.store
    owner = await store.find_experiment_by_thread(standin.team_id, CHANNEL, ts)
    assert owner is not None and owner.name == "a" and owner.look_count == 1
    # A later CSV in the thread is a look at the thread's (first) experiment.
    await bot.upload([standin.add_file("a-week2.csv", LOOK_2)], thread_ts=ts)
    third = (await cards_in(bot, ts, count=3))[2]
    assert "`EXP-1` · Look 2" in texts_of(third)


async def test_changed_guardrails_after_the_first_look_are_flagged(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = await bot.upload(
        [standin.add_file("week1.csv", LOOK_1)],
        text="name: Refunds\nguardrails: guardrail_error",
    )
    await cards_in(bot, ts)
    await bot.upload([standin.add_file("week2.csv", LOOK_2)], thread_ts=ts)
    second = (await cards_in(bot, ts, count=2))[1]
    assert "Charter changed" not in texts_of(second)  # same guardrails: inherited, no change
    await bot.upload(
        [standin.add_file("week3.csv", LOOK_3)],
        thread_ts=ts,
        text="guardrails: guardrail_error, guardrail_refund",
    )
    third = (await cards_in(bot, ts, count=3))[2]
    rendered = texts_of(third)
    assert ":lock: *Charter changed after the first look:*" in rendered
    assert "guardrails guardrail_error → *guardrail_error, guardrail_refund*" in rendered
    assert "<@U0ANALYST>" in rendered
    assert "guardrail_refund" in rendered  # and the new guardrail is analysed
    experiment = await bot.runtime.services.store.find_experiment_by_thread(
        standin.team_id, CHANNEL, ts
    )
    assert experiment is not None
    assert [c.field for c in experiment.charter_changes] == ["guardrails"]
    # …and the memo says so in its audit trail.
    await bot.action(ACTION_MEMO, button_value(third, ACTION_MEMO), thread_ts=ts)
    await standin.wait_for(lambda: standin.uploads)
    markdown = next(b for b in standin.upload_bodies.values() if b.startswith(b"# Decision memo"))
    trail = markdown.decode().split("## Decision audit trail", 1)[1]
    assert (
        "Charter changed after the first look — guardrails: guardrail\\_error → "
        "guardrail\\_error, guardrail\\_refund (by U0ANALYST on" in trail
    )


async def test_details_of_a_later_look_adds_the_looks_chart(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    ts = await bot.upload([standin.add_file("week1.csv", LOOK_1)], text="name: Checkout v2")
    await cards_in(bot, ts)
    await bot.upload([standin.add_file("week2.csv", LOOK_2)], thread_ts=ts)
    second = (await cards_in(bot, ts, count=2))[1]
    await bot.action(ACTION_DETAILS, button_value(second, ACTION_DETAILS), thread_ts=ts)
    uploads = await standin.wait_for(lambda: len(standin.uploads) >= 2 and standin.uploads)
    titles = [f["title"] for u in uploads for f in u["files"]]
    assert titles == ["Checkout v2 — forest plot", "Checkout v2 — looks"]
    alt = standin.calls_to("files.getUploadURLExternal")[1].args["alt_txt"]
    assert f"look 1: {LIFT_1}" in alt and f"look 2: {LIFT_2}" in alt
