"""What Cursor's three event sources (Admin API, dashboard cookie, CSV export) share.

The event key: an export of a period the API already synced into the same account must add
nothing, so all build the key the same way: event time in epoch ms, the member's e-mail
(lower-cased; empty for personal exports, which have no user column), and the raw model with
the API's `default` spelled as the CSV's `auto`.

The cost rule (shared/providers/cursor.md §4.1), one place for all three sources so the same
usage costs the same whichever way it came in:
1. a kind that says nothing was charged (errored, aborted, free, the user's own API key) is
   $0, whatever figures the row carries; those figures are kept as `would_have_cost_usd`;
2. otherwise `chargedCents` (model cost + Cursor's token fee) is the cost;
3. without it, `totalCents × (1 − discount) + cursorTokenFee`: the fee is part of the cost;
4. with neither, the cost is unknown (ingest estimates it from the price table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .units import cents_to_usd, to_decimal


def cursor_model_key(raw_model: str) -> str:
    model = raw_model.strip().lower()
    return "auto" if model in ("default", "") else model


def cursor_event_key(timestamp_ms: int, user_email: str, raw_model: str) -> str:
    return f"{timestamp_ms}|{user_email.strip().lower()}|{cursor_model_key(raw_model)}"


# --- charged or not ------------------------------------------------------------------------

_ENUM_PREFIX = "usageeventkind"  # the dashboard's USAGE_EVENT_KIND_… enum names
# Kinds, squeezed to lower-case letters and digits, that Cursor never bills (§4.1 table and
# the dashboard enum): anything saying "not charged"/"no charge" (`Errored, Not Charged`,
# `Errored, No Charge`, `Aborted, Not Charged`, ERRORED_NOT_CHARGED…), free usage (`Free`,
# FREE_CREDIT) and the member's own provider key (`User API Key`: the provider bills it).
_NOT_CHARGED_WORDS = ("notcharged", "nocharge")
_NOT_CHARGED_KINDS = frozenset({"free", "freecredit", "userapikey"})


def _squeeze(kind: str) -> str:
    text = re.sub(r"[^a-z0-9]", "", kind.lower())
    return text.removeprefix(_ENUM_PREFIX)


def is_not_charged(kind: str, *, free_bugbot: bool = False) -> bool:
    """True when Cursor charged nothing for an event of this kind (case and punctuation do
    not matter: `Errored, No Charge`, `errored-not-charged` and the enum name all match).
    `free_bugbot`: the Admin API's `isFreeBugbot` flag, $0 too."""
    return free_bugbot or _kind_not_charged(kind or "")


@lru_cache(maxsize=512)  # an import asks once per row; exports hold a handful of kinds
def _kind_not_charged(kind: str) -> bool:
    text = _squeeze(kind)
    return text in _NOT_CHARGED_KINDS or any(w in text for w in _NOT_CHARGED_WORDS)


@dataclass(frozen=True)
class CursorCost:
    """What one event cost. `cost_usd` None: no figure (ingest estimates it);
    `extras`: what to keep beside it (`token_fee_usd`, `would_have_cost_usd`)."""

    cost_usd: Decimal | None
    not_charged: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


def event_cost(kind: str, *, charged_cents: Any = None, total_cents: Any = None,
               discount_percent: Any = None, token_fee_cents: Any = None,
               free_bugbot: bool = False, what: str = "Cursor usage event") -> CursorCost:
    """The cost of one Admin API or dashboard event (module docstring, rules 1–4).

    Amounts are cents as the APIs send them (numbers or numeric strings, fractional);
    ProviderError names `what` when one is not a number.
    """
    extras: dict[str, Any] = {}
    fee = None
    if token_fee_cents is not None and token_fee_cents != "":
        fee = cents_to_usd(token_fee_cents, f"{what}: cursorTokenFee")
        extras["token_fee_usd"] = fee
    if charged_cents is not None and charged_cents != "":
        cost: Decimal | None = cents_to_usd(charged_cents, f"{what}: chargedCents")
    elif total_cents is not None and total_cents != "":
        cost = cents_to_usd(total_cents, f"{what}: totalCents")
        if discount_percent is not None and discount_percent != "":
            off = to_decimal(discount_percent, f"{what}: discountPercentOff")
            cost = cost * (100 - off) / 100
        cost += fee or 0
    else:
        cost = None  # the fee alone is not the event's cost: leave it to the estimate
    return charged_or_not(kind, cost, extras, free_bugbot=free_bugbot)


def charged_or_not(kind: str, cost_usd: Decimal | None, extras: dict[str, Any] | None = None,
                   *, free_bugbot: bool = False) -> CursorCost:
    """`cost_usd` as the source gave it, or $0 (keeping it as `would_have_cost_usd`) when the
    kind says Cursor charged nothing. The CSV importer calls this with its Cost cell."""
    if not is_not_charged(kind, free_bugbot=free_bugbot):
        return CursorCost(cost_usd, False, extras if extras is not None else {})
    extras = dict(extras or {})
    if cost_usd is not None and cost_usd != 0:
        extras["would_have_cost_usd"] = cost_usd
    return CursorCost(Decimal(0), True, extras)
