"""Builders shared by the store tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from experimentos.store import create_engine_from_url

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "store_worker.py"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
POSTGRES_SKIP = "TEST_DATABASE_URL is not set; PostgreSQL tests skipped"


@dataclass
class Database:
    """Where one test's database lives, and how to open engines on it (like separate processes)."""

    backend: str
    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)
    schema: str | None = None

    def engine(self, **options: Any) -> AsyncEngine:
        return create_engine_from_url(self.url, connect_args=dict(self.connect_args), **options)

    def start_workers(self, *args: str, count: int) -> list[subprocess.Popen[str]]:
        """Start ``count`` store_worker.py processes at once (see that script)."""
        env = {
            **os.environ,
            "STORE_TEST_URL": self.url,
            "STORE_TEST_SCHEMA": self.schema or "",
            "PYTHONPATH": str(ROOT),
        }
        return [
            subprocess.Popen(
                [sys.executable, str(WORKER), *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]


def finish(worker: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = worker.communicate(timeout=timeout)
    return worker.returncode, out, err


def make_result(
    name: str = "Checkout v2",
    *,
    verdict: str = "launch",
    lift: float = 0.012,
    reason: str = "Conversion rose by 1.2 pp; no guardrail worsened.",
) -> dict[str, Any]:
    """A small Analysis.to_dict()-shaped result (nested dicts, lists, nulls, unicode)."""
    return {
        "experiment": {
            "name": name,
            "file_name": "results.csv",
            "checksum": "ab" * 32,
            "rows": 2,
            "input_format": "aggregated",
            "arms": ["control", "treatment"],
            "control": "control",
            "primary_metric": "conversion",
            "look": None,
            "of_looks": None,
        },
        "health": {"status": "healthy", "findings": [], "srm": {"chi2": 0.25, "p_value": 0.617}},
        "primary": [
            {
                "name": "conversion",
                "comparison": {"abs_lift": lift, "abs_ci": [lift - 0.004, lift + 0.004]},
                "p_value_adjusted": 1e-9,
                "edge_numbers": [0.1 + 0.2, 1e-300, 2**53 + 1, -1.5e300, 0, 1.0],
                "notes": ["Wald — unpooled", "ünïcødé ✓"],
            }
        ],
        "guardrails": [],
        "bayes": None,
        "verdict": {"kind": verdict, "rule": 6, "reason": reason, "reasons": [reason]},
    }


def analysis_fields(
    name: str = "Checkout v2", *, verdict: str = "launch", health: str = "healthy", **extra: Any
) -> dict[str, Any]:
    """Keyword arguments for HistoryStore.record_analysis, minus where it was posted."""
    result = make_result(name, verdict=verdict)
    fields: dict[str, Any] = {
        "result_json": result,
        "verdict_kind": verdict,
        "verdict_reason": result["verdict"]["reason"],
        "health_status": health,
        "file_name": "results.csv",
        "checksum": "ab" * 32,
        "memo_markdown": f"# {name}\n\n**{verdict.capitalize()}**",
        "user_id": "U1",
    }
    fields.update(extra)
    return fields
