"""What every source of usage hands to `ingest`: normalized, provider-neutral records.

Providers, importers and the demo seeder build UsageRecord objects; nothing here touches the
database or Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One provider record as given.

    `event_key` is the provider's stable id for the record (or a deterministic key built from
    its natural key); re-sending a record with the same key updates it instead of adding one.
    `cost_usd` is the provider's own figure; None means "not reported" and ingest estimates it
    from the price table (marked `estimated`, or `unpriced` when the model has no price).
    """

    event_key: str
    occurred_at: datetime  # timezone-aware
    tool: str  # claude_code | cursor | …
    actor: str  # the provider's identity for who used it (e-mail, API key name, seat)
    raw_model: str
    email: str | None = None  # resolved person, when the provider says who it is
    kind: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: Decimal | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError(f"{self.event_key}: occurred_at must be timezone-aware")
        for name in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"):
            if getattr(self, name) < 0:
                raise ValueError(f"{self.event_key}: {name} is negative")
