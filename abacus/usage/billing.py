"""The only writer of `billed_costs`: a provider's own bill per UTC day, project and line
item (OpenAI's costs endpoint), stored apart from usage.

A sync hands over every bill line of the days it fetched whole; those days are replaced:
new lines inserted, changed amounts updated (a revision, counted and logged), lines the
provider no longer reports removed, identical ones untouched. Re-running a sync therefore
changes nothing, and nothing is committed here (the caller's transaction holds the window).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import Account, BilledCostLine
from ..providers.base import BilledCost
from .rows import reconcile

log = logging.getLogger(__name__)


@dataclass
class BillResult:
    inserted: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "updated": self.updated, "removed": self.removed,
                "unchanged": self.unchanged}


_Key = tuple[date, str, str, str]


def store_billed_costs(account: Account, days: Iterable[date],
                       lines: Iterable[BilledCost]) -> BillResult:
    """Make the account's bill for `days` exactly `lines` (lines of one key are summed)."""
    days = sorted(set(days))
    wanted: dict[_Key, tuple[Decimal, Decimal | None, str]] = {}
    for line in lines:
        if line.day not in days:
            raise ValueError(f"bill line for {line.day} outside the days fetched")
        key = (line.day, line.project_id, line.line_item, line.api_key_id)
        amount, quantity, unit = wanted.get(key, (Decimal(0), None, line.quantity_unit))
        if line.quantity is not None:
            quantity = (quantity or Decimal(0)) + line.quantity
        wanted[key] = (amount + line.amount_usd, quantity, unit or line.quantity_unit)
    result = BillResult()
    if not days:
        return result
    stored = {(r.day, r.project_id, r.line_item, r.api_key_id): r for r in db.session.execute(
        select(BilledCostLine).where(BilledCostLine.account_id == account.id,
                                     BilledCostLine.day.in_(days))).scalars()}
    values = {key: {"amount_usd": amount, "quantity": quantity, "quantity_unit": unit}
              for key, (amount, quantity, unit) in wanted.items()}

    def revised(key: _Key, row: BilledCostLine, new: dict) -> None:
        log.info("%s: bill for %s %s/%s revised from %s to %s USD", account.name, key[0],
                 key[1] or "-", key[2] or "-", row.amount_usd, new["amount_usd"])
        row.updated_at = func.now()

    rows = reconcile(stored, values, lambda key, new: BilledCostLine(
        account_id=account.id, day=key[0], project_id=key[1], line_item=key[2],
        api_key_id=key[3], **new), on_update=revised)
    result.inserted, result.updated, result.unchanged = rows.inserted, rows.updated, rows.unchanged
    if rows.leftover:  # lines the provider no longer reports for these days
        db.session.execute(delete(BilledCostLine).where(
            BilledCostLine.id.in_([r.id for r in rows.leftover])))
        result.removed = len(rows.leftover)
    db.session.flush()
    return result
