"""Files that are nearly right get words that say how to fix them: an Excel workbook renamed .csv,
every line wrapped in quotes (read), rates where counts are needed."""

from __future__ import annotations

import pytest

from experimentos import ingest
from experimentos.errors import UnreadableFileError

PLAIN = b"variant,users,conversions\ncontrol,1000,100\ntreatment,1000,130\n"


@pytest.mark.parametrize(
    "magic", [b"PK\x03\x04\x14\x00\x06\x00", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"]
)
def test_an_excel_workbook_renamed_csv_is_told_to_save_as_csv(magic: bytes) -> None:
    with pytest.raises(UnreadableFileError, match=r"is an Excel workbook.*save it as CSV"):
        ingest.parse(magic + bytes(range(256)) * 4, file_name="results.csv")


def test_every_line_wrapped_in_quotes_reads_as_the_plain_file() -> None:
    wrapped = b"".join(b'"' + line + b'"\n' for line in PLAIN.splitlines())
    plain = ingest.parse(PLAIN, file_name="r.csv")
    data = ingest.parse(wrapped, file_name="r.csv")
    assert data.arms == plain.arms
    assert [f.code for f in data.findings] == ["quoted_lines"]


def test_a_quoted_single_column_file_is_not_unwrapped() -> None:
    data = ingest.parse(b'"variant"\n"control"\n', file_name="r.csv")
    assert "quoted_lines" not in {f.code for f in data.findings}


@pytest.mark.parametrize("cells", [("0.1", "0.12"), ("10%", "12%")])
def test_rates_where_counts_are_needed_say_give_counts(cells: tuple[str, str]) -> None:
    text = f"variant,users,conversions\ncontrol,1000,{cells[0]}\ntreatment,1000,{cells[1]}\n"
    data = ingest.parse(text.encode(), file_name="r.csv")
    blocked = [f for f in data.findings if f.severity == "blocked"]
    assert blocked and all("give counts, not rates" in f.message for f in blocked)
