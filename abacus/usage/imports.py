"""Streaming CSV importers (Cursor's dashboard usage export first).

A well-formed file takes the SQL path (see "The SQL path" below: PostgreSQL parses it, no
Python object per row); any other file, or one the SQL path hands back, takes this one.
One pass over the file: each row is parsed and validated, good rows stream straight into
`ingest` (COPY into a staging table), and the whole import runs in one transaction. If any row
is bad and `skip_invalid` is off, the transaction is rolled back, so nothing is stored, and the
report names file, row, column and value of the first problems. Memory stays constant however
large the file is.

One rule set for every cell: the fast path (well-formed rows) and the careful path (which says
what is wrong) call the same `_parse_tokens` / `_parse_time` / `_cost_cell`, so a value one
path accepts the other accepts too. Cells are taken as written: plain ASCII digits (commas as
thousands separators), no padding, no `1_000` or `1e5`; amounts within cost_usd's
NUMERIC(14,6); times between the earliest day (2020-01-01, ABACUS_IMPORT_EARLIEST or
`--allow-before`) and tomorrow in UTC; exactly as many cells as the header has columns.
An empty token cell is 0 tokens (2026 exports leave them empty on request-priced and errored
rows; the row keeps `tokens_unknown` in extras). Columns Abacus does not know are ignored
with one note. The report counts bad rows (a row with three bad cells is one bad row) and
names columns as the file's header writes them.

What a row cost: the `Cost` (or old `Cost to you`) cell, `Included` left to the estimate; the
2026 `Requests` export has no money column, so its rows are estimated. Whatever the cell,
a kind that says Cursor charged nothing is $0 (`cursor_events.charged_or_not`, the rule the
API syncs use too), the cell's figure kept as `would_have_cost_usd`.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import BinaryIO, Protocol

import psycopg2
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..models import Account, SyncRun
from ..providers.base import UsageRecord
from ..providers.cursor_events import (
    charged_or_not,
    cursor_event_key,
    cursor_model_key,
    is_not_charged,
)
from .ingest import STAGE_COLUMNS, IngestResult, ingest, ingest_staged
from .pricing import canonical_model

MAX_REPORTED = 20
CURSOR_PROVIDERS = ("cursor", "cursor_session")
DEFAULT_CSV_ACCOUNT = "cursor-csv"

# Header name (case-insensitive) → field. Parsed by name, never by position: Cursor has
# inserted columns over time (cursor.md §6 lists the variants).
CURSOR_COLUMNS: dict[str, str] = {
    "date": "date",
    "user": "user",
    "team": "team",
    "cloud agent id": "cloud_agent_id",
    "automation id": "automation_id",
    "kind": "kind",
    "model": "model",
    "max mode": "max_mode",
    "input (w/ cache write)": "cache_write",
    "input (w/o cache write)": "input",
    "input (no cache)": "input",
    "cache read": "cache_read",
    "output tokens": "output",
    "total tokens": "total",
    "cost": "cost",
    "cost to you": "cost_to_you",
    "requests": "requests",
}
REQUIRED = ("date", "model", "cache_write", "input", "cache_read", "output")
TOKEN_FIELDS = ("input", "cache_write", "cache_read", "output")
# Cost cells that carry no money: `Included` (plan usage: we estimate it), `Free` and the
# errored `-` (nothing was charged).
NO_PROVIDER_COST = {"included", ""}
ZERO_COST = {"-", "free"}
# One request never uses 10^11 tokens; the bound keeps every estimate within cost_usd and
# every daily sum within BIGINT.
MAX_TOKENS = 10**11
MAX_COST = Decimal("99999999.999999")  # cost_usd is NUMERIC(14,6)
COST_PLACES = Decimal("0.000001")
_TOKENS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+")
_MONEY = re.compile(r"\$?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")
# Request units: `1`, `17.3`, `141.5`; `Free` and `-` (errored) carry none.
_REQUESTS = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?")
NO_REQUESTS = {"free", "-", ""}


class ImportFailed(Exception):
    """The file was refused; nothing was stored. `report` says why."""

    def __init__(self, report: ImportReport):
        super().__init__(report.summary())
        self.report = report


@dataclass
class Problem:
    row: int
    column: str
    value: str
    message: str

    def format(self, filename: str) -> str:
        where = filename + (f": row {self.row}" if self.row else "") + (
            f", column {self.column!r}" if self.column else "")
        shown = f" {self.value!r}" if self.value else ""
        return f"{where}:{shown} {self.message}"


@dataclass
class ImportReport:
    filename: str
    account: str | None = None
    rows: int = 0
    rejected: int = 0
    problems: list[Problem] = field(default_factory=list)
    total_mismatches: list[int] = field(default_factory=list)  # first row numbers
    total_mismatch_count: int = 0
    notes: list[str] = field(default_factory=list)  # accepted, but worth saying
    result: IngestResult = field(default_factory=IngestResult)
    stored: bool = False
    aborted: bool = False
    run_id: int | None = None

    def add_problem(self, problem: Problem, *, same_row: bool = False) -> None:
        """Record a problem; `same_row`: another one of a row already counted as bad."""
        if not same_row:
            self.rejected += 1
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(problem)

    def problem_lines(self) -> list[str]:
        lines = [p.format(self.filename) for p in self.problems]
        listed = len({p.row for p in self.problems})
        if self.rejected > listed:
            lines.append(f"… and {self.rejected - listed} more bad rows")
        return lines

    def summary(self) -> str:
        if not self.stored:
            return (f"{self.filename}: {self.rejected} bad row(s) in {self.rows}; "
                    "nothing was imported")
        r = self.result
        text = (f"{self.filename} → account {self.account!r}: {self.rows} rows, "
                f"{r.inserted} inserted, {r.updated} updated, {r.unchanged} unchanged")
        if self.rejected:
            text += f", {self.rejected} skipped as invalid"
        return text

    def as_dict(self) -> dict:
        return {"filename": self.filename, "account": self.account, "rows": self.rows,
                "inserted": self.result.inserted, "updated": self.result.updated,
                "unchanged": self.result.unchanged, "rejected": self.rejected,
                "stored": self.stored, "problems": self.problem_lines(),
                "total_mismatch_rows": self.total_mismatch_count, "notes": self.notes,
                "unpriced_models": self.result.unpriced_models, "run_id": self.run_id}


class _Abort(Exception):
    """Stops the import: raised from inside the COPY stream once the file is known bad."""


class _CountingReader(io.RawIOBase):
    """Counts bytes read from the underlying file, for progress."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self._raw.readinto(buffer)
        self.count += n or 0
        return n


class SizedFile(Protocol):
    """An open binary file that knows its name and size (a stored upload)."""

    name: str
    size: int

    def readinto(self, buffer) -> int: ...


# (stage, bytes read, total bytes, rows); stage is "reading" while rows stream in, then
# "storing" while ingest merges them.
Progress = Callable[[str, int, int, int], None]


def resolve_cursor_account(name: str | None) -> Account:
    """--account NAME, else the only Cursor account, else the one named `cursor-csv`.

    A missing account is created as a CSV-only Cursor account (no credentials); the creation is
    part of the import's transaction, so a refused file leaves no empty account behind.
    """
    if name:
        account = db.session.execute(select(Account).where(Account.name == name)).scalar()
        if account is not None and account.provider not in CURSOR_PROVIDERS:
            raise ValueError(f"account {name!r} is a {account.provider} account, not Cursor")
    else:
        cursor_accounts = db.session.execute(
            select(Account).where(Account.provider.in_(CURSOR_PROVIDERS))).scalars().all()
        if len(cursor_accounts) == 1:
            return cursor_accounts[0]
        name = DEFAULT_CSV_ACCOUNT
        account = next((a for a in cursor_accounts if a.name == name), None)
    if account is None:
        account = Account(provider="cursor", name=name, settings={"source": "csv"})
        db.session.add(account)
        db.session.flush()
    return account


def import_cursor_csv(path: str | os.PathLike | SizedFile, *, account_name: str | None = None,
                      user: str | None = None, skip_invalid: bool = False,
                      progress: Progress | None = None, job_id: str | None = None,
                      earliest: date | None = None) -> ImportReport:
    """Import one Cursor usage export; commits on success, stores nothing on refusal.

    `path` is a file's path, or an open binary file with a `name` and a `size` (a web upload
    read back from PostgreSQL: `uploads.reader`).
    Rows dated before `earliest` (default ABACUS_IMPORT_EARLIEST) or after tomorrow (UTC) are
    refused. Raises ImportFailed (after recording a failed run) when the file is refused.
    """
    is_path = isinstance(path, str | os.PathLike)
    name = Path(path).name if is_path else path.name
    report = ImportReport(filename=name)
    window = (earliest or current_app.config["ABACUS"].import_earliest,
              datetime.now(UTC).date() + timedelta(days=1))
    try:
        account = resolve_cursor_account(account_name)
        report.account = account.name
        run = SyncRun(kind="import", account_id=account.id, source=name, job_id=job_id,
                      status="running")
        db.session.add(run)
        db.session.flush()
        owner = user or (account.settings or {}).get("owner_email")
        if is_path or hasattr(path, "rewind"):
            if sql_import(path, report, account, owner, window, run.id, progress):
                return _finish(report, run)
            if not is_path:
                path.rewind()
        with Path(path).open("rb") if is_path else nullcontext(path) as raw:
            counter = _CountingReader(raw)
            total = os.fstat(raw.fileno()).st_size if is_path else raw.size
            lines = io.BufferedReader(counter, 1 << 16)
            def tick(stage: str = "reading") -> None:
                if progress:
                    progress(stage, counter.count, total, report.rows)

            rows = _parse_cursor_rows(lines, report, account, owner, skip_invalid, tick, window)
            try:
                report.result = ingest(account, rows, run.id)
            except psycopg2.Error:
                # psycopg2 turns our _Abort inside the COPY stream into QueryCanceled.
                if not report.aborted:
                    raise
            tick("done")
        if report.rejected and not skip_invalid or report.rows == 0:
            if report.rows == 0 and not report.problems:
                report.add_problem(Problem(1, "", "", "the file has no data rows"))
            raise _Abort
    except _Abort:
        db.session.rollback()
        _record_failed_run(report, job_id)
        raise ImportFailed(report) from None
    except (psycopg2.Error, DBAPIError) as exc:
        # Validation should have caught it; still a refusal with a run record, and the
        # database's one-line reason, never its COPY context (which quotes the row).
        db.session.rollback()
        orig = getattr(exc, "orig", exc)
        reason = getattr(getattr(orig, "diag", None), "message_primary", None)
        report.add_problem(Problem(0, "", "", "the database refused the file "
                                              f"({reason or type(orig).__name__})"))
        _record_failed_run(report, job_id)
        raise ImportFailed(report) from None
    except BaseException:
        db.session.rollback()
        raise

    return _finish(report, run)


def _finish(report: ImportReport, run: SyncRun) -> ImportReport:
    """Record the run of a stored import and commit."""
    r = report.result
    run.status = "partial" if report.rejected else "success"
    run.finished_at = func.now()
    # An import updates the account like a sync does.
    db.session.get(Account, run.account_id).last_success_at = datetime.now(UTC)
    run.fetched, run.inserted, run.updated = report.rows, r.inserted, r.updated
    run.unchanged, run.rejected = r.unchanged, report.rejected
    run.details = {"problems": report.problem_lines(), "notes": report.notes,
                   "total_mismatch_rows": report.total_mismatch_count,
                   "unpriced_models": r.unpriced_models, "changes": r.changes}
    db.session.commit()
    report.stored, report.run_id = True, run.id
    return report


def _record_failed_run(report: ImportReport, job_id: str | None) -> None:
    account_id = None
    if report.account:
        account_id = db.session.execute(
            select(Account.id).where(Account.name == report.account)).scalar()
    run = SyncRun(kind="import", account_id=account_id, source=report.filename, job_id=job_id,
                  status="failed", finished_at=func.now(), fetched=report.rows,
                  rejected=report.rejected, error=report.summary(),
                  details={"problems": report.problem_lines()})
    db.session.add(run)
    db.session.commit()
    report.run_id = run.id


def _parse_cursor_rows(lines: io.BufferedReader, report: ImportReport, account: Account,
                       owner: str | None, skip_invalid: bool, tick: Callable[..., object],
                       window: tuple[date, date]) -> Iterator[UsageRecord]:
    position = [0]  # physical line being decoded, for error messages

    def decoded() -> Iterator[str]:
        # Line by line (not a TextIOWrapper) so a bad byte is reported on its own line.
        for number, raw in enumerate(lines, 1):
            position[0] = number
            if b"\0" in raw:  # PostgreSQL text cannot hold it; Python's csv would pass it on
                raise csv.Error("it contains a NUL byte")
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")

    reader = csv.reader(decoded())
    try:
        yield from _cursor_rows(reader, report, account, owner, skip_invalid, tick, window)
    except (UnicodeDecodeError, csv.Error) as exc:
        reason = ("is not UTF-8 text" if isinstance(exc, UnicodeDecodeError)
                  else f"is not valid CSV: {exc}")
        report.add_problem(Problem(position[0], "", "", f"the file {reason}"))
        report.aborted = True
        raise _Abort from None


def _cursor_rows(reader, report: ImportReport, account: Account, owner: str | None,
                 skip_invalid: bool, tick: Callable[..., object],
                 window: tuple[date, date]) -> Iterator[UsageRecord]:
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        report.add_problem(Problem(1, "", "", "empty file: no header row"))
        report.aborted = True
        raise _Abort
    columns = _map_header(header, report)
    if columns is None:
        report.aborted = True
        raise _Abort
    has_user = "user" in columns
    seat_actor = f"seat:{account.name}"
    fast = _fast_row_parser(columns, len(header), seat_actor, owner, window)
    # Problems name a column as this file's header writes it (two names map to "input").
    labels = {key: header[i].strip().strip('"') for key, i in columns.items()}
    stop_feeding = False
    for values in reader:
        if not values or (len(values) == 1 and not values[0].strip()):
            continue  # blank line
        report.rows += 1
        if report.rows % 20_000 == 0:
            tick()
        try:
            record, total_mismatch = fast(values)
        except (ValueError, IndexError, ArithmeticError):
            # The careful path re-parses the row to say exactly what is wrong with it.
            record = _cursor_record(values, columns, len(header), reader.line_num, report,
                                    has_user, seat_actor, owner, window, labels)
        else:
            if total_mismatch:
                report.total_mismatch_count += 1
                if len(report.total_mismatches) < MAX_REPORTED:
                    report.total_mismatches.append(reader.line_num)
        if record is None:
            stop_feeding = stop_feeding or not skip_invalid
            continue
        if not stop_feeding:
            yield record
    if stop_feeding:
        report.aborted = True
        raise _Abort
    tick("storing")


def _fast_row_parser(columns: dict[str, int], width: int, seat_actor: str, owner: str | None,
                     window: tuple[date, date]):
    """Build a parser for well-formed rows (the hot path, millions of rows).

    It raises on anything unusual; the caller then runs `_cursor_record`, which applies the
    same cell parsers field by field and reports what is wrong.
    """
    i_date, i_model = columns["date"], columns["model"]
    i_in, i_cw, i_cr, i_out = (columns[k] for k in TOKEN_FIELDS)
    i_user, i_kind, i_total = columns.get("user"), columns.get("kind"), columns.get("total")
    i_max, i_requests = columns.get("max_mode"), columns.get("requests")
    cost_key = _cost_column(columns)
    i_cost = columns.get(cost_key) if cost_key else None
    i_model_cost = columns.get("cost") if cost_key == "cost_to_you" else None
    optional = [(name, columns[name]) for name in ("cloud_agent_id", "automation_id", "team",
                                                     "requests") if name in columns]
    tokens = _parse_tokens
    extras_max = {True: {"max_mode": True}, False: {"max_mode": False}}

    def parse(values: list[str]) -> tuple[UsageRecord, bool]:
        if len(values) != width:
            raise ValueError("short or long row")
        at = _parse_time(values[i_date], window)
        cells = values[i_in], values[i_cw], values[i_cr], values[i_out]
        inp, cw, cr, out = (tokens(c) for c in cells)
        model = values[i_model].strip()
        user = values[i_user].strip().lower() if i_user is not None else ""
        if not model or (i_user is not None and not user):
            raise ValueError("empty model or user")
        extras: dict[str, object] = {}
        if i_max is not None:
            extras = dict(extras_max[values[i_max].strip().lower() in ("yes", "true", "1")])
        if not all(cells):
            extras["tokens_unknown"] = True
        cost = None
        if i_cost is not None:
            cost, label = _cost_cell(values[i_cost])  # ValueError: the careful path reports
            if label:
                extras["cost_label"] = label
        if i_requests is not None:
            _requests_cell(values[i_requests])
        mismatch = False
        if i_total is not None:
            total = tokens(values[i_total])
            if total != inp + cw + cr + out:
                mismatch = True
                extras["total_tokens"] = total
        for name, i in optional:
            if values[i]:
                extras[name] = values[i].strip()
        if i_model_cost is not None and values[i_model_cost]:
            extras["model_cost"] = values[i_model_cost].strip()
        kind = values[i_kind].strip() if i_kind is not None else ""
        return _record(at, user, model, kind, (inp, cw, cr, out), cost, extras, seat_actor,
                       owner), mismatch

    return parse


def _record(at: datetime, user: str, model: str, kind: str, tokens: tuple[int, int, int, int],
            cost: Decimal | None, extras: dict[str, object], seat_actor: str,
            owner: str | None) -> UsageRecord:
    """One row's record, from cells both parsers have checked; tokens are (input, cache
    write, cache read, output). The kind decides whether anything was charged."""
    decided = charged_or_not(kind, cost, extras)
    inp, cw, cr, out = tokens
    return UsageRecord(
        event_key=cursor_event_key(int(at.timestamp() * 1000), user, model),
        occurred_at=at, tool="cursor", actor=user or seat_actor, email=user or owner or None,
        raw_model=model, kind=kind, input_tokens=inp, output_tokens=out,
        cache_write_tokens=cw, cache_read_tokens=cr, cost_usd=decided.cost_usd,
        not_charged=decided.not_charged, extras=decided.extras)


def _map_header(header: list[str], report: ImportReport) -> dict[str, int] | None:
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for i, name in enumerate(header):
        key = CURSOR_COLUMNS.get(name.strip().strip('"').lower())
        if key is None:
            unknown.append(name.strip())
        elif key in columns:
            report.add_problem(Problem(1, name, "", "column appears twice"))
        else:
            columns[key] = i
    for key in REQUIRED:
        if key not in columns:
            label = next(k for k, v in CURSOR_COLUMNS.items() if v == key)
            report.add_problem(Problem(1, _label(label), "", "required column is missing"))
    if unknown and not report.problems:
        # Cursor adds columns over time; what Abacus does not read is not an error.
        report.notes.append(f"{report.filename}: ignored {len(unknown)} column(s) Abacus does "
                            f"not read: {', '.join(repr(u) for u in unknown)}")
    return None if report.problems else columns


def _cursor_record(values: list[str], columns: dict[str, int], width: int, row_no: int,
                   report: ImportReport, has_user: bool, seat_actor: str,
                   owner: str | None, window: tuple[date, date],
                   labels: dict[str, str]) -> UsageRecord | None:

    def raw(key: str) -> str:
        i = columns.get(key)
        return values[i] if i is not None and i < len(values) else ""

    def cell(key: str) -> str:
        return raw(key).strip()

    def bad(key: str, message: str) -> None:
        # One bad row, however many of its cells are wrong; each cell is listed.
        report.add_problem(Problem(row_no, labels[key], raw(key), message), same_row=not ok)

    if len(values) != width:
        report.add_problem(Problem(row_no, "", "", f"has {len(values)} fields, the header has "
                                                   f"{width}"))
        return None
    ok = True
    occurred_at: datetime | None = None
    try:
        occurred_at = _parse_time(raw("date"), window)
    except ValueError as exc:
        bad("date", str(exc))
        ok = False
    tokens: dict[str, int] = {}
    for key in TOKEN_FIELDS:
        try:
            tokens[key] = _parse_tokens(raw(key))
        except ValueError as exc:
            bad(key, str(exc))
            tokens[key] = 0
            ok = False
    model = cell("model")
    if not model:
        bad("model", "is empty")
        ok = False
    user = cell("user").lower() if has_user else ""
    if has_user and not user:
        bad("user", "is empty")
        ok = False
    extras: dict[str, object] = {}
    cost: Decimal | None = None
    cost_key = _cost_column(columns)
    if cost_key:
        try:
            cost, label = _cost_cell(raw(cost_key))
        except ValueError as exc:
            bad(cost_key, str(exc))
            ok = False
        else:
            if label:
                extras["cost_label"] = label
    if "requests" in columns:
        try:
            _requests_cell(raw("requests"))
        except ValueError as exc:
            bad("requests", str(exc))
            ok = False
    if "total" in columns:
        try:
            total = _parse_tokens(raw("total"))
        except ValueError as exc:
            bad("total", str(exc))
            ok = False
        else:
            if ok and total != sum(tokens.values()):
                report.total_mismatch_count += 1
                if len(report.total_mismatches) < MAX_REPORTED:
                    report.total_mismatches.append(row_no)
                extras["total_tokens"] = total
    if not ok:
        return None
    if not all(raw(key) for key in TOKEN_FIELDS):
        extras["tokens_unknown"] = True
    for key, name in (("cloud_agent_id", "cloud_agent_id"), ("automation_id", "automation_id"),
                      ("team", "team"), ("requests", "requests")):
        if cell(key):
            extras[name] = cell(key)
    if "max_mode" in columns:
        extras["max_mode"] = cell("max_mode").lower() in ("yes", "true", "1")
    if cost_key == "cost_to_you" and cell("cost"):
        extras["model_cost"] = cell("cost")
    assert occurred_at is not None
    return _record(occurred_at, user, model, cell("kind"),
                   (tokens["input"], tokens["cache_write"], tokens["cache_read"],
                    tokens["output"]), cost, extras, seat_actor, owner)


def _label(header_key: str) -> str:
    """Display a header the way Cursor writes it."""
    special = {"input (w/ cache write)": "Input (w/ Cache Write)",
               "input (w/o cache write)": "Input (w/o Cache Write)",
               "cloud agent id": "Cloud Agent ID", "automation id": "Automation ID"}
    return special.get(header_key, header_key.title())


def _parse_time(value: str, window: tuple[date, date]) -> datetime:
    """A row's time in UTC, within [earliest day, tomorrow]; ValueError says what is wrong."""
    try:
        parsed = datetime.fromisoformat(value)
        # Exports are UTC; a date-only or naive value is read as UTC too.
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # 9999-12-31T23:00-05:00 is past datetime.max in UTC
        raise ValueError("is not an ISO 8601 date or time") from None
    earliest, latest = window
    if parsed.date() < earliest:
        raise ValueError(f"is before {earliest.isoformat()}, the earliest day imports accept "
                         "(ABACUS_IMPORT_EARLIEST, or --allow-before DAY)")
    if parsed.date() > latest:
        raise ValueError(f"is after {latest.isoformat()}: usage cannot be from the future")
    return parsed


def _parse_tokens(value: str) -> int:
    """Plain ASCII digits (commas between thousands allowed), up to MAX_TOKENS; `-` and an
    empty cell are 0 (errored and request-priced rows)."""
    if not (value.isdigit() and value.isascii()):  # the usual cell skips the pattern
        if value == "-" or value == "":
            return 0
        if not _TOKENS.fullmatch(value):
            raise ValueError("is not a whole number of tokens")
        value = value.replace(",", "")
    if len(value) > 12 or int(value) > MAX_TOKENS:
        raise ValueError(f"is more than {MAX_TOKENS:,} tokens, more than a request can use")
    return int(value)


def _cost_column(columns: dict[str, int]) -> str | None:
    """The column that says what a row cost: `Cost to you` in the old export, else `Cost`."""
    return "cost_to_you" if "cost_to_you" in columns else "cost" if "cost" in columns else None


def _cost_cell(raw: str) -> tuple[Decimal | None, str | None]:
    """(provider cost or None to estimate, the text label to keep); ValueError if unreadable."""
    label = raw.lower()
    if label in NO_PROVIDER_COST:
        return None, raw or None
    if label in ZERO_COST:
        return Decimal(0), raw
    if not _MONEY.fullmatch(raw):  # no `1e5`, no padding, no sign
        raise ValueError("is not an amount in dollars")
    amount = Decimal(raw.removeprefix("$").replace(",", ""))
    if amount > MAX_COST:
        raise ValueError(f"is more than ${MAX_COST:,}, the most one row can cost")
    # Stored with 6 places: round here so a re-import compares equal to what is stored.
    return amount.quantize(COST_PLACES, rounding=ROUND_HALF_UP), None


def _requests_cell(raw: str) -> None:
    """A `Requests` cell: request units (`1`, `17.3`), `Free`, `-` or empty; ValueError
    otherwise. Kept as written in extras (`requests`)."""
    if raw.lower() not in NO_REQUESTS and not _REQUESTS.fullmatch(raw):
        raise ValueError("is not a number of requests (or Free, -)")


# --- The SQL path: PostgreSQL parses the file ------------------------------------------------
#
# A well-formed export (the usual case) is COPYed as it is into a temp table of text columns
# and transformed in one INSERT … SELECT into ingest's staging table, so no Python object is
# built per row. On its way to COPY each chunk of whole lines must match a strict grammar
# built from the header (`_row_grammar`, one C-speed regex match per chunk): cells in the
# plain form both parsers read the same way (printable ASCII without quotes inside, ISO times
# with `T`/space and `Z`/±hh:mm, whole numbers up to the token bound, `$1,234.50`-style
# amounts below $10M, request units), no line break inside a cell, no blank line. A file
# that strays from it, or any error PostgreSQL raises (a 30 February), rolls the attempt back
# to a savepoint and goes through the Python path above, which says exactly what is wrong. So
# the rules and messages stay the ones above; the SQL path only makes the common case fast.

_DIGITS_TOKENS = rb"(?:[0-9]{1,11}|100000000000|-|)"  # <= MAX_TOKENS, or `-`/empty (0)
_TEXT = rb'(?:"[ !#-~]*"|[ !#-+\--~]*)'  # printable ASCII; no quote inside, commas if quoted
_GRAMMAR = {
    "date": rb"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
            rb"(?::[0-5][0-9](?:\.[0-9]{1,6})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?)?",
    "tokens": _DIGITS_TOKENS,
    # Under $10M, so always within MAX_COST; or a no-money label in any case.
    "money": rb"(?:\$?(?:[0-9]{1,7}|[0-9]{1,3},[0-9]{3})(?:\.[0-9]+)?"
             rb"|[Ii][Nn][Cc][Ll][Uu][Dd][Ee][Dd]|[Ff][Rr][Ee][Ee]|-|)",
    "requests": rb"(?:[0-9]{1,9}(?:\.[0-9]{1,6})?|[Ff][Rr][Ee][Ee]|-|)",
}


def _row_grammar(columns: dict[str, int], width: int) -> re.Pattern[bytes]:
    """A regex for a run of whole lines of plain rows of this header (see above)."""
    roles = {columns["date"]: "date", columns.get("requests"): "requests"}
    roles.update({columns[k]: "tokens" for k in (*TOKEN_FIELDS, "total") if k in columns})
    cost_key = _cost_column(columns)
    if cost_key:
        roles[columns[cost_key]] = "money"
    cells = []
    for i in range(width):
        inner = _GRAMMAR.get(roles.get(i, ""))
        cells.append(_TEXT if inner is None else rb'(?:"' + inner + rb'"|' + inner + rb")")
    return re.compile(rb"(?:" + rb",".join(cells) + rb"\r?\n)*")


class _NotForSql(Exception):
    """The file needs the Python path (see above); nothing of the attempt is kept."""


class _GrammarReader:
    """Hands the file to COPY in chunks of whole lines, each checked against the row
    grammar first (raising _NotForSql, which aborts the COPY, at the first stray); memory
    stays one chunk."""

    def __init__(self, raw: BinaryIO, grammar: re.Pattern[bytes], done: int, total: int,
                 progress: Progress | None):
        self._raw, self._grammar, self._progress = raw, grammar, progress
        self.done, self._total = done, total
        self.lines, self._ticked = 0, 0
        self._rest = b""

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self._raw.read(1 << 16)
            if not data:  # the last line, if it has no line break
                chunk, self._rest = self._rest, b""
                if chunk and not self._grammar.fullmatch(chunk + b"\n"):
                    raise _NotForSql
                self.lines += bool(chunk)
                return chunk
            self.done += len(data)
            data = self._rest + data
            end = data.rfind(b"\n") + 1
            chunk, self._rest = data[:end], data[end:]
            if chunk:
                break
        if not self._grammar.fullmatch(chunk):
            raise _NotForSql
        self.lines += chunk.count(b"\n")
        # Every 20,000 rows, like the Python path.
        if self._progress and self.lines // 20_000 > self._ticked:
            self._ticked = self.lines // 20_000
            self._progress("reading", self.done, self._total, self._ticked * 20_000)
        return chunk


def sql_import(path: str | os.PathLike | SizedFile, report: ImportReport, account: Account,
               owner: str | None, window: tuple[date, date], run_id: int,
               progress: Progress | None) -> bool:
    """Import the file (a path, or an upload that can `rewind()`) through the SQL path;
    False, with nothing kept and `report` untouched, when it needs the Python path."""
    raw = db.session.connection().connection.dbapi_connection
    if raw.encoding not in ("UTF8", "UNICODE"):
        return False
    is_path = isinstance(path, str | os.PathLike)
    with (Path(path).open("rb") if is_path else nullcontext(path.rewind())) as fh, \
            raw.cursor() as cur:
        first = fh.readline(1 << 20)
        try:
            header = next(csv.reader([first.decode("utf-8-sig")]))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            return False
        scratch = ImportReport(filename=report.filename)
        columns = _map_header(header, scratch) if any(h.strip() for h in header) else None
        if columns is None or not first.endswith(b"\n"):
            return False
        total = os.fstat(fh.fileno()).st_size if is_path else path.size
        reader = _GrammarReader(fh, _row_grammar(columns, len(header)), len(first), total,
                                progress)
        cur.execute("SAVEPOINT sql_import")
        try:
            result, mismatches = _sql_import(cur, reader, header, columns, account, owner,
                                             window, run_id)
        except (_NotForSql, psycopg2.Error):
            cur.execute("ROLLBACK TO SAVEPOINT sql_import")
            return False
        cur.execute("RELEASE SAVEPOINT sql_import")
    report.rows, report.result, report.notes = reader.lines, result, scratch.notes
    report.total_mismatch_count, report.total_mismatches = mismatches
    if progress:
        progress("done", total, total, reader.lines)
    return True


def _sql_import(cur, reader: _GrammarReader, header: list[str], columns: dict[str, int],
                account: Account, owner: str | None, window: tuple[date, date],
                run_id: int) -> tuple[IngestResult, tuple[int, list[int]]]:
    width = len(header)
    names = [f"c{i}" for i in range(width)]
    cur.execute(f"""CREATE TEMP TABLE import_csv (
                        line bigint GENERATED ALWAYS AS IDENTITY,
                        {", ".join(f"{n} text" for n in names)}) ON COMMIT DROP""")
    cur.copy_expert(f"COPY import_csv ({', '.join(names)}) FROM STDIN WITH (FORMAT csv, "
                    f"FORCE_NOT_NULL ({', '.join(names)}))", reader, size=1 << 16)
    rows = cur.rowcount
    if rows <= 0 or rows != reader.lines:
        raise _NotForSql  # no rows (the Python path says so), or a miscount
    if reader._progress:
        reader._progress("storing", reader.done, reader._total, rows)

    def c(key: str) -> str:
        return f"c{columns[key]}"

    # The grammar allows printable ASCII only, where btrim() and lower() in the C collation
    # do what Python's strip() and lower() do.
    def low(sql: str) -> str:
        return f'lower({sql} COLLATE "C")'

    # Names Python decides (canonical model, the event key's model, whether a kind was
    # charged), one row per distinct (model, kind).
    kind = f"btrim({c('kind')})" if "kind" in columns else "''"
    cur.execute(f"SELECT DISTINCT btrim({c('model')}), {kind} FROM import_csv")
    # One table keyed by the pair: one lookup per row instead of one per name.
    rows_of_pairs = [(m, k, canonical_model(m), cursor_model_key(m), is_not_charged(k))
                     for m, k in cur.fetchall()]
    cur.execute("""CREATE TEMP TABLE import_names (model text, kind text, canonical text,
                                                   key text, not_charged boolean,
                                                   PRIMARY KEY (model, kind)) ON COMMIT DROP""")
    cur.execute("INSERT INTO import_names VALUES " + ",".join(
        cur.mogrify("(%s,%s,%s,%s,%s)", r).decode() for r in rows_of_pairs))

    def tokens(key: str) -> str:
        return f"(CASE WHEN {c(key)} IN ('', '-') THEN 0 ELSE {c(key)}::bigint END)"

    user = low(f"btrim({c('user')})") if "user" in columns else "''"
    cost, label = "NULL::numeric", "NULL::text"
    cost_key = _cost_column(columns)
    if cost_key:
        cell = c(cost_key)
        cost = (f"(CASE WHEN {low(cell)} IN ('included', '') THEN NULL"
                f" WHEN {low(cell)} IN ('-', 'free') THEN 0"
                f" ELSE round(replace(ltrim({cell}, '$'), ',', '')::numeric, 6) END)")
        label = f"(CASE WHEN {low(cell)} IN ('included', '-', 'free') THEN {cell} END)"
    total = tokens("total") if "total" in columns else "NULL::bigint"
    # extras is written as JSON text and cast once: building jsonb objects per row (and
    # stripping their nulls) cost more than the rest of the transform. Each member is
    # `,"key":value` or nothing. Labels and numbers need no escaping (the row grammar allows
    # only `Included`/`-`/`Free` as labels); free text goes through to_json.
    def member(name: str, when: str, value: str) -> str:
        return f"CASE WHEN {when} THEN ',\"{name}\":' || {value} ELSE '' END"

    # Members from the file's cells alone are built in the inner query, the rest outside.
    inner = [member("tokens_unknown", " OR ".join(f"{c(k)} = ''" for k in TOKEN_FIELDS),
                    "'true'")]
    if "max_mode" in columns:
        inner.append("',\"max_mode\":' || CASE WHEN "
                     + low(f"btrim({c('max_mode')})") + " IN ('yes', 'true', '1')"
                     " THEN 'true' ELSE 'false' END")
    texts = [(k, k) for k in ("cloud_agent_id", "automation_id", "team", "requests")
             if k in columns]
    if cost_key == "cost_to_you" and "cost" in columns:
        texts.append(("model_cost", "cost"))
    inner += [member(name, f"{c(k)} <> ''", f"to_json(btrim({c(k)}))::text")
              for name, k in texts]
    outer = [member("cost_label", "x.label IS NOT NULL", "'\"' || x.label || '\"'"),
             member("total_tokens", "x.total <> x.inp + x.cw + x.cr + x.outp",
                    "x.total::text"),
             member("would_have_cost_usd", "n.not_charged AND x.cost <> 0",
                    "'\"' || x.cost::text || '\"'")]
    inner_members, outer_members = " || ".join(inner), " || ".join(outer)
    earliest, latest = window

    def fill(cur, tz: str) -> None:
        # Times without an offset are UTC, as in the Python path.
        cur.execute("SELECT current_setting('TimeZone')")
        zone = cur.fetchone()[0]
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        # date_part's float8 epoch is the same correctly rounded value as Python's
        # timestamp(), without extract()'s numeric arithmetic.
        cur.execute(f"""
            INSERT INTO ingest_raw ({STAGE_COLUMNS})
            SELECT x.line, trunc(date_part('epoch', x.at) * 1000)::bigint || '|'
                       || x.usr || '|' || n.key,
                   x.at, 'cursor', coalesce(nullif(x.usr, ''), %(seat)s),
                   coalesce(nullif(x.usr, ''), %(owner)s), n.canonical, x.model, x.kind,
                   x.inp, x.outp, x.cw, x.cr,
                   CASE WHEN n.not_charged THEN 0 ELSE x.cost END,
                   ('{{' || ltrim(x.members || {outer_members}, ',') || '}}')::jsonb,
                   (x.at AT TIME ZONE %(tz)s)::date, n.not_charged
            FROM (SELECT line, {c('date')}::timestamptz AS at, {user} AS usr,
                         btrim({c('model')}) AS model, {kind} AS kind,
                         {tokens('input')} AS inp, {tokens('output')} AS outp,
                         {tokens('cache_write')} AS cw, {tokens('cache_read')} AS cr,
                         {total} AS total, {cost} AS cost, {label} AS label,
                         {inner_members} AS members
                  FROM import_csv
                  OFFSET 0) x  -- computed once per row, not once per use
            JOIN import_names n ON n.model = x.model AND n.kind = x.kind
            WHERE x.at >= %(earliest)s::timestamptz AND x.at < %(after)s::timestamptz
              AND x.model <> '' AND ({"x.usr <> ''" if "user" in columns else "true"})
        """, {"seat": f"seat:{account.name}", "owner": owner, "tz": tz,
              "earliest": earliest, "after": latest + timedelta(days=1)})
        if cur.rowcount != rows:
            raise _NotForSql  # some row needs the Python path's verdict
        if "total" in columns:
            # Rows whose total disagrees keep it in extras. Line numbers as the Python path
            # counts them: the header is line 1.
            cur.execute("""SELECT count(*), (array_agg(seq + 1 ORDER BY seq))[1:%s]
                           FROM ingest_raw WHERE extras ? 'total_tokens'""", (MAX_REPORTED,))
            n, first = cur.fetchone()
            found[:] = [n, list(first or [])]
        cur.execute("SELECT set_config('TimeZone', %s, true)", (zone,))

    found: list = [0, []]
    result = ingest_staged(account, fill, run_id)
    cur.execute("DROP TABLE import_csv, import_names")
    return result, (found[0], found[1])
