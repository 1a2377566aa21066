"""Results straight from the experimentation platforms teams run: GrowthBook, Statsig, Hackle.

``provider(name, environ)`` gives the platform's client (``base.Provider``);
``table.stats_table`` turns its results into the StatsTable every reader produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experimentos.errors import ExperimentError

PLATFORMS = ("growthbook", "statsig", "hackle")
VARIABLES = {
    "growthbook": ("GROWTHBOOK_API_KEY", "GROWTHBOOK_API_URL"),
    "statsig": ("STATSIG_CONSOLE_KEY", "STATSIG_API_URL"),
    "hackle": ("HACKLE_ADMIN_KEY", "HACKLE_API_URL"),
}
"""Each platform's API key and base URL variables."""
DISPLAY = {"growthbook": "GrowthBook", "statsig": "Statsig", "hackle": "Hackle"}


def platform_environ(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Only platform ``name``'s two variables of ``environ`` (what a worker is handed)."""
    return {v: environ[v] for v in VARIABLES.get(name, ()) if environ.get(v)}


def provider(name: str, environ: Mapping[str, str], **client: Any) -> Any:
    """The provider of platform ``name`` (growthbook, statsig or hackle), its key and URL read
    from ``environ``; ``client``: transport, sleep, timeout (tests)."""
    from experimentos.platforms.growthbook import GrowthBook
    from experimentos.platforms.hackle import Hackle
    from experimentos.platforms.statsig import Statsig

    classes = {"growthbook": GrowthBook, "statsig": Statsig, "hackle": Hackle}
    key = name.strip().lower()
    if key not in classes:
        raise ExperimentError(
            f"unknown platform {name!r}: use one of {', '.join(PLATFORMS)} (e.g. growthbook:EXP_KEY)."
        )
    return classes[key](environ, **client)


def parse_ref(ref: str) -> tuple[str, str]:
    """``growthbook:exp_123`` → ("growthbook", "exp_123"); ExperimentError when malformed."""
    platform, sep, key = ref.partition(":")
    platform, key = platform.strip().lower(), key.strip()
    if not sep or platform not in PLATFORMS or not key:
        raise ExperimentError(
            f"{ref!r} is not a platform experiment: write growthbook:EXP_KEY, statsig:EXP_ID or "
            "hackle:EXP_KEY."
        )
    return platform, key
