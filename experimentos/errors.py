"""Domain errors: a request or input the analysis cannot work with at all.

Bad *data* in a readable file is not an error: it becomes Blocked findings in the health report.
"""


class ExperimentError(Exception):
    """An input problem with a message fit to show a PM as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnreadableFileError(ExperimentError):
    """The bytes are not a CSV file (binary, HTML, empty, undecodable)."""


class OptionError(ExperimentError):
    """An option (CLI flag, Slack message line, environment override) has a bad value."""
