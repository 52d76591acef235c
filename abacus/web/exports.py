"""The one CSV writer every export uses (Team, Usage, Commits, a person's Raw usage), so they
agree with the screen and with each other.

The rules (README, "Exports"):

- **Header**: one row of snake_case column ids, the unit last (`tokens`, `cost_usd`,
  `ai_rate_pct`, `last_active_day`); no comment lines, nothing before or after the table.
- **Money**: every `*_usd` column holds the stored amount at full precision, always six
  decimal places (`cost_usd` is NUMERIC(14,6)), where the screen rounds to the cent. Add a
  column up and round the sum to the cent: it is the screen's total. An empty cell is an
  unknown amount (unpriced), never $0.
- **Dates**: ISO 8601 — `YYYY-MM-DD` for days, `YYYY-MM-DDTHH:MM:SS±HH:MM` for moments (`*_at`,
  with the org time zone's offset). A file with `day` or `*_day` columns (days in the org
  time zone) ends with a `timezone` column naming it.
- **Flags**: `true` / `false`.
- **Names**: a model is exported as shown (`model`) and by its canonical id (`model_id`);
  tools likewise (`tool`, `tool_id`).
- **Text** that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab
  or a carriage return) gets a leading `'`; numbers never do.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from flask import Response

from .access import log_export

if TYPE_CHECKING:
    from .ranges import TimeRange

MONEY_PLACES = Decimal("0.000001")  # the scale of every stored amount (NUMERIC(14,6))
MONEY_SUFFIX = "_usd"
DAY_SUFFIX = "_day"
TIMEZONE_COLUMN = "timezone"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ID = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Field:
    """One exported column: its id (the header) and how a row gives its value."""

    id: str
    value: Callable[[Any], object]


def is_day(field_id: str) -> bool:
    """A column of days in the org time zone: the file then names the zone."""
    return field_id == "day" or field_id.endswith(DAY_SUFFIX)


def column_id(*parts: str) -> str:
    """A header id from free text (a tool id, a label): `claude_code`, `Claude Code` and
    `claude-code` all give `claude_code`."""
    return "_".join(p for p in (re.sub(r"[^a-z0-9]+", "_", part.lower()).strip("_")
                                for part in parts) if p)


def money(value: Decimal | int | None) -> str:
    """An amount at full stored precision: Decimal("8") -> "8.000000"; None (unknown) -> ""."""
    if value is None:
        return ""
    return f"{Decimal(value).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP):f}"


def text(value: str) -> str:
    """Provider-supplied text is data, never a spreadsheet formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def cell(field_id: str, value: object) -> str:
    """One value as the export writes it (see the module's rules)."""
    if field_id.endswith(MONEY_SUFFIX):
        return money(value)  # type: ignore[arg-type]
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{field_id}: a naive datetime has no place in an export")
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, int):
        return str(value)
    return text(str(value))


def write_csv(fields: Sequence[Field], rows: Iterable[Any], timezone: str) -> str:
    """The table: the header row of ids, then one line per row (RFC 4180, CRLF)."""
    ids = [f.id for f in fields]
    bad = [i for i in ids if not _ID.fullmatch(i)]
    if bad or len(set(ids)) != len(ids):
        raise ValueError(f"export column ids must be unique snake_case: {ids}")
    with_zone = any(is_day(i) for i in ids)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ids + [TIMEZONE_COLUMN] if with_zone else ids)
    # One converter per column, chosen once: the same strings as `cell`, without its chain
    # of suffix and isinstance tests per value (a 2,000-row export has ~40,000 cells).
    plan = [(f.value, money if f.id.endswith(MONEY_SUFFIX) else _by_type(f.id))
            for f in fields]
    tail = [timezone] if with_zone else []
    writer.writerows([[convert(value(row)) for value, convert in plan] + tail
                      for row in rows])
    return out.getvalue()


def _str_int(value: int) -> str:
    return str(value)


def _str_decimal(value: Decimal) -> str:
    return f"{value:f}"


def _str_bool(value: bool) -> str:
    return "true" if value else "false"


def _str_date(value: date) -> str:
    return value.isoformat()


def _str_none(value: None) -> str:
    return ""


# Exact types only (bool is an int, datetime a date): anything else goes through `cell`.
_BY_TYPE: dict[type, Callable[[Any], str]] = {
    str: text, int: _str_int, Decimal: _str_decimal, bool: _str_bool, date: _str_date,
    type(None): _str_none}


def _by_type(field_id: str) -> Callable[[object], str]:
    """`cell` for a non-money column, dispatching on the value's exact type."""
    def timestamp(value: datetime) -> str:  # `cell` refuses a naive one, naming the column
        return value.isoformat(timespec="seconds") if value.tzinfo else cell(field_id, value)

    table = {**_BY_TYPE, datetime: timestamp}

    def convert(value: object) -> str:
        fast = table.get(type(value))
        return fast(value) if fast is not None else cell(field_id, value)
    return convert


def csv_response(name: str, rng: TimeRange, fields: Sequence[Field], rows: Iterable[Any],
                 timezone: str) -> Response:
    """A download named `<name>_<start>_to_<end>.csv`, never cached (it is people's data).
    Every export passes here, so every download lands in the access log."""
    log_export()
    filename = f"{name}_{rng.start.isoformat()}_to_{rng.end.isoformat()}.csv"
    return Response(write_csv(fields, rows, timezone), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
