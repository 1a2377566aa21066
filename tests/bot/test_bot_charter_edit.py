"""``/experiment edit EXP-n`` over real HTTP, with the history in a real SQLite file and in a fresh
schema on the real PostgreSQL (TEST_DATABASE_URL): the form opens holding the stored charter, a
save replaces the charter and tells the thread what changed, a change of a locked field after the
first look is recorded and shown on the next card, and what may not be edited is refused."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from harness import (
    CHANNEL,
    USER,
    RunningBot,
    cards_in,
    form_values,
    mrkdwn_texts,
    settings_for,
    shared_history,
    start_bot,
    stop_bot,
    texts_of,
    view_of,
)
from slack_standin import Message, SlackStandIn

from bot.render.charter_modal import CALLBACK_CHARTER, CALLBACK_CHARTER_EDIT
from experimentos.store import Charter, HistoryStore

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
VARIABLE = "EXPOS_TEST_EDIT_SOURCE"
EDITOR = "U0EDITOR"
CHARTER: dict[str, Any] = {
    "name": "Checkout v2",
    "owner": "U0OWNER",
    "hypothesis": "A shorter checkout lifts conversion because fewer people drop out",
    "segment": "new users on web",
    "primary": "conversions",
    "guardrails": "guardrail_error worsened=0.5 severe=1\nguardrail_refund higher-is-better margin=1%",
    "split": "60/40",
    "looks": "3",
    "method": "group-sequential",
    "target": "30000",
    "start": "2026-11-01",
    "end": "2026-11-30",
    "reach": "20000",
    "impact": "2",
    "confidence": "80",
    "effort": "4",
    "source_env": VARIABLE,
    "source_query": "SELECT user_id, variant, converted FROM checkout_users",
    "refresh_schedule": "Weekdays 09:00",
}
# 60/40 as planned, 10,000 of the 30,000 users; then 20,000.
WEEK_1 = (
    b"variant,users,conversions,guardrail_error,guardrail_refund\n"
    b"control,6000,600,60,120\ntreatment,4000,480,52,81\n"
)
WEEK_2 = (
    b"variant,users,conversions,guardrail_error,guardrail_refund\n"
    b"control,12000,1200,120,240\ntreatment,8000,900,90,160\n"
)


@pytest.fixture(autouse=True)
def allowed_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator lists the test's variable among the bot's data sources."""
    monkeypatch.setenv("EXPERIMENTOS_SOURCES", VARIABLE)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[HistoryStore]:
    """The history: a SQLite file, or a fresh schema on the real PostgreSQL, dropped afterwards."""
    async with shared_history(request.param, tmp_path, prefix="bot_edit") as (_, [opened]):
        yield opened


@pytest.fixture
async def bot(
    standin: SlackStandIn, analysis_pool: Executor, store: HistoryStore
) -> AsyncIterator[RunningBot]:
    running = await start_bot(standin, settings_for(standin), analysis_pool, store=store)
    yield running
    await stop_bot(running)


async def create(bot: RunningBot, standin: SlackStandIn, **changes: Any) -> Message:
    """``/experiment new`` submitted with CHARTER (``None`` leaves a field empty)."""
    fields = {k: v for k, v in {**CHARTER, **changes}.items() if v is not None}
    before = len(standin.messages)
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER, form_values(**fields), private_metadata=json.dumps({"c": CHANNEL})
    )
    assert status == 200 and answer is None, answer
    return standin.messages[before]


async def submit_edit(
    bot: RunningBot, values: dict[str, Any], *, number: int = 1, metadata: str | None = None
) -> Any:
    """Save the edit form holding ``values``; returns Slack's answer (None: the modal closes)."""
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER_EDIT,
        values,
        private_metadata=metadata or json.dumps({"c": CHANNEL, "n": number}),
        user=EDITOR,
    )
    assert status == 200
    await bot.idle()
    return answer


async def edit(bot: RunningBot, **changes: Any) -> Any:
    """Save EXP-1's form with CHARTER's values but ``changes`` (``None`` clears a field)."""
    fields = {k: v for k, v in {**CHARTER, **changes}.items() if v is not None}
    return await submit_edit(bot, form_values(**fields))


async def stored(bot: RunningBot, standin: SlackStandIn, number: int = 1) -> Any:
    experiment = await bot.runtime.services.store.get_experiment(standin.team_id, number)
    assert experiment is not None
    return experiment


async def ephemeral(bot: RunningBot, standin: SlackStandIn, text: str, **where: Any) -> str:
    """The one line only the user sees after ``/experiment <text>``."""
    response_id = uuid.uuid4().hex
    status, _ = await bot.command(text, response_id=response_id, **where)
    assert status == 200
    [line] = await standin.wait_for(
        lambda: [r for r in standin.responses if r["_response_id"] == response_id]
    )
    await bot.idle()
    return str(line["text"])


def submitted_as_shown(view: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The ``state.values`` Slack sends when the form is saved as it opened."""
    keys = {
        "plain_text_input": ("initial_value", "value"),
        "number_input": ("initial_value", "value"),
        "users_select": ("initial_user", "selected_user"),
        "datepicker": ("initial_date", "selected_date"),
        "static_select": ("initial_option", "selected_option"),
    }
    values: dict[str, dict[str, dict[str, Any]]] = {}
    for block in view["blocks"]:
        element = block["element"]
        initial, key = keys[element["type"]]
        state = {"type": element["type"]}
        if element.get(initial) is not None:
            state[key] = element[initial]
        values[block["block_id"]] = {element["action_id"]: state}
    return values


async def test_edit_opens_the_form_holding_the_stored_charter(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    await create(bot, standin)
    status, body = await bot.command("edit EXP-1")
    assert status == 200 and body == ""
    [call] = await standin.wait_for(lambda: standin.calls_to("views.open"))
    view = view_of(call)
    assert call.args["trigger_id"] == "1.2.3"
    assert view["callback_id"] == CALLBACK_CHARTER_EDIT
    assert view["title"]["text"] == "Edit EXP-1" and view["submit"]["text"] == "Save"
    assert json.loads(view["private_metadata"]) == {"c": CHANNEL, "n": 1}
    elements = {b["block_id"]: b["element"] for b in view["blocks"]}
    shown = {
        block_id: element.get("initial_value")
        or element.get("initial_user")
        or element.get("initial_date")
        or (element.get("initial_option") or {}).get("value")
        for block_id, element in elements.items()
    }
    # Every field as the form writes it; the schedule as the charter stores it (normalized).
    assert shown == {
        **CHARTER,
        "refresh_schedule": "weekdays 09:00",
        "source_platform": None,
    }
    charter = (await stored(bot, standin)).charter
    assert (charter.rice.confidence, charter.expected_split) == (0.8, (60.0, 40.0))
    assert elements["method"]["initial_option"]["text"]["text"] == (
        "Group-sequential (planned looks)"
    )

    # Saved as it opened: the same charter, nothing written, nothing posted.
    before, posted = await stored(bot, standin), len(standin.messages)
    assert await submit_edit(bot, submitted_as_shown(view)) is None
    assert len(standin.messages) == posted
    after = await stored(bot, standin)
    assert (after.charter, after.updated_at) == (charter, before.updated_at)


async def test_an_edit_replaces_the_charter_and_tells_the_thread(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    charter_message = await create(bot, standin)
    before = await stored(bot, standin)
    answer = await edit(
        bot,
        name="Checkout v3",
        split="50/50",
        owner="U0NEWOWNER",
        confidence="60",
        refresh_schedule=None,
        end="2026-12-15",
    )
    assert answer is None  # the modal closes
    [line] = standin.thread(CHANNEL, charter_message.ts)
    assert line.thread_ts == charter_message.ts
    text = "\n".join(mrkdwn_texts(line.blocks))
    assert text.splitlines() == [
        f":pencil2: <@{EDITOR}> edited the charter of `EXP-1`:",
        "• name: Checkout v2 → *Checkout v3*",
        "• owner: <@U0OWNER> → *<@U0NEWOWNER>*",
        "• expected split: 60/40 → *50/50*",
        "• end date: 2026-11-30 → *2026-12-15*",
        "• RICE: score 8,000 (reach 20,000 · impact 2 · confidence 80% · effort 4) → "
        "*score 6,000 (reach 20,000 · impact 2 · confidence 60% · effort 4)*",
        "• refresh schedule: weekdays at 09:00 UTC → *none*",
    ]
    assert "Recorded as changed" not in text  # no look yet: nothing is locked
    after = await stored(bot, standin)
    assert after.charter.name == "Checkout v3" and after.charter.expected_split == (50.0, 50.0)
    assert after.charter.rice.confidence == 0.6 and after.charter.refresh_schedule is None
    assert after.charter.guardrails == before.charter.guardrails
    assert (after.status, after.charter_changes) == ("proposed", ())


async def test_an_edited_schedule_is_what_the_scheduler_runs(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    scheduler = bot.runtime.scheduler
    await scheduler.start()
    await create(bot, standin, refresh_schedule="daily 09:00")
    await bot.idle()  # the sync after the charter was saved
    experiment = await stored(bot, standin)
    first = scheduler.next_fire(experiment.id)
    assert first is not None and (first.hour, first.minute) == (9, 0)
    assert await edit(bot, refresh_schedule="daily 17:45") is None
    await bot.idle()  # the sync after the edit
    moved = scheduler.next_fire(experiment.id)
    assert moved is not None and (moved.hour, moved.minute) == (17, 45)
    assert datetime.now(UTC) < moved <= datetime.now(UTC) + timedelta(days=1)
    assert await edit(bot, refresh_schedule=None) is None
    await bot.idle()
    assert scheduler.next_fire(experiment.id) is None


async def test_a_locked_change_after_the_first_look_is_recorded_and_shown(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    charter_message = await create(bot, standin)
    await bot.upload([standin.add_file("week1.csv", WEEK_1)], thread_ts=charter_message.ts)
    [first] = await cards_in(bot, charter_message.ts)
    assert "Charter changed" not in texts_of(first)

    guardrail = "guardrail_error worsened=0.5 severe=1"
    answer = await edit(bot, guardrails=guardrail, hypothesis="Fewer steps, more orders")
    assert answer is None
    line = standin.thread(CHANNEL, charter_message.ts)[-1]
    text = "\n".join(mrkdwn_texts(line.blocks))
    assert (
        "• guardrails: guardrail_error worsened=0.5 severe=1, guardrail_refund higher-is-better "
        "margin=1% → *guardrail_error worsened=0.5 severe=1*"
    ) in text
    assert (
        "• hypothesis: A shorter checkout lifts conversion because fewer people drop out → " in text
    )
    assert ":lock: Recorded as changed after looks started: guardrails (" in text
    experiment = await stored(bot, standin)
    [change] = experiment.charter_changes
    assert (change.field, change.by) == ("guardrails", EDITOR)
    assert [g["name"] for g in change.old] == ["guardrail_error", "guardrail_refund"]
    assert experiment.charter.hypothesis == "Fewer steps, more orders"  # not locked: not recorded

    await bot.upload([standin.add_file("week2.csv", WEEK_2)], thread_ts=charter_message.ts)
    second = (await cards_in(bot, charter_message.ts, count=2))[1]
    rendered = texts_of(second)
    assert ":lock: *Charter changed after the first look:*" in rendered
    assert f"→ *guardrail_error worsened=0.5 severe=1* (by <@{EDITOR}>" in rendered
    assert "`EXP-1` · Look 2 of 3" in rendered


@pytest.mark.parametrize(
    ("changes", "block", "fragment"),
    [
        ({"split": "60/30"}, "split", "must add up to 100 (it adds up to 90)"),
        ({"guardrails": "guardrail_error colour=blue"}, "guardrails", "don't understand"),
        ({"source_env": "DATABASE_URL"}, "source_env", "not a data source this bot may read"),
        ({"source_query": "DELETE FROM checkout_users"}, "source_query", "Only a SELECT"),
        (
            {"source_env": None, "source_query": None},
            "refresh_schedule",
            "A schedule refreshes the data source",
        ),
        ({"name": "  "}, "name", "Give the experiment a name"),
    ],
)
async def test_bad_values_keep_the_form_open(
    bot: RunningBot, standin: SlackStandIn, changes: dict[str, Any], block: str, fragment: str
) -> None:
    await create(bot, standin)
    before = await stored(bot, standin)
    posted = len(standin.messages)
    answer = await edit(bot, **changes)
    assert answer["response_action"] == "errors"
    assert fragment in answer["errors"][block], answer["errors"]
    assert len(standin.messages) == posted
    after = await stored(bot, standin)
    assert (after.charter, after.updated_at) == (before.charter, before.updated_at)


async def test_what_may_not_be_edited_is_refused_in_one_line(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    store = bot.runtime.services.store
    theirs = await store.create_experiment(
        team_id="T0OTHERTEAM", channel_id=CHANNEL, charter=Charter(name="Their plan")
    )
    assert theirs.ref == "EXP-1"  # numbered in its own team: ours has no EXP-1 yet
    line = await ephemeral(bot, standin, "edit EXP-1")
    assert "I found no experiment “EXP-1”" in line
    assert await submit_edit(bot, form_values(**CHARTER)) == {
        "response_action": "errors",
        "errors": {"name": "This experiment is no longer in the history."},
    }
    assert (await store.get_experiment("T0OTHERTEAM", 1)).charter.name == "Their plan"

    await create(bot, standin)
    assert "Which experiment?" in await ephemeral(bot, standin, "edit")
    assert "I found no experiment “EXP-7”" in await ephemeral(bot, standin, "edit EXP-7")
    elsewhere = await ephemeral(bot, standin, "edit EXP-1", channel="C0PRIVATE")
    assert elsewhere == (
        ":no_entry: EXP-1 belongs to another channel: run /experiment edit EXP-1 there."
    )
    await ephemeral(bot, standin, "status EXP-1 completed")
    decided = await ephemeral(bot, standin, "edit EXP-1")
    assert decided == (":no_entry: EXP-1 is decided; start a new experiment with /experiment new.")
    assert not standin.calls_to("views.open")
    # A form opened before the decision, saved after it, is refused in the form too.
    answer = await edit(bot, name="Too late")
    assert "decided; start a new experiment" in answer["errors"]["name"]
    forged = await submit_edit(
        bot, form_values(**CHARTER), metadata=json.dumps({"c": "C0PRIVATE", "n": 1})
    )
    assert "belongs to another channel" in forged["errors"]["name"]
    garbled = await submit_edit(bot, form_values(**CHARTER), metadata="[not json")
    assert garbled["errors"] == {"name": "This experiment is no longer in the history."}
    assert (await stored(bot, standin)).charter.name == "Checkout v2"


async def test_hostile_text_is_escaped_in_the_thread_line(
    bot: RunningBot, standin: SlackStandIn
) -> None:
    charter_message = await create(bot, standin)
    answer = await edit(
        bot,
        name="<!channel> *free* & <@U0BOSS>",
        segment="<https://evil.example|click me>",
        primary="`conversions`\u202e",
    )
    assert answer is None
    line = standin.thread(CHANNEL, charter_message.ts)[-1]
    texts = mrkdwn_texts(line.blocks)
    joined = "\n".join([*texts, line.text])
    assert "<!channel>" not in joined and "<@U0BOSS>" not in joined and "<https" not in joined
    assert "\u202e" not in joined
    assert "&lt;!channel&gt; *free* &amp; &lt;@U0BOSS&gt;" in joined
    assert "&lt;https://evil.example|click me&gt;" in joined
    stored_name = (await stored(bot, standin)).charter.name
    assert stored_name == "<!channel> *free* & <@U0BOSS>"  # kept as typed, escaped when shown
    assert USER != EDITOR and f"<@{EDITOR}>" in texts[0]
