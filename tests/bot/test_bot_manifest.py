"""manifest.yml against Slack's manifest schema (both the Socket Mode and the HTTP variant)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "slack" / "manifest.schema.1.0.0.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not SCHEMA.exists():
        pytest.skip(
            f"Slack's manifest schema is not at {SCHEMA} (it ships beside the repo, in ../shared)"
        )
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def http_variant(manifest: dict[str, Any], url: str) -> dict[str, Any]:
    """What the comment at the top of manifest.yml says to change for HTTP mode."""
    variant = copy.deepcopy(manifest)
    variant["settings"]["socket_mode_enabled"] = False
    variant["settings"]["event_subscriptions"]["request_url"] = url
    variant["settings"]["interactivity"]["request_url"] = url
    for command in variant["features"]["slash_commands"]:
        command["url"] = url
    return variant


def errors_of(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


def test_manifest_is_valid(manifest: dict[str, Any], validator: jsonschema.Draft7Validator) -> None:
    assert errors_of(validator, manifest) == []


def test_http_variant_is_valid(
    manifest: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    document = http_variant(manifest, "https://experimentos.example.com/slack/events")
    assert errors_of(validator, document) == []


def test_the_schema_catches_mistakes(
    manifest: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    broken = copy.deepcopy(manifest)
    broken["features"]["slash_commands"][0]["command"] = "experiment"  # no leading slash
    assert errors_of(validator, broken)


def test_least_privilege(manifest: dict[str, Any]) -> None:
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == [
        "channels:history",
        "chat:write",
        "commands",
        "files:read",
        "files:write",
        "groups:history",
        "reactions:write",
    ]
    assert "user" not in manifest["oauth_config"]["scopes"]
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == [
        "app_home_opened",
        "file_shared",
        "message.channels",
        "message.groups",
    ]


def test_features(manifest: dict[str, Any]) -> None:
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/experiment"
    assert "power baseline=" in command["usage_hint"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"]


def test_procfile_migrates_then_runs_the_bot() -> None:
    lines = (ROOT / "Procfile").read_text().strip().splitlines()
    assert lines == ["release: python -m experimentos.store upgrade", "web: python -m bot"]
