"""``experimentos experiments growthbook|statsig|hackle``: the experiments a platform holds, with
the key ``analyze --source PLATFORM:KEY`` and ``/experiment pull`` take.

The key and base URL are read from the platform's environment variables, as for ``analyze``.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from experimentos.platforms import PLATFORMS
from experimentos.usecases import list_platform_experiments


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "experiments",
        help="list a platform's experiments (GrowthBook, Statsig, Hackle) with their keys",
        description="List the experiments of an experimentation platform, with the key "
        "'analyze --source PLATFORM:KEY' takes. The API key is read from GROWTHBOOK_API_KEY, "
        "STATSIG_CONSOLE_KEY or HACKLE_ADMIN_KEY.",
    )
    parser.add_argument("platform", choices=PLATFORMS)
    parser.add_argument("--status", help="only experiments with this status (e.g. running)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the list; ExperimentError (one line naming the platform) propagates to main."""
    found = list_platform_experiments(args.platform, environ=os.environ, status=args.status)
    if args.format == "json":
        print(json.dumps([{"key": e.key, "name": e.name, "status": e.status} for e in found]))
        return 0
    if not found:
        print(
            f"No experiments on {args.platform}"
            + (f" with status {args.status}." if args.status else ".")
        )
        return 0
    width = max(len(e.key) for e in found)
    for e in found:
        print(f"{e.key:<{width}}  {e.status or '-':<10}  {e.name}")
    return 0
