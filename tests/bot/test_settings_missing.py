"""A bot started without its tokens names every missing variable and a README section that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import BotSettings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_missing_token_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        BotSettings.from_env({})
    message = str(raised.value)
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set" in message


def test_one_missing_token_is_named_alone() -> None:
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET is not set: export it"):
        BotSettings.from_env({"SLACK_BOT_TOKEN": "xoxb-1"})


def test_the_readme_sections_the_message_points_to_exist() -> None:
    with pytest.raises(SettingsError) as raised:
        BotSettings.from_env({})
    named = re.findall(r"'([^']+)'", str(raised.value))
    headings = {
        line.lstrip("#").strip() for line in README.read_text().splitlines() if line.startswith("#")
    }
    assert named and all(name in headings for name in named), (named, headings)
