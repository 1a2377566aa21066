"""A charter's saved warehouse source and ``/experiment refresh`` over real HTTP, the warehouse a
schema of its own on a real PostgreSQL (TEST_DATABASE_URL), dropped afterwards.

The figures of each refreshed look are checked against statsmodels (unpooled Wald test) and the
O'Brien–Fleming-type Lan–DeMets spending function computed here with scipy; the counts against
pandas. The URL (with its password) never reaches a message, the history or the logs."""

from __future__ import annotations

import json
import logging
import math
import os
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from harness import CHANNEL, RunningBot, cards_in, form_values, texts_of
from scipy import stats
from slack_standin import SlackStandIn
from statsmodels.stats import proportion as sm_proportion

from bot.render.charter_modal import CALLBACK_CHARTER

URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL.startswith("postgres"),
        reason="TEST_DATABASE_URL names no PostgreSQL server: refresh is tested on a real one",
    ),
]
VARIABLE = "EXPOS_TEST_WAREHOUSE_URL"
PASSWORD = "s3cret-pw-9417"
TARGET = 8000


@pytest.fixture(autouse=True)
def allowed_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator lists the test's variable among the bot's data sources."""
    monkeypatch.setenv("EXPERIMENTOS_SOURCES", f"OTHER_URL, {VARIABLE}")


@pytest.fixture
def warehouse(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, sa.Engine]]:
    """(schema, engine) of a fresh schema; the variable holds a URL with a password in it."""
    url = URL.replace("+asyncpg", "+psycopg")
    schema = f"exp_refresh_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    with_password = sa.make_url(url).set(password=PASSWORD)  # trust auth ignores it
    monkeypatch.setenv(VARIABLE, with_password.render_as_string(hide_password=False))
    try:
        yield schema, engine
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def users(n: int, *, start: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], n)
    rate = np.where(arm == "treatment", 0.13, 0.10)
    converted = (rng.random(n) < rate).astype(int)
    return pd.DataFrame(
        {"user_id": np.arange(start, start + n), "variant": arm, "converted": converted}
    )


async def new_charter(bot: RunningBot, standin: SlackStandIn, query: str) -> str:
    values = form_values(
        name="Warehouse checkout",
        looks="2",
        target=str(TARGET),
        source_env=VARIABLE,
        source_query=query,
    )
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER, values, private_metadata=json.dumps({"c": CHANNEL})
    )
    assert status == 200 and answer is None, answer
    [charter] = standin.messages
    return charter.ts


def responses(standin: SlackStandIn, response_id: str) -> list[str]:
    return [str(r.get("text")) for r in standin.responses if r["_response_id"] == response_id]


def expected(df: pd.DataFrame) -> tuple[int, int, int, int]:
    counts = df.groupby("variant")["converted"].agg(["sum", "count"])
    c, t = counts.loc["control"], counts.loc["treatment"]
    return int(c["sum"]), int(c["count"]), int(t["sum"]), int(t["count"])


def obf_boundary(fraction: float, alpha: float = 0.05) -> float:
    """The first look's upper boundary under Lan–DeMets O'Brien–Fleming-type spending of α/2 per
    side (gsDesign's sfLDOF, two-sided symmetric): α₁(t) = 2 − 2Φ(z_{α/4}/√t), boundary
    Φ⁻¹(1 − α₁(t)) (Lan & DeMets 1983)."""
    spent = 2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 4) / math.sqrt(fraction))
    return float(stats.norm.ppf(1 - spent))


async def test_refresh_posts_looks_from_the_saved_query(
    bot: RunningBot, standin: SlackStandIn, warehouse: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    schema, engine = warehouse
    first = users(4000, start=0, seed=3)
    first.to_sql("users", engine, schema=schema, index=False)
    thread = await new_charter(bot, standin, f"SELECT * FROM {schema}.users")
    store = bot.runtime.services.store
    experiment = await store.find_experiment_by_thread(standin.team_id, CHANNEL, thread)
    assert experiment is not None
    assert (experiment.charter.source_env, experiment.charter.source_query) == (
        VARIABLE,
        f"SELECT * FROM {schema}.users",
    )
    assert VARIABLE in texts_of(standin.messages[0])

    status, body = await bot.command("refresh EXP-1", response_id="r1")
    assert status == 200 and body == ""  # acked at once; the query runs in the background
    [card] = await cards_in(bot, thread)
    [look] = await store.analyses_for(standin.team_id, experiment.id)
    analysis = look.analysis()
    assert analysis is not None and look.look == 1 and look.message_ts == card.ts
    x_c, n_c, x_t, n_t = expected(first)
    metric = analysis.primary[0]
    assert (metric.control.conversions, metric.control.n) == (x_c, n_c)
    assert (metric.treatment.conversions, metric.treatment.n) == (x_t, n_t)
    wald = sm_proportion.test_proportions_2indep(x_t, n_t, x_c, n_c, method="wald", compare="diff")
    assert math.isclose(metric.comparison.p_value, wald.pvalue, rel_tol=1e-6)
    sequential = analysis.sequential
    assert sequential is not None and sequential.look == 1
    assert math.isclose(sequential.information_fraction, len(first) / TARGET)
    assert math.isclose(sequential.boundary_z, obf_boundary(len(first) / TARGET), rel_tol=1e-6)
    assert any("refreshed" in line for line in responses(standin, "r1"))

    users(3000, start=4000, seed=4).to_sql(
        "users", engine, schema=schema, index=False, if_exists="append"
    )
    await bot.command("refresh EXP-1", response_id="r2")
    cards = await cards_in(bot, thread, count=2)
    assert len(cards) == 2 and "Since look 1" in texts_of(cards[1])
    second = (await store.analyses_for(standin.team_id, experiment.id))[-1].analysis()
    assert second is not None and second.sequential is not None
    assert second.sequential.look == 2
    assert math.isclose(second.sequential.information_fraction, 7000 / TARGET)

    shown = json.dumps([m.blocks for m in standin.messages]) + json.dumps(standin.responses)
    stored = json.dumps(
        [r.result for r in await store.analyses_for(standin.team_id, experiment.id)]
    )
    for where in (shown, stored, caplog.text):
        assert PASSWORD not in where


async def test_missing_variable_and_failing_query_are_one_line(
    bot: RunningBot, standin: SlackStandIn, warehouse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema, _ = warehouse
    thread = await new_charter(bot, standin, f"SELECT * FROM {schema}.no_such_table")
    await bot.command("refresh EXP-1", response_id="bad")
    await standin.wait_for(lambda: responses(standin, "bad"))
    await bot.idle()
    lines = responses(standin, "bad")
    assert len(lines) == 2, lines
    assert f"the query on {VARIABLE} failed" in lines[-1] and "no_such_table" in lines[-1]
    assert "Traceback" not in lines[-1] and PASSWORD not in lines[-1]

    monkeypatch.delenv(VARIABLE)
    await bot.command("refresh EXP-1", response_id="unset")
    [line] = await standin.wait_for(lambda: responses(standin, "unset"))
    assert f"`{VARIABLE}` is not set in the bot's environment" in line

    monkeypatch.setenv(VARIABLE, "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("EXPERIMENTOS_SOURCES", "OTHER_URL")  # the operator withdrew it
    await bot.command("refresh EXP-1", response_id="withdrawn")
    [line] = await standin.wait_for(lambda: responses(standin, "withdrawn"))
    assert f"{VARIABLE} is not a data source this bot may read" in line
    assert "EXPERIMENTOS_SOURCES" in line
    await bot.idle()
    assert standin.cards(CHANNEL, thread) == []
    assert not await bot.runtime.services.store.analyses_for(standin.team_id, 1)


@pytest.mark.parametrize(
    ("changes", "block", "fragment"),
    [
        ({"source_query": "DELETE FROM users"}, "source_query", "Only a SELECT"),
        ({"source_query": "SELECT 1; DROP TABLE users"}, "source_query", "2 statements"),
        ({"source_env": "postgresql://u:pw@host/db"}, "source_env", "NAME of an environment"),
        ({"source_env": None}, "source_env", "Name the environment variable"),
        ({"source_env": "DATABASE_URL"}, "source_env", "not a data source this bot may read"),
        ({"source_query": None}, "source_query", "one row per user"),
    ],
)
async def test_bad_sources_are_shown_in_the_modal(
    bot: RunningBot, standin: SlackStandIn, changes: dict[str, Any], block: str, fragment: str
) -> None:
    fields = {"name": "X", "source_env": VARIABLE, "source_query": "SELECT * FROM t", **changes}
    values = form_values(**{k: v for k, v in fields.items() if v is not None})
    status, answer = await bot.view_submission(
        CALLBACK_CHARTER, values, private_metadata=json.dumps({"c": CHANNEL})
    )
    assert status == 200 and answer["response_action"] == "errors"
    assert fragment in answer["errors"][block], answer["errors"]
    assert "pw@host" not in json.dumps(answer)
    await bot.idle()
    assert not standin.messages
