"""Seats and team membership a provider lists for an account (GitHub Copilot for now).

The only writer of `seats`, `seat_history` and `team_members`. `seats` holds the latest list
(a seat that left the list is removed there), `seat_history` every UTC day's list, so idle
seats and seat counts over time can be read later. Both run in the caller's transaction and
are idempotent: storing the same list again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select

from ..extensions import db
from ..models import Account, Seat, SeatHistory, TeamMember
from ..providers.base import Seat as SeatIn
from ..providers.base import TeamMembership
from ..usage.rows import reconcile

FIELDS = ("user_id", "plan", "seat_created_at", "last_activity_at", "last_activity_editor",
          "last_authenticated_at", "pending_cancellation_date", "assigning_team")


# What the sync reports for seats (added/changed/removed of a list), kept apart from
# usage.billing's BillResult: alike in shape, each named as its caller prints it.
@dataclass
class SeatsResult:
    added: int = 0
    changed: int = 0
    removed: int = 0
    total: int = 0


def _values(seat: SeatIn) -> dict:
    return {"user_id": seat.user_id, "plan": seat.plan, "seat_created_at": seat.created_at,
            "last_activity_at": seat.last_activity_at,
            "last_activity_editor": seat.last_activity_editor,
            "last_authenticated_at": seat.last_authenticated_at,
            "pending_cancellation_date": seat.pending_cancellation_date,
            "assigning_team": seat.assigning_team}


def _touch(row: Seat) -> None:
    row.fetched_at = db.func.now()


def store_seats(account: Account, seats: Iterable[SeatIn], day: date) -> SeatsResult:
    """Make `seats` the account's current list and `day`'s entry in its history."""
    listed = {s.login: _values(s) for s in seats}  # a login listed twice: the last wins
    result = SeatsResult(total=len(listed))
    current = {row.login: row for row in db.session.execute(
        select(Seat).where(Seat.account_id == account.id)).scalars()}
    rows = reconcile(current, listed,
                     lambda login, values: Seat(account_id=account.id, login=login, **values),
                     on_kept=_touch)
    for row in rows.leftover:
        db.session.delete(row)
    result.added, result.changed, result.removed = rows.inserted, rows.updated, len(rows.leftover)
    db.session.execute(delete(SeatHistory).where(SeatHistory.account_id == account.id,
                                                 SeatHistory.day == day))
    db.session.add_all(SeatHistory(day=day, account_id=account.id, login=login, **values)
                       for login, values in listed.items())
    db.session.flush()
    return result


def store_memberships(account: Account, days: Iterable[date],
                      memberships: Iterable[TeamMembership]) -> int:
    """Replace the account's user–team rows of `days` with `memberships`; returns rows."""
    days = sorted(set(days))
    if not days:
        return 0
    rows = {(m.day, m.team_id, m.login): m for m in memberships if m.day in days}
    db.session.execute(delete(TeamMember).where(TeamMember.account_id == account.id,
                                                TeamMember.day.in_(days)))
    db.session.add_all(TeamMember(account_id=account.id, day=m.day, team_id=m.team_id,
                                  login=m.login, user_id=m.user_id, slug=m.slug)
                       for m in rows.values())
    db.session.flush()
    return len(rows)
