"""Refresh schedules: the accepted forms, one clear line for a bad one, and the next fire times
against calendar dates worked out by hand (2026-12-05 is a Saturday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import BotSettings, SettingsError
from experimentos.charter import Charter
from experimentos.schedule import ScheduleError, parse_schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        # Friday 10:00 → Monday, Tuesday, Wednesday at 09:00
        (
            "weekdays 09:00",
            "2026-12-04 10:00",
            ["2026-12-07 09:00", "2026-12-08 09:00", "2026-12-09 09:00"],
        ),
        # strictly after: the fire time itself is not next
        ("weekly mon 09:00", "2026-12-07 09:00", ["2026-12-14 09:00", "2026-12-21 09:00"]),
        ("Weekly  Monday 9:00", "2026-12-05 00:00", ["2026-12-07 09:00"]),
        ("daily 23:30", "2026-12-31 23:45", ["2027-01-01 23:30", "2027-01-02 23:30"]),
        # cron counts 0 and 7 as Sunday (APScheduler 3 alone would read 0 as Monday)
        ("30 6 * * 0", "2026-12-05 00:00", ["2026-12-06 06:30", "2026-12-13 06:30"]),
        ("30 6 * * 7", "2026-12-05 00:00", ["2026-12-06 06:30"]),
        ("0 9 * * 1-5", "2026-12-04 10:00", ["2026-12-07 09:00", "2026-12-08 09:00"]),
        (
            "0 9 * * 5-7",
            "2026-12-05 00:00",
            ["2026-12-05 09:00", "2026-12-06 09:00", "2026-12-11 09:00"],
        ),
        ("0 12 1 */3 *", "2026-12-05 00:00", ["2027-01-01 12:00", "2027-04-01 12:00"]),
    ],
)
def test_next_fire_times(text: str, after: str, expected: list[str]) -> None:
    schedule = parse_schedule(text)
    assert schedule.next_fires(at(after), len(expected)) == [at(e) for e in expected]


def test_normalized_text_and_words() -> None:
    assert parse_schedule(" Weekly  MONDAY 9:05 ").text == "weekly mon 09:05"
    assert parse_schedule("daily 7:00").describe() == "daily at 07:00 UTC"
    assert parse_schedule("weekly fri 16:30").describe() == "weekly on Fri at 16:30 UTC"
    assert parse_schedule("0 9 * * 1-5").describe() == "on the crontab `0 9 * * 1-5` (UTC)"


def test_latest_fire_is_the_due_time_of_a_late_job() -> None:
    schedule = parse_schedule("daily 09:00")
    window = timedelta(minutes=16)
    assert schedule.latest_fire(at("2026-12-05 09:00"), within=window) == at("2026-12-05 09:00")
    assert schedule.latest_fire(at("2026-12-05 09:07"), within=window) == at("2026-12-05 09:00")
    assert schedule.latest_fire(at("2026-12-05 09:30"), within=window) is None
    assert schedule.latest_fire(at("2026-12-05 08:59"), within=window) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "The schedule is empty"),
        ("sometimes", "I don't understand the schedule “sometimes”"),
        ("daily", "Write the daily schedule as `daily 09:00`"),
        ("daily 9", "“9” is not a time of day"),
        ("daily 24:00", "“24:00” is not a time of day"),
        ("weekly 09:00", "Write the weekly schedule as `weekly mon 09:00`"),
        ("weekly funday 09:00", "“funday” is not a day of the week"),
        ("*/5 * * * *", "fires more often than hourly"),
        ("0,30 9 * * *", "fires more often than hourly"),
        ("0 25 * * *", "The crontab `0 25 * * *` is not valid"),
        ("0 9 31 2 *", "never fires"),
        ("0 9 * * 8", "names no day “8”"),
        ("0 9 * * 5-1", "runs backwards"),
    ],
)
def test_bad_schedules_are_one_clear_line(text: str, fragment: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    message = str(caught.value)
    assert fragment in message and "\n" not in message and "Traceback" not in message


def test_a_schedule_needs_a_data_source() -> None:
    with pytest.raises(ValueError, match="needs a data source"):
        Charter("No source", refresh_schedule="daily 09:00")
    with pytest.raises(ValueError, match="not a time of day"):
        Charter("Bad", source_env="W", source_query="SELECT 1", refresh_schedule="daily 9")
    charter = Charter("Ok", source_env="W", source_query="SELECT 1", refresh_schedule="daily 09:00")
    assert charter.refresh_schedule == "daily 09:00"


BASE_ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}


def test_the_digest_setting() -> None:
    default = BotSettings.from_env(BASE_ENV)
    assert default.digest_schedule == "weekly mon 09:00" and default.scheduler
    assert BotSettings.from_env({**BASE_ENV, "EXPERIMENTOS_DIGEST": "off"}).digest_schedule is None
    daily = BotSettings.from_env({**BASE_ENV, "EXPERIMENTOS_DIGEST": "Daily 8:00"})
    assert daily.digest_schedule == "daily 08:00"
    with pytest.raises(SettingsError) as caught:
        BotSettings.from_env({**BASE_ENV, "EXPERIMENTOS_DIGEST": "*/10 * * * *"})
    assert str(caught.value).startswith("EXPERIMENTOS_DIGEST: The schedule `*/10 * * * *` fires")
