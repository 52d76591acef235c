"""Admin-set prices: store or remove an override, then re-estimate the stored events it
affects (through `ingest`, the only writer of usage tables).

An override is an effective-dated `model_prices` row with source `override`: in force from its
`valid_from` (default: every day) and winning over shipped and updated prices from then on.
Saving or removing one re-estimates only the model's days from that `valid_from`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from ..extensions import db
from ..models import ModelPrice
from .ingest import ReestimateResult, reestimate_model
from .pricing import FAR_PAST


def _since(valid_from: date) -> date | None:
    return None if valid_from <= FAR_PAST else valid_from


def set_override(model: str, prices: Mapping[str, Decimal], note: str | None,
                 updated_by: str, valid_from: date | None = None
                 ) -> tuple[bool, ReestimateResult]:
    """Create or update the override of canonical `model` in force from `valid_from` (None:
    every day), in USD per 1M tokens for input, output, cache_write (5-minute), cache_read and
    optionally cache_write_1h; returns (created, re-estimate result). Caller commits."""
    start = valid_from or FAR_PAST
    override = db.session.execute(select(ModelPrice).where(
        ModelPrice.model == model, ModelPrice.valid_from == start,
        ModelPrice.source == "override")).scalar_one_or_none()
    created = override is None
    if created:
        override = ModelPrice(model=model, valid_from=start, source="override")
        db.session.add(override)
    override.input, override.output = prices["input"], prices["output"]
    # absent (blank in the form): the model has no such tier, stored as NULL, never 0
    override.cache_write_5m = prices.get("cache_write")
    override.cache_read = prices.get("cache_read")
    override.cache_write_1h = prices.get("cache_write_1h")
    override.note = note or None
    override.created_by = updated_by
    db.session.flush()
    return created, reestimate_model(model, since=_since(start))


def remove_override(model: str, valid_from: date | None = None) -> ReestimateResult | None:
    """Drop the model's override from `valid_from` (None: all of its overrides) and
    re-estimate from the earliest day they covered; None when there is none. Caller commits."""
    query = select(ModelPrice).where(ModelPrice.model == model,
                                     ModelPrice.source == "override")
    if valid_from is not None:
        query = query.where(ModelPrice.valid_from == valid_from)
    rows = list(db.session.execute(query).scalars())
    if not rows:
        return None
    start = min(r.valid_from for r in rows)
    for row in rows:
        db.session.delete(row)
    db.session.flush()
    return reestimate_model(model, since=_since(start))
