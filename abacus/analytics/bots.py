"""Bots and service accounts: what they used over a range, shown apart from people.

A bot (`bots`, marked in Admin → Identities) keeps all its usage in every total of tokens and
cost, but is never a person: people counts mask it out (`common.day_people`), and the
per-person lists (Overview's top people, the Team pivot) leave it out and show it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from ..extensions import db
from ..models import Bot
from .common import Costed, person_tool_rows, usage_sums


@dataclass(frozen=True)
class BotUsage(Costed):
    person: str  # as pages name it: the mapped e-mail, else the provider identity
    tokens: int
    cost_usd: Decimal
    events: int
    unpriced_events: int


@dataclass(frozen=True)
class BotRow:
    person: str
    marked_by: str | None
    created_at: datetime


def bot_rows() -> list[BotRow]:
    """Every identity marked as a bot, by name."""
    return [BotRow(b.person, b.marked_by, b.created_at) for b in db.session.execute(
        select(Bot).order_by(Bot.person)).scalars()]


def bot_usage(start: date, end: date) -> list[BotUsage]:
    """Each bot's tokens and cost over the inclusive days start..end (bots with usage only),
    most tokens first."""
    rows = person_tool_rows(start, end).c
    sums = usage_sums(rows)
    return [BotUsage(r.person, int(r.tokens), Decimal(r.cost), int(r.events), int(r.unpriced))
            for r in db.session.execute(
                select(rows.person, *sums).join(Bot, Bot.person == rows.person)
                .group_by(rows.person).having(sums.events > 0)
                .order_by(sums.tokens.desc(), rows.person))]


def is_bot(person: str) -> bool:
    return db.session.get(Bot, person) is not None
