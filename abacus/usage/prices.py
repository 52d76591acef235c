"""The price store: which price a model has on a given day.

Prices are effective-dated. A model's history is the shipped table (`pricing.json`: source
`shipped`, in force from FAR_PAST; not stored, so a new release's table applies at once) plus
its `model_prices` rows: `updated` ones (stored by `flask abacus pricing update`, in force from
the day of the update) and `override` ones (set by admins, in force from the day they choose;
all days by default). The price of (model, day) is

1. the latest override with `valid_from` <= day, if any: an admin's price keeps winning, also
   over updates stored after it;
2. else the latest updated row with `valid_from` <= day;
3. else the shipped price; else there is none and the events are `unpriced`.

Days are days in ABACUS_TIMEZONE, like an event's `day`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from ..extensions import db
from ..models import ModelPrice
from .pricing import FAR_PAST, Price, load_shipped_prices

_PRECEDENCE = {"shipped": 0, "updated": 1, "override": 2}


def row_price(row: ModelPrice) -> Price:
    return Price(input=row.input, output=row.output, cache_write=row.cache_write_5m,
                 cache_read=row.cache_read, source=row.source, cache_write_1h=row.cache_write_1h,
                 long_threshold=row.long_context_threshold, long_input=row.long_input,
                 long_output=row.long_output, long_cache_write=row.long_cache_write_5m,
                 long_cache_write_1h=row.long_cache_write_1h,
                 long_cache_read=row.long_cache_read, fast_multiplier=row.fast_multiplier,
                 valid_from=row.valid_from)


def row_values(price: Price) -> dict[str, object]:
    """The model_prices columns of `price` (rates and tiers only)."""
    return {"input": price.input, "output": price.output, "cache_read": price.cache_read,
            "cache_write_5m": price.cache_write, "cache_write_1h": price.cache_write_1h,
            "long_context_threshold": price.long_threshold, "long_input": price.long_input,
            "long_output": price.long_output, "long_cache_read": price.long_cache_read,
            "long_cache_write_5m": price.long_cache_write,
            "long_cache_write_1h": price.long_cache_write_1h,
            "fast_multiplier": price.fast_multiplier}


def stored_rows(model: str | None = None) -> list[ModelPrice]:
    query = select(ModelPrice).order_by(ModelPrice.model, ModelPrice.valid_from, ModelPrice.id)
    if model is not None:
        query = query.where(ModelPrice.model == model)
    return list(db.session.execute(query).scalars())


def price_history(models: Iterable[str] | None = None) -> dict[str, list[Price]]:
    """Every price row per model (shipped first, then stored by valid_from)."""
    wanted = None if models is None else set(models)
    history: dict[str, list[Price]] = {}
    for model, price in load_shipped_prices().items():
        if wanted is None or model in wanted:
            history[model] = [price]
    query = select(ModelPrice).order_by(ModelPrice.valid_from, ModelPrice.id)
    if wanted is not None:
        query = query.where(ModelPrice.model.in_(sorted(wanted)))
    for row in db.session.execute(query).scalars():
        history.setdefault(row.model, []).append(row_price(row))
    return history


def resolve(history: list[Price], day: date) -> Price | None:
    """The price in force on `day` among one model's rows (see the module docstring)."""
    best: Price | None = None
    for price in history:
        if price.valid_from > day:
            continue
        if best is None or (_PRECEDENCE[price.source], price.valid_from) >= (
                _PRECEDENCE[best.source], best.valid_from):
            best = price
    return best


def price_on(model: str, day: date) -> Price | None:
    """The price of canonical `model` in force on `day`, or None (unpriced)."""
    return resolve(price_history([model]).get(model, []), day)


def prices_on(day: date) -> dict[str, Price]:
    """Every priced model's price in force on `day`."""
    out = {}
    for model, history in price_history().items():
        price = resolve(history, day)
        if price is not None:
            out[model] = price
    return out


@dataclass(frozen=True)
class Segment:
    """`price` is in force for `model` on days in [start, end) (end None: open)."""

    model: str
    start: date
    end: date | None
    price: Price


def price_segments(models: Iterable[str] | None = None) -> list[Segment]:
    """The whole price history as non-overlapping day ranges per model: what ingest joins
    events on (an event is estimated with the segment holding its day)."""
    out = []
    for model, history in price_history(models).items():
        starts = sorted({p.valid_from for p in history})
        for i, start in enumerate(starts):
            price = resolve(history, start)
            if price is not None:
                out.append(Segment(model, start, starts[i + 1] if i + 1 < len(starts) else None,
                                   price))
    return out


def org_today() -> date:
    """Today in ABACUS_TIMEZONE: the first day a price stored now is in force."""
    from zoneinfo import ZoneInfo

    from flask import current_app

    return datetime.now(ZoneInfo(current_app.config["ABACUS"].timezone)).date()


__all__ = ["FAR_PAST", "Segment", "org_today", "price_history", "price_on", "price_segments",
           "prices_on", "resolve", "row_price", "row_values", "stored_rows"]
