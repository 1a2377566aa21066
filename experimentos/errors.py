"""Domain errors: a request or input the analysis cannot work with at all.

Bad *data* in a readable file is not an error: it becomes Blocked findings in the health report.
"""

import re

from experimentos.formatting import strip_hidden

_MENTION_OPENING = re.compile(r"<(?=[!@#])")
"""``<!here>``, ``<@U123>``, ``<#C123>``: what Slack's mrkdwn would turn into a mention."""


class ExperimentError(Exception):
    """An input problem with a message fit to show a PM as it is.

    Messages often quote what the user wrote (a file name, an option value), so the message is
    made safe for any screen here, once: no control or bidi characters, and a ``<`` that would
    open a Slack mention is shown as ``‹``.
    """

    def __init__(self, message: str) -> None:
        message = _MENTION_OPENING.sub("‹", strip_hidden(message))
        super().__init__(message)
        self.message = message


class UnreadableFileError(ExperimentError):
    """The bytes are not a CSV file (binary, HTML, empty, undecodable)."""


class OptionError(ExperimentError):
    """An option (CLI flag, Slack message line, environment override) has a bad value."""
