"""Refresh schedules of a charter and of the weekly digest, all in UTC.

Friendly forms — ``daily 09:00``, ``weekdays 09:00``, ``weekly mon 09:00`` (``monday`` too) — and a
standard 5-field crontab (``minute hour day-of-month month day-of-week``, day of week 0 or 7 =
Sunday as in cron). The arithmetic is APScheduler's :class:`CronTrigger`; this module only reads
the text, translates the crontab's day-of-week numbers (APScheduler 3 counts 0 = Monday, cron
counts 0 = Sunday: the numbers are turned into day names) and refuses schedules that never fire
or fire more often than :data:`MIN_INTERVAL`.

A schedule is stored as its normalized text (:func:`parse_schedule` → :attr:`Schedule.text`).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first use: a charter without a schedule never loads APScheduler
    from apscheduler.triggers.cron import CronTrigger

MIN_INTERVAL = timedelta(hours=1)
"""Looks come at most hourly: a warehouse query per minute helps no decision."""
INTERVAL_CHECKED_FIRES = 24
"""How many upcoming fires the minimum-interval check looks at."""
MAX_TEXT = 100
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""Cron's day numbering: 0 (and 7) is Sunday."""
_FULL_DAYS = {
    "sunday": "sun",
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_DOW_TOKEN = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")
FORMS = "`daily 09:00`, `weekdays 09:00`, `weekly mon 09:00` (UTC) or a crontab like `0 9 * * 1-5`"


class ScheduleError(ValueError):
    """A schedule that cannot be used; ``str(error)`` is one line for the user."""


@dataclass(frozen=True, slots=True)
class Schedule:
    text: str
    """The normalized text, as stored (``daily 09:00``, ``0 9 * * 1-5``)."""
    trigger: CronTrigger

    def next_fires(self, after: datetime, count: int = 1) -> list[datetime]:
        """The next ``count`` fire times strictly after ``after`` (aware UTC datetimes)."""
        fires: list[datetime] = []
        previous: datetime | None = None
        now = after.astimezone(UTC) + timedelta(seconds=1)
        for _ in range(count):
            fire = self.trigger.get_next_fire_time(previous, now)
            if fire is None:
                break
            fires.append(fire.astimezone(UTC))
            previous, now = fire, fire + timedelta(seconds=1)
        return fires

    def latest_fire(self, now: datetime, *, within: timedelta) -> datetime | None:
        """The last fire time at or before ``now`` and no older than ``within`` (None if none):
        the due time a job that woke up at ``now`` runs for."""
        start = now.astimezone(UTC) - within
        latest: datetime | None = None
        fire = self.trigger.get_next_fire_time(None, start)
        while fire is not None and fire <= now:
            latest = fire.astimezone(UTC)
            fire = self.trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return latest

    def describe(self) -> str:
        """The schedule in words for cards and listings (``daily at 09:00 UTC``)."""
        words = self.text.split()
        if words[0] in ("daily", "weekdays"):
            return f"{words[0]} at {words[1]} UTC"
        if words[0] == "weekly":
            return f"weekly on {words[1].capitalize()} at {words[2]} UTC"
        return f"on the crontab `{self.text}` (UTC)"


def parse_schedule(text: str) -> Schedule:
    """The schedule ``text`` names; ScheduleError (one line) when it cannot be used."""
    return _parse(" ".join(str(text).split()).lower(), str(text))


@functools.lru_cache(maxsize=512)
def _parse(raw: str, text: str) -> Schedule:
    """Cached: every charter read from the history checks its schedule."""
    if not raw:
        raise ScheduleError(f"The schedule is empty: write {FORMS}.")
    if len(raw) > MAX_TEXT:
        raise ScheduleError(f"The schedule has at most {MAX_TEXT} characters.")
    words = raw.split(" ")
    if words[0] in ("daily", "weekdays", "weekly"):
        schedule = _friendly(words)
    elif len(words) == 5:
        schedule = _crontab(words)
    else:
        raise ScheduleError(
            f"I don't understand the schedule “{text.strip()[:60]}”: write {FORMS}."
        )
    _check_fires(schedule)
    return schedule


def _friendly(words: list[str]) -> Schedule:
    kind = words[0]
    expected = 3 if kind == "weekly" else 2
    example = {"daily": "daily 09:00", "weekdays": "weekdays 09:00"}.get(kind, "weekly mon 09:00")
    if len(words) != expected:
        raise ScheduleError(f"Write the {kind} schedule as `{example}` (a time in UTC).")
    hour, minute = _time(words[-1], example)
    if kind == "weekly":
        day = _FULL_DAYS.get(words[1], words[1])
        if day not in DAYS:
            raise ScheduleError(
                f"“{words[1][:20]}” is not a day of the week: write mon, tue, …, sun (`{example}`)."
            )
        text, day_of_week = f"weekly {day} {hour:02d}:{minute:02d}", day
    else:
        day_of_week = "mon-fri" if kind == "weekdays" else "*"
        text = f"{kind} {hour:02d}:{minute:02d}"
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger(minute=minute, hour=hour, day_of_week=day_of_week, timezone=UTC)
    return Schedule(text, trigger)


def _time(word: str, example: str) -> tuple[int, int]:
    match = _TIME.match(word)
    if not match:
        raise ScheduleError(
            f"“{word[:20]}” is not a time of day: write HH:MM in UTC, e.g. `{example}`."
        )
    return int(match.group(1)), int(match.group(2))


def _crontab(fields: list[str]) -> Schedule:
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, day_of_week = fields
    try:
        trigger = CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_days(day_of_week),
            timezone=UTC,
        )
    except ValueError as error:
        raise ScheduleError(f"The crontab `{' '.join(fields)}` is not valid: {error}.") from None
    return Schedule(" ".join(fields), trigger)


def _cron_days(field: str) -> str:
    """Cron's day-of-week field (0/7 = Sunday, names, ranges, steps) as APScheduler day names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for token in field.split(","):
        match = _DOW_TOKEN.match(token)
        if not match:
            raise ScheduleError(f"The day-of-week field `{field[:30]}` is not valid.")
        span, step = match.group(1), int(match.group(2) or 1)
        if step < 1:
            raise ScheduleError(f"The day-of-week field `{field[:30]}` has a step of 0.")
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first = _cron_day(low, field)
            last = _cron_day(high, field) if high else (6 if match.group(2) else first)
            if high and high in ("7", "sun") and first > 0:
                last = 7  # `5-7`, `fri-sun`: through Sunday
            if last < first:
                raise ScheduleError(f"The day-of-week range `{span}` runs backwards.")
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(DAYS[d] for d in sorted(days))


def _cron_day(word: str, field: str) -> int:
    if word.isdigit() and int(word) <= 7:
        return int(word)
    name = _FULL_DAYS.get(word, word)
    if name in DAYS:
        return DAYS.index(name)
    raise ScheduleError(f"The day-of-week field `{field[:30]}` names no day “{word[:12]}” (0–7).")


def _check_fires(schedule: Schedule) -> None:
    start = datetime.now(UTC)
    fires = schedule.next_fires(start, INTERVAL_CHECKED_FIRES)
    if not fires:
        raise ScheduleError(f"The schedule `{schedule.text}` never fires (no such date).")
    gaps = [later - earlier for earlier, later in itertools.pairwise(fires)]
    if gaps and min(gaps) < MIN_INTERVAL:
        raise ScheduleError(
            f"The schedule `{schedule.text}` fires more often than hourly: a look at most once "
            "an hour (e.g. `daily 09:00`)."
        )
