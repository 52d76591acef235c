"""Admin-set prices: store or remove an override, then re-estimate the stored events it
affects (through `ingest`, the only writer of usage tables)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from ..extensions import db
from ..models import PricingOverride
from .ingest import ReestimateResult, reestimate_model


def set_override(model: str, prices: Mapping[str, Decimal], note: str | None,
                 updated_by: str) -> tuple[bool, ReestimateResult]:
    """Create or update the override of canonical `model` (USD per 1M tokens for input,
    output, cache_write, cache_read); returns (created, re-estimate result). Caller commits."""
    override = db.session.get(PricingOverride, model)
    created = override is None
    if created:
        override = PricingOverride(model=model)
        db.session.add(override)
    override.input_per_mtok, override.output_per_mtok = prices["input"], prices["output"]
    override.cache_write_per_mtok = prices["cache_write"]
    override.cache_read_per_mtok = prices["cache_read"]
    override.note = note or None
    override.updated_by = updated_by
    db.session.flush()
    return created, reestimate_model(model)


def remove_override(model: str) -> ReestimateResult | None:
    """Drop the override (None when there is none) and re-estimate. Caller commits."""
    override = db.session.get(PricingOverride, model)
    if override is None:
        return None
    db.session.delete(override)
    db.session.flush()
    return reestimate_model(model)
