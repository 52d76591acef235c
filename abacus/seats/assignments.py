"""Every seat as an effective-dated span, and the seat CSV import.

Sources: `seat_assignments` (CSV upload, form), Copilot's seat list (`seats`, written by
sync.seats: plan_type, created, pending cancellation), Cursor team members (the Admin API's
member list, stored as identity mappings; plan from the account's `seat_plan` setting,
default `teams`) and Cursor seat accounts (a session-cookie account is one seat: its owner,
plan from its usage-summary snapshot). The provider's seats are read where they are stored,
never copied, so a sync is their only writer.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import Account, AccountSnapshot, IdentityMapping, Seat, SeatAssignment
from ..usage.csvrows import fixed_rows

HEADER = ("email", "tool", "plan", "monthly_usd", "from", "to")


@dataclass(frozen=True)
class SeatSpan:
    """One seat: `holder` (e-mail, or the provider identity when unmapped) holds `tool`
    on `plan` over valid_from..valid_to (inclusive days, org time zone; None: open)."""

    holder: str
    tool: str
    plan: str
    valid_from: date
    valid_to: date | None
    monthly_usd: Decimal | None  # None: the plan's price of each day
    source: str  # csv | manual | copilot | cursor | cursor_session
    mapped: bool = True
    account_id: int | None = None
    last_activity: date | None = None  # the provider's own last-activity field

    def on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


def _org_day(at: datetime | None) -> date | None:
    if at is None:
        return None
    return at.astimezone(ZoneInfo(current_app.config["ABACUS"].timezone)).date()


def all_seats() -> list[SeatSpan]:
    """Every seat from every source, entered ones first."""
    spans = [SeatSpan(r.holder, r.tool, r.plan, r.valid_from, r.valid_to, r.monthly_usd,
                      r.source) for r in db.session.execute(
                          select(SeatAssignment).order_by(SeatAssignment.holder,
                                                          SeatAssignment.tool,
                                                          SeatAssignment.valid_from)).scalars()]
    return spans + _copilot() + _cursor_members() + _cursor_seat_accounts()


def _mappings(source: str) -> dict[str, IdentityMapping]:
    return {m.external_id.lower(): m for m in db.session.execute(
        select(IdentityMapping).where(IdentityMapping.source == source)).scalars()}


def _copilot() -> list[SeatSpan]:
    github = _mappings("github")
    out = []
    for seat in db.session.execute(select(Seat)).scalars():
        mapping = github.get(seat.login)
        start = _org_day(seat.seat_created_at) or _org_day(seat.first_seen_at)
        out.append(SeatSpan(
            mapping.email if mapping else seat.login, "copilot",
            (seat.plan or "business").lower(), start,
            # Pending cancellation: the seat is paid up to (not including) that day.
            date.fromordinal(seat.pending_cancellation_date.toordinal() - 1)
            if seat.pending_cancellation_date else None,
            None, "copilot", mapped=mapping is not None, account_id=seat.account_id,
            last_activity=_org_day(seat.last_activity_at)))
    return out


def _cursor_members() -> list[SeatSpan]:
    accounts = db.session.execute(select(Account).where(Account.provider == "cursor")
                                  .order_by(Account.id)).scalars().all()
    if not accounts:
        return []
    account = accounts[0]  # members are one list per source, not per account
    plan = str((account.settings or {}).get("seat_plan") or "teams").lower()
    return [SeatSpan(m.email, "cursor", plan, _org_day(m.created_at), None, None, "cursor",
                     account_id=account.id)
            for key, m in sorted(_mappings("cursor").items()) if "@" in key]


def _cursor_seat_accounts() -> list[SeatSpan]:
    out = []
    for account in db.session.execute(select(Account).where(
            Account.provider == "cursor_session").order_by(Account.id)).scalars():
        owner = (account.settings or {}).get("owner_email")
        if not owner:
            continue
        summary = db.session.get(AccountSnapshot, (account.id, "summary", ""))
        plan = str(((summary.data if summary else {}) or {}).get("membership_type")
                   or "pro").lower()
        out.append(SeatSpan(owner, "cursor", plan, _org_day(account.created_at), None, None,
                            "cursor_session", account_id=account.id))
    return out


# --- CSV import ----------------------------------------------------------------------------

class SeatImportError(ValueError):
    """The file was refused as a whole; `problems` name the row and field of each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class SeatImportResult:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    rows: int = 0
    problems: list[str] = field(default_factory=list)


def _day(value: str, where: str, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{where}: “{value}” is not a day; write it as YYYY-MM-DD")
        return None


def parse_seat_csv(text: str, name: str = "file") -> list[dict]:
    """The rows of a seat CSV, checked; raises SeatImportError naming each bad row and field."""
    from .plans import PlanPrices

    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != HEADER:
        raise SeatImportError([f"{name}: the header must be {','.join(HEADER)} "
                               f"(found {','.join(header) or 'nothing'})"])
    prices, problems, rows, seen = PlanPrices(), [], [], {}
    for where, n, cells in fixed_rows(reader, len(HEADER), name, problems):
        email, tool, plan, monthly, start, end = cells
        row_problems: list[str] = []
        if not email:
            row_problems.append(f"{where}, field email: empty")
        if not tool:
            row_problems.append(f"{where}, field tool: empty")
        if not plan:
            row_problems.append(f"{where}, field plan: empty")
        amount = None
        if monthly:
            try:
                amount = Decimal(monthly.lstrip("$"))
                if not amount.is_finite() or amount < 0:
                    raise InvalidOperation
            except InvalidOperation:
                row_problems.append(f"{where}, field monthly_usd: “{monthly}” is not an "
                                    "amount in USD")
        valid_from = _day(start, f"{where}, field from", row_problems) if start else None
        if not start:
            row_problems.append(f"{where}, field from: empty")
        valid_to = _day(end, f"{where}, field to", row_problems) if end else None
        if valid_from and valid_to and valid_to < valid_from:
            row_problems.append(f"{where}, field to: {end} is before from ({start})")
        tool, plan = tool.lower(), plan.lower()
        if (not row_problems and amount is None
                and prices.on(tool, plan, valid_from) is None):
            row_problems.append(f"{where}, field monthly_usd: empty, and plan “{plan}” of "
                                f"“{tool}” has no known price; give the monthly price")
        key = (email.lower(), tool, valid_from)
        if not row_problems and key in seen:
            row_problems.append(f"{where}: same email, tool and from as row {seen[key]}")
        seen.setdefault(key, n)
        problems += row_problems
        if not row_problems:
            rows.append({"holder": email.lower(), "tool": tool, "plan": plan,
                         "monthly_usd": amount, "valid_from": valid_from,
                         "valid_to": valid_to})
    if problems:
        raise SeatImportError(problems)
    return rows


def import_seat_csv(text: str, name: str = "file", source: str = "csv") -> SeatImportResult:
    """Store the file's seats (uncommitted): a row is keyed by (email, tool, from), so the
    same file again changes nothing and a corrected row updates its seat. All or nothing."""
    rows = parse_seat_csv(text, name)
    result = SeatImportResult(rows=len(rows))
    existing = {(r.holder, r.tool, r.valid_from): r
                for r in db.session.execute(select(SeatAssignment)).scalars()}
    for values in rows:
        row = existing.get((values["holder"], values["tool"], values["valid_from"]))
        if row is None:
            db.session.add(SeatAssignment(source=source, **values))
            result.added += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            result.changed += 1
        else:
            result.unchanged += 1
    db.session.flush()
    return result
