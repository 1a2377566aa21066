"""Slack request signatures, checked at the HTTP door before anything reads the body.

Slack signs every HTTP request with the app's signing secret: ``X-Slack-Signature`` is
``v0=`` + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + raw body)) and
``X-Slack-Request-Timestamp`` is the Unix time it was sent
(https://api.slack.com/authentication/verifying-requests-from-slack). A request is refused
unless both headers appear exactly once, are well formed, the timestamp is within five minutes of
now and the signature matches the raw bytes received. Every malformed input is a refusal, never an
exception: the verifier is total, so no error handler ever sees an unverified body.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
MAX_CLOCK_SKEW_S = 5 * 60
"""Slack's own guidance: older requests may be replays."""

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def refusal(
    secret: str,
    *,
    timestamps: Sequence[str],
    signatures: Sequence[str],
    body: bytes,
    now: Callable[[], float] = time.time,
) -> str | None:
    """Why the request must be refused (a short reason for the log), or None when it is signed.

    ``timestamps`` and ``signatures`` are every value of the two headers the request carried.
    """
    if len(timestamps) != 1 or len(signatures) != 1:
        return "missing or repeated signature headers"
    timestamp, signature = timestamps[0], signatures[0]
    if not _TIMESTAMP.fullmatch(timestamp):
        return "malformed timestamp"
    if abs(now() - int(timestamp)) > MAX_CLOCK_SKEW_S:
        return "stale timestamp"
    if not _SIGNATURE.fullmatch(signature):
        return "malformed signature"
    if not hmac.compare_digest(sign(secret, timestamp=timestamp, body=body), signature):
        return "signature mismatch"
    return None


def sign(secret: str, *, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` value Slack would send for ``body`` at ``timestamp``."""
    base = b"v0:" + timestamp.encode("utf-8") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
