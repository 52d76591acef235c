"""Budgets: scopes, periods, the state of a budget in a period, and alert evaluation.

Forecast rule (shown on the page): spend through yesterday + the median daily spend of the
last 7 complete days × the days left in the period (today included); never below the spend
so far. A median ignores one runaway day that an average would carry to the period's end.
Seats (counts seats|total) cost their prorated price per day held (abacus.seats): spent
counts the period's days through today; the forecast adds the whole period's seat cost, as
it is known in advance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from .. import notify
from ..analytics.scope import member_on_day, subtree_ids
from ..extensions import db
from ..models import Account, Budget, BudgetNotification, UsagePersonDaily
from ..seats.assignments import SeatSpan, all_seats
from ..seats.cost import SeatRun, in_team, seat_run
from ..sync.accounts import decrypt_secrets, encrypt_credentials
from ..teams.tree import find_team

log = logging.getLogger("abacus.budgets")

RATE_DAYS = 7
FORECAST_RULE = (f"Forecast = spend through yesterday + the median daily spend of the last "
                 f"{RATE_DAYS} complete days × the days left in the period (today included); "
                 f"never below the spend so far.")
SEATS_RULE = ("Seats cost their monthly price prorated per day held: spent counts the "
              "period's days through today, the forecast adds the seat cost of the whole "
              "period (known in advance).")
SEATS_NO_ACCOUNT = ("Seats entered by CSV or form belong to no account, so they are not "
                    "attributable to an account budget and are left out; provider seats "
                    "(Copilot, Cursor) count.")
SCOPE_KINDS = ("person", "tool", "account", "team")
CENT = Decimal("0.01")


class BudgetError(ValueError):
    """Bad budget input: the message names the option and the value."""


def org_today() -> date:
    return datetime.now(ZoneInfo(current_app.config["ABACUS"].timezone)).date()


def parse_scope(raw: str) -> dict[str, str]:
    """`org`, or `kind:value` parts joined by `+` (`person:a@x.com+tool:cursor`)."""
    raw = raw.strip()
    if raw == "org":
        return {}
    scope: dict[str, str] = {}
    for part in raw.split("+"):
        kind, sep, value = part.strip().partition(":")
        kind, value = kind.strip().lower(), value.strip()
        if not sep or kind not in SCOPE_KINDS or not value:
            raise BudgetError(f"--scope: {part.strip()!r} is not org, person:EMAIL, tool:TOOL, "
                              "account:NAME or team:TEAM (combine with '+')")
        if kind == "team":
            team = find_team(value)
            if team is None:
                raise BudgetError(f"--scope: no team named {value!r} (a team's name or id)")
            value = str(team.id)  # by id: a renamed team keeps its budgets
        if kind in scope:
            raise BudgetError(f"--scope: {kind} is given twice")
        scope[kind] = value.lower() if kind == "person" else value
    if "account" in scope and db.session.execute(
            select(Account.id).where(Account.name == scope["account"])).first() is None:
        raise BudgetError(f"--scope: no account named {scope['account']!r}")
    return scope


def scope_label(scope: dict[str, str]) -> str:
    def shown(kind: str, value: str) -> str:
        if kind == "team":
            team = find_team(value)
            return team.name if team else f"#{value} (deleted)"
        return value

    return " × ".join(f"{k} {shown(k, v)}" for k, v in sorted(scope.items())) or \
        "whole organisation"


def _team_ids(scope: dict[str, str]) -> list[int] | None:
    """A team scope's teams (its subtree included), or None without one."""
    return subtree_ids([int(scope["team"])]) if "team" in scope else None


def parse_thresholds(raw: str) -> list[int]:
    try:
        values = sorted({int(x) for x in raw.split(",") if x.strip()})
    except ValueError:
        raise BudgetError(f"--thresholds: expected whole percentages like 50,80,100, "
                          f"got {raw!r}") from None
    if not values or any(not 1 <= v <= 1000 for v in values):
        raise BudgetError(f"--thresholds: expected percentages from 1 to 1000, got {raw!r}")
    return values


def parse_amount(raw: str) -> Decimal:
    try:
        amount = Decimal(raw.strip().lstrip("$"))
    except ArithmeticError:
        raise BudgetError(f"--amount: expected USD like 1500 or 1500.50, got {raw!r}") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise BudgetError(f"--amount: expected a positive amount in whole cents, got {raw!r}")
    return amount


def add_budget(name: str, scope: str, period: str, amount: str, counts: str = "usage",
               thresholds: str = "50,80,100", notify_urls: tuple[str, ...] = (),
               ends_on: date | None = None) -> Budget:
    """Validate and store a budget (the caller commits)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise BudgetError("--name: expected 1 to 128 characters")
    if db.session.execute(select(Budget.id).where(Budget.name == name)).first():
        raise BudgetError(f"--name: a budget named {name!r} exists already")
    if period not in ("month", "quarter"):
        raise BudgetError(f"--period: expected month or quarter, got {period!r}")
    if counts not in ("usage", "seats", "total"):
        raise BudgetError(f"--counts: expected usage, seats or total, got {counts!r}")
    try:
        urls = notify.check_urls(notify_urls, "--notify")
    except notify.BadChannel as exc:
        raise BudgetError(str(exc)) from None
    budget = Budget(name=name, scope=parse_scope(scope), period=period,
                    amount_usd=parse_amount(amount), counts=counts,
                    thresholds=parse_thresholds(thresholds), ends_on=ends_on,
                    notify_encrypted=encrypt_credentials(
                        {str(i): u for i, u in enumerate(urls)}) if urls else None)
    db.session.add(budget)
    db.session.flush()
    return budget


def budget_by_id(budget_id: int) -> Budget | None:
    return db.session.get(Budget, budget_id)


def get_budget(name: str) -> Budget:
    budget = db.session.execute(select(Budget).where(Budget.name == name.strip())).scalar()
    if budget is None:
        raise BudgetError(f"NAME: no budget named {name.strip()!r}")
    return budget


def edit_budget(budget: Budget, amount: str | None = None, thresholds: str | None = None,
                notify_urls: tuple[str, ...] | None = None) -> list[str]:
    """Change what is given (the caller commits); `notify_urls=()` falls back to
    ABACUS_ALERT_URLS. Notifications already sent stay recorded under (period, kind,
    threshold), so a threshold kept or given again is never re-sent this period. A new
    threshold at or below one already alerted this period is recorded as sent without
    sending (a "reached 60%" after "reached 80%" says nothing new); a new one above can
    alert. Returns what changed, for the message."""
    changed = []
    before = set(budget.thresholds)
    if amount is not None and amount.strip():
        value = parse_amount(amount)
        if value != budget.amount_usd:
            budget.amount_usd = value
            changed.append(f"amount ${value}")
    if thresholds is not None and thresholds.strip():
        values = parse_thresholds(thresholds)
        if values != list(budget.thresholds):
            budget.thresholds = values
            changed.append(f"thresholds {values}")
            _quiet_new_thresholds(budget, [v for v in values if v not in before])
    if notify_urls is not None:
        try:
            urls = notify.check_urls(notify_urls, "--notify")
        except notify.BadChannel as exc:
            raise BudgetError(str(exc)) from None
        budget.notify_encrypted = encrypt_credentials(
            {str(i): u for i, u in enumerate(urls)}) if urls else None
        changed.append(f"{len(urls)} notify URL(s)" if urls else "notify: ABACUS_ALERT_URLS")
    db.session.flush()
    return changed


def _quiet_new_thresholds(budget: Budget, added: list[int]) -> None:
    start, _ = period_bounds(budget.period, org_today())
    sent = db.session.execute(select(func.max(BudgetNotification.threshold)).where(
        BudgetNotification.budget_id == budget.id, BudgetNotification.period_start == start,
        BudgetNotification.kind == "threshold")).scalar()
    quiet = [p for p in added if sent is not None and p <= sent]
    if not quiet:
        return
    s = state(budget)
    for pct in quiet:
        _claim(s, "threshold", pct, f"not sent: {pct}% was added by an edit after the "
                                    f"{sent}% alert of this period")


def delete_budget(budget: Budget) -> None:
    """Delete the budget and its notification record (the caller commits)."""
    db.session.execute(BudgetNotification.__table__.delete()
                       .where(BudgetNotification.budget_id == budget.id))
    db.session.delete(budget)
    db.session.flush()


def budget_urls(budget: Budget) -> tuple[str, ...]:
    """The budget's own channels, else ABACUS_ALERT_URLS."""
    if budget.notify_encrypted:
        stored = decrypt_secrets(budget.notify_encrypted, f"budget {budget.name!r}")
        return tuple(stored[k] for k in sorted(stored, key=int))
    return notify.global_urls()


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The calendar month or quarter holding `day` (first, last)."""
    first_month = day.month if period == "month" else 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    months = 1 if period == "month" else 3
    year, month = divmod(first_month - 1 + months, 12)
    return start, date(day.year + year, month + 1, 1) - timedelta(days=1)


@dataclass
class ThresholdDay:
    percent: int
    amount: Decimal
    day: date | None  # when it was crossed, or is expected to be (None: not this period)
    crossed: bool


@dataclass
class BudgetState:
    budget: Budget
    start: date
    end: date
    today: date
    spent: Decimal
    estimated: Decimal  # the part of `spent` that is Abacus's estimate, not a bill
    rate: Decimal  # the median daily spend used for the forecast
    forecast: Decimal
    thresholds: list[ThresholdDay]
    daily: list[tuple[date, Decimal]] = field(default_factory=list)
    note: str | None = None
    seats: Decimal = Decimal(0)  # the part of `spent` that is seat cost
    seats_period: Decimal = Decimal(0)  # the whole period's seat cost (in the forecast)
    seat_run: SeatRun | None = None

    @property
    def amount(self) -> Decimal:
        return self.budget.amount_usd

    @property
    def percent(self) -> Decimal:
        return (100 * self.spent / self.amount).quantize(Decimal("0.1"))

    @property
    def forecast_percent(self) -> Decimal:
        return (100 * self.forecast / self.amount).quantize(Decimal("0.1"))

    @property
    def status(self) -> str:
        if self.spent >= self.amount:
            return "over"
        return "at risk" if self.forecast >= self.amount else "ok"

    @property
    def run_out_day(self) -> date | None:
        return next((t.day for t in self.thresholds if t.percent == 100), None) \
            or self.expected_day(self.amount)

    def expected_day(self, target: Decimal) -> date | None:
        """The first day from today the projection reaches `target`, if within the period:
        usage complete so far + the rate per day from today, plus the seat cost through
        that day."""
        usage_complete = self.spent_complete - self.seat_through(self.today - timedelta(1))
        day = self.today
        while day <= self.end:
            projected = (usage_complete + self.rate * ((day - self.today).days + 1)
                         + self.seat_through(day))
            if projected >= target:
                return day
            day += timedelta(days=1)
        return None

    def seat_through(self, day: date) -> Decimal:
        return self.seat_run.on(day) if self.seat_run else Decimal(0)

    @property
    def spent_complete(self) -> Decimal:
        return sum((v for d, v in self.daily if d < self.today), Decimal(0))

    def as_dict(self) -> dict[str, Any]:
        b = self.budget
        return {"name": b.name, "scope": scope_label(b.scope), "period": b.period,
                "period_start": self.start.isoformat(), "period_end": self.end.isoformat(),
                "amount_usd": str(b.amount_usd), "counts": b.counts,
                "spent_usd": str(self.spent.quantize(CENT)),
                "estimated_usd": str(self.estimated.quantize(CENT)),
                "seats_usd": str(self.seats.quantize(CENT)),
                "seats_period_usd": str(self.seats_period.quantize(CENT)),
                "forecast_usd": str(self.forecast.quantize(CENT)),
                "daily_rate_usd": str(self.rate.quantize(CENT)), "status": self.status,
                "thresholds": [{"percent": t.percent, "amount_usd": str(t.amount),
                                "day": t.day.isoformat() if t.day else None,
                                "crossed": t.crossed} for t in self.thresholds],
                "note": self.note}


def _filters(scope: dict[str, str]) -> list:
    T = UsagePersonDaily
    out = []
    if "person" in scope:
        out.append(func.lower(T.person) == scope["person"])
    if "tool" in scope:
        out.append(T.tool == scope["tool"])
    if "account" in scope:
        out.append(T.account_id.in_(select(Account.id).where(Account.name == scope["account"])))
    if "team" in scope:  # its people on the days they were members (subtree included)
        out.append(member_on_day(_team_ids(scope), func.lower(T.person), T.day))
    return out


def _daily(scope: dict[str, str], first: date, last: date) -> dict[date, tuple[Decimal, Decimal]]:
    T = UsagePersonDaily
    rows = db.session.execute(
        select(T.day, func.coalesce(func.sum(T.cost_usd), 0),
               func.coalesce(func.sum(T.estimated_cost_usd), 0))
        .where(T.day >= first, T.day <= last, *_filters(scope)).group_by(T.day)).all()
    return {d: (Decimal(c), Decimal(e)) for d, c, e in rows}


def scope_seats(scope: dict[str, str], seats: list[SeatSpan], start: date | None = None,
                end: date | None = None) -> list[SeatSpan]:
    """The seats a scope holds: by holder (person), by tool, by account where the seat
    names one (CSV and form seats do not), by team (cut to the days start..end the holder
    was a member)."""
    if "team" in scope and start is not None and end is not None:
        seats = in_team(seats, _team_ids(scope), start, end)
    account_ids = None
    if "account" in scope:
        account_ids = set(db.session.execute(
            select(Account.id).where(Account.name == scope["account"])).scalars())
    return [s for s in seats
            if ("person" not in scope or s.holder.lower() == scope["person"])
            and ("tool" not in scope or s.tool == scope["tool"])
            and (account_ids is None or s.account_id in account_ids)]


def state(budget: Budget, today: date | None = None,
          seats: list[SeatSpan] | None = None) -> BudgetState:
    """Spent, forecast, threshold days and status of the budget's period holding `today`.
    `seats` (every seat, loaded once for many budgets) is read when the budget counts them."""
    today = today or org_today()
    start, end = period_bounds(budget.period, today)
    counts_usage = budget.counts in ("usage", "total")
    counts_seats = budget.counts in ("seats", "total")
    rate_from = min(start, today - timedelta(days=RATE_DAYS))
    days = _daily(budget.scope, rate_from, min(today, end)) if counts_usage else {}
    run = None
    notes = []
    if counts_seats:
        run = seat_run(scope_seats(budget.scope, all_seats() if seats is None else seats,
                                   start, end), start, end)
        notes.append(SEATS_RULE)
        if "account" in budget.scope:
            notes.append(SEATS_NO_ACCOUNT)
        if run.unpriced:
            notes.append(f"{run.unpriced} seat(s) have no known price and are left out "
                         "(set one with `flask abacus seats price`).")
    usage = {d: v[0] for d, v in days.items() if d >= start}
    in_period = []
    for i in range((min(today, end) - start).days + 1):
        d = start + timedelta(days=i)
        seat_day = run.on(d) - run.on(d - timedelta(days=1)) if run else Decimal(0)
        if d in usage or seat_day:
            in_period.append((d, usage.get(d, Decimal(0)) + seat_day))
    seats_spent = run.on(today) if run else Decimal(0)
    seats_period = run.on(end) if run else Decimal(0)
    usage_spent = sum(usage.values(), Decimal(0))
    spent = usage_spent + seats_spent
    estimated = sum((v[1] for d, v in days.items() if d >= start), Decimal(0))
    recent = [days.get(today - timedelta(days=i), (Decimal(0),))[0]
              for i in range(1, RATE_DAYS + 1)]
    rate = Decimal(median(recent))
    usage_complete = sum((v for d, v in usage.items() if d < today), Decimal(0))
    # Seat cost is known in advance: the forecast adds the whole period's, not a rate.
    forecast = (max(usage_spent, usage_complete + rate * ((end - today).days + 1))
                + seats_period)
    out = BudgetState(budget, start, end, today, spent, estimated, rate, forecast, [],
                      in_period, " ".join(notes) or None, seats_spent, seats_period, run)
    for pct in budget.thresholds:
        target = (budget.amount_usd * pct / 100).quantize(CENT)
        running, crossed_on = Decimal(0), None
        for d, v in in_period:
            running += v
            if running >= target:
                crossed_on = d
                break
        out.thresholds.append(ThresholdDay(pct, target, crossed_on or out.expected_day(target),
                                           crossed_on is not None))
    return out


def active_budgets(today: date | None = None, person: str | None = None) -> list[Budget]:
    """Budgets in force today (no end date, or one not passed); only `person`'s own when
    given (what a member may see)."""
    today = today or org_today()
    q = select(Budget).where((Budget.ends_on.is_(None)) | (Budget.ends_on >= today))
    budgets = db.session.execute(q.order_by(Budget.name)).scalars().all()
    if person is not None:
        budgets = [b for b in budgets if b.scope.get("person") == person.lower()]
    return list(budgets)


def states(today: date | None = None, person: str | None = None) -> list[BudgetState]:
    today = today or org_today()
    budgets = active_budgets(today, person)
    seats = all_seats() if any(b.counts != "usage" for b in budgets) else []
    return [state(b, today, seats) for b in budgets]


def _money(v: Decimal) -> str:
    return f"${v.quantize(CENT):,}"


def _message(s: BudgetState, kind: str, pct: int) -> tuple[str, str]:
    b = s.budget
    what = f"budget '{b.name}' ({scope_label(b.scope)}, {b.period} from {s.start})"
    if kind == "forecast":
        title = f"Abacus: {b.name} is forecast to exceed its budget"
        head = (f"{what} is forecast at {_money(s.forecast)} against {_money(b.amount_usd)} "
                f"by {s.end}")
    else:
        title = f"Abacus: {b.name} reached {pct}% of its budget"
        head = (f"{what} has spent {_money(s.spent)}, {s.percent}% of {_money(b.amount_usd)} "
                f"(threshold {pct}% = {_money(b.amount_usd * pct / 100)})")
    body = (f"{head}.\nForecast at period end: {_money(s.forecast)} "
            f"({s.forecast_percent}%).\nOf the spend, {_money(s.estimated)} is estimated from "
            f"list prices, the rest billed.\n{notify.page_link('/budgets')}")
    return title, body


def _claim(s: BudgetState, kind: str, pct: int, message: str) -> bool:
    """Record the notification; False when it was sent before (any earlier run)."""
    row = db.session.execute(insert(BudgetNotification).values(
        budget_id=s.budget.id, period_start=s.start, kind=kind, threshold=pct,
        spent_usd=s.spent.quantize(CENT), forecast_usd=s.forecast.quantize(CENT),
        message=message).on_conflict_do_nothing().returning(BudgetNotification.id)).first()
    return row is not None


@dataclass
class Evaluation:
    budgets: int = 0
    sent: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"budgets": self.budgets, "sent": self.sent}


def evaluate(today: date | None = None) -> Evaluation:
    """Alert every threshold crossed and every forecast over budget, once per budget and
    period: the notification row is committed before sending, so a re-run (or a revision that
    dips below and re-crosses) finds it and stays quiet."""
    out = Evaluation()
    for s in states(today):
        out.budgets += 1
        due = [("threshold", t.percent) for t in s.thresholds if t.crossed]
        if s.status == "at risk":
            due.append(("forecast", 100))
        for kind, pct in due:
            title, body = _message(s, kind, pct)
            if not _claim(s, kind, pct, body):
                continue
            db.session.commit()
            delivered = notify.send(budget_urls(s.budget), title, body)
            db.session.execute(
                BudgetNotification.__table__.update()
                .where(BudgetNotification.budget_id == s.budget.id,
                       BudgetNotification.period_start == s.start,
                       BudgetNotification.kind == kind, BudgetNotification.threshold == pct)
                .values(delivered=delivered))
            db.session.commit()
            log.info("budget %s: %s %d%% alert sent to %d channel(s)", s.budget.name, kind,
                     pct, delivered)
            out.sent.append(f"{s.budget.name}: {kind} {pct}%")
    db.session.commit()
    return out
