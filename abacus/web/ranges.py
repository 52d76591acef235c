"""The time range every page shows: `?days=7|30|90|365` or `?start=YYYY-MM-DD&end=YYYY-MM-DD`.

Days are inclusive and in the org time zone. Links keep the range (`range_args()` in
templates) and, with it, the team scope (`?team=`, see `teamscope`); each range has a
previous window of equal length for period-over-period deltas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from flask import Flask, current_app, request

from . import params
from .teamscope import current_team

PRESETS = (7, 30, 90, 365)
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class TimeRange:
    start: date
    end: date
    preset: int | None = None  # the `days` preset, None for a custom start/end
    error: str | None = None  # what was wrong with the asked-for range (default shown)
    parameter: str | None = None  # the query parameter the error is about (the API's 400)
    team: str | None = None  # the `?team=` scope (a team id), kept in links with the range

    presets = PRESETS

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> TimeRange:
        """The window of equal length just before this one."""
        return TimeRange(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    @property
    def args(self) -> dict[str, str | int]:
        """Query arguments that reproduce this range (and the team scope) in a link."""
        scope: dict[str, str | int] = {"team": self.team} if self.team else {}
        if self.preset:
            return {"days": self.preset, **scope}
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), **scope}

    @property
    def label(self) -> str:
        if self.preset:
            return "Last year" if self.preset == 365 else f"Last {self.preset} days"
        return f"{self.start:%b %-d, %Y} – {self.end:%b %-d, %Y}"

    @property
    def in_words(self) -> str:
        """The range inside a sentence ("No usage in …"): "the last 30 days", or the dates
        with their month capitals kept ("Nov 1, 2026 – Nov 15, 2026")."""
        return f"the {self.label.lower()}" if self.preset else self.label

    @property
    def preset_label(self) -> str | None:
        """"Last 30 days" for a preset; None for custom dates, which a subtitle already
        shows as dates (saying them twice reads as a glitch)."""
        return self.label if self.preset else None


def org_today() -> date:
    """Today in the org time zone, which decides day boundaries everywhere."""
    return datetime.now(current_app.config["ABACUS"].tz).date()


def parse_range(args, today: date) -> TimeRange:
    """The range asked for in `args`, or the default (30 days) with an error saying why (and
    which parameter it is about: pages show the default with a notice, the API answers 400)."""
    start_s, end_s = params.text("start", args=args), params.text("end", args=args)
    if start_s or end_s:
        name = "start"
        try:
            start = params.day("start", start_s, today)
            name = "end"
            end = params.day("end", end_s, today) if end_s else today
        except ValueError:
            return _preset(DEFAULT_DAYS, today, "Dates must look like 2026-05-31.", name)
        if end < start:
            return _preset(DEFAULT_DAYS, today, "The end date is before the start date.",
                           "end")
        if (end - start).days + 1 > MAX_DAYS:
            return _preset(DEFAULT_DAYS, today, f"Ranges are limited to {MAX_DAYS} days.",
                           "start")
        return TimeRange(start, end)
    raw_days = params.text("days", args=args)
    if not raw_days:
        return _preset(DEFAULT_DAYS, today)
    days = int(raw_days) if raw_days.isascii() and raw_days.isdigit() else None
    if days not in PRESETS:
        return _preset(DEFAULT_DAYS, today, f"Choose 7, 30, 90 or 365 days (not {raw_days}).",
                       "days")
    return _preset(days, today)


def _preset(days: int, today: date, error: str | None = None,
            parameter: str | None = None) -> TimeRange:
    return TimeRange(today - timedelta(days=days - 1), today, days, error, parameter)


def current_range() -> TimeRange:
    """The request's range, carrying its team scope (checked: an unknown team is a 400)."""
    rng = parse_range(request.args, org_today())
    scope = current_team()
    return replace(rng, team=str(scope.id)) if scope else rng


def init_app(app: Flask) -> None:
    @app.context_processor
    def _range_helpers() -> dict:
        def range_args() -> dict:
            """The current request's range as link arguments: url_for(..., **range_args())."""
            if not request:
                return {}
            try:
                return current_range().args
            except params.BadParameter:  # the 400 page itself: its links drop the bad range
                return {}

        return {"range_args": range_args, "range_presets": PRESETS}
